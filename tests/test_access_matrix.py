"""T2: the access matrix, generated from the URL map.

Every endpoint of the app is classified in tests/access_policy.py as public, self-service (any logged-in role) or
restricted to named roles. A route added later fails `test_every_route_is_classified` until it is put in one of the
tables; from then on it is requested by every role that lacks it.

Each refused request names records in ANOTHER org (the world's other_unit / other_district) and must change
nothing: registrations, memberships, passwords, orgs, people, regions and the audit trail of transitions stay
as they were. Then the scope part: the admins who DO hold a permission, acting on another org's records.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import (Account, AnnualStandard, Attachment, BaseReport, Certificate, Declaration, HourRecord,
                        Membership, MembershipState, Org, OrgKind, Region, RegistrationState, RoleName)
from app.workflows import declaration as decl_flow
from tests import factories
from tests.access_policy import ALL_ROLES, ANONYMOUS, PUBLIC, RESTRICTED, SELF_SERVICE
from tests.helpers import (OTHER_APPLICANT_NAME, OTHER_DECLARATION_TITLE, OTHER_PERSON_NAME, OTHER_REPORT_TITLE,
                           TAMPERED, YEAR, assert_unchanged, cheap_passwords, client_as, credit_year,
                           declaration_data, decisions_for, is_login_redirect, learning_form, log_in, make_declaration,
                           make_person, make_report, password_of, person_of, reg_state, register, register_org,
                           state_snapshot, urls_and_forms)

R = RoleName

DENIED_CASES = [(role, endpoint) for endpoint, allowed in RESTRICTED.items() for role in ALL_ROLES
                if role not in allowed]


def url_and_form(app, endpoint: str, data: dict) -> tuple[str, dict]:
    return urls_and_forms(app, endpoint, data)[0]


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
    before = state_snapshot()
    for url, form in urls_and_forms(app, endpoint, matrix):
        for method in methods_of(app, endpoint):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data={"csrf_token": token, **form})
            where = f"{method} {url}: {response.status_code} {response.headers.get('Location')}"
            if role == ANONYMOUS:
                # pages send the visitor to the login form; FAB's JSON API answers 401
                expected_api = endpoint.startswith(("MenuApi.", "Api")) and response.status_code == 401
                assert is_login_redirect(response) or expected_api, where
            else:
                # 404 only where the URL names nothing of the view (FAB action names a view does not have)
                assert response.status_code == 403 or (response.status_code == 404 and ".action" in endpoint), where
                body = response.get_data(as_text=True)
                for secret in (OTHER_PERSON_NAME, OTHER_APPLICANT_NAME, OTHER_DECLARATION_TITLE, OTHER_REPORT_TITLE):
                    assert secret not in body, where
            assert_unchanged(before)


PERMITTED_PAGES = [(role, endpoint) for endpoint in ("RegistrationReviewView.index", "OrgModelView.list",
                                                     "StaffModelView.list", "RegionModelView.list",
                                                     "AuditLogModelView.list", "SupportView.lookup",
                                                     "SupportView.account", "HoursView.index", "HoursView.declare",
                                                     "HoursView.annual", "HoursView.standards",
                                                     "DeclarationReviewView.index", "BaseReportView.index",
                                                     "BaseReportView.new", "BaseReportReviewView.index",
                                                     "AnnualStandardModelView.list", "LearningFormModelView.list",
                                                     "ProfileView.index", "ProfileView.title", "ProfileView.identity",
                                                     "PersonnelReviewView.index", "IdentityReviewView.index",
                                                     "OrgAdminsView.index", "OrgAdminsView.roles", "SubUnitView.index",
                                                     "OrgProfileView.index", "OrgChangeReviewView.index",
                                                     "SupportOrgView.index")
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


# issue 8: the detail pages of queue rows (and what they serve) name a record by id; the roles that hold the page
# get a 404 for a record outside their subtree, whatever the method, and nothing changes
SCOPED_DETAILS = [(role, endpoint) for endpoint in ("RegistrationReviewView.detail", "RegistrationReviewView.decide_one",
                                                   "RegistrationReviewView.licence", "TransferReviewView.detail",
                                                   "PersonnelReviewView.detail", "OrgChangeReviewView.detail",
                                                   "DeclarationReviewView.detail", "SubUnitView.edit")
                  for role in sorted(RESTRICTED[endpoint])]


@pytest.mark.parametrize("role,endpoint", SCOPED_DETAILS, ids=[f"{r}-{e}" for r, e in SCOPED_DETAILS])
def test_detail_pages_of_another_orgs_records_are_not_found(app, matrix, role, endpoint):
    client, token = client_as(app, matrix, role)
    before = state_snapshot()
    for url, form in urls_and_forms(app, endpoint, matrix):
        for method in methods_of(app, endpoint):
            response = client.get(url) if method == "GET" else client.post(url, data={"csrf_token": token, **form})
            assert response.status_code == 404, f"{method} {url}: {response.status_code}"
            body = response.get_data(as_text=True)
            for secret in (OTHER_PERSON_NAME, OTHER_APPLICANT_NAME, OTHER_DECLARATION_TITLE):
                assert secret not in body
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


# ------------------------------------------------------------------ scope of issue 3: declarations, attachments

def declaration_row(item_id: int):
    return db.session.execute(select(Declaration.state, Declaration.reviewer_org_id, Declaration.title,
                                     Declaration.hours, Declaration.reason)
                              .where(Declaration.id == item_id)).one_or_none()


def attachment_of(item_id: int) -> int:
    return db.session.scalar(select(Attachment.id).where(Attachment.declaration_id == item_id))


def refused(response) -> bool:
    return response.status_code in (403, 404)


@pytest.mark.parametrize("state", ["draft", "pending_unit", "rejected", "approved"])
@pytest.mark.parametrize("owner_unit", ["unit", "other_unit"], ids=["colleague", "other-unit"])
def test_professional_cannot_touch_another_persons_declaration(client, fast_world, owner_unit, state):
    """Every owner action on someone else's declaration (a colleague's or another unit's): 403/404, no change."""
    world = fast_world
    owner = make_person("被冒用的申报人", getattr(world, owner_unit))
    item = make_declaration(world, owner, state, title="别人的进修申报")
    item_id, attachment = item.id, attachment_of(item.id)
    me = make_person("好奇的同事", world.unit)
    token = log_in(client, me.username, R.PROFESSIONAL.value)
    row, before = declaration_row(item_id), state_snapshot()
    gets = [f"/hours/{item_id}", f"/hours/{item_id}/edit", f"/attachments/{attachment}",
            f"/review/declarations/{item_id}"]
    for url in gets:
        response = client.get(url)
        assert refused(response), (url, response.status_code)
        assert "别人的进修申报" not in response.get_data(as_text=True), url
    posts = [(f"/hours/{item_id}/edit", declaration_data(title="改成我的标题", hours="80", action="submit"))]
    posts += [(f"/hours/{item_id}/{action}", {}) for action in ("submit", "withdraw", "delete")]
    for url, data in posts:
        response = client.post(url, data={"csrf_token": token, **data})
        assert refused(response), (url, response.status_code)
    response = client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(item_id),
                                                                "action": "approve"})
    assert response.status_code == 403
    assert "别人的进修申报" not in client.get("/hours/").get_data(as_text=True)
    assert declaration_row(item_id) == row
    assert_unchanged(before)


