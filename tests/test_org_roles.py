"""U3 / D3 / H2 org-defined roles: the super admin ticks permission modules; a role never grants more than its
creator holds, never reaches outside the org, and is applied at once (the next request)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Membership, OrgRole, RoleName
from app.security import module_allows, modules_for_role
from app.workflows import admins as flow
from app.workflows.base import DomainError, PermissionDenied
from tests.factories import actor_for
from tests.helpers import (assert_unchanged, boss, log_in, make_person, membership_of, page, reg_state, register,
                           second_admin, state_snapshot, zh)

R = RoleName


def roles_snapshot():
    return db.session.execute(select(OrgRole.id, OrgRole.org_id, OrgRole.name, OrgRole.modules_json, OrgRole.active)
                              .order_by(OrgRole.id)).all()


def assignments():
    return db.session.execute(select(Membership.id, Membership.org_role_id).order_by(Membership.id)).all()


def audit_actions(prefix: str) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).where(AuditLog.action.like(f"{prefix}%"))
                                   .order_by(AuditLog.id)))


# ------------------------------------------------------------------ the module machinery of app.security

def test_modules_for_each_admin_role():
    assert modules_for_role(R.UNIT_ADMIN.value) == ["registrations", "declarations", "personnel", "transfers",
                                                    "staff", "import", "orgs", "statistics"]
    assert "statistics" in modules_for_role(R.HR_ADMIN.value) and "statistics" in modules_for_role(R.DEPT_ADMIN.value)
    assert "statistics" not in modules_for_role(R.BASE_ADMIN.value)
    assert "transfers" not in modules_for_role(R.DEPT_ADMIN.value)
    assert "hr" in modules_for_role(R.HR_ADMIN.value) and "hr" not in modules_for_role(R.UNIT_ADMIN.value)
    assert set(modules_for_role(R.BASE_ADMIN.value)) == {"base_reports", "orgs", "classes", "base_plans"}
    assert {"class_review", "base_plans_review"} <= set(modules_for_role(R.HR_ADMIN.value))
    assert not {"class_review", "base_plans_review", "classes"} & set(modules_for_role(R.UNIT_ADMIN.value))


def test_module_allows():
    role = OrgRole(org_id=1, name="x", modules_json=json.dumps(["registrations"]), active=True)
    plain = Membership(org_id=1, org_role=None)
    holder = Membership(org_id=1, org_role=role)
    assert module_allows(None, "RegistrationReviewView") and module_allows(plain, "StaffModelView")
    assert module_allows(holder, "RegistrationReviewView") and module_allows(holder, "Registrations")
    assert module_allows(holder, "HomeView") and module_allows(holder, "AccountView")  # self-service
    assert not module_allows(holder, "StaffModelView") and not module_allows(holder, "OrgAdminsView")
    role.active = False  # a deleted role: self-service only
    assert not module_allows(holder, "RegistrationReviewView") and module_allows(holder, "HomeView")
    role.active, role.org_id = True, 2  # a role of another org never opens anything
    assert not module_allows(holder, "RegistrationReviewView") and module_allows(holder, "HomeView")
    role.org_id = 1
    assert not module_allows(holder, "StatisticsView") and not module_allows(holder, "Title statistics")
    role.modules_json = json.dumps(["statistics"])  # 查询统计: every statistics page and its menu items
    assert module_allows(holder, "StatisticsView") and module_allows(holder, "Statistics")
    assert all(module_allows(holder, menu) for menu in ("Completion statistics", "Org and staff statistics",
                                                          "Title statistics", "Industry statistics",
                                                          "Qualification statistics", "LookupView",
                                                          "Staff lookup", "Hours lookup"))
    assert not module_allows(holder, "RegistrationReviewView")
    role.modules_json = json.dumps(["import"])  # 批量导入 only
    assert module_allows(holder, "ImportView") and module_allows(holder, "Batch import")
    assert not module_allows(holder, "LookupView") and not module_allows(holder, "StatisticsView")


# ------------------------------------------------------------------ define, edit, delete

def test_define_edit_delete_a_role(fast_world):
    world = fast_world
    role = flow.create_role(boss(world), "注册审核员", ["registrations", "staff"])
    assert (role.org_id, role.modules, role.active) == (world.unit.id, ["registrations", "staff"], True)
    flow.edit_role(boss(world), role.id, "人员管理员", ["staff"])
    db.session.refresh(role)
    assert (role.name, role.modules) == ("人员管理员", ["staff"])
    flow.delete_role(boss(world), role.id)
    db.session.refresh(role)
    assert not role.active
    assert flow.roles_of(world.unit.id) == []
    assert audit_actions("org_role.") == ["org_role.create", "org_role.edit", "org_role.delete"]
    rows = list(db.session.scalars(select(AuditLog).where(AuditLog.action.like("org_role.%"))))
    assert all(r.object_id == role.id and r.actor_id == world.unit_admin.id for r in rows)


@pytest.mark.parametrize("name,modules,field", [
    ("", ["staff"], "name"),
    ("   ", ["staff"], "name"),
    ("<b>审核</b>", ["staff"], "name"),
    ("审核员'; DROP TABLE org_role;--", ["staff"], "name"),
    ("长" * 31, ["staff"], "name"),
    ("审核员", [], "modules"),
    ("审核员", ["hr"], "modules"),             # the HR bureau's module: a unit admin does not hold it
    ("审核员", ["no_such_module"], "modules"),
    ("审核员", ["staff", "base_reports"], "modules"),
])
def test_role_refusals_change_nothing(fast_world, name, modules, field):
    world = fast_world
    before, roles = state_snapshot(), roles_snapshot()
    with pytest.raises(DomainError) as exc:
        flow.create_role(boss(world), name, modules)
    assert exc.value.field == field
    assert roles_snapshot() == roles
    assert_unchanged(before)


def test_role_names_are_unique_in_the_org_only(fast_world):
    world = fast_world
    flow.create_role(boss(world), "审核员", ["staff"])
    with pytest.raises(DomainError):
        flow.create_role(boss(world), "审核员", ["registrations"])
    other = actor_for(world.other_unit_admin, R.UNIT_ADMIN, world.other_unit)
    assert flow.create_role(other, "审核员", ["staff"]).org_id == world.other_unit.id


def test_a_role_never_grants_more_than_its_creator_holds(fast_world):
    """A creator whose own membership carries a role reaches only that role's modules."""
    world = fast_world
    narrow = flow.create_role(boss(world), "人员管理", ["staff"])
    db.session.execute(Membership.__table__.update().where(
        Membership.id == membership_of(world.unit_admin).id).values(org_role_id=narrow.id))
    db.session.commit()
    roles = roles_snapshot()
    with pytest.raises(DomainError):
        flow.create_role(boss(world), "全能", ["staff", "registrations"])
    with pytest.raises(DomainError):
        flow.edit_role(boss(world), narrow.id, "人员管理", ["staff", "declarations"])
    assert roles_snapshot() == roles
    assert flow.create_role(boss(world), "只管人员", ["staff"]).modules == ["staff"]


