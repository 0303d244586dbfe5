"""T2: the access matrix, generated from the URL map.

Every endpoint of the app is classified below as public, self-service (any logged-in role) or restricted to
named roles. A route added later fails `test_every_route_is_classified` until it is put in one of the tables;
from then on it is requested by every role that lacks it.

Each refused request names records in ANOTHER org (the world's other_unit / other_district) and must change
nothing: registrations, memberships, passwords, orgs, people, regions and the audit trail of transitions stay
as they were. Then the scope part: the admins who DO hold a permission, acting on another org's records.
"""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import or_, select, update
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import (Account, AuditLog, Membership, MembershipState, Org, OrgKind, Person, Region, Registration,
                        RegistrationState, RoleName)
from app.workflows import registration as reg_flow
from tests import factories
from tests.conftest import _truncate, csrf_from, login

R = RoleName
ANONYMOUS = "anonymous"
ALL_ROLES = [r.value for r in RoleName] + [ANONYMOUS]
REVIEWERS = frozenset({R.UNIT_ADMIN.value, R.DEPT_ADMIN.value, R.HR_ADMIN.value})
NOBODY: frozenset = frozenset()

# ------------------------------------------------------------------ the classification

PUBLIC = {
    "static", "appbuilder.static", "HomeIndexView.index", "LocaleView.index", "UtilView.back",
    "AuthView.login", "AuthView.pick_role", "AuthView.logout", "AuthView.captcha", "AuthView.forgot",
    "AuthView.reset",
    "PublicView.register_person", "PublicView.register_org", "PublicView.progress", "PublicView.withdraw",
    "PublicView.orgs", "PublicView.help",
}
SELF_SERVICE = {"HomeView.index", "AccountView.password", "AccountView.role"}


def _fab(view: str, **allowed: frozenset) -> dict[str, frozenset]:
    """The eight routes FAB generates for a ModelView; those not named are allowed to nobody."""
    names = ("list", "show", "add", "edit", "delete", "download", "action", "action_post")
    return {f"{view}.{name}": allowed.get(name, NOBODY) for name in names}


ADMINS_AND_SYSADMIN = REVIEWERS | {R.SYSADMIN.value}
ADMINS_AND_SUPPORT = REVIEWERS | {R.SUPPORT.value}
SUPPORT_STAFF = frozenset({R.SUPPORT.value, R.SYSADMIN.value})
SYSADMIN = frozenset({R.SYSADMIN.value})
AUDITOR = frozenset({R.AUDITOR.value})

# endpoint -> the roles that may use it (the policy written out by hand, not read back from app.security)
RESTRICTED: dict[str, frozenset] = {
    "RegistrationReviewView.index": REVIEWERS,
    "RegistrationReviewView.decide": REVIEWERS,
    **_fab("OrgModelView", list=ADMINS_AND_SYSADMIN, show=ADMINS_AND_SYSADMIN),
    **_fab("StaffModelView", list=ADMINS_AND_SUPPORT, show=ADMINS_AND_SUPPORT, action=ADMINS_AND_SUPPORT,
           action_post=ADMINS_AND_SUPPORT),
    **_fab("RegionModelView", list=SYSADMIN, show=SYSADMIN, add=SYSADMIN, edit=SYSADMIN),
    **_fab("AuditLogModelView", list=AUDITOR, show=AUDITOR),
    "SupportView.lookup": SUPPORT_STAFF,
    "SupportView.account": SUPPORT_STAFF,
    "SupportView.assign": SUPPORT_STAFF,
    "SupportView.revoke": SUPPORT_STAFF,
    "SupportView.reset_password": SUPPORT_STAFF,
    "MenuApi.get_menu_data": NOBODY,  # FAB's menu API: no role is granted it
}

DENIED_CASES = [(role, endpoint) for endpoint, allowed in RESTRICTED.items() for role in ALL_ROLES
                if role not in allowed]

OTHER_PERSON_NAME = "乙校王老师"
OTHER_APPLICANT_NAME = "乙校李申请"

# Test accounts get a cheap hash of factories.PASSWORD: logins still go through the real form and the real
# password check, without paying scrypt for each of the hundreds of logins below.
CHEAP_HASH = generate_password_hash(factories.PASSWORD, method="pbkdf2:sha256:1000")
_seq = itertools.count(1)


# ------------------------------------------------------------------ shared helpers (also used by test_csrf)

