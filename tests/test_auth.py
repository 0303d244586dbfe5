"""Login (P3), role choice, lockout on every login path (T5), rate limit, redirects, headers and error pages."""
from __future__ import annotations

import datetime
import re
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from app.models import LoginThrottle, Membership, RoleName
from tests import factories
from tests.helpers import CAPTCHA, csrf_from, login, page, submit, zh

LOGIN_FAILED_ZH = "账号或密码错误"


def scrub(text: str, *secrets: str) -> str:
    """A page with its per-request noise (CSRF token, CSP nonce) and the typed-in ID number removed."""
    text = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1", text)
    text = re.sub(r'nonce="[^"]+"', 'nonce=""', text)
    for secret in secrets:
        text = text.replace(secret, "<ID>")
    return text


def post_login(client, id_number, password=factories.PASSWORD, role="Professional", captcha=None, url="/login/"):
    return submit(client, url, {"role": role, "id_number": id_number, "password": password, "captcha": captcha},
                  get_url="/login/")


def throttle(db, id_number) -> LoginThrottle | None:
    db.session.expire_all()
    return db.session.get(LoginThrottle, id_number)


def professional(world, name="张医生"):
    return factories.make_account(name, [(RoleName.PROFESSIONAL, world.unit)], person_unit=world.unit)


# ------------------------------------------------------------------ the happy path, every role

ROLE_CASES = [
    ("unit_admin", "UnitAdmin", "Unit administrator", "unit"),
    ("dept_admin", "DeptAdmin", "Department administrator", "dept"),
    ("district_admin", "HRAdmin", "HR bureau administrator", "district"),
    ("base_admin", "BaseAdmin", "Training base administrator", "base"),
    ("support", "Support", "Support staff", None),
    ("sysadmin", "SysAdmin", "System administrator", None),
    ("auditor", "Auditor", "Auditor", None),
]


@pytest.mark.parametrize("attr,role,label,org_attr", ROLE_CASES, ids=[c[1] for c in ROLE_CASES])
def test_each_role_logs_in_to_its_home(client, world, attr, role, label, org_attr):
    account = getattr(world, attr)
    r = login(client, account.username, role=role)
    assert r.status_code == 200
    assert r.request.path == "/home/"
    text = page(r)
    assert zh(label) in text
    if org_attr:
        assert getattr(world, org_attr).name in text
    assert account.username not in text  # the home page shows the masked number only


def test_professional_logs_in(client, world):
    account = professional(world)
    r = login(client, account.username)
    assert r.request.path == "/home/"
    text = page(r)
    assert zh("Professional") in text and world.unit.name in text and "张医生" in text


def test_lowercase_x_in_the_id_number_is_accepted(client, world):
    account = factories.make_account("王五", [(RoleName.PROFESSIONAL, world.unit)], id_number="11010519491231002X")
    r = login(client, "11010519491231002x")
    assert r.request.path == "/home/", page(r)[:2000]
    assert account.username == "11010519491231002X"


# ------------------------------------------------------------------ captcha

def test_wrong_captcha_is_refused_and_is_not_a_password_failure(client, world, db):
    account = professional(world)
    for _ in range(6):
        r = post_login(client, account.username, captcha="0000")
        assert r.status_code == 200
        assert zh("The captcha is wrong. Click the picture for a new one.") in page(r)
        assert client.get("/home/").status_code == 302  # not logged in
    row = throttle(db, account.username)
    assert row is None or (row.failures == 0 and row.locked_until is None)
    # Six wrong captchas later the right password still works: nothing was counted against the account.
    assert login(client, account.username).request.path == "/home/"


def test_captcha_is_single_use(client, world):
    account = professional(world)
    first = post_login(client, account.username, password="Wrong@2026x")
    assert LOGIN_FAILED_ZH in page(first)
    # Replaying the same answer without loading a new picture fails on the captcha, before any password check.
    token = csrf_from(page(first))
    r = client.post("/login/", data={"csrf_token": token, "role": "Professional", "id_number": account.username,
                                     "password": factories.PASSWORD, "captcha": CAPTCHA})
    assert zh("The captcha is wrong. Click the picture for a new one.") in page(r)
    assert client.get("/home/").status_code == 302


# ------------------------------------------------------------------ one message for every failure