def test_a_non_super_admin_defines_no_role(fast_world):
    world = fast_world
    deputy = actor_for(second_admin(world), R.UNIT_ADMIN, world.unit)
    role = flow.create_role(boss(world), "审核员", ["staff"])
    before, roles = assignments(), roles_snapshot()
    for attempt in (lambda: flow.create_role(deputy, "越权", ["staff"]),
                    lambda: flow.edit_role(deputy, role.id, "越权", ["staff", "registrations"]),
                    lambda: flow.delete_role(deputy, role.id),
                    lambda: flow.set_role(deputy, membership_of(world.unit_admin).id, role.id)):
        with pytest.raises(PermissionDenied):
            attempt()
    assert (assignments(), roles_snapshot()) == (before, roles)


def test_another_orgs_role_is_out_of_reach(fast_world):
    world = fast_world
    theirs = flow.create_role(actor_for(world.other_unit_admin, R.UNIT_ADMIN, world.other_unit), "乙校角色", ["staff"])
    deputy = membership_of(second_admin(world))
    before, roles = assignments(), roles_snapshot()
    for attempt in (lambda: flow.set_role(boss(world), deputy.id, theirs.id),
                    lambda: flow.edit_role(boss(world), theirs.id, "被篡改", ["staff"]),
                    lambda: flow.delete_role(boss(world), theirs.id)):
        with pytest.raises(PermissionDenied):
            attempt()
    assert (assignments(), roles_snapshot()) == (before, roles)


