"""T5: every path that checks a password goes through the one lockout, and a captcha answer works once.

The password routes are not a hand list: they are found from the URL map, as the endpoints whose view function
calls (directly or through other functions of the app) `accounts.verify_password`, the one password check; a
static test makes sure nothing else in the app checks a password hash. Each found route must have a scenario below
that submits a password through it; the test fails for a route without one.
"""
from __future__ import annotations

import ast
import datetime
import inspect
import pathlib

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, CaptchaChallenge, LoginThrottle, Membership, Registration, RoleName
from tests import factories
from tests.helpers import CAPTCHA, csrf_from, login, page, submit, zh

APP_DIR = pathlib.Path(__file__).resolve().parents[1] / "app"
VERIFY = ("app.workflows.accounts", "verify_password")
WRONG = "Wrong#Pass2026"
R = RoleName


# ---------------------------------------------------------------- the call graph of the app, read from its code

def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(APP_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, level: int, target: str | None) -> str:
    base = module.split(".")
    package = base if module.endswith("__init__") else base[:-1]
    if level:
        package = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join(package + ([target] if target else []))


def _call_graph() -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(module, qualified function) -> the (module, function) pairs it calls, resolved through imports."""
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for path in APP_DIR.rglob("*.py"):
        module = _module_name(path)
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules: dict[str, str] = {}   # alias -> module
        names: dict[str, tuple[str, str]] = {}  # imported name -> (module, name)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                pkg = module if is_package else module.rpartition(".")[0]
                for _ in range(max(node.level - 1, 0)):
                    pkg = pkg.rpartition(".")[0]
                source = (f"{pkg}.{node.module}" if node.module else pkg) if node.level else node.module
                for alias in node.names:
                    names[alias.asname or alias.name] = (source, alias.name)
                    modules[alias.asname or alias.name] = f"{source}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    modules[alias.asname or alias.name] = alias.name

        def calls_of(fn) -> set[tuple[str, str]]:
            found = set()
            for sub in ast.walk(fn):
                if not isinstance(sub, ast.Call):
                    continue
                f = sub.func
                if isinstance(f, ast.Name):
                    found.add(names.get(f.id, (module, f.id)))
                elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                    if f.value.id in modules:
                        found.add((modules[f.value.id], f.attr))
                    if f.value.id == "self":
                        found.add((module, f"self.{f.attr}"))
            return found

        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                graph[(module, node.name)] = calls_of(node)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        calls = calls_of(item)
                        # self.method() inside a class: that class's own method
                        calls = {(m, f"{node.name}.{n[5:]}") if n.startswith("self.") else (m, n) for m, n in calls}
                        graph[(module, f"{node.name}.{item.name}")] = calls
    return graph


def _password_checkers() -> set[tuple[str, str]]:
    graph = _call_graph()
    reached = {VERIFY}
    changed = True
    while changed:
        changed = False
        for fn, calls in graph.items():
            if fn not in reached and calls & reached:
                reached.add(fn)
                changed = True
    return reached


def password_endpoints(app) -> set[str]:
    checkers = _password_checkers()
    found = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        fn = inspect.unwrap(getattr(view, "__func__", view))
        if (fn.__module__, fn.__qualname__) in checkers and rule.methods & {"POST", "PUT", "PATCH"}:
            found.add(rule.endpoint)
    return found


def test_nothing_but_verify_password_checks_a_password_hash():
    """The only call of check_password_hash is in accounts.verify_password (and its timing decoy)."""
    offenders = []
    for path in APP_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and getattr(sub.func, "id", getattr(sub.func, "attr", "")) == \
                        "check_password_hash":
                    where = (_module_name(path), getattr(node, "name", "<module>"))
                    if where not in {VERIFY, ("app.workflows.accounts", "_fake_check")}:
                        offenders.append(where)
    assert offenders == []


def test_the_call_graph_sees_the_known_password_paths(app):
    """The discovery itself works: it finds the login and the paths the review named (a discovery that found
    nothing would make the lockout test below pass vacuously)."""
    found = password_endpoints(app)
    assert {"AuthView.login", "AccountView.password", "PublicView.register_person", "PublicView.register_org",
            "PublicView.withdraw", "OrgAdminsView.add_existing"} <= found


# ---------------------------------------------------------------- one scenario per password route

def _registered_applicant(world):
    """A person with a pending registration at the unit (the withdrawal needs one)."""
    from app.workflows import registration as reg_flow

    id_number = factories.new_id_number()
    data = reg_flow.AccountData(id_type="resident_id", id_number=id_number, password=factories.PASSWORD,
                                confirm=factories.PASSWORD, name="待撤回", email=f"w{id_number}@example.cn",
                                mobile="13900000000")
    reg_flow.register_person(data, world.unit.id, {"education": "大学本科"})
    return reg_flow.find_account(id_number)


def _login_route(app, world, target, password):
    client = app.test_client()
    return login(client, target.username, password, role=R.UNIT_ADMIN.value)


def _change_password_route(app, world, target, password):
    client = app.test_client()
    with client.session_transaction() as sess:  # a session of the target, as if logged in before the lockout
        import time

        membership = db.session.scalar(select(Membership).where(Membership.user_id == target.id))
        sess.update({"_user_id": str(target.id), "membership_id": membership.id, "auth_at": time.time(),
                     "_fresh": True})
    return submit(client, "/account/password", {"old_password": password, "password": "Neu#Pass2027x",
                                                "confirm": "Neu#Pass2027x"}, follow=True)


def _register_person_route(app, world, target, password):
    form = factories.person_form(world.sub_unit, id_number=target.username, existing_user="y", password=password,
                                 confirm="", name=target.first_name)
    return submit(app.test_client(), "/public/register/person", form)


def _register_org_route(app, world, target, password):
    form = factories.org_form(world.dept, id_number=target.username, existing_user="y", password=password,
                              confirm="", name=target.first_name)
    return submit(app.test_client(), "/public/register/unit", form)


def _withdraw_route(app, world, target, password):
    client = app.test_client()
    submit(client, "/public/progress", {"id_number": target.username, "captcha": None})
    reg = db.session.scalar(select(Registration).where(Registration.user_id == target.id))
    return submit(client, "/public/progress/withdraw", {"registration_id": str(reg.id), "password": password},
                  get_url="/public/progress", follow=True)


def _add_existing_admin_route(app, world, target, password):
    client = app.test_client()
    login(client, world.unit_admin.username, role=R.UNIT_ADMIN.value)
    return submit(client, "/org/admins/add/existing", {"id_number": target.username, "password": password},
                  get_url="/org/admins/add", follow=True)


def _api_login_route(app, world, target, password):
    """The REST API's login (issue 12): its refusal is a JSON 401 with the same one message."""
    response = app.test_client().post("/api/v1/auth/login", json={
        "role": R.UNIT_ADMIN.value, "id_number": target.username, "password": password})
    assert response.status_code == 401 and response.get_json()["code"] == "login_failed"
    response.status_code = 200  # compared below like a page that shows the message
    return response