def test_unknown_wrong_and_locked_look_the_same(client, world, db):
    account = professional(world)
    unknown = factories.new_id_number()
    locked = professional(world, "李护士")
    db.session.add(LoginThrottle(username=locked.username, failures=0,
                                 locked_until=datetime.datetime.now() + datetime.timedelta(minutes=10)))
    db.session.commit()

    answers = {
        "unknown": (post_login(client, unknown), unknown),
        "wrong": (post_login(client, account.username, password="Wrong@2026x"), account.username),
        "locked": (post_login(client, locked.username), locked.username),  # the right password
    }
    statuses = {name: r.status_code for name, (r, _) in answers.items()}
    assert set(statuses.values()) == {200}, statuses
    pages = {name: scrub(page(r), idn) for name, (r, idn) in answers.items()}
    for name, text in pages.items():
        assert LOGIN_FAILED_ZH in text, name
        assert zh("The role you chose is not registered for this account.") not in text
    # Byte for byte the same page, once the CSRF token, nonce and the typed number are taken out.
    assert pages["unknown"] == pages["wrong"] == pages["locked"]
    assert client.get("/home/").status_code == 302


def test_role_not_registered_is_told_only_after_the_right_password(client, world):
    account = professional(world)
    wrong = post_login(client, account.username, password="Wrong@2026x", role="UnitAdmin")
    assert LOGIN_FAILED_ZH in page(wrong)
    assert zh("The role you chose is not registered for this account.") not in page(wrong)

    right = post_login(client, account.username, role="UnitAdmin")
    text = page(right)
    assert zh("The role you chose is not registered for this account.") in text
    assert LOGIN_FAILED_ZH not in text
    assert client.get("/home/").status_code == 302


def test_under_review_names_the_reviewing_org_only_after_the_right_password(client, world):
    form = factories.person_form(world.unit)
    r = submit(client, "/public/register/person", form)
    assert r.status_code == 200

    wrong = post_login(client, form["id_number"], password="Wrong@2026x")
    assert LOGIN_FAILED_ZH in page(wrong)
    assert world.unit.name not in page(wrong)

    right = post_login(client, form["id_number"])
    text = page(right)
    assert zh("Your account is under review by %(org)s.", org=world.unit.name) in text
    assert zh("The role you chose is not registered for this account.") not in text
    assert client.get("/home/").status_code == 302

    # The same account asking for a role it never applied for hears the other message.
    other = post_login(client, form["id_number"], role="UnitAdmin")
    assert zh("The role you chose is not registered for this account.") in page(other)


def test_a_deactivated_account_gets_the_generic_message(client, world, db):
    account = professional(world)
    account.active = False
    db.session.commit()
    r = post_login(client, account.username)
    assert LOGIN_FAILED_ZH in page(r)
    assert client.get("/home/").status_code == 302


# ------------------------------------------------------------------ several memberships of one role

def _multi_admin(world):
    return factories.make_account("双单位管理员", [(RoleName.UNIT_ADMIN, world.unit),
                                           (RoleName.UNIT_ADMIN, world.other_unit),
                                           (RoleName.PROFESSIONAL, world.unit)])


def _memberships(db, account):
    return {(m.role, m.org_id): m.id for m in db.session.scalars(
        select(Membership).where(Membership.user_id == account.id))}


def test_several_memberships_of_the_chosen_role_pick_one(client, world, db):
    account = _multi_admin(world)
    ids = _memberships(db, account)
    r = post_login(client, account.username, role="UnitAdmin")
    assert r.status_code == 302 and urlparse(r.headers["Location"]).path == "/login/role"
    assert client.get("/home/").status_code == 302  # no session before the choice

    choice = client.get("/login/role")
    text = page(choice)
    assert world.unit.name in text and world.other_unit.name in text
    token = csrf_from(text)
    r = client.post("/login/role", data={"csrf_token": token,
                                         "membership_id": ids[("UnitAdmin", world.other_unit.id)]})
    assert r.status_code == 302 and urlparse(r.headers["Location"]).path == "/home/"
    home = page(client.get("/home/"))
    assert world.other_unit.name in home and zh("Unit administrator") in home


def test_picking_a_membership_that_is_not_yours_is_refused(client, world, db):
    account = _multi_admin(world)
    foreign = _memberships(db, world.dept_admin)[("DeptAdmin", world.dept.id)]
    own_professional = _memberships(db, account)[("Professional", world.unit.id)]
    post_login(client, account.username, role="UnitAdmin")
    token = csrf_from(page(client.get("/login/role")))
    # Another person's membership, and one of one's own that is not of the chosen role.
    for tampered in (foreign, own_professional, 999999):
        r = client.post("/login/role", data={"csrf_token": token, "membership_id": tampered})
        assert r.status_code == 400, tampered
    assert client.get("/home/").status_code == 302