def test_an_admin_of_another_org_is_given_no_role(fast_world):
    world = fast_world
    mine = flow.create_role(boss(world), "审核员", ["staff"])
    sibling = second_admin(world, "乙校副管理员", org=world.other_unit)
    targets = (membership_of(sibling).id, membership_of(world.sub_unit_admin).id,
               membership_of(world.district_admin).id, membership_of(make_person("院内职工", world.unit)).id)
    before = assignments()
    for target in targets:
        with pytest.raises(PermissionDenied):
            flow.set_role(boss(world), target, mine.id)
    assert assignments() == before


def test_the_super_admin_takes_no_role(fast_world):
    world = fast_world
    role = flow.create_role(boss(world), "审核员", ["staff"])
    with pytest.raises(DomainError):
        flow.set_role(boss(world), membership_of(world.unit_admin).id, role.id)


def test_deleting_a_role_in_use_is_refused(fast_world):
    world = fast_world
    role = flow.create_role(boss(world), "审核员", ["staff"])
    deputy = membership_of(second_admin(world))
    flow.set_role(boss(world), deputy.id, role.id)
    with pytest.raises(DomainError) as exc:
        flow.delete_role(boss(world), role.id)
    assert "1" in str(exc.value.message)
    assert roles_snapshot()[0].active
    flow.set_role(boss(world), deputy.id, None)  # back to the org's full rights
    flow.delete_role(boss(world), role.id)
    assert audit_actions("admin.set_role") == ["admin.set_role", "admin.set_role"]
    assert audit_actions("org_role.delete") == ["org_role.delete"]
    with pytest.raises(PermissionDenied):  # a deleted role is given to nobody
        flow.set_role(boss(world), deputy.id, role.id)


# ------------------------------------------------------------------ applied at once, through the pages

def test_a_role_is_applied_at_once(client, app, fast_world):
    world = fast_world
    reg = register(world.unit, "待审核人")
    deputy = second_admin(world, "副管理员")
    role = flow.create_role(boss(world), "人员管理员", ["staff"])
    theirs = app.test_client()
    token = log_in(theirs, deputy.username, R.UNIT_ADMIN.value)
    assert theirs.get("/review/registrations/").status_code == 200
    flow.set_role(boss(world), membership_of(deputy).id, role.id)
    # the very next request of the same session
    assert theirs.get("/review/registrations/").status_code == 403
    home = page(theirs.get("/home/"))
    assert 'href="/review/registrations/"' not in home and 'href="/staff/list/"' in home
    assert 'href="/org/admins/"' not in home and theirs.get("/org/admins/").status_code == 403
    before = state_snapshot()
    response = theirs.post("/review/registrations/decide", data={"csrf_token": token, "ids": str(reg.id),
                                                                 "action": "approve"})
    assert response.status_code == 403
    assert reg_state(reg.id) == "pending"
    assert_unchanged(before)
    assert theirs.get("/staff/list/").status_code == 200
    flow.edit_role(boss(world), role.id, "人员管理员", ["staff", "registrations"])  # tick it back
    assert theirs.get("/review/registrations/").status_code == 200
    assert 'href="/review/registrations/"' in page(theirs.get("/home/"))
    flow.set_role(boss(world), membership_of(deputy).id, None)
    assert theirs.get("/org/admins/").status_code == 200


