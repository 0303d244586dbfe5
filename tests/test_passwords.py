"""Passwords: change (P4), forgot / reset link by e-mail or SMS (P5), reset by an admin or support (S2)."""
from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from app.models import Account, Person, RoleName
from app.workflows import notify
from tests import factories
from tests.helpers import csrf_from, login, page, submit, zh

NEW_PASSWORD = "Neu#Pass2026"
PASSWORD_RULE = ("Password must be at least 8 characters and contain at least 3 of: upper-case letters, "
                 "lower-case letters, digits, symbols")
LOGIN_FAILED_ZH = "账号或密码错误"
LINK_RE = re.compile(r"https?://[^/\s]+(/password/reset/[A-Za-z0-9_.\-]+)")


def scrub(text: str) -> str:
    text = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1", text)
    return re.sub(r'nonce="[^"]+"', 'nonce=""', text)


def can_log_in(app, id_number: str, password: str) -> bool:
    """Log in through the real form with a fresh client (so the caller's session is untouched)."""
    r = login(app.test_client(), id_number, password, follow=False)
    return r.status_code == 302


def reload(db, account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


def staff(world, unit=None, name="赵医生") -> Account:
    unit = unit or world.unit
    return factories.make_account(name, [(RoleName.PROFESSIONAL, unit)], person_unit=unit)


def change(client, old, new, confirm=None):
    return submit(client, "/account/password",
                  {"old_password": old, "password": new, "confirm": new if confirm is None else confirm})


# ------------------------------------------------------------------ P4 change password

def test_change_password(app, client, world, db):
    account = staff(world)
    other_device = app.test_client()
    login(other_device, account.username)
    login(client, account.username)

    r = change(client, factories.PASSWORD, NEW_PASSWORD)
    assert r.status_code == 302
    home = client.get("/home/", follow_redirects=True)
    assert home.request.path == "/home/"  # the session that changed it goes on
    assert zh("Your password has been changed. Other sessions have been logged out.") in page(home)
    assert other_device.get("/home/").status_code == 302  # every other session is void
    assert can_log_in(app, account.username, NEW_PASSWORD)
    assert not can_log_in(app, account.username, factories.PASSWORD)


@pytest.mark.parametrize("old,new,confirm,msgid", [
    ("Wrong@2026x", NEW_PASSWORD, None, "Wrong account or password."),
    ("", NEW_PASSWORD, None, "This field is required."),
    (factories.PASSWORD, factories.PASSWORD, None, "The new password must differ from the old one."),
    (factories.PASSWORD, "short1A", None, PASSWORD_RULE),
    (factories.PASSWORD, "alllowercaseletters", None, PASSWORD_RULE),
    (factories.PASSWORD, "abcdefgh12345", None, PASSWORD_RULE),
    (factories.PASSWORD, NEW_PASSWORD, "Neu#Pass2027", "The two passwords do not match."),
], ids=["wrong-old", "no-old", "same-as-old", "too-short", "one-class", "two-classes", "confirm-differs"])
def test_change_password_refused(app, client, world, db, old, new, confirm, msgid):
    account = staff(world)
    login(client, account.username)
    r = change(client, old, new, confirm)
    assert r.status_code == 200
    assert zh(msgid) in page(r)
    assert client.get("/home/").status_code == 200  # still logged in
    assert can_log_in(app, account.username, factories.PASSWORD)
    if new != factories.PASSWORD:
        assert not can_log_in(app, account.username, new)


def test_new_password_must_not_contain_the_id_number(app, client, world):
    account = staff(world)
    login(client, account.username)
    r = change(client, factories.PASSWORD, "Aa#" + account.username)
    assert zh("Password must not contain your ID number") in page(r)
    assert can_log_in(app, account.username, factories.PASSWORD)


def test_change_password_needs_a_session(client, world):
    r = client.get("/account/password")
    assert r.status_code == 302 and urlparse(r.headers["Location"]).path == "/login/"


# ------------------------------------------------------------------ P5 forgot password

def forgot(client, id_number, contact, channel="email", captcha=None):
    return submit(client, "/password/forgot", {"id_number": id_number, "channel": channel, "contact": contact,
                                               "captcha": captcha}, follow=True)


def reset_link(outbox, account) -> str:
    assert len(outbox) == 1
    message = outbox[0]
    assert message.recipients == [account.email]
    match = LINK_RE.search(message.body)
    assert match, message.body
    assert account.username not in message.body  # the 证件号 does not travel by mail
    return match.group(1)


def set_new(client, path, password=NEW_PASSWORD, confirm=None):
    return submit(client, path, {"password": password, "confirm": password if confirm is None else confirm})


def test_forgot_password_by_email(app, client, world, db, outbox):
    account = staff(world)
    r = forgot(client, account.username, account.email.upper())  # e-mail compared without case
    assert r.request.path == "/login/"
    assert zh("If the ID number and contact match our records, a reset link has been sent. "
              "It is valid for 30 minutes and works once.") in page(r)
    path = reset_link(outbox, account)

    form = client.get(path)
    assert form.status_code == 200 and 'name="password"' in page(form)
    r = set_new(client, path)
    assert r.status_code == 302 and urlparse(r.headers["Location"]).path == "/login/"
    assert zh("Your password has been reset. Please log in.") in page(client.get("/login/"))
    assert can_log_in(app, account.username, NEW_PASSWORD)
    assert not can_log_in(app, account.username, factories.PASSWORD)
    assert not reload(db, account).must_change_password


def test_reset_link_works_once(app, client, world, db, outbox):
    account = staff(world)
    forgot(client, account.username, account.email)
    path = reset_link(outbox, account)
    token = csrf_from(page(client.get(path)))
    assert set_new(client, path).status_code == 302

    again = client.get(path, follow_redirects=True)
    assert again.request.path == "/password/forgot"
    assert zh("This link is invalid or has already been used.") in page(again)
    r = client.post(path, data={"csrf_token": token, "password": "Third#Pass2026", "confirm": "Third#Pass2026"})
    assert r.status_code == 302 and urlparse(r.headers["Location"]).path == "/password/forgot"
    assert can_log_in(app, account.username, NEW_PASSWORD)
    assert not can_log_in(app, account.username, "Third#Pass2026")


def test_reset_link_expires_after_30_minutes(app, client, world, outbox, monkeypatch):
    account = staff(world)
    forgot(client, account.username, account.email)
    path = reset_link(outbox, account)
    real = time.time
    # Travel in time (time.time, which itsdangerous reads; session cookies age with it).
    monkeypatch.setattr(time, "time", lambda: real() + 29 * 60)
    assert client.get(path).status_code == 200  # 29 minutes on: still good
    monkeypatch.setattr(time, "time", lambda: real() + 31 * 60)
    expired = client.get(path, follow_redirects=True)
    assert expired.request.path == "/password/forgot"
    assert zh("This link has expired. Please ask for a new one.") in page(expired)
    token = csrf_from(page(expired))  # a fresh form, so only the link's age can refuse the post
    r = client.post(path, data={"csrf_token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert r.status_code == 302 and urlparse(r.headers["Location"]).path == "/password/forgot"
    assert can_log_in(app, account.username, factories.PASSWORD)


def test_reset_link_honours_the_configured_lifetime(app, client, world, outbox, monkeypatch):
    account = staff(world)
    forgot(client, account.username, account.email)
    path = reset_link(outbox, account)
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE", -1)
    r = client.get(path, follow_redirects=True)
    assert zh("This link has expired. Please ask for a new one.") in page(r)


def _tampered(path: str) -> list[str]:
    token = path.rsplit("/", 1)[1]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    payload_changed = token[:2] + ("x" if token[2] != "x" else "y") + token[3:]
    from itsdangerous import URLSafeTimedSerializer

    other_key = URLSafeTimedSerializer("not-the-secret", salt="password-reset").dumps({"u": 1, "p": "x"})
    return [flipped, payload_changed, other_key, "garbage", token + "x"]


def test_tampered_reset_links_are_refused(app, client, world, outbox):
    account = staff(world)
    forgot(client, account.username, account.email)
    path = reset_link(outbox, account)
    token = csrf_from(page(client.get("/password/forgot")))
    for bad in _tampered(path):
        r = client.get(f"/password/reset/{bad}", follow_redirects=True)
        assert r.request.path == "/password/forgot", bad
        assert zh("This link is invalid or has already been used.") in page(r)
        r = client.post(f"/password/reset/{bad}", data={"csrf_token": token, "password": NEW_PASSWORD,
                                                          "confirm": NEW_PASSWORD})
        assert r.status_code == 302
    assert can_log_in(app, account.username, factories.PASSWORD)
    assert client.get(path).status_code == 200  # the genuine link is still good


def test_reset_link_enforces_complexity(app, client, world, outbox):
    account = staff(world)
    forgot(client, account.username, account.email)
    path = reset_link(outbox, account)
    r = set_new(client, path, "password")
    assert r.status_code == 200 and zh(PASSWORD_RULE) in page(r)
    r = set_new(client, path, NEW_PASSWORD, "Other#Pass2026")
    assert r.status_code == 200 and zh("The two passwords do not match.") in page(r)
    assert can_log_in(app, account.username, factories.PASSWORD)
    assert client.get(path).status_code == 200  # a refused attempt does not use the link up


def test_forgot_password_answers_the_same_whatever_is_typed(app, world, db, outbox):
    """No account enumeration: matched, wrong e-mail, unknown 证件号 and a deactivated account look alike."""
    account = staff(world)
    inactive = staff(world, name="钱医生")
    inactive.active = False
    db.session.commit()
    cases = {
        "match": (account.username, account.email),
        "wrong-email": (account.username, "someone@example.cn"),
        "other-person-email": (account.username, inactive.email),
        "unknown": (factories.new_id_number(), account.email),
        "inactive": (inactive.username, inactive.email),
    }
    pages = {}
    for name, (id_number, contact) in cases.items():
        r = forgot(app.test_client(), id_number, contact)
        assert r.status_code == 200 and r.request.path == "/login/", name
        pages[name] = scrub(page(r))
    assert len(set(pages.values())) == 1
    assert len(outbox) == 1 and outbox[0].recipients == [account.email]


def test_forgot_password_needs_the_captcha(client, world, outbox):
    account = staff(world)
    r = forgot(client, account.username, account.email, captcha="0000")
    assert r.request.path == "/password/forgot"
    assert zh("The captcha is wrong. Click the picture for a new one.") in page(r)
    assert len(outbox) == 0


def test_forgot_password_by_sms(app, client, world, outbox, monkeypatch):
    account = staff(world)
    monkeypatch.setattr(notify, "sent_sms", [])
    forgot(client, account.username, "13912345678", channel="sms")  # not the registered mobile
    assert notify.sent_sms == []
    forgot(client, account.username, account.mobile, channel="sms")
    assert len(notify.sent_sms) == 1
    mobile, text = notify.sent_sms[0]
    assert mobile == account.mobile
    assert len(outbox) == 0
    path = LINK_RE.search(text).group(1)
    assert set_new(client, path).status_code == 302
    assert can_log_in(app, account.username, NEW_PASSWORD)


# ------------------------------------------------------------------ S2 reset by an admin

def staff_reset(client, person_ids):
    token = csrf_from(page(client.get("/account/password")))
    return client.post("/staff/action_post", data={"csrf_token": token, "action": "reset_password",
                                                   "rowid": [str(i) for i in person_ids]})


def person_id(db, account) -> int:
    return db.session.scalar(select(Person.id).where(Person.user_id == account.id))


def test_unit_admin_resets_a_staff_password_and_the_owner_must_change_it(app, client, world, db):
    account = staff(world, world.sub_unit)  # a sub-unit lies inside the unit admin's scope
    owner = app.test_client()
    login(owner, account.username)

    login(client, world.unit_admin.username, role="UnitAdmin")
    r = staff_reset(client, [person_id(db, account)])
    assert r.status_code == 302
    assert reload(db, account).must_change_password
    assert owner.get("/home/").status_code == 302  # the owner's old session is void
    assert not can_log_in(app, account.username, factories.PASSWORD)

    last6 = account.username[-6:]
    r = login(owner, account.username, last6)
    assert r.request.path == "/account/password"
    assert zh("Your password was reset by an administrator. Please set a new password before you continue.") \
        in page(r)
    for url in ("/home/", "/account/role", "/public/help", "/"):
        r = owner.get(url)
        assert r.status_code == 302 and urlparse(r.headers["Location"]).path == "/account/password", url

    r = change(owner, last6, NEW_PASSWORD)
    assert r.status_code == 302
    assert owner.get("/home/").status_code == 200
    assert not reload(db, account).must_change_password
    assert can_log_in(app, account.username, NEW_PASSWORD)


def test_the_forced_change_still_demands_a_strong_password(app, client, world, db):
    account = staff(world)
    login(client, world.unit_admin.username, role="UnitAdmin")
    staff_reset(client, [person_id(db, account)])
    owner = app.test_client()
    last6 = account.username[-6:]
    login(owner, account.username, last6)
    r = change(owner, last6, "abcdefgh")
    assert zh(PASSWORD_RULE) in page(r)
    assert owner.get("/home/").status_code == 302


@pytest.mark.parametrize("admin", ["other_unit_admin", "sub_unit_admin"])
def test_admin_reset_outside_scope_is_refused(app, client, world, db, admin):
    account = staff(world)  # at world.unit: above the sub-unit admin, beside the other unit's admin
    login(client, getattr(world, admin).username, role="UnitAdmin")
    staff_reset(client, [person_id(db, account)])
    assert not reload(db, account).must_change_password
    assert can_log_in(app, account.username, factories.PASSWORD)


def test_admin_reset_by_get_is_refused(app, client, world, db):
    account = staff(world)
    login(client, world.unit_admin.username, role="UnitAdmin")
    client.get(f"/staff/action/reset_password/{person_id(db, account)}")
    assert not reload(db, account).must_change_password
    assert can_log_in(app, account.username, factories.PASSWORD)


def test_professional_cannot_use_the_staff_action(app, client, world, db):
    account = staff(world)
    colleague = staff(world, name="孙医生")
    login(client, colleague.username)
    r = staff_reset(client, [person_id(db, account)])
    assert r.status_code in (302, 403)
    assert not reload(db, account).must_change_password
    assert can_log_in(app, account.username, factories.PASSWORD)


def test_support_resets_a_password(app, client, world, db):
    account = staff(world)
    login(client, world.support.username, role="Support")
    token = csrf_from(page(client.get(f"/support/accounts/{account.id}")))
    r = client.post(f"/support/accounts/{account.id}/reset-password", data={"csrf_token": token})
    assert r.status_code == 302
    assert reload(db, account).must_change_password
    assert not can_log_in(app, account.username, factories.PASSWORD)
    owner = app.test_client()
    assert login(owner, account.username, account.username[-6:]).request.path == "/account/password"


def test_support_reset_needs_the_csrf_token(app, client, world, db):
    account = staff(world)
    login(client, world.support.username, role="Support")
    r = client.post(f"/support/accounts/{account.id}/reset-password")
    assert r.status_code == 400
    assert not reload(db, account).must_change_password