# (acting reviewer, role, whose unit the declaration belongs to, the state it waits in)
OUT_OF_SCOPE_DECLARATIONS = [
    ("other_unit_admin", R.UNIT_ADMIN, "unit", "pending_unit"),
    ("sub_unit_admin", R.UNIT_ADMIN, "unit", "pending_unit"),         # upwards: the parent unit's declaration
    ("unit_admin", R.UNIT_ADMIN, "other_unit", "pending_unit"),
    ("dept_admin", R.DEPT_ADMIN, "other_unit", "pending_hr"),
    ("district_admin", R.HR_ADMIN, "other_unit", "pending_hr"),
    ("other_district_admin", R.HR_ADMIN, "unit", "pending_hr"),
]


@pytest.mark.parametrize("admin,role,owner_unit,state", OUT_OF_SCOPE_DECLARATIONS,
                         ids=[f"{a}-vs-{u}" for a, _, u, _ in OUT_OF_SCOPE_DECLARATIONS])
def test_reviewer_cannot_see_or_decide_another_orgs_declaration(client, fast_world, admin, role, owner_unit, state):
    world = fast_world
    owner = make_person("乙方申报人", getattr(world, owner_unit))
    item = make_declaration(world, owner, state, title="越权审核测试培训")
    item_id, attachment = item.id, attachment_of(item.id)
    token = log_in(client, getattr(world, admin).username, role.value)
    row, before = declaration_row(item_id), state_snapshot()
    assert "越权审核测试培训" not in client.get("/review/declarations/").get_data(as_text=True)
    for url in (f"/review/declarations/{item_id}", f"/attachments/{attachment}"):
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)
        assert "越权审核测试培训" not in response.get_data(as_text=True)
    for action in ("approve", "reject"):
        response = client.post("/review/declarations/decide", data={
            "csrf_token": token, "ids": str(item_id), "action": action, "reason": "不予认可"})
        assert response.status_code in (302, 303, 403, 404)
    assert declaration_row(item_id) == row
    assert_unchanged(before)


