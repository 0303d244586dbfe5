"""U4 sub-units and H1: a unit admin lists, opens and deletes its sub-units; department and HR admins list the orgs
of their subtree with filters and remove an admin's rights, which blocks that admin's login at once."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Membership, Org, OrgKind, OrgState, RoleName
from app.workflows import admins as flow
from app.workflows.base import DomainError, PermissionDenied
from tests import factories
from tests.factories import actor_for
from tests.helpers import (assert_unchanged, is_login_redirect, log_in, make_declaration, make_person, membership_of,
                           page, register, register_org, second_admin, state_snapshot, zh)

R = RoleName


def org_state(org_id: int) -> str:
    return db.session.execute(select(Org.state).where(Org.id == org_id)).scalar_one()


def membership_state(membership_id: int) -> str:
    return db.session.execute(select(Membership.state).where(Membership.id == membership_id)).scalar_one()


def audits(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


def listed(client, **filters) -> str:
    response = client.get("/org/sub-units/", query_string=filters)
    assert response.status_code == 200
    return page(response)


# ------------------------------------------------------------------ U4: the unit admin

def test_unit_admin_lists_its_direct_sub_units(client, fast_world):
    world = fast_world
    factories.make_org(OrgKind.UNIT, "分院下属科室", world.sub_unit)
    factories.make_org(OrgKind.UNIT, "乙校分校", world.other_unit)
    log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    assert 'href="/org/sub-units/"' in page(client.get("/home/"))  # the menu item
    body = listed(client)
    assert ">甲区人民医院分院</a>" in body
    for name in ("分院下属科室", "乙校分校", "乙区第一中学", "甲区卫健局", "甲区人民医院"):
        assert f">{name}</a>" not in body


def test_sub_unit_detail(client, fast_world):
    world = fast_world
    make_person("分院职工甲", world.sub_unit)
    make_person("分院职工乙", world.sub_unit)
    log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    body = page(client.get(f"/org/sub-units/{world.sub_unit.id}"))
    assert "甲区人民医院分院" in body and "分院管理员" in body and zh("Super administrator") in body
    assert world.sub_unit_admin.username not in body
    assert '<td id="staff-count">2</td>' in body
    assert zh("it still has active staff") in body and 'id="close-org"' not in body


def test_delete_an_empty_sub_unit(client, app, fast_world):
    world = fast_world
    theirs = app.test_client()
    log_in(theirs, world.sub_unit_admin.username, R.UNIT_ADMIN.value)
    admin_membership = membership_of(world.sub_unit_admin).id
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    assert 'id="close-org"' in page(client.get(f"/org/sub-units/{world.sub_unit.id}"))
    response = client.post(f"/org/sub-units/{world.sub_unit.id}/close", data={"csrf_token": token})
    assert response.status_code == 302
    assert org_state(world.sub_unit.id) == OrgState.CLOSED.value
    assert membership_state(admin_membership) == "revoked"
    [entry] = audits("org.close")
    assert (entry.object_type, entry.object_id, entry.from_state, entry.to_state, entry.actor_id) == \
        ("org", world.sub_unit.id, "active", "closed", world.unit_admin.id)
    assert is_login_redirect(theirs.get("/home/"))  # the sub-unit's admin is out at once
    assert ">甲区人民医院分院</a>" not in listed(client)
    assert ">甲区人民医院分院</a>" in listed(client, state="closed")
    # closing twice does nothing more
    client.post(f"/org/sub-units/{world.sub_unit.id}/close", data={"csrf_token": token})
    assert len(audits("org.close")) == 1


@pytest.mark.parametrize("blocker", ["active staff", "org below", "pending registration", "pending org registration",
                                     "pending declaration"])
def test_a_sub_unit_with_anything_left_is_not_deleted(client, fast_world, blocker):
    world = fast_world
    if blocker == "active staff":
        make_person("分院职工", world.sub_unit)
    elif blocker == "org below":
        factories.make_org(OrgKind.UNIT, "分院下属科室", world.sub_unit)
    elif blocker == "pending registration":
        register(world.sub_unit, "分院申请人")
    elif blocker == "pending org registration":
        register_org(OrgKind.UNIT, world.sub_unit, "分院申请的科室")
    else:
        staff = make_person("分院申报人", world.sub_unit)
        make_declaration(world, staff, "pending_unit")
        db.session.execute(Membership.__table__.update().where(
            Membership.user_id == staff.id).values(state="revoked"))  # not active staff any more, but pending
        db.session.commit()
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    before = state_snapshot()
    response = client.post(f"/org/sub-units/{world.sub_unit.id}/close", data={"csrf_token": token},
                           follow_redirects=True)
    assert response.status_code == 200
    assert zh("Deleting the organisation") in page(response)
    assert org_state(world.sub_unit.id) == "active"
    assert audits("org.close") == []
    assert_unchanged(before)


@pytest.mark.parametrize("admin,role,target", [
    ("unit_admin", R.UNIT_ADMIN, "other_unit"),      # a sibling
    ("unit_admin", R.UNIT_ADMIN, "unit"),            # its own org
    ("sub_unit_admin", R.UNIT_ADMIN, "unit"),        # upwards
    ("unit_admin", R.UNIT_ADMIN, "dept"),
    ("dept_admin", R.DEPT_ADMIN, "other_unit"),
    ("other_district_admin", R.HR_ADMIN, "sub_unit"),
    ("district_admin", R.HR_ADMIN, "base"),          # the city's base is not the district's
])
def test_deleting_outside_the_subtree_is_refused(client, fast_world, admin, role, target):
    world = fast_world
    org = getattr(world, target)
    if target == "other_unit":  # make the sibling deletable, so only the scope refuses it
        db.session.execute(Membership.__table__.update().where(Membership.org_id == org.id).values(state="revoked"))
        db.session.commit()
    token = log_in(client, getattr(world, admin).username, role.value)
    before = state_snapshot()
    assert client.get(f"/org/sub-units/{org.id}").status_code == 404
    assert client.post(f"/org/sub-units/{org.id}/close", data={"csrf_token": token}).status_code == 404
    assert f">{org.name}</a>" not in listed(client, q=org.name[:3])
    assert_unchanged(before)
    with pytest.raises(PermissionDenied):
        flow.close_org(actor_for(getattr(world, admin), role, getattr(world, {"unit_admin": "unit",
                       "sub_unit_admin": "sub_unit", "dept_admin": "dept", "other_district_admin": "other_district",
                       "district_admin": "district"}[admin])), org.id)
    assert_unchanged(before)


def test_base_admin_has_no_sub_units_page(client, fast_world):
    log_in(client, fast_world.base_admin.username, R.BASE_ADMIN.value)
    assert client.get("/org/sub-units/").status_code == 403
    assert 'href="/org/sub-units/"' not in page(client.get("/home/"))


# ------------------------------------------------------------------ H1: department and HR admins

def test_district_hr_lists_its_subtree_only(client, fast_world):
    world = fast_world
    factories.make_org(OrgKind.BASE, "甲区培训基地", world.district)
    factories.make_org(OrgKind.UNIT, "乙区第二中学", world.other_district)
    log_in(client, world.district_admin.username, R.HR_ADMIN.value)
    body = listed(client)
    for name in ("甲区卫健局", "甲区人民医院", "甲区人民医院分院", "甲区培训基地"):
        assert f">{name}</a>" in body, name
    for name in ("乙区第一中学", "乙区第二中学", "乙区人社局", "测试市人社局", "测试继续教育基地", "甲区人社局"):
        assert f">{name}</a>" not in body, name


@pytest.mark.parametrize("filters,expected", [
    ({"kind": "unit"}, {"甲区人民医院", "甲区人民医院分院"}),
    ({"kind": "department"}, {"甲区卫健局"}),
    ({"kind": "base"}, {"甲区培训基地"}),
    ({"q": "分院"}, {"甲区人民医院分院"}),
    ({"industry": "卫生健康"}, {"甲区人民医院"}),
    ({"industry": "卫生健康", "kind": "department"}, set()),
    ({"q": "中学"}, set()),                                  # the other district's school stays hidden
    ({"q": "乙区"}, set()),
    ({"kind": "hr_district"}, set()),
])
def test_h1_filters_stay_in_the_subtree(client, fast_world, filters, expected):
    world = fast_world
    factories.make_org(OrgKind.BASE, "甲区培训基地", world.district)
    for org in (world.unit, world.other_unit):
        db.session.execute(Org.__table__.update().where(Org.id == org.id).values(industry="卫生健康"))
    db.session.commit()
    log_in(client, world.district_admin.username, R.HR_ADMIN.value)
    body = listed(client, **filters)
    names = {"甲区卫健局", "甲区人民医院", "甲区人民医院分院", "甲区培训基地", "乙区第一中学", "乙区人社局", "测试继续教育基地"}
    shown = {n for n in names if f">{n}</a>" in body}
    assert shown == expected


def test_city_hr_sees_every_district_and_base(client, fast_world):
    world = fast_world
    log_in(client, world.city_admin.username, R.HR_ADMIN.value)
    body = listed(client, kind="hr_district")
    assert ">甲区人社局</a>" in body and ">乙区人社局</a>" in body and ">甲区人民医院</a>" not in body
    body = listed(client)
    for name in ("甲区人社局", "乙区第一中学", "测试继续教育基地", "甲区人民医院分院"):
        assert f">{name}</a>" in body


def test_h1_keyset_pages(client, fast_world):
    world = fast_world
    for n in range(27):
        factories.make_org(OrgKind.UNIT, f"批量单位{n:02d}", world.dept)
    log_in(client, world.dept_admin.username, R.DEPT_ADMIN.value)
    first = listed(client, q="批量单位")
    assert first.count(">批量单位") == 20
    link = first.split('id="next-page"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = page(client.get(link.replace("&amp;", "&")))
    assert second.count(">批量单位") == 7 and 'id="next-page"' not in second
    names = lambda body: {part.split("</a>")[0] for part in body.split(">批量单位")[1:]}  # noqa: E731
    assert not names(first) & names(second)
    assert len(names(first) | names(second)) == 27


@pytest.mark.parametrize("query", [{"kind": "bogus"}, {"industry": "<script>"}, {"after_id": "abc"},
                                   {"after_id": "9" * 30, "after_name": "x" * 500}, {"q": "%_\\" * 100},
                                   {"state": "deleted"}])
def test_t1_bad_filters_never_fail(client, fast_world, query):
    log_in(client, fast_world.district_admin.username, R.HR_ADMIN.value)
    response = client.get("/org/sub-units/", query_string=query)
    assert response.status_code == 200
    assert 'id="sub-units-table"' in response.get_data(as_text=True)


def test_hr_removes_a_unit_admins_rights_and_their_login_is_blocked(client, app, fast_world):
    world = fast_world
    theirs = app.test_client()
    log_in(theirs, world.unit_admin.username, R.UNIT_ADMIN.value)
    target = membership_of(world.unit_admin).id
    token = log_in(client, world.district_admin.username, R.HR_ADMIN.value)
    body = page(client.get(f"/org/sub-units/{world.unit.id}"))
    assert "单位管理员" in body and zh("Remove rights") in body
    response = client.post(f"/org/sub-units/admins/{target}/remove", data={"csrf_token": token})
    assert response.status_code == 302
    assert membership_state(target) == "revoked"
    assert is_login_redirect(theirs.get("/home/"))
    [entry] = audits("admin.remove")
    assert (entry.object_id, entry.actor_id, entry.from_state, entry.to_state) == \
        (target, world.district_admin.id, "active", "revoked")


@pytest.mark.parametrize("admin,role,target", [
    ("other_district_admin", R.HR_ADMIN, "unit_admin"),   # another district
    ("unit_admin", R.UNIT_ADMIN, "district_admin"),       # the HR admin above
    ("unit_admin", R.UNIT_ADMIN, "dept_admin"),
    ("sub_unit_admin", R.UNIT_ADMIN, "unit_admin"),       # upwards
    ("dept_admin", R.DEPT_ADMIN, "other_unit_admin"),     # a sibling branch
    ("district_admin", R.HR_ADMIN, "base_admin"),         # the city's base
    ("district_admin", R.HR_ADMIN, "second district admin"),  # its own org: only through /org/admins/
    ("unit_admin", R.UNIT_ADMIN, "sub-unit professional"),    # not an admin membership
])
def test_removing_an_admin_outside_the_subtree_is_refused(client, fast_world, admin, role, target):
    world = fast_world
    if target == "second district admin":
        membership_id = membership_of(second_admin(world, "甲区副管理员", org=world.district, role=R.HR_ADMIN)).id
    elif target == "sub-unit professional":
        membership_id = membership_of(make_person("分院职工", world.sub_unit)).id
    else:
        membership_id = membership_of(getattr(world, target)).id
    token = log_in(client, getattr(world, admin).username, role.value)
    before = state_snapshot()
    response = client.post(f"/org/sub-units/admins/{membership_id}/remove", data={"csrf_token": token})
    assert response.status_code == 404
    assert membership_state(membership_id) == "active"
    assert audits("admin.remove") == []
    assert_unchanged(before)


def test_removal_workflow_refusals(fast_world):
    world = fast_world
    before = state_snapshot()
    with pytest.raises(PermissionDenied):  # a base admin manages no orgs below
        flow.remove_sub_admin(actor_for(world.base_admin, R.BASE_ADMIN, world.base),
                              membership_of(world.unit_admin).id)
    with pytest.raises(PermissionDenied):
        flow.remove_sub_admin(actor_for(world.district_admin, R.HR_ADMIN, world.district), 99999999)
    with pytest.raises(DomainError):
        flow.sub_orgs(actor_for(world.support, R.SUPPORT, None))
    assert_unchanged(before)


def test_org_role_without_the_orgs_module_has_no_sub_units_page(client, fast_world):
    world = fast_world
    deputy = second_admin(world, "人员管理员")
    boss = actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit)
    role = flow.create_role(boss, "人员管理", ["staff"])
    flow.set_role(boss, membership_of(deputy).id, role.id)
    token = log_in(client, deputy.username, R.UNIT_ADMIN.value)
    before = state_snapshot()
    assert client.get("/org/sub-units/").status_code == 403
    assert client.post(f"/org/sub-units/{world.sub_unit.id}/close", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/org/sub-units/admins/{membership_of(world.sub_unit_admin).id}/remove",
                       data={"csrf_token": token}).status_code == 403
    assert_unchanged(before)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.in_(
        ["org.close", "admin.remove"]))) == 0