def state_snapshot() -> dict:
    """Everything a refused request must leave as it was (read as plain rows, never from the identity map)."""
    ex = db.session.execute
    transitions = or_(AuditLog.to_state.is_not(None), AuditLog.action.like("password.%"),
                      AuditLog.action.like("role.%"), AuditLog.action.like("registration.%"))
    return {
        "registrations": ex(select(Registration.id, Registration.state, Registration.decided_by_id)
                            .order_by(Registration.id)).all(),
        "memberships": ex(select(Membership.id, Membership.user_id, Membership.role, Membership.org_id,
                                 Membership.state).order_by(Membership.id)).all(),
        "accounts": ex(select(Account.id, Account.username, Account.password, Account.must_change_password,
                              Account.active, Account.sessions_valid_after, Account.email)
                       .order_by(Account.id)).all(),
        "orgs": ex(select(Org.id, Org.name, Org.state, Org.parent_id, Org.path).order_by(Org.id)).all(),
        "people": ex(select(Person.id, Person.name, Person.unit_id, Person.user_id).order_by(Person.id)).all(),
        "regions": ex(select(Region.id, Region.code, Region.name).order_by(Region.id)).all(),
        "audit transitions": ex(select(AuditLog.action, AuditLog.object_type, AuditLog.object_id,
                                       AuditLog.from_state, AuditLog.to_state).where(transitions)
                                .order_by(AuditLog.id)).all(),
    }


def assert_unchanged(before: dict) -> None:
    after = state_snapshot()
    for key in before:
        assert after[key] == before[key], f"{key} changed"


def token_for(client, logged_in: bool = True) -> str:
    """A valid CSRF token of the client's current session."""
    page = client.get("/account/password" if logged_in else "/login/")
    assert page.status_code == 200, page.status_code
    return csrf_from(page.get_data(as_text=True))


def cheap_passwords() -> None:
    db.session.execute(update(Account).where(Account.password == factories._HASH).values(password=CHEAP_HASH))
    db.session.commit()


def make_person(name: str, unit: Org, role: RoleName = R.PROFESSIONAL) -> Account:
    """An active professional of `unit` with a profile (a row of the staff screens)."""
    account = factories.make_account(name, [(role, unit)], person_unit=unit)
    cheap_passwords()
    return account


def register(unit: Org, name: str, account: Account | None = None) -> Registration:
    """A pending professional registration at `unit`, through the workflow ("I am already a user")."""
    if account is None:
        account = factories.make_account(name)
        cheap_passwords()
    data = reg_flow.AccountData(id_type="resident_id", id_number=account.username, password=factories.PASSWORD,
                                confirm=None, name=name, email=account.email, mobile="13912345678",
                                existing_user=True)
    return reg_flow.register_person(data, unit.id, {"department": "内科"})


def register_org(kind: OrgKind, parent: Org, name: str) -> Registration:
    """A pending org registration reviewed by `parent`'s admins."""
    from app.demo import make_credit_code

    account = factories.make_account("申请人")
    cheap_passwords()
    data = reg_flow.AccountData(id_type="resident_id", id_number=account.username, password=factories.PASSWORD,
                                confirm=None, name="申请人", email=account.email, mobile="13912345678",
                                existing_user=True)
    return reg_flow.register_org(kind, data, parent.id, {
        "name": name, "credit_code": make_credit_code("370102", 700000 + next(_seq)), "phone": "0531-88888888",
        "address": "测试路2号", "contact": "申请人"})


def person_of(account: Account) -> Person:
    return db.session.scalar(select(Person).where(Person.user_id == account.id))


def password_of(account_id: int) -> str:
    return db.session.execute(select(Account.password).where(Account.id == account_id)).scalar_one()


def reg_state(reg_id: int) -> str:
    return db.session.execute(select(Registration.state).where(Registration.id == reg_id)).scalar_one()


def decisions_for(reg_id: int) -> list:
    return db.session.execute(select(AuditLog.action).where(
        AuditLog.object_type == "registration", AuditLog.object_id == reg_id,
        AuditLog.action.in_(["registration.approve", "registration.reject"]))).scalars().all()


def is_login_redirect(response) -> bool:
    return response.status_code in (302, 303) and "/login/" in response.headers.get("Location", "")


def log_in(client, username: str | None, role: str) -> str:
    """Log in through the real form (None: stay anonymous) and return a CSRF token of the session."""
    if username is None:
        return token_for(client, logged_in=False)
    response = login(client, username, role=role, follow=False)
    assert response.status_code == 302 and response.headers["Location"].endswith("/home/"), \
        f"login as {role} failed ({response.status_code})"
    return token_for(client)