@pytest.mark.parametrize("admin,role", [("unit_admin", R.UNIT_ADMIN), ("dept_admin", R.DEPT_ADMIN),
                                        ("district_admin", R.HR_ADMIN)])
def test_reviewers_in_scope_do_not_see_an_unsubmitted_draft(client, fast_world, admin, role):
    """A draft (never submitted, or withdrawn) is the applicant's own: its page and evidence are not found."""
    world = fast_world
    owner = make_person("草稿申报人", world.unit)
    draft = make_declaration(world, owner, "draft", title="尚未提交的草稿")
    withdrawn = make_declaration(world, owner, "pending_unit", title="撤回的申报")
    decl_flow.withdraw(withdrawn, factories.actor_for(owner, R.PROFESSIONAL, world.unit))
    log_in(client, getattr(world, admin).username, role.value)
    for item in (draft, withdrawn):
        for url in (f"/review/declarations/{item.id}", f"/attachments/{attachment_of(item.id)}"):
            response = client.get(url)
            assert response.status_code == 404, (url, response.status_code)
            assert item.title not in response.get_data(as_text=True)


# A reviewer in scope, but not at the level the declaration waits at: no step is skipped, none is taken twice.
WRONG_LEVEL = [
    ("unit_admin", R.UNIT_ADMIN, "pending_dept"),
    ("unit_admin", R.UNIT_ADMIN, "pending_hr"),
    ("dept_admin", R.DEPT_ADMIN, "pending_unit"),
    ("district_admin", R.HR_ADMIN, "pending_unit"),
    ("district_admin", R.HR_ADMIN, "pending_dept"),
    ("city_admin", R.HR_ADMIN, "pending_dept"),
]


@pytest.mark.parametrize("admin,role,state", WRONG_LEVEL, ids=[f"{a}-{s}" for a, _, s in WRONG_LEVEL])
def test_reviewer_cannot_decide_at_another_level(client, fast_world, admin, role, state):
    world = fast_world
    owner = make_person("跳级测试人", world.unit)
    item = make_declaration(world, owner, state, title="跳级审核测试培训")
    token = log_in(client, getattr(world, admin).username, role.value)
    row, before = declaration_row(item.id), state_snapshot()
    for action in ("approve", "reject"):
        client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(item.id),
                                                         "action": action, "reason": "越级"})
    assert declaration_row(item.id) == row
    assert_unchanged(before)


def test_batch_decision_mixing_in_and_out_of_scope_touches_only_the_scope(client, fast_world):
    world = fast_world
    mine = make_declaration(world, make_person("本院申报人", world.unit), title="本院的培训")
    other = make_declaration(world, make_person("乙校申报人", world.other_unit), title="乙校的培训")
    other_row = declaration_row(other.id)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    client.post("/review/declarations/decide", data={"csrf_token": token, "ids": [str(other.id), str(mine.id)],
                                                     "action": "approve"})
    assert declaration_row(other.id) == other_row
    assert declaration_row(mine.id).state == "pending_dept"