SCENARIOS = {
    # endpoint: (how to submit a password there, who the target is)
    "AuthView.login": (_login_route, lambda w: w.other_unit_admin),
    "ApiAuth.login": (_api_login_route, lambda w: w.other_unit_admin),
    "AccountView.password": (_change_password_route, lambda w: w.other_unit_admin),
    "PublicView.register_person": (_register_person_route, lambda w: w.other_unit_admin),
    "PublicView.register_org": (_register_org_route, lambda w: w.other_unit_admin),
    "PublicView.withdraw": (_withdraw_route, _registered_applicant),
    "OrgAdminsView.add_existing": (_add_existing_admin_route, lambda w: w.dept_admin),
}


def test_every_password_route_has_a_scenario(app):
    assert password_endpoints(app) == set(SCENARIOS)


def _locked(username: str) -> bool:
    db.session.expire_all()
    row = db.session.get(LoginThrottle, username)
    return bool(row and row.locked_until and row.locked_until > datetime.datetime.now())


def _state(target) -> dict:
    db.session.expire_all()
    return {"memberships": db.session.scalar(select(func.count(Membership.id))),
            "registrations": db.session.scalar(select(func.count(Registration.id))),
            "password": db.session.get(type(target), target.id).password}


def _can_log_in(app, target) -> bool:
    response = login(app.test_client(), target.username, role=R.UNIT_ADMIN.value)
    return response.request.path == "/home/" if hasattr(response, "request") else False


@pytest.mark.parametrize("endpoint", sorted(SCENARIOS))
def test_failures_on_the_route_lock_the_account_everywhere(app, client, world, endpoint):
    route, who = SCENARIOS[endpoint]
    target = who(world)
    threshold = app.config["LOCKOUT_THRESHOLD"]
    for attempt in range(threshold):
        assert not _locked(target.username), f"locked after {attempt} failures"
        response = route(app, world, target, WRONG)
        assert response.status_code == 200
        assert zh("Wrong account or password.") in page(response)
    assert _locked(target.username), "the threshold of failures on this route did not lock the account"
    fails = db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.result == "fail",
                                                                     AuditLog.object_id == target.id))
    assert fails >= threshold  # each failed check is on record
    # The right password now fails on the login form too.
    response = login(app.test_client(), target.username, role=R.UNIT_ADMIN.value)
    assert zh("Wrong account or password.") in page(response)