def test_roles_through_the_pages(client, fast_world):
    world = fast_world
    deputy = second_admin(world, "副管理员")
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    body = page(client.get("/org/admins/roles"))
    for key in modules_for_role(R.UNIT_ADMIN.value):
        assert f'value="{key}"' in body
    assert 'value="hr"' not in body and 'value="base_reports"' not in body  # only what the creator holds
    response = client.post("/org/admins/roles", data={"csrf_token": token, "name": "注册审核员",
                                                      "modules": ["registrations", "declarations"]})
    assert response.status_code == 302
    role = db.session.scalar(select(OrgRole))
    assert role.modules == ["registrations", "declarations"]
    assert client.get(f"/org/admins/roles/{role.id}/edit").status_code == 200
    response = client.post(f"/org/admins/roles/{role.id}/edit", data={"csrf_token": token, "name": "注册审核",
                                                                       "modules": ["registrations"]})
    assert response.status_code == 302
    response = client.post(f"/org/admins/{membership_of(deputy).id}/role",
                           data={"csrf_token": token, "org_role_id": str(role.id)})
    assert response.status_code == 302
    assert membership_of(deputy).org_role_id == role.id
    assert "注册审核" in page(client.get("/org/admins/"))
    response = client.post(f"/org/admins/roles/{role.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert zh("This role is held by %(n)s administrator(s): give them another role first.", n=1) in page(response)
    client.post(f"/org/admins/{membership_of(deputy).id}/role", data={"csrf_token": token, "org_role_id": ""})
    assert membership_of(deputy).org_role_id is None
    client.post(f"/org/admins/roles/{role.id}/delete", data={"csrf_token": token})
    assert flow.roles_of(world.unit.id) == []
    assert audit_actions("org_role.") == ["org_role.create", "org_role.edit", "org_role.delete"]
    assert audit_actions("admin.set_role") == ["admin.set_role", "admin.set_role"]


BAD_ROLE_FORMS = [
    ({"name": "", "modules": ["staff"]}, "name", "This field is required."),
    ({"name": "<script>x</script>", "modules": ["staff"]}, "name",
     "The role name must not contain < > \" ' ; & \\ or control characters."),
    ({"name": "长" * 31, "modules": ["staff"]}, "name", "The role name may have at most 30 characters."),
    ({"name": "审核员"}, "modules", "Tick at least one module."),
    ({"name": "审核员", "modules": ["hr"]}, "modules", "A role cannot grant a module you do not hold yourself."),
    ({"name": "审核员", "modules": ["staff", "x" * 500]}, "modules",
     "A role cannot grant a module you do not hold yourself."),
]


@pytest.mark.parametrize("data,field,message", BAD_ROLE_FORMS, ids=[f"{f}-{i}" for i, (_, f, _) in
                                                                   enumerate(BAD_ROLE_FORMS)])
@pytest.mark.parametrize("where", ["create", "edit"])
def test_t1_bad_input_on_the_role_form(client, fast_world, data, field, message, where):
    world = fast_world
    role = flow.create_role(boss(world), "原有角色", ["staff"])
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    url = "/org/admins/roles" if where == "create" else f"/org/admins/roles/{role.id}/edit"
    before, roles = state_snapshot(), roles_snapshot()
    response = client.post(url, data={"csrf_token": token, **data})
    assert response.status_code == 200
    body = page(response)
    group = body.split(f'id="group-{field}"', 1)[1].split('class="form-group', 1)[0]
    assert zh(message) in group
    assert "<script>x" not in response.get_data(as_text=True)
    assert roles_snapshot() == roles
    assert_unchanged(before)


@pytest.mark.parametrize("value", ["abc", "99999999", "-5"])
def test_t1_bad_role_id_when_assigning(client, fast_world, value):
    world = fast_world
    deputy = membership_of(second_admin(world))
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    before = assignments()
    response = client.post(f"/org/admins/{deputy.id}/role", data={"csrf_token": token, "org_role_id": value})
    assert response.status_code in (302, 403)
    assert assignments() == before


def test_role_pages_refuse_another_orgs_role(client, fast_world):
    world = fast_world
    theirs = flow.create_role(actor_for(world.other_unit_admin, R.UNIT_ADMIN, world.other_unit), "乙校角色", ["staff"])
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    roles = roles_snapshot()
    assert client.get(f"/org/admins/roles/{theirs.id}/edit").status_code == 404
    assert client.post(f"/org/admins/roles/{theirs.id}/edit", data={
        "csrf_token": token, "name": "被篡改", "modules": ["staff"]}).status_code == 404
    assert client.post(f"/org/admins/roles/{theirs.id}/delete", data={"csrf_token": token}).status_code == 403
    assert "乙校角色" not in page(client.get("/org/admins/roles"))
    assert roles_snapshot() == roles


def test_a_statistics_only_role_sees_figures_without_links_it_cannot_follow(app, fast_world):
    """查询统计 alone: the pages open, their figures are plain numbers (the staff list behind them needs the staff
    module); with the staff module too, the figures link to it again."""
    world = fast_world
    make_person("统计对象", world.unit)
    deputy = second_admin(world, "统计员")
    role = flow.create_role(boss(world), "统计员", ["statistics"])
    flow.set_role(boss(world), membership_of(deputy).id, role.id)
    theirs = app.test_client()
    log_in(theirs, deputy.username, R.UNIT_ADMIN.value)
    for url in ("/statistics/titles", "/statistics/orgs", "/statistics/completion"):
        html = page(theirs.get(url))
        assert "/staff/list/" not in html, url
    assert theirs.get("/staff/list/").status_code == 403
    flow.edit_role(boss(world), role.id, "统计员", ["statistics", "staff"])
    assert "/staff/list/" in page(theirs.get("/statistics/titles"))
