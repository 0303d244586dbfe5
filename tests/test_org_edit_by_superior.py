"""H1 / D: the HR bureau and a competent department edit the profile of an org in their subtree (name and free
fields), audited with the values before and after; the credit code and the org above stay with the org-change
workflow; out of the subtree is a 404; bad input is refused field by field; no change without a CSRF token."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Org, OrgKind, OrgState, RoleName
from app.workflows import org_profile as flow
from app.workflows.base import DomainError, PermissionDenied
from tests import factories
from tests.factories import actor_for
from tests.helpers import log_in, page, zh

R = RoleName


def org_row(org_id: int):
    return db.session.execute(select(Org.name, Org.phone, Org.address, Org.contact, Org.nature, Org.industry,
                                     Org.description, Org.credit_code, Org.parent_id, Org.path)
                              .where(Org.id == org_id)).one()


def edits() -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == "org.edit").order_by(AuditLog.id)))


def form(**overrides) -> dict:
    data = {"name": "甲区第一人民医院", "phone": "0531-66668888", "contact": "王五", "address": "经十路100号",
            "nature": "事业单位", "industry": "卫生健康", "description": "三级医院"}
    data.update(overrides)
    return data


def post_edit(client, token, org_id, data):
    return client.post(f"/org/sub-units/{org_id}/edit", data={"csrf_token": token, **data})


# ------------------------------------------------------------------ through the pages

@pytest.mark.parametrize("admin,role,target", [("district_admin", R.HR_ADMIN, "unit"),
                                               ("city_admin", R.HR_ADMIN, "dept"),
                                               ("dept_admin", R.DEPT_ADMIN, "unit"),
                                               ("dept_admin", R.DEPT_ADMIN, "sub_unit")])
def test_hr_and_department_edit_an_org_below_audited_before_and_after(client, fast_world, admin, role, target):
    world = fast_world
    org = getattr(world, target)
    before = org_row(org.id)
    token = log_in(client, getattr(world, admin).username, role.value)
    # reached from the list of the orgs below and from the org's detail page
    assert f'href="/org/sub-units/{org.id}/edit"' in page(client.get("/org/sub-units/"))
    assert f'href="/org/sub-units/{org.id}/edit"' in page(client.get(f"/org/sub-units/{org.id}"))
    edit_page = page(client.get(f"/org/sub-units/{org.id}/edit"))
    assert f'value="{org.name}"' in edit_page and 'name="credit_code"' not in edit_page
    assert 'name="parent_id"' not in edit_page

    new_name = f"{before.name}（新）"
    response = post_edit(client, token, org.id, form(name=new_name))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/org/sub-units/{org.id}")
    after = org_row(org.id)
    assert (after.name, after.phone, after.contact, after.address, after.nature, after.industry,
            after.description) == (new_name, "0531-66668888", "王五", "经十路100号", "事业单位", "卫生健康",
                                   "三级医院")
    assert (after.credit_code, after.parent_id, after.path) == (before.credit_code, before.parent_id, before.path)
    [row] = edits()
    assert (row.object_type, row.object_id, row.actor_id, row.role) == ("org", org.id, getattr(world, admin).id,
                                                                        role.value)
    assert f'name: "{before.name}" → "{new_name}"' in row.comment
    assert 'phone: null → "0531-66668888"' in row.comment
    assert "credit_code" not in row.comment
    detail = page(client.get(f"/org/sub-units/{org.id}"))
    assert new_name in detail and "经十路100号" in detail


def test_saving_unchanged_values_writes_no_audit_row(client, fast_world):
    world = fast_world
    token = log_in(client, world.dept_admin.username, R.DEPT_ADMIN.value)
    assert post_edit(client, token, world.unit.id, form()).status_code == 302
    assert len(edits()) == 1
    assert post_edit(client, token, world.unit.id, form()).status_code == 302
    assert len(edits()) == 1


def test_credit_code_and_parent_are_not_editable_here(client, fast_world):
    world = fast_world
    before = org_row(world.unit.id)
    token = log_in(client, world.district_admin.username, R.HR_ADMIN.value)
    from app.demo import make_credit_code

    response = post_edit(client, token, world.unit.id, form(credit_code=make_credit_code("370102", 777001),
                                                            parent_id=str(world.district.id), kind="base",
                                                            state="closed", path="/1/"))
    assert response.status_code == 302
    after = db.session.execute(select(Org.credit_code, Org.parent_id, Org.path, Org.kind, Org.state)
                               .where(Org.id == world.unit.id)).one()
    assert tuple(after) == (before.credit_code, before.parent_id, before.path, OrgKind.UNIT.value,
                            OrgState.ACTIVE.value)
    # the workflow ignores them too, whoever calls it
    actor = actor_for(world.district_admin, R.HR_ADMIN, world.district)
    assert flow.edit_below(actor, world.unit.id, {"credit_code": "X", "parent_id": world.district.id,
                                                 "name": "甲区第一人民医院"}) == []


@pytest.mark.parametrize("admin,role,target", [
    ("district_admin", R.HR_ADMIN, "other_unit"),     # another district's unit
    ("district_admin", R.HR_ADMIN, "city"),           # upwards
    ("district_admin", R.HR_ADMIN, "district"),       # its own org: through its own profile page only
    ("dept_admin", R.DEPT_ADMIN, "district"),         # its parent
    ("dept_admin", R.DEPT_ADMIN, "other_unit"),
    ("unit_admin", R.UNIT_ADMIN, "dept"),             # a unit admin and its parent
    ("sub_unit_admin", R.UNIT_ADMIN, "unit"),         # a sub-unit's admin and the unit above
    ("other_district_admin", R.HR_ADMIN, "unit"),
])
def test_out_of_the_subtree_is_not_found_and_changes_nothing(client, fast_world, admin, role, target):
    world = fast_world
    org = getattr(world, target)
    before = org_row(org.id)
    token = log_in(client, getattr(world, admin).username, role.value)
    assert client.get(f"/org/sub-units/{org.id}/edit").status_code == 404
    response = post_edit(client, token, org.id, form(name="越权改名"))
    assert response.status_code == 404 and "越权改名" not in page(response)
    assert org_row(org.id) == before and edits() == []
    assert f'/org/sub-units/{org.id}/edit"' not in page(client.get("/org/sub-units/"))
    with pytest.raises(PermissionDenied):
        flow.edit_below(actor_for(getattr(world, admin), role, getattr(world, {
            "district_admin": "district", "dept_admin": "dept", "unit_admin": "unit", "sub_unit_admin": "sub_unit",
            "other_district_admin": "other_district"}[admin])), org.id, {"name": "越权改名"})
    assert org_row(org.id) == before


@pytest.mark.parametrize("who,role,org", [("base_admin", R.BASE_ADMIN, "base"), ("support", R.SUPPORT, None),
                                          ("auditor", R.AUDITOR, None), ("sysadmin", R.SYSADMIN, None)])
def test_other_roles_are_refused(client, fast_world, who, role, org):
    world = fast_world
    before = org_row(world.unit.id)
    token = log_in(client, getattr(world, who).username, role.value)
    assert client.get(f"/org/sub-units/{world.unit.id}/edit").status_code in (403, 404)
    assert post_edit(client, token, world.unit.id, form(name="越权改名")).status_code in (403, 404)
    assert org_row(world.unit.id) == before
    with pytest.raises(PermissionDenied):
        flow.edit_below(actor_for(getattr(world, who), role, getattr(world, org) if org else None), world.unit.id,
                        {"name": "越权改名"})


def test_a_closed_org_is_not_edited(client, fast_world):
    world = fast_world
    db.session.execute(Org.__table__.update().where(Org.id == world.sub_unit.id).values(state="closed"))
    db.session.commit()
    before = org_row(world.sub_unit.id)
    token = log_in(client, world.dept_admin.username, R.DEPT_ADMIN.value)
    response = post_edit(client, token, world.sub_unit.id, form(name="已注销改名"))
    assert response.status_code == 302 and org_row(world.sub_unit.id) == before
    with pytest.raises(DomainError):
        flow.edit_below(actor_for(world.dept_admin, R.DEPT_ADMIN, world.dept), world.sub_unit.id, {"name": "已注销改名"})


# ------------------------------------------------------------------ T1: bad input

BAD = {
    "empty name": ({"name": ""}, "name"),
    "one-character name": ({"name": "甲"}, "name"),
    "101-character name": ({"name": "医" * 101}, "name"),
    "markup in the name": ({"name": "<script>alert(1)</script>医院"}, "name"),
    "NUL in the name": ({"name": "甲区\x00医院"}, "name"),
    "bidi override in the address": ({"address": "经十路\u202e001号"}, "address"),
    "markup in the contact": ({"contact": "<b>王</b>"}, "contact"),
    "letters in the phone": ({"phone": "call me"}, "phone"),
    "empty phone": ({"phone": ""}, "phone"),
    "a nature not in the list": ({"nature": "黑社会"}, "nature"),
    "an industry not in the list": ({"industry": "博彩"}, "industry"),
    "over-long description": ({"description": "长" * 1001}, "description"),
    "a name already taken": ({"name": "乙区第一中学"}, "name"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_refused_at_the_field_and_changes_nothing(client, fast_world, case):
    world = fast_world
    overrides, field = BAD[case]
    before = org_row(world.unit.id)
    token = log_in(client, world.dept_admin.username, R.DEPT_ADMIN.value)
    response = post_edit(client, token, world.unit.id, form(**overrides))
    assert response.status_code == 400, case
    body = page(response)
    group = body[body.index(f'id="group-{field}"'):]
    group = group[:group.index("</div>\n")] if "</div>\n" in group else group[:2000]
    assert "has-error" in body[body.index(f'id="group-{field}"') - 60:body.index(f'id="group-{field}"')], case
    assert any(ch for ch in group if "\u4e00" <= ch <= "\u9fff"), case  # a Chinese message at the field
    assert org_row(world.unit.id) == before and edits() == []


@pytest.mark.parametrize("values,field", [({"name": "甲"}, "name"), ({"name": "乙区第一中学"}, "name"),
                                          ({"name": "x\x00y医院"}, "name"), ({"address": "a\x07b"}, "address"),
                                          ({"description": "长" * 1001}, "description")])
def test_workflow_refuses_bad_values_whoever_calls_it(fast_world, values, field):
    world = fast_world
    before = org_row(world.unit.id)
    with pytest.raises(DomainError) as raised:
        flow.edit_below(actor_for(world.dept_admin, R.DEPT_ADMIN, world.dept), world.unit.id, values)
    assert raised.value.field == field
    assert org_row(world.unit.id) == before


# ------------------------------------------------------------------ T7: CSRF

def test_no_change_without_a_csrf_token_or_by_get(client, fast_world):
    world = fast_world
    before = org_row(world.unit.id)
    log_in(client, world.dept_admin.username, R.DEPT_ADMIN.value)
    response = client.post(f"/org/sub-units/{world.unit.id}/edit", data=form(name="无令牌改名"))
    assert 400 <= response.status_code < 500
    response = client.post(f"/org/sub-units/{world.unit.id}/edit", data={"csrf_token": "forged", **form()})
    assert 400 <= response.status_code < 500
    assert client.get(f"/org/sub-units/{world.unit.id}/edit", query_string=form(name="GET改名")).status_code == 200
    assert org_row(world.unit.id) == before and edits() == []


def test_page_is_in_chinese_and_names_the_list_as_the_menu_does(client, fast_world):
    world = fast_world
    log_in(client, world.district_admin.username, R.HR_ADMIN.value)
    body = page(client.get(f"/org/sub-units/{world.unit.id}/edit"))
    assert zh("Edit the profile of %(name)s", name=world.unit.name) in body
    assert f'<a href="/org/sub-units/">{zh("Sub-units")}</a>' in body  # the breadcrumb says 下级单位, as the menu