@pytest.mark.parametrize("endpoint", sorted(SCENARIOS))
def test_a_locked_account_is_refused_on_the_route_even_with_the_right_password(app, client, world, endpoint):
    route, who = SCENARIOS[endpoint]
    target = who(world)
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):  # locked through the login form
        login(app.test_client(), target.username, WRONG, role=R.UNIT_ADMIN.value)
    assert _locked(target.username)
    before = _state(target)
    response = route(app, world, target, factories.PASSWORD)
    assert response.status_code == 200
    assert zh("Wrong account or password.") in page(response)  # the one message, whatever the cause
    assert _state(target) == before  # nothing was done with the right password


# ---------------------------------------------------------------- captcha: kept on the server, used once

def _login_post(client, token, target, captcha):
    return client.post("/login/", data={"csrf_token": token, "role": R.UNIT_ADMIN.value,
                                        "id_number": target.username, "password": factories.PASSWORD,
                                        "captcha": captcha})


def test_a_captcha_answer_works_once(client, world):
    token = csrf_from(client.get("/login/").get_data(as_text=True))
    client.get("/captcha.png")
    assert _login_post(client, token, world.unit_admin, CAPTCHA).status_code == 302  # logged in
    client.post("/logout/", data={"csrf_token": csrf_from(client.get("/logout/").get_data(as_text=True))})
    token = csrf_from(client.get("/login/").get_data(as_text=True))
    response = _login_post(client, token, world.unit_admin, CAPTCHA)  # no new picture: the old answer is spent
    assert response.status_code == 200
    assert zh("The captcha is wrong. Click the picture for a new one.") in page(response)


def test_a_replayed_session_cookie_does_not_replay_the_captcha(app, client, world):
    """The classic replay: save the cookie holding a solved captcha, use it, then send the saved cookie again
    (from another client, as another worker or node would see it)."""
    token = csrf_from(client.get("/login/").get_data(as_text=True))
    client.get("/captcha.png")
    saved = client.get_cookie("session").value
    assert "2468" not in saved
    response = _login_post(client, token, world.unit_admin, "0000")  # a wrong answer also uses it up
    assert zh("The captcha is wrong. Click the picture for a new one.") in page(response)
    attacker = app.test_client()
    attacker.set_cookie("session", saved, domain="localhost")
    response = _login_post(attacker, token, world.unit_admin, CAPTCHA)
    assert response.status_code == 200
    assert zh("The captcha is wrong. Click the picture for a new one.") in page(response)
    assert db.session.scalar(select(func.count()).select_from(CaptchaChallenge)) == 0


def test_the_answer_lives_on_the_server_not_in_the_cookie(app, client, world):
    client.get("/captcha.png")
    with client.session_transaction() as sess:
        challenge = sess["captcha"]
    assert isinstance(challenge, str) and len(challenge) == 32  # only a random id
    row = db.session.get(CaptchaChallenge, challenge)
    assert row is not None and CAPTCHA not in row.digest
    client.get("/captcha.png")  # a new picture voids the one before
    db.session.expire_all()
    assert db.session.get(CaptchaChallenge, challenge) is None


def test_an_expired_captcha_is_refused(app, client, world):
    token = csrf_from(client.get("/login/").get_data(as_text=True))
    client.get("/captcha.png")
    with client.session_transaction() as sess:
        row = db.session.get(CaptchaChallenge, sess["captcha"])
    row.created_at -= datetime.timedelta(seconds=app.config["CAPTCHA_MAX_AGE"] + 1)
    db.session.commit()
    response = _login_post(client, token, world.unit_admin, CAPTCHA)
    assert zh("The captcha is wrong. Click the picture for a new one.") in page(response)


@pytest.mark.parametrize("url,form", [
    ("/public/register/person", lambda w: factories.person_form(w.unit)),
    ("/public/register/unit", lambda w: factories.org_form(w.dept)),
    ("/public/progress", lambda w: {"id_number": w.unit_admin.username}),
    ("/verify/", None),
])
def test_registration_and_public_lookups_take_a_captcha(app, client, world, url, form):
    if form is None:
        body = page(client.get(url))
        assert 'name="captcha"' in body  # the lookup by 证件号 + name
        return
    data = form(world)
    before = db.session.scalar(select(func.count(Registration.id)))
    for captcha in ("", "0000"):
        response = submit(client, url, {**data, "captcha": captcha})
        assert response.status_code == 200
        assert 'name="captcha"' in page(response)
    assert db.session.scalar(select(func.count(Registration.id))) == before
    if "register" in url:
        response = submit(client, url, {**data, "captcha": None})
        assert db.session.scalar(select(func.count(Registration.id))) == before + 1, page(response)[:500]
