"""S4: support staff merge orgs and issue temporary credit codes (workflow, pages, T1 bad input, T12 audit)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (AuditLog, Declaration, Membership, Org, OrgChange, OrgKind, OrgState, Person, RoleName)
from app.validators import validate_temporary_code
from app.workflows import org_change
from app.workflows import org_support as flow
from app.workflows.base import DomainError, PermissionDenied
from tests import factories
from tests.helpers import (audits, cheap_passwords, log_in, make_declaration, make_person, page, person_of, register,
                           support, zh)

R = RoleName
actor_for = factories.actor_for


def snapshot():
    ex = db.session.execute
    return {
        "orgs": ex(select(Org.id, Org.parent_id, Org.path, Org.state, Org.merged_into_id, Org.credit_code,
                          Org.temporary_code).order_by(Org.id)).all(),
        "people": ex(select(Person.id, Person.unit_id).order_by(Person.id)).all(),
        "memberships": ex(select(Membership.id, Membership.org_id, Membership.state).order_by(Membership.id)).all(),
        "declarations": ex(select(Declaration.id, Declaration.unit_id).order_by(Declaration.id)).all(),
        "audit": ex(select(func.count(AuditLog.id)).where(AuditLog.action.like("org.%"))).scalar(),
    }


@pytest.fixture()
def merge_world(world):
    """Unit A (the world's unit, with a sub-unit and a sub-sub-unit, staff, hours, an admin) and unit B."""
    sub_sub = factories.make_org(OrgKind.UNIT, "甲区人民医院分院门诊部", world.sub_unit)
    target = factories.make_org(OrgKind.UNIT, "甲区第二人民医院", world.dept)
    target_admin = factories.make_account("二院管理员", [(R.UNIT_ADMIN, target)])
    doctors = [make_person(f"甲院医生{n}", world.unit) for n in range(3)]
    sub_doctor = make_person("分院医生", world.sub_unit)
    make_declaration(world, doctors[0], "approved", title="已认定的培训")
    make_declaration(world, doctors[1], "rejected", title="被驳回的培训")
    cheap_passwords()
    return world, target, target_admin, doctors, sub_doctor, sub_sub


def test_merge_moves_everything_and_leaves_nothing_behind(app, merge_world, db):
    world, target, target_admin, doctors, sub_doctor, sub_sub = merge_world
    source_id, source_name = world.unit.id, world.unit.name
    flow.merge(world.unit, target, support(world))
    db.session.expire_all()
    source, target = db.session.get(Org, source_id), db.session.get(Org, target.id)
    assert (source.state, source.merged_into_id) == ("closed", target.id)
    # staff, professional memberships, declarations moved; nothing of A's staff or hours left at A
    assert {person_of(d).unit_id for d in doctors} == {target.id}
    assert person_of(sub_doctor).unit_id == world.sub_unit.id
    assert db.session.scalar(select(func.count(Person.id)).where(Person.unit_id == source_id)) == 0
    assert db.session.scalar(select(func.count(Declaration.id)).where(Declaration.unit_id == source_id)) == 0
    assert db.session.scalar(select(func.count(Declaration.id)).where(Declaration.unit_id == target.id)) == 2
    professional = select(Membership).where(Membership.role == R.PROFESSIONAL.value)
    assert not db.session.scalars(professional.where(Membership.org_id == source_id)).all()
    assert {m.org_id for m in db.session.scalars(professional.where(
        Membership.user_id.in_([d.id for d in doctors])))} == {target.id}
    # A's admin loses the right; B's keeps it
    admin = db.session.scalar(select(Membership).where(Membership.user_id == world.unit_admin.id))
    assert (admin.org_id, admin.state) == (source_id, "revoked")
    assert db.session.scalar(select(Membership.state).where(Membership.user_id == target_admin.id)) == "active"
    # direct child orgs move below B, their whole subtree's paths rewritten
    sub, sub_sub = db.session.get(Org, world.sub_unit.id), db.session.get(Org, sub_sub.id)
    assert sub.parent_id == target.id and sub.path == f"{target.path}{sub.id}/"
    assert sub_sub.path == f"{sub.path}{sub_sub.id}/"
    assert db.session.scalar(select(func.count(Org.id)).where(Org.parent_id == source_id)) == 0
    assert db.session.scalar(select(func.count(Org.id)).where(
        Org.path.startswith(source.path), Org.id != source_id)) == 0
    [row] = audits("org.merge")
    assert source_name in row.comment and target.name in row.comment
    assert (row.object_id, row.from_state, row.to_state, row.role) == (source_id, "active", "closed", "Support")
    # B's admin now reaches the moved staff and sub-units; A's admin cannot log in as that admin any more
    client = app.test_client()
    log_in(client, target_admin.username, R.UNIT_ADMIN.value)
    staff = page(client.get("/staff/list/"))
    assert all(d.first_name in staff for d in doctors) and "分院医生" in staff
    assert "甲区人民医院分院门诊部" in page(client.get("/orgs/list/"))


def test_merged_admin_session_is_ended_at_once(app, merge_world, db):
    world, target, *_ = merge_world
    client = app.test_client()
    log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    assert client.get("/org/profile/").status_code == 200
    flow.merge(db.session.get(Org, world.unit.id), db.session.get(Org, target.id), support(world))
    response = client.get("/org/profile/")
    assert response.status_code in (302, 303) and "/login/" in response.headers["Location"]


REFUSALS = {
    "different kind": (lambda w, t: (w.unit, w.dept), "Only organisations of the same kind can be merged."),
    "self": (lambda w, t: (w.unit, w.unit), "An organisation cannot be merged into itself."),
    "into own sub-unit": (lambda w, t: (w.unit, w.sub_unit), "An organisation cannot be merged into one below it."),
    "closed target": (lambda w, t: (w.unit, factories.make_org(OrgKind.UNIT, "已注销单位", w.dept,
                                                               state=OrgState.CLOSED)),
                      "Both organisations must be active."),
    "pending source": (lambda w, t: (factories.make_org(OrgKind.UNIT, "待审核单位", w.dept, state=OrgState.PENDING),
                                     t), "Both organisations must be active."),
    "top bureau": (lambda w, t: (w.city, w.city), "An organisation cannot be merged into itself."),
    "missing source": (lambda w, t: (None, t), "Choose the organisation to merge from the list."),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_merge_refusals(merge_world, db, case):
    world, target, *_ = merge_world
    make, msgid = REFUSALS[case]
    source, into = make(world, target)
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        flow.merge(source, into, support(world))
    assert str(exc.value.message) in (msgid, zh(msgid))
    assert snapshot() == before


def _pending_registration(world, target):
    register(world.unit, "待审核的新医生")


def _pending_declaration(world, target):
    make_declaration(world, make_person("有待审申报的医生", world.sub_unit), "pending_unit")


def _pending_change(world, target):
    org_change.request_change(actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit),
                              org_change.ChangeRequest(credit_code=None, parent_id=world.district.id))


def _pending_change_into_source(world, target):
    other = factories.make_org(OrgKind.UNIT, "想并入甲院的单位", world.dept)
    admin = factories.make_account("想并入的管理员", [(R.UNIT_ADMIN, other)])
    org_change.request_change(actor_for(admin, R.UNIT_ADMIN, other),
                              org_change.ChangeRequest(credit_code=None, parent_id=world.unit.id))


PENDING = {
    "registration": (_pending_registration, "a registration is under review"),
    "declaration below": (_pending_declaration, "an hour declaration is under review"),
    "org change": (_pending_change, "an organisation change is under review"),
    "org change towards the source": (_pending_change_into_source, "an organisation change is under review"),
}


@pytest.mark.parametrize("case", list(PENDING))
def test_merge_refused_while_something_is_pending(merge_world, db, case):
    world, target, *_ = merge_world
    make, reason = PENDING[case]
    make(world, target)
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        flow.merge(db.session.get(Org, world.unit.id), db.session.get(Org, target.id), support(world))
    assert zh(reason) in str(exc.value.message) or reason in str(exc.value.message)
    assert snapshot() == before


@pytest.mark.parametrize("who", ["unit_admin", "dept_admin", "city_admin", "sysadmin"])
def test_only_support_merges_or_issues_codes(merge_world, db, who):
    world, target, *_ = merge_world
    role = {"unit_admin": R.UNIT_ADMIN, "dept_admin": R.DEPT_ADMIN, "city_admin": R.HR_ADMIN,
            "sysadmin": R.SYSADMIN}[who]
    org = {"unit_admin": world.unit, "dept_admin": world.dept, "city_admin": world.city, "sysadmin": None}[who]
    actor = actor_for(getattr(world, who), role, org)
    coded = factories.make_org(OrgKind.UNIT, "无代码单位", world.dept)
    db.session.execute(Org.__table__.update().where(Org.id == coded.id).values(credit_code=None))
    db.session.commit()
    before = snapshot()
    with pytest.raises(PermissionDenied):
        flow.merge(world.unit, target, actor)
    with pytest.raises(PermissionDenied):
        flow.issue_temporary_code(db.session.get(Org, coded.id), actor)
    assert snapshot() == before


# ---------------------------------------------------------------- temporary credit codes

def _codeless(world, n: int) -> list[Org]:
    orgs = [factories.make_org(OrgKind.UNIT, f"无信用代码单位{i}", world.dept) for i in range(n)]
    db.session.execute(Org.__table__.update().where(Org.id.in_([o.id for o in orgs])).values(credit_code=None))
    db.session.commit()
    return [db.session.get(Org, o.id) for o in orgs]


def test_temporary_codes_are_valid_and_unique(world, db):
    orgs = _codeless(world, 25)
    codes = [flow.issue_temporary_code(org, support(world)) for org in orgs]
    assert len(set(codes)) == 25
    for code in codes:
        assert len(code) == 18 and validate_temporary_code(code) == code  # what org registration accepts
    db.session.expire_all()
    assert all(db.session.get(Org, o.id).temporary_code for o in orgs)
    assert [r.object_id for r in audits("org.temporary_code")] == [o.id for o in orgs]


def test_generated_codes_never_repeat(world, db):
    assert len({flow.make_temporary_code("370102") for _ in range(2000)}) == 2000


def test_issuing_skips_a_code_already_in_use(world, db, monkeypatch):
    [org] = _codeless(world, 1)
    taken = world.other_unit.credit_code
    fresh = flow.make_temporary_code()
    codes = iter([taken, fresh])
    monkeypatch.setattr(flow, "make_temporary_code", lambda division=None: next(codes))
    assert flow.issue_temporary_code(org, support(world)) == fresh


@pytest.mark.parametrize("case", ["has a code", "has a temporary code", "closed", "pending"])
def test_temporary_code_refusals(world, db, case):
    if case == "has a code":
        org = world.unit
    else:
        [org] = _codeless(world, 1)
        if case == "has a temporary code":
            flow.issue_temporary_code(org, support(world))
        else:
            org.state = "closed" if case == "closed" else "pending"
            db.session.commit()
    before = snapshot()
    with pytest.raises(DomainError):
        flow.issue_temporary_code(db.session.get(Org, org.id), support(world))
    assert snapshot() == before


def test_profile_shows_a_temporary_code_and_a_change_replaces_it(app, world, db):
    [org] = _codeless(world, 1)
    admin = factories.make_account("临时代码单位管理员", [(R.UNIT_ADMIN, org)])
    cheap_passwords()
    code = flow.issue_temporary_code(org, support(world))
    client = app.test_client()
    token = log_in(client, admin.username, R.UNIT_ADMIN.value)
    html = page(client.get("/org/profile/"))
    assert code in html and zh("Temporary code issued by the platform") in html
    from app.demo import make_credit_code

    real = make_credit_code("370102", 990001)
    client.post("/org/profile/change", data={"csrf_token": token, "credit_code": real})
    item = db.session.scalar(select(OrgChange))
    assert (item.old_credit_code, item.new_credit_code) == (code, real)
    org_change.decide(item, "approve", actor_for(world.dept_admin, R.DEPT_ADMIN, world.dept))
    db.session.expire_all()
    org = db.session.get(Org, org.id)
    assert (org.credit_code, org.temporary_code) == (real, False)
    assert zh("Temporary code issued by the platform") not in page(client.get("/org/profile/"))


# ---------------------------------------------------------------- the page

def test_support_page_search_issue_and_merge(app, client, merge_world, db):
    world, target, *_ = merge_world
    [codeless] = _codeless(world, 1)
    token = log_in(client, world.support.username, R.SUPPORT.value)
    html = page(client.get("/support/orgs/"))
    assert zh("Merge two organisations") in html
    html = page(client.get("/support/orgs/", query_string={"q": "无信用代码"}))
    assert codeless.name in html and zh("Issue a temporary code") in html
    html = page(client.get("/support/orgs/", query_string={"q": world.other_unit.credit_code}))
    assert world.other_unit.name in html
    response = client.post(f"/support/orgs/{codeless.id}/temporary-code", data={"csrf_token": token},
                           follow_redirects=True)
    db.session.expire_all()
    code = db.session.get(Org, codeless.id).credit_code
    assert code and code in page(response) and len(audits("org.temporary_code")) == 1
    # a second time: refused with a message, nothing changed
    html = page(client.post(f"/support/orgs/{codeless.id}/temporary-code", data={"csrf_token": token},
                            follow_redirects=True))
    assert zh("This organisation already has a credit code.") in html
    assert len(audits("org.temporary_code")) == 1

    response = client.post("/support/orgs/merge", data={"csrf_token": token, "source_id": str(world.unit.id),
                                                        "target_id": str(target.id), "confirm": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Org, world.unit.id).state == "closed" and len(audits("org.merge")) == 1
    html = page(client.get("/support/orgs/", query_string={"q": world.unit.name, "state": "closed"}))
    assert zh("Closed") in html


MERGE_FORM_CASES = {
    "no confirmation": (lambda w, t: {"source_id": str(w.unit.id), "target_id": str(t.id)},
                        "Please confirm the merge.", "confirm"),
    "source garbage": (lambda w, t: {"source_id": "1 OR 1=1", "target_id": str(t.id), "confirm": "y"},
                       "Choose the organisation to merge from the list.", None),
    "target missing": (lambda w, t: {"source_id": str(w.unit.id), "target_id": "", "confirm": "y"},
                       "Choose the organisation to merge into from the list.", None),
    "unknown target": (lambda w, t: {"source_id": str(w.unit.id), "target_id": "999999", "confirm": "y"},
                       "Choose the organisation to merge into from the list.", None),
    "html as id": (lambda w, t: {"source_id": "<script>alert(1)</script>", "target_id": str(t.id),
                                 "confirm": "y"}, "Choose the organisation to merge from the list.", None),
    "too long id": (lambda w, t: {"source_id": "1" * 40, "target_id": str(t.id), "confirm": "y"}, None, None),
    "different kind": (lambda w, t: {"source_id": str(w.unit.id), "target_id": str(w.dept.id), "confirm": "y"},
                       "Only organisations of the same kind can be merged.", None),
    "into own sub-unit": (lambda w, t: {"source_id": str(w.unit.id), "target_id": str(w.sub_unit.id),
                                        "confirm": "y"},
                          "An organisation cannot be merged into one below it.", None),
    "self": (lambda w, t: {"source_id": str(w.unit.id), "target_id": str(w.unit.id), "confirm": "y"},
             "An organisation cannot be merged into itself.", None),
}


@pytest.mark.parametrize("case", list(MERGE_FORM_CASES))
def test_bad_merge_form(client, merge_world, db, case):
    world, target, *_ = merge_world
    make, msgid, field = MERGE_FORM_CASES[case]
    token = log_in(client, world.support.username, R.SUPPORT.value)
    before = snapshot()
    response = client.post("/support/orgs/merge", data={"csrf_token": token, **make(world, target)})
    assert response.status_code == 200
    html = page(response)
    assert "field-error" in html
    if msgid:
        assert zh(msgid) in html
    if field:
        group = html.split(f'id="group-{field}"', 1)[1].split("</form>", 1)[0]
        assert zh(msgid) in group
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    assert snapshot() == before


def test_temporary_code_for_an_unknown_org_is_not_found(client, world, db):
    token = log_in(client, world.support.username, R.SUPPORT.value)
    assert client.post("/support/orgs/999999/temporary-code", data={"csrf_token": token}).status_code == 404
