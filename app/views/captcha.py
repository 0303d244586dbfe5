"""Image captcha made locally (captcha package), single use, kept on the server.

The session holds only the random id of the challenge; the database keeps an HMAC of the answer (never the answer
in clear) and the time it was made. The first answer, right or wrong, deletes the row: whoever wins the DELETE
gets to compare, so a saved cookie replayed later, or two requests racing with one cookie, get nothing. Every
worker and node sees the same rows."""
from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets

from captcha.image import ImageCaptcha
from flask import current_app, session
from sqlalchemy import delete, select

from ..extensions import db
from ..models import CaptchaChallenge

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXY3456789"


def _digest(nonce: str, answer: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{nonce}:{answer.strip().upper()}".encode(), hashlib.sha256).hexdigest()


def _max_age() -> datetime.timedelta:
    return datetime.timedelta(seconds=current_app.config["CAPTCHA_MAX_AGE"])


def new_captcha_png() -> bytes:
    cfg = current_app.config
    fixed = cfg.get("CAPTCHA_FIXED") if cfg.get("TESTING") else None
    text = fixed or "".join(secrets.choice(ALPHABET) for _ in range(cfg["CAPTCHA_LENGTH"]))
    challenge_id = secrets.token_hex(16)
    now = datetime.datetime.now()
    previous = session.get("captcha")
    # The challenge this browser was shown before is void, and so is every challenge nobody answered in time.
    db.session.execute(delete(CaptchaChallenge).where(
        (CaptchaChallenge.created_at < now - _max_age())
        | (CaptchaChallenge.id == (previous if isinstance(previous, str) else ""))))
    db.session.add(CaptchaChallenge(id=challenge_id, digest=_digest(challenge_id, text), created_at=now))
    db.session.commit()
    session["captcha"] = challenge_id
    return ImageCaptcha(width=120, height=44, font_sizes=(32, 36)).generate(text).getvalue()


def check_captcha(answer: str | None) -> bool:
    """Compare and forget: every answer, right or wrong, uses the challenge up, on every node."""
    challenge_id = session.pop("captcha", None)
    if not isinstance(challenge_id, str) or not challenge_id:
        return False
    row = db.session.execute(select(CaptchaChallenge.digest, CaptchaChallenge.created_at)
                             .where(CaptchaChallenge.id == challenge_id)).first()
    used = db.session.execute(delete(CaptchaChallenge).where(CaptchaChallenge.id == challenge_id)).rowcount
    db.session.commit()
    if row is None or used != 1 or not answer:
        return False
    if datetime.datetime.now() - row.created_at > _max_age():
        return False
    return hmac.compare_digest(row.digest, _digest(challenge_id, answer))


def captcha_passed(form) -> bool:
    """A form's captcha field answered right (the challenge is used up either way); else its error is shown."""
    if check_captcha(form.captcha.data):
        return True
    from flask_babel import gettext

    form.captcha.errors = [*(form.captcha.errors or []),
                           gettext("The captcha is wrong. Click the picture for a new one.")]
    form.captcha.data = ""
    return False