# ------------------------------------------------------------------ scope of issue 3: base reports

@pytest.fixture()
def other_base(fast_world):
    """A training base under the other district, with its admin."""
    base = factories.make_org(OrgKind.BASE, "乙区培训基地", fast_world.other_district)
    admin = factories.make_account("乙区基地管理员", [(R.BASE_ADMIN, base)])
    cheap_passwords()
    return base, admin


def report_row(report_id: int):
    return db.session.execute(select(BaseReport.state, BaseReport.reason).where(BaseReport.id == report_id)).one()


def test_base_admin_cannot_see_another_bases_report(client, fast_world, other_base):
    world = fast_world
    base, admin = other_base
    trainee = make_person("乙区学员", world.other_unit)
    report = make_report(admin, base, [trainee], title="乙区基地的培训班")
    log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    before = state_snapshot()
    assert "乙区基地的培训班" not in client.get("/base/reports/").get_data(as_text=True)
    response = client.get(f"/base/reports/{report.id}")
    assert response.status_code == 404
    assert "乙区学员" not in response.get_data(as_text=True)
    assert client.get(f"/review/base-reports/{report.id}").status_code == 403
    assert_unchanged(before)


@pytest.mark.parametrize("admin,base_under", [("district_admin", "other_district"),
                                              ("other_district_admin", "district"),
                                              ("district_admin", "city")])  # upwards: reviewed by the city
def test_hr_cannot_decide_a_report_outside_its_district(client, fast_world, admin, base_under):
    world = fast_world
    base = factories.make_org(OrgKind.BASE, "越权测试基地", getattr(world, base_under))
    base_admin = factories.make_account("越权基地管理员", [(R.BASE_ADMIN, base)])
    report = make_report(base_admin, base, [make_person("越权学员", world.unit)], title="越权培训班")
    token = log_in(client, getattr(world, admin).username, R.HR_ADMIN.value)
    row, before = report_row(report.id), state_snapshot()
    assert "越权培训班" not in client.get("/review/base-reports/").get_data(as_text=True)
    assert client.get(f"/review/base-reports/{report.id}").status_code == 404
    for action in ("approve", "reject"):
        response = client.post(f"/review/base-reports/{report.id}/decide",
                               data={"csrf_token": token, "action": action, "reason": "不予认可"})
        assert response.status_code in (302, 303, 403, 404)
    assert report_row(report.id) == row
    assert_unchanged(before)


def test_hr_decides_a_report_inside_its_scope(client, fast_world, other_base):
    """The counterpart: the city bureau covers every district's bases; the hours are credited."""
    world = fast_world
    base, admin = other_base
    trainee = make_person("乙区学员", world.other_unit)
    report = make_report(admin, base, [trainee], title="乙区基地的培训班", hours=12)
    token = log_in(client, world.city_admin.username, R.HR_ADMIN.value)
    assert "乙区基地的培训班" in client.get("/review/base-reports/").get_data(as_text=True)
    client.post(f"/review/base-reports/{report.id}/decide", data={"csrf_token": token, "action": "approve"})
    assert report_row(report.id).state == "approved"
    assert db.session.scalar(select(func.sum(HourRecord.hours)).where(
        HourRecord.person_id == person_of(trainee).id)) == 12


# ------------------------------------------------------------------ scope of issue 3: PDFs

def is_pdf(response) -> bool:
    return response.status_code == 200 and response.data.startswith(b"%PDF-")