def test_the_choice_page_without_a_password_check_goes_back_to_login(client, world):
    r = client.get("/login/role")
    assert r.status_code == 302 and urlparse(r.headers["Location"]).path == "/login/"


def test_switch_role_later(client, world, db):
    account = _multi_admin(world)
    ids = _memberships(db, account)
    post_login(client, account.username, role="UnitAdmin")
    token = csrf_from(page(client.get("/login/role")))
    client.post("/login/role", data={"csrf_token": token, "membership_id": ids[("UnitAdmin", world.unit.id)]})
    assert client.get("/review/registrations/").status_code == 200  # a unit admin's screen

    text = page(client.get("/account/role"))
    assert world.other_unit.name in text and zh("Professional") in text
    token = csrf_from(text)
    r = client.post("/account/role", data={"csrf_token": token,
                                           "membership_id": ids[("Professional", world.unit.id)]})
    assert r.status_code == 302
    home = page(client.get("/home/"))
    assert zh("Professional") in home
    assert client.get("/review/registrations/").status_code == 403  # the admin rights went with the role

    foreign = _memberships(db, world.unit_admin)[("UnitAdmin", world.unit.id)]
    r = client.post("/account/role", data={"csrf_token": token, "membership_id": foreign})
    assert r.status_code == 400
    assert zh("Professional") in page(client.get("/home/"))


# ------------------------------------------------------------------ T5: lockout

def test_lockout_exactly_at_the_fifth_failure(client, world, db):
    account = professional(world)
    # Four failures do not lock: the right password still works (and clears the counter).
    for _ in range(4):
        assert LOGIN_FAILED_ZH in page(post_login(client, account.username, password="Wrong@2026x"))
    assert login(client, account.username).request.path == "/home/"
    client.post("/logout/", data={"csrf_token": csrf_from(page(client.get("/logout/")))})

    for _ in range(4):
        post_login(client, account.username, password="Wrong@2026x")
    assert throttle(db, account.username).locked_until is None
    before = datetime.datetime.now()
    post_login(client, account.username, password="Wrong@2026x")  # the fifth
    row = throttle(db, account.username)
    assert row.locked_until is not None
    assert datetime.timedelta(minutes=29) < row.locked_until - before <= datetime.timedelta(minutes=31)

    # Locked: the right password gets the very same answer as a wrong one.
    locked = post_login(client, account.username)
    assert LOGIN_FAILED_ZH in page(locked) and locked.status_code == 200
    assert client.get("/home/").status_code == 302

    # Thirty minutes later (moved in the database) the right password works again.
    row.locked_until = datetime.datetime.now() - datetime.timedelta(seconds=1)
    db.session.commit()
    assert login(client, account.username).request.path == "/home/"


def test_lockout_is_shared_by_the_form_and_the_security_manager(app, client, world, db):
    """auth_user_db is what any other FAB login path (LDAP fallback, API, basic auth) would call."""
    account = professional(world)
    sm = app.appbuilder.sm
    for _ in range(3):
        post_login(client, account.username, password="Wrong@2026x")
    with app.test_request_context("/"):
        assert sm.auth_user_db(account.username, "Wrong@2026x") is None
        assert throttle(db, account.username).locked_until is None
        assert sm.auth_user_db(account.username, "Wrong@2026x") is None  # the fifth failure overall
        assert sm.auth_user_db(account.username, factories.PASSWORD) is None  # locked on this path too
    assert throttle(db, account.username).locked_until is not None
    r = post_login(client, account.username)
    assert LOGIN_FAILED_ZH in page(r)
    assert client.get("/home/").status_code == 302


def test_security_manager_path_alone_locks_the_form(app, client, world, db):
    account = professional(world)
    with app.test_request_context("/"):
        assert app.appbuilder.sm.auth_user_db(account.username, factories.PASSWORD).id == account.id
        for _ in range(5):
            assert app.appbuilder.sm.auth_user_db(account.username, "Wrong@2026x") is None
    assert LOGIN_FAILED_ZH in page(post_login(client, account.username))
    assert client.get("/home/").status_code == 302


