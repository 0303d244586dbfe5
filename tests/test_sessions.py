"""T6: sessions. Old cookies replayed after logout, password change, admin reset, role revocation or
deactivation are rejected; idle and absolute limits hold; the cookie carries HttpOnly and SameSite=Lax."""
from __future__ import annotations

import datetime
import time
from email.utils import parsedate_to_datetime

import pytest
from itsdangerous.timed import TimestampSigner
from sqlalchemy import select, update

from app.extensions import db
from app.models import Account, Membership, MembershipState, RoleName
from tests.helpers import cheap_passwords, is_login_redirect, log_in, login, make_person, token_for

NEW_PASSWORD = "Fresh#Pass2026"


@pytest.fixture()
def session_owner(world):
    cheap_passwords()
    return make_person("会话测试人", world.unit)


def cookie_of(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def replay(app, cookie: str):
    """A second browser presenting a copied session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def assert_logged_in(client) -> None:
    response = client.get("/home/")
    assert response.status_code == 200, (response.status_code, response.headers.get("Location"))


def assert_rejected(client) -> None:
    response = client.get("/home/")
    assert is_login_redirect(response), (response.status_code, response.headers.get("Location"))


def account_row(account_id: int):
    return db.session.execute(select(Account.password, Account.must_change_password)
                              .where(Account.id == account_id)).one()


def test_logout_voids_the_replayed_cookie(app, client, session_owner):
    token = log_in(client, session_owner.username, RoleName.PROFESSIONAL.value)
    old = cookie_of(client)
    assert_logged_in(replay(app, old))  # the copy works while the session lives

    response = client.post("/logout/", data={"csrf_token": token})
    assert is_login_redirect(response)
    assert_rejected(client)
    assert_rejected(replay(app, old))


def test_password_change_voids_old_cookies_but_keeps_the_changing_session(app, client, session_owner):
    token = log_in(client, session_owner.username, RoleName.PROFESSIONAL.value)
    other_device = replay(app, cookie_of(client))
    old = cookie_of(client)
    assert_logged_in(other_device)
    old_hash = account_row(session_owner.id).password

    response = client.post("/account/password", data={
        "csrf_token": token, "old_password": "Test@2026a", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/home/")
    assert account_row(session_owner.id).password != old_hash

    assert_logged_in(client)  # the session that made the change goes on
    assert_logged_in(client)
    assert_rejected(other_device)
    assert_rejected(replay(app, old))


def test_admin_reset_voids_cookies_and_forces_a_password_change(app, client, session_owner, world):
    log_in(client, session_owner.username, RoleName.PROFESSIONAL.value)
    old = cookie_of(client)

    support = app.test_client()
    token = log_in(support, world.support.username, RoleName.SUPPORT.value)
    response = support.post(f"/support/accounts/{session_owner.id}/reset-password", data={"csrf_token": token})
    assert response.status_code == 302
    assert account_row(session_owner.id).must_change_password

    assert_rejected(client)
    assert_rejected(replay(app, old))

    # the owner logs in with the reset password and is held on the change-password page
    fresh = app.test_client()
    temporary = session_owner.username[-6:]
    response = login(fresh, session_owner.username, password=temporary, role=RoleName.PROFESSIONAL.value, follow=False)
    assert response.status_code == 302
    for url in ("/home/", "/account/role", "/public/help", "/review/registrations/"):
        held = fresh.get(url)
        assert held.status_code == 302 and held.headers["Location"].endswith("/account/password"), url
    assert fresh.get("/account/password").status_code == 200

    response = fresh.post("/account/password", data={
        "csrf_token": token_for(fresh), "old_password": temporary, "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/home/")
    assert not account_row(session_owner.id).must_change_password
    assert_logged_in(fresh)


def test_revoked_membership_ends_the_session_at_once(app, client, session_owner, world):
    log_in(client, session_owner.username, RoleName.PROFESSIONAL.value)
    membership_id = db.session.scalar(select(Membership.id).where(Membership.user_id == session_owner.id))

    support = app.test_client()
    token = log_in(support, world.support.username, RoleName.SUPPORT.value)
    support.post(f"/support/memberships/{membership_id}/revoke", data={"csrf_token": token})
    state = db.session.execute(select(Membership.state).where(Membership.id == membership_id)).scalar_one()
    assert state == MembershipState.REVOKED.value

    assert_rejected(client)


def test_deactivated_account_is_rejected_at_once(client, session_owner):
    log_in(client, session_owner.username, RoleName.PROFESSIONAL.value)
    assert_logged_in(client)
    db.session.execute(update(Account).where(Account.id == session_owner.id).values(active=False))
    db.session.commit()
    assert_rejected(client)


def test_idle_session_expires_after_the_configured_lifetime(app, client, session_owner, monkeypatch):
    """The signed cookie's age is checked against PERMANENT_SESSION_LIFETIME (30 min); each request renews it."""
    assert app.permanent_session_lifetime == datetime.timedelta(minutes=30)
    log_in(client, session_owner.username, RoleName.PROFESSIONAL.value)
    first = cookie_of(client)
    start = int(time.time())

    def at(minutes: int) -> None:
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: start + minutes * 60)

    at(20)
    assert_logged_in(client)             # 20 minutes idle: fine, and the cookie is renewed
    at(45)
    assert_logged_in(client)             # 25 minutes after the last request
    assert_rejected(replay(app, first))  # but the first cookie is now 45 minutes old
    at(80)
    assert_rejected(client)              # 35 minutes idle


def test_absolute_limit_ends_an_active_session(client, session_owner):
    log_in(client, session_owner.username, RoleName.PROFESSIONAL.value)
    with client.session_transaction() as session:
        session["auth_at"] = time.time() - 11 * 3600
    assert_logged_in(client)
    with client.session_transaction() as session:
        session["auth_at"] = time.time() - 12 * 3600 - 60
    assert_rejected(client)


def test_session_cookie_flags(client, session_owner):
    response = login(client, session_owner.username, role=RoleName.PROFESSIONAL.value, follow=False)
    assert response.status_code == 302
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    cookie = cookies[-1]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes.get("samesite") == "SameSite=Lax"
    expires = parsedate_to_datetime(attributes["expires"].split("=", 1)[1])
    left = expires - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=29) < left <= datetime.timedelta(minutes=30, seconds=5)
