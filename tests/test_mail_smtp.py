"""X2 over a real SMTP connection: the approval e-mail leaves through Flask-Mail and reaches an SMTP server."""
from __future__ import annotations

import email
import email.policy
import re
import socket

import pytest
from aiosmtpd.controller import Controller
from flask_babel import force_locale, gettext

from app.extensions import mail
from app.models import Registration
from app.workflows import registration as reg_flow
from tests import factories
from tests.factories import PASSWORD
from tests.helpers import login, submit


pytestmark = pytest.mark.usefixtures("fresh_id_sequence")  # 证件号 birth dates stay in the past


class Collector:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp_server(app, monkeypatch):
    """A local SMTP server in a thread, with the app's Flask-Mail state pointed at it (restored afterwards)."""
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": controller.port, "MAIL_USE_TLS": False,
                       "MAIL_USE_SSL": False, "MAIL_USERNAME": None, "MAIL_PASSWORD": None,
                       "MAIL_SUPPRESS_SEND": False}.items():
        monkeypatch.setitem(app.config, key, value)
    # Flask-Mail 0.10 reads the config once, in init_app, into app.extensions["mail"] (a _Mail state).
    monkeypatch.setitem(app.extensions, "mail", mail.init_mail(app.config, app.debug, app.testing))
    try:
        yield handler
    finally:
        controller.stop()


def test_approval_mail_arrives_over_smtp_with_a_chinese_subject(app, client, world, db, smtp_server):
    id_number = factories.new_id_number()
    address = f"smtp{id_number[-6:]}@example.cn"
    data = reg_flow.AccountData("resident_id", id_number, PASSWORD, PASSWORD, "邮件测试", address, "13900000002")
    reg = reg_flow.register_person(data, world.unit.id, {})

    login(client, world.unit_admin.username, role="UnitAdmin")
    submit(client, "/review/registrations/decide", {"ids": str(reg.id), "action": "approve"},
           get_url="/review/registrations/")
    db.session.expire_all()
    assert db.session.get(Registration, reg.id).state == "approved"

    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == [address]
    message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
    with force_locale("zh"):
        expected_subject = gettext("Your registration has been approved")
    assert expected_subject != "Your registration has been approved", "the subject is not translated"
    assert str(message["Subject"]) == expected_subject
    assert re.search(r"[\u4e00-\u9fff]", str(message["Subject"]))
    assert message["To"] == address
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "邮件测试" in body and world.unit.name in body
