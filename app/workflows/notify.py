"""Outgoing messages sent at once: e-mail through SMTP (Flask-Mail), SMS behind the same interface (logged in
development). For messages carrying a secret (reset links, codes); notifications go through the outbox
(app/workflows/notifications.py)."""
from __future__ import annotations

import logging

from flask import current_app
from flask_mail import Message

from ..extensions import mail

log = logging.getLogger(__name__)


def send_email(to: str | None, subject: str, body: str) -> bool:
    """Send one plain-text e-mail; a delivery failure is logged, never raised into a workflow."""
    if not to or to.lower().endswith(".invalid"):  # RFC 2606: a placeholder (an imported person without e-mail)
        return False
    try:
        mail.send(Message(subject=str(subject), recipients=[to], body=str(body)))
        return True
    except Exception:  # noqa: BLE001 - SMTP outage must not undo a committed decision
        log.exception("mail to %s failed", to.split("@")[-1])
        return False


def send_sms(mobile: str | None, text: str) -> bool:
    """SMS gateway seam: the 'log' backend writes the message to the log (development and tests)."""
    if not mobile:
        return False
    backend = current_app.config.get("SMS_BACKEND", "log")
    if backend == "log":
        log.info("SMS to %s****%s: %s", mobile[:3], mobile[-4:], text)
        sent_sms.append((mobile, str(text)))
        return True
    raise RuntimeError(f"unknown SMS backend {backend}")


sent_sms: list[tuple[str, str]] = []


def send_code(channel: str, to: str | None, subject: str, body: str) -> bool:
    """Send a message by 'email' or 'sms'."""
    if channel == "sms":
        return send_sms(to, body)
    return send_email(to, subject, body)