def test_professional_prints_only_their_own_documents(client, fast_world):
    """The print route names no person: whatever is posted, it prints the session's own documents."""
    from pypdf import PdfReader
    import io

    world = fast_world
    passed = make_person("已达标的甲", world.unit)
    credit_year(passed, 30, 60)
    nosy = make_person("未达标的乙", world.other_unit)
    token = log_in(client, nosy.username, R.PROFESSIONAL.value)
    tricks = {"person_id": str(person_of(passed).id), "user_id": str(passed.id), "id_number": passed.username}
    for kind in ("completion", "register"):
        response = client.post(f"/hours/print/{YEAR}/{kind}?person_id={person_of(passed).id}",
                               data={"csrf_token": token, **tricks})
        assert not is_pdf(response), kind  # 乙 has no hours: nothing to print, and never 甲's documents
    assert db.session.scalar(select(func.count(Certificate.id))) == 0

    client.post("/logout/", data={"csrf_token": token})
    token = log_in(client, passed.username, R.PROFESSIONAL.value)
    response = client.post(f"/hours/print/{YEAR}/completion", data={"csrf_token": token})
    assert is_pdf(response)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "已达标的甲" in text and "未达标的乙" not in text
    assert db.session.execute(select(Certificate.person_id)).scalars().all() == [person_of(passed).id]


# ------------------------------------------------------------------ scope of issue 3: the catalogue (H7)

def test_district_hr_cannot_touch_another_regions_standard_or_the_catalogue(client, fast_world):
    world = fast_world
    mine, other = Region(code="370102", name="甲区"), Region(code="370103", name="乙区")
    db.session.add_all([mine, other])
    db.session.flush()
    db.session.execute(update(Org).where(Org.id == world.district.id).values(region_id=mine.id))
    db.session.execute(update(Org).where(Org.id == world.other_district.id).values(region_id=other.id))
    theirs = AnnualStandard(year=YEAR, region_id=other.id, public_min=20, professional_min=50, total_min=70)
    db.session.add(theirs)
    db.session.commit()
    form = learning_form()
    token = log_in(client, world.district_admin.username, R.HR_ADMIN.value)
    before = state_snapshot()
    standard = {"year": str(YEAR), "region": str(other.id), "public_min": "0", "professional_min": "0",
                "total_min": "0"}
    catalogue = {"code": form.code, "name": TAMPERED, "group": "training", "fields_json": "[]",
                 "max_hours": "999", "active": "y"}
    for url in (f"/standards/show/{theirs.id}", f"/standards/edit/{theirs.id}", f"/learning-forms/show/{form.id}",
                f"/learning-forms/edit/{form.id}"):
        response = client.get(url)
        assert response.status_code in (302, 403, 404), (url, response.status_code)
        assert TAMPERED not in response.get_data(as_text=True)
    for url, data in ((f"/standards/edit/{theirs.id}", standard), (f"/standards/delete/{theirs.id}", {}),
                      (f"/learning-forms/edit/{form.id}", catalogue), (f"/learning-forms/delete/{form.id}", {}),
                      ("/learning-forms/add", {**catalogue, "code": "tampered"})):
        response = client.post(url, data={"csrf_token": token, **data})
        assert response.status_code in (302, 403, 404), (url, response.status_code)
    assert_unchanged(before)


# ------------------------------------------------------------------ verification (X6): nothing beyond a match

def test_verification_shows_nothing_without_the_right_code(client, fast_world):
    from app.workflows import certificates

    world = fast_world
    holder = make_person("证书持有人", world.unit)
    credit_year(holder, 30, 60)
    cert = certificates.issue(person_of(holder), YEAR, "completion",
                              factories.actor_for(holder, R.PROFESSIONAL, world.unit))
    nosy = make_person("查询的人", world.other_unit)
    log_in(client, nosy.username, R.PROFESSIONAL.value)  # a logged-in user gets no more than the public
    wrong = "AAAAAAAA" if cert.verify_code != "AAAAAAAA" else "BBBBBBBB"
    for query in ({"number": cert.number, "code": wrong}, {"number": cert.number, "code": ""},
                  {"number": cert.number}):
        body = client.get("/verify/", query_string=query).get_data(as_text=True)
        assert "证书持有人" not in body and holder.username not in body
    assert "证书持有人" in client.get("/verify/", query_string={"number": cert.number,
                                                                "code": cert.verify_code}).get_data(as_text=True)