@pytest.fixture()
def fast_world(world):
    cheap_passwords()
    return world


# ------------------------------------------------------------------ one shared world for the matrix

ROLE_ACCOUNTS = {
    R.UNIT_ADMIN.value: "unit_admin", R.DEPT_ADMIN.value: "dept_admin", R.HR_ADMIN.value: "district_admin",
    R.BASE_ADMIN.value: "base_admin", R.SUPPORT.value: "support", R.SYSADMIN.value: "sysadmin",
    R.AUDITOR.value: "auditor",
}
_matrix_cache: dict = {}


def _build_matrix() -> dict:
    world = factories.World.build()
    other = make_person(OTHER_PERSON_NAME, world.other_unit)
    professional = make_person("甲院张医生", world.unit)
    reg = register(world.other_unit, OTHER_APPLICANT_NAME)
    region = Region(code="370103", name="乙区")
    db.session.add(region)
    db.session.commit()
    users = {role: getattr(world, attr).username for role, attr in ROLE_ACCOUNTS.items()}
    users[R.PROFESSIONAL.value] = professional.username
    users[ANONYMOUS] = None
    return {
        "users": users,
        "unit_admin_id": world.unit_admin.id,
        "other_unit": world.other_unit.id,
        "other_account": other.id,
        "other_username": other.username,
        "other_person": person_of(other).id,
        "other_membership": db.session.scalar(select(Membership.id).where(Membership.user_id == other.id)),
        "other_reg": reg.id,
        "region": region.id,
        "audit_id": db.session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1)),
    }


@pytest.fixture(scope="module")
def _matrix_module(app):
    yield _matrix_cache
    _matrix_cache.clear()
    with app.app_context():
        db.session.remove()
        _truncate(db)


@pytest.fixture()
def matrix(app, _matrix_module):
    """Read-only tests share one world (built once per module and worker): they assert that nothing changes.

    Tests elsewhere empty the tables after themselves; the world is rebuilt when it has gone.
    """
    with app.app_context():
        data = _matrix_module
        if not data or db.session.get(Account, data["unit_admin_id"]) is None:
            db.session.remove()
            _truncate(db)
            data.clear()
            data.update(_build_matrix())
        yield data
        db.session.rollback()
        db.session.remove()


def client_as(app, matrix: dict, role: str):
    """A client logged in as `role` through the real form, and a CSRF token of its session.

    The session cookie is logged in once per role and world, then replayed: the requests of the matrix are
    refused and change nothing, so the session stays valid (a broken one shows as a login redirect).
    """
    client = app.test_client()
    cached = matrix.setdefault("sessions", {}).get(role)
    if cached is None:
        token = log_in(client, matrix["users"][role], role)
        cookie = client.get_cookie("session")
        cached = matrix["sessions"][role] = (cookie.value if cookie else None, token)
    elif cached[0] is not None:
        client.set_cookie("session", cached[0])
    return client, cached[1]


def url_and_form(app, endpoint: str, data: dict) -> tuple[str, dict]:
    """The URL of `endpoint` with its parameters naming another org's records, and a plausible form."""
    from flask import url_for

    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    view = endpoint.split(".")[0]
    pk = {"OrgModelView": data["other_unit"], "StaffModelView": data["other_person"],
          "RegionModelView": data["region"], "AuditLogModelView": data["audit_id"]}.get(view)
    values = {"pk": pk, "name": "reset_password", "filename": "export.csv", "account_id": data["other_account"],
              "membership_id": data["other_membership"]}
    args = {arg: values[arg] for arg in rule.arguments}
    form = {
        "RegistrationReviewView.decide": {"ids": str(data["other_reg"]), "action": "approve"},
        "SupportView.assign": {"role": R.UNIT_ADMIN.value, "org_id": str(data["other_unit"])},
        "SupportView.lookup": {"id_number": data["other_username"]},
    }.get(endpoint)
    if form is None and endpoint.endswith(".action_post"):
        form = {"action": "reset_password", "rowid": str(pk)}
    if form is None and endpoint.split(".")[1] in ("add", "edit"):
        form = {"name": "被篡改的名称", "code": "370199"}
    with app.test_request_context():
        return url_for(endpoint, **args), form or {}


def methods_of(app, endpoint: str) -> list[str]:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    return sorted(rule.methods & {"GET", "POST"})


# ------------------------------------------------------------------ the matrix

