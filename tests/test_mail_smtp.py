"""X2 over a real SMTP connection: the approval e-mail leaves through Flask-Mail and reaches an SMTP server."""
from __future__ import annotations

import email
import email.policy
import re

import pytest
from flask_babel import force_locale, gettext

from app.models import Registration
from app.workflows import registration as reg_flow
from tests import factories
from tests.factories import PASSWORD
from tests.helpers import login, submit


pytestmark = pytest.mark.usefixtures("fresh_id_sequence")  # 证件号 birth dates stay in the past


# `smtp_server` (tests/conftest.py): a local SMTP server the app's Flask-Mail sends to.


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

    [envelope] = [e for e in smtp_server.envelopes if e.rcpt_tos == [address]]  # (the reviewers were told too)
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