@pytest.mark.parametrize("method", ["get", "post"])
def test_fab_api_login_does_not_exist(client, world, method):
    account = professional(world)
    r = getattr(client, method)("/api/v1/security/login",
                                json={"username": account.username, "password": factories.PASSWORD,
                                      "provider": "db", "refresh": True})
    assert r.status_code in (404, 405)
    assert "access_token" not in r.get_data(as_text=True)


def test_unknown_id_number_is_throttled_like_a_real_one(client, world, db):
    unknown = factories.new_id_number()
    first = scrub(page(post_login(client, unknown)), unknown)
    for _ in range(4):
        post_login(client, unknown)
    row = throttle(db, unknown)
    assert row is not None and row.locked_until is not None
    later = post_login(client, unknown)
    assert later.status_code == 200
    assert scrub(page(later), unknown) == first


# ------------------------------------------------------------------ rate limit

def test_login_posts_are_rate_limited(app, client, world):
    from app.extensions import limiter

    account = professional(world)
    old = app.config["LOGIN_RATE_LIMIT"]
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    limiter.reset()
    try:
        for _ in range(3):
            assert post_login(client, account.username, captcha="0000").status_code == 200
        r = post_login(client, account.username)
        assert r.status_code == 429
        text = page(r)
        assert zh("Too many requests. Please wait a moment and try again.") in text
        assert "Traceback" not in text
        assert client.get("/home/").status_code == 302
        assert client.get("/login/").status_code == 200  # showing the form is not limited
    finally:
        app.config["LOGIN_RATE_LIMIT"] = old
        limiter.reset()


# ------------------------------------------------------------------ redirects, headers, errors

@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example/x", "https:/evil.example",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_next_never_leaves_the_site(client, world, target):
    account = professional(world)
    r = post_login(client, account.username, url=f"/login/?next={target}")
    assert r.status_code == 302
    location = urlparse(r.headers["Location"])
    assert location.netloc in ("", "localhost") and location.scheme in ("", "http")
    assert location.path == "/home/"


def test_next_to_a_page_of_the_site_is_followed(client, world):
    account = professional(world)
    r = post_login(client, account.username, url="/login/?next=/account/password")
    assert r.status_code == 302 and urlparse(r.headers["Location"]).path == "/account/password"


def test_security_headers(client, world):
    r = client.get("/login/")
    csp = r.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'nonce="{nonce}"' in r.get_data(as_text=True)  # the page's own script carries it
    script_src = re.search(r"script-src([^;]*)", csp).group(1)
    assert "'unsafe-inline'" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin", "no-referrer")
    again = client.get("/login/").headers["Content-Security-Policy"]
    assert re.search(r"'nonce-([^']+)'", again).group(1) != nonce  # one nonce per response
    # Logged-in pages carry them too.
    login(client, world.unit_admin.username, role="UnitAdmin")
    home = client.get("/home/")
    assert "frame-ancestors 'none'" in home.headers["Content-Security-Policy"]
    assert home.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_flags(client, world):
    account = professional(world)
    r = post_login(client, account.username)
    cookie = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("url", ["/no/such/page", "/login/role/999", "/support/accounts/abc",
                                 "/password/reset/", "/static/../config.py"])
def test_bad_url_gets_a_chinese_404_without_internals(client, world, url):
    r = client.get(url)
    assert r.status_code == 404
    text = page(r)
    assert zh("The page you asked for does not exist.") in text
    assert "Traceback" not in text and "werkzeug" not in text.lower() and "sqlalchemy" not in text.lower()


def test_logout_is_a_post_and_ends_the_session(client, world):
    account = professional(world)
    login(client, account.username)
    assert client.get("/logout/").status_code == 200  # GET only shows the button
    assert client.get("/home/").status_code == 200
    r = client.post("/logout/", data={"csrf_token": csrf_from(page(client.get("/logout/")))})
    assert r.status_code == 302
    assert client.get("/home/").status_code == 302


def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(client, world, db):
    """PROXY_TRUSTED_HOPS is 0 without a proxy: a client cannot pick the address the rate limits, the lockout and
    the audit log see by sending X-Forwarded-For (behind nginx, tests/test_two_nodes.py shows the forwarded one
    counted)."""
    from app.models import AuditLog

    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    login(client, professional(world).username, "Wrong#2026x")
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "login").order_by(AuditLog.id.desc())).first()
    assert row is not None and row.result != "ok" and row.ip == "127.0.0.1"