def test_every_route_is_classified(app):
    """A new route fails here until it is declared public, self-service or restricted to named roles."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    tables = [PUBLIC, SELF_SERVICE, set(RESTRICTED)]
    unclassified = endpoints - set().union(*tables)
    assert not unclassified, f"classify these endpoints in tests/test_access_matrix.py: {sorted(unclassified)}"
    stale = set().union(*tables) - endpoints
    assert not stale, f"classified endpoints that no longer exist: {sorted(stale)}"
    assert not (PUBLIC & SELF_SERVICE) and not (PUBLIC & set(RESTRICTED)) and not (SELF_SERVICE & set(RESTRICTED))


@pytest.mark.parametrize("role,endpoint", DENIED_CASES, ids=[f"{r}-{e}" for r, e in DENIED_CASES])
def test_role_without_permission_is_refused(app, matrix, role, endpoint):
    client, token = client_as(app, matrix, role)
    url, form = url_and_form(app, endpoint, matrix)
    before = state_snapshot()
    for method in methods_of(app, endpoint):
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": token, **form})
        where = f"{method} {url}: {response.status_code} {response.headers.get('Location')}"
        if role == ANONYMOUS:
            # pages send the visitor to the login form; FAB's JSON API answers 401
            expected_api = endpoint.startswith("MenuApi.") and response.status_code == 401
            assert is_login_redirect(response) or expected_api, where
        else:
            # 404 only where the URL names nothing of the view (FAB action names a view does not have)
            assert response.status_code == 403 or (response.status_code == 404 and ".action" in endpoint), where
            body = response.get_data(as_text=True)
            assert OTHER_PERSON_NAME not in body and OTHER_APPLICANT_NAME not in body
        assert_unchanged(before)


PERMITTED_PAGES = [(role, endpoint) for endpoint in ("RegistrationReviewView.index", "OrgModelView.list",
                                                     "StaffModelView.list", "RegionModelView.list",
                                                     "AuditLogModelView.list", "SupportView.lookup",
                                                     "SupportView.account")
                   for role in sorted(RESTRICTED[endpoint])]


@pytest.mark.parametrize("role,endpoint", PERMITTED_PAGES, ids=[f"{r}-{e}" for r, e in PERMITTED_PAGES])
def test_role_with_permission_reaches_its_pages(app, matrix, role, endpoint):
    """The other side of the matrix: the roles that hold a page get it (so the refusals above mean something)."""
    client = app.test_client()
    log_in(client, matrix["users"][role], role)
    url, _ = url_and_form(app, endpoint, matrix)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("endpoint", sorted(SELF_SERVICE))
def test_self_service_needs_a_login(app, matrix, endpoint):
    url, _ = url_and_form(app, endpoint, matrix)
    assert is_login_redirect(app.test_client().get(url))


@pytest.mark.parametrize("role", [r.value for r in RoleName])
def test_self_service_open_to_every_role(app, matrix, role):
    client = app.test_client()
    log_in(client, matrix["users"][role], role)
    assert client.get("/home/").status_code == 200
    assert client.get("/account/password").status_code == 200


@pytest.mark.parametrize("role", [R.PROFESSIONAL, R.UNIT_ADMIN, R.DEPT_ADMIN, R.HR_ADMIN, R.BASE_ADMIN,
                                  R.AUDITOR])
def test_support_endpoints_refuse_other_roles(app, matrix, role):
    """Support actions (reset, grant, revoke, look up) by anyone but support staff: 403, nothing changed."""
    client = app.test_client()
    token = log_in(client, matrix["users"][role.value], role.value)
    account, membership = matrix["other_account"], matrix["other_membership"]
    before = state_snapshot()
    for url, data in ((f"/support/accounts/{account}/reset-password", {}),
                      (f"/support/accounts/{account}/roles", {"role": R.SUPPORT.value}),
                      (f"/support/memberships/{membership}/revoke", {}),
                      ("/support/accounts", {"id_number": matrix["other_username"]})):
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 403, url
    assert client.get(f"/support/accounts/{account}").status_code == 403
    assert_unchanged(before)


def test_unknown_fab_action_is_not_found(app, matrix):
    """An action name a view does not have is a 404 (FAB itself answers with a 500)."""
    client = app.test_client()
    token = log_in(client, matrix["users"][R.SYSADMIN.value], R.SYSADMIN.value)
    before = state_snapshot()
    for url, data in ((f"/orgs/action/delete_all/{matrix['other_unit']}", {}),
                      ("/orgs/action_post", {"action": "nope", "rowid": str(matrix["other_unit"])}),
                      (f"/regions/action/nope/{matrix['region']}", {})):
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 404, url
    assert_unchanged(before)


# ------------------------------------------------------------------ scope: permitted roles, another org's records

def decide(client, token: str, reg_id: int, action: str):
    data = {"csrf_token": token, "ids": str(reg_id), "action": action}
    if action == "reject":
        data["reason"] = "材料不全"
    return client.post("/review/registrations/decide", data=data)


# (acting admin, role, the org the registration is addressed to, what registers there)
OUT_OF_SCOPE = [
    ("unit_admin", R.UNIT_ADMIN, "other_unit", "person"),
    ("unit_admin", R.UNIT_ADMIN, "dept", "unit"),              # upwards: a unit under the parent department
    ("sub_unit_admin", R.UNIT_ADMIN, "unit", "person"),        # a sub-unit's admin and the parent unit
    ("dept_admin", R.DEPT_ADMIN, "other_unit", "person"),
    ("dept_admin", R.DEPT_ADMIN, "district", "department"),    # upwards
    ("district_admin", R.HR_ADMIN, "other_district", "unit"),
    ("district_admin", R.HR_ADMIN, "other_unit", "person"),
    ("other_district_admin", R.HR_ADMIN, "unit", "person"),
]


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("admin,role,where,kind", OUT_OF_SCOPE,
                         ids=[f"{a}-vs-{w}-{k}" for a, _, w, k in OUT_OF_SCOPE])
def test_reviewer_cannot_decide_another_orgs_registration(client, fast_world, admin, role, where, kind, action):
    world = fast_world
    org = getattr(world, where)
    reg = register(org, "越权申请人") if kind == "person" else register_org(OrgKind(kind), org, "越权测试单位")
    reg_id, membership_id = reg.id, reg.membership_id
    token = log_in(client, getattr(world, admin).username, role.value)
    assert "越权" not in client.get("/review/registrations/").get_data(as_text=True)  # not even listed
    before = state_snapshot()
    response = decide(client, token, reg_id, action)
    assert response.status_code in (302, 303, 403, 404)
    assert reg_state(reg_id) == RegistrationState.PENDING.value
    assert db.session.execute(select(Membership.state).where(Membership.id == membership_id)).scalar_one() \
        == MembershipState.PENDING.value
    assert decisions_for(reg_id) == []
    assert_unchanged(before)


@pytest.mark.parametrize("admin,role,where", [
    ("unit_admin", R.UNIT_ADMIN, "sub_unit"),       # the parent unit's admin decides for its sub-unit
    ("dept_admin", R.DEPT_ADMIN, "sub_unit"),
    ("district_admin", R.HR_ADMIN, "unit"),
    ("city_admin", R.HR_ADMIN, "other_unit"),
])
def test_reviewer_decides_inside_the_subtree(client, fast_world, admin, role, where):
    """The subtree rule works downwards (the counterpart of the refusals above)."""
    world = fast_world
    reg = register(getattr(world, where), "下级申请人")
    token = log_in(client, getattr(world, admin).username, role.value)
    assert "下级申请人" in client.get("/review/registrations/").get_data(as_text=True)
    decide(client, token, reg.id, "approve")
    assert reg_state(reg.id) == RegistrationState.APPROVED.value
    assert decisions_for(reg.id) == ["registration.approve"]


@pytest.mark.parametrize("admin,role,unit", [
    ("unit_admin", R.UNIT_ADMIN, "unit"),
    ("dept_admin", R.DEPT_ADMIN, "unit"),
    ("district_admin", R.HR_ADMIN, "sub_unit"),
])
def test_nobody_approves_their_own_registration(client, fast_world, admin, role, unit):
    """An admin who registers as a professional inside their own scope cannot decide it."""
    world = fast_world
    account = getattr(world, admin)
    reg = register(getattr(world, unit), account.first_name, account=account)
    token = log_in(client, account.username, role.value)
    before = state_snapshot()
    for action in ("approve", "reject"):
        decide(client, token, reg.id, action)
    assert reg_state(reg.id) == RegistrationState.PENDING.value
    assert decisions_for(reg.id) == []
    assert_unchanged(before)


# ------------------------------------------------------------------ scope of the FAB screens

STAFF = {"unit": "甲院在编甲", "sub_unit": "分院在编乙", "other_unit": "乙校在编丙"}
WORLD_ORGS = ("city", "district", "other_district", "dept", "unit", "sub_unit", "other_unit", "base")


def people(world) -> dict[str, Account]:
    return {where: make_person(name, getattr(world, where)) for where, name in STAFF.items()}


# acting admin -> the world orgs whose rows (and staff) they see; every other org is out of scope
LIST_SCOPE = [
    ("sub_unit_admin", R.UNIT_ADMIN, {"sub_unit"}),
    ("unit_admin", R.UNIT_ADMIN, {"unit", "sub_unit"}),
    ("dept_admin", R.DEPT_ADMIN, {"dept", "unit", "sub_unit"}),
    ("district_admin", R.HR_ADMIN, {"district", "dept", "unit", "sub_unit"}),
    ("other_district_admin", R.HR_ADMIN, {"other_district", "other_unit"}),
]


@pytest.mark.parametrize("admin,role,visible", LIST_SCOPE, ids=[x[0] for x in LIST_SCOPE])
def test_fab_lists_show_only_the_subtree(client, fast_world, admin, role, visible):
    world = fast_world
    staff = {where: person_of(account) for where, account in people(world).items()}
    log_in(client, getattr(world, admin).username, role.value)
    orgs = client.get("/orgs/list/")
    assert orgs.status_code == 200
    html = orgs.get_data(as_text=True)
    for name in WORLD_ORGS:
        row = f'href="/orgs/show/{getattr(world, name).id}"'
        assert (row in html) == (name in visible), (name, name in visible)

    listing = client.get("/staff/list/")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    for where, person in staff.items():
        shown = where in visible
        assert (f'href="/staff/show/{person.id}"' in html) == shown, (person.name, shown)
        assert (person.name in html) == shown, (person.name, shown)
        if not shown:  # a filter on the name does not reach around the scope either
            filtered = client.get(f"/staff/list/?_flt_0_name={person.name}").get_data(as_text=True)
            assert f'href="/staff/show/{person.id}"' not in filtered


@pytest.mark.parametrize("admin,role", [("unit_admin", R.UNIT_ADMIN), ("dept_admin", R.DEPT_ADMIN),
                                        ("district_admin", R.HR_ADMIN)])
def test_fab_show_of_another_orgs_row_is_not_found(client, fast_world, admin, role):
    world = fast_world
    staff = people(world)
    other = person_of(staff["other_unit"])
    log_in(client, getattr(world, admin).username, role.value)
    for url, secret in ((f"/staff/show/{other.id}", STAFF["other_unit"]),
                        (f"/orgs/show/{world.other_unit.id}", world.other_unit.credit_code),
                        (f"/orgs/show/{world.other_district.id}", world.other_district.credit_code)):
        response = client.get(url)
        assert response.status_code in (302, 303, 404), (url, response.status_code)
        assert secret not in response.get_data(as_text=True)
    # the admin's own staff member is shown: the refusals are about scope, not a broken page
    mine = person_of(staff["unit"])
    assert STAFF["unit"] in client.get(f"/staff/show/{mine.id}").get_data(as_text=True)


@pytest.mark.parametrize("admin,role", [("unit_admin", R.UNIT_ADMIN), ("sub_unit_admin", R.UNIT_ADMIN),
                                        ("dept_admin", R.DEPT_ADMIN), ("district_admin", R.HR_ADMIN)])
def test_fab_reset_password_action_on_another_org_is_refused(client, fast_world, admin, role):
    world = fast_world
    staff = people(world)
    victims = [staff["other_unit"]] + ([staff["unit"]] if admin == "sub_unit_admin" else [])
    token = log_in(client, getattr(world, admin).username, role.value)
    before = state_snapshot()
    for victim in victims:
        pk = person_of(victim).id
        client.post(f"/staff/action/reset_password/{pk}", data={"csrf_token": token})
        client.post("/staff/action_post", data={"csrf_token": token, "action": "reset_password",
                                                "rowid": [str(pk)]})
        client.get(f"/staff/action/reset_password/{pk}")
    assert_unchanged(before)


def test_fab_reset_password_action_mixed_rows_only_touch_the_scope(client, fast_world):
    """One in-scope and one out-of-scope row in one action_post: only the in-scope password changes."""
    world = fast_world
    staff = people(world)
    mine, other = staff["sub_unit"], staff["other_unit"]
    mine_before, other_before = password_of(mine.id), password_of(other.id)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    client.post("/staff/action_post", data={"csrf_token": token, "action": "reset_password",
                                            "rowid": [str(person_of(other).id), str(person_of(mine).id)]})
    assert password_of(other.id) == other_before
    assert password_of(mine.id) != mine_before
    assert db.session.execute(select(Account.must_change_password).where(Account.id == mine.id)).scalar_one()
