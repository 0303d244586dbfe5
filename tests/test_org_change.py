"""U2 / D2 org profile and state machine 5: a change of credit code or parent, approved by the current org above
AND the new one. The full grid (state x action x party), the same-parent case, the "nothing pending"
preconditions, the subtree path rewrite, the pages (T1 bad input, T12 audit rows) and races on PostgreSQL."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app.demo import make_credit_code
from app.extensions import db
from app.models import (Account, AuditLog, Org, OrgChange, OrgChangeState, OrgKind, OrgState, Person, RoleName,
                        Transfer)
from app.workflows import org_change as flow
from app.workflows.base import ConcurrentTransition, DomainError, PermissionDenied, TransitionNotAllowed
from tests import factories
from tests.helpers import cheap_passwords, log_in, make_declaration, make_person, page, register, register_org, zh

R = RoleName
S = OrgChangeState
actor_for = factories.actor_for


@dataclass
class Tree:
    """The world plus a second department (under the other district) to move the unit to."""

    w: factories.World
    dept2: Org
    dept2_admin: Account
    sub_sub: Org


@pytest.fixture()
def tree(world):
    dept2 = factories.make_org(OrgKind.DEPARTMENT, "乙区教育局", world.other_district)
    dept2_admin = factories.make_account("乙区教育局管理员", [(R.DEPT_ADMIN, dept2)])
    sub_sub = factories.make_org(OrgKind.UNIT, "甲区人民医院分院门诊部", world.sub_unit)
    cheap_passwords()
    return Tree(world, dept2, dept2_admin, sub_sub)


# The parties of the grid: (account attribute of the world / tree, role, org attribute)
PARTIES = {
    "old": ("dept_admin", R.DEPT_ADMIN, "dept"),                 # the current org above
    "old_hr": ("district_admin", R.HR_ADMIN, "district"),       # covers the current org above
    "new": ("dept2_admin", R.DEPT_ADMIN, "dept2"),               # the new org above
    "new_hr": ("other_district_admin", R.HR_ADMIN, "other_district"),
    "both": ("city_admin", R.HR_ADMIN, "city"),                 # covers both sides
    "own": ("unit_admin", R.UNIT_ADMIN, "unit"),                 # the org itself (the requester)
    "sub": ("sub_unit_admin", R.UNIT_ADMIN, "sub_unit"),         # inside the org's subtree
    "sibling": ("other_unit_admin", R.UNIT_ADMIN, "other_unit"),  # another unit
    "base": ("base_admin", R.BASE_ADMIN, "base"),
    "support": ("support", R.SUPPORT, None),
}


def _get(tree: Tree, name: str):
    return getattr(tree, name) if hasattr(tree, name) else getattr(tree.w, name)


def party(tree: Tree, key: str):
    account, role, org = PARTIES[key]
    return actor_for(_get(tree, account), role, _get(tree, org) if org else None)


def request(tree: Tree, *, parent: Org | None = None, code: str | None = None, org: str = "unit",
            admin: str = "unit_admin", role: R = R.UNIT_ADMIN) -> OrgChange:
    target = _get(tree, org)
    return flow.request_change(actor_for(_get(tree, admin), role, target),
                               flow.ChangeRequest(credit_code=code, parent_id=parent.id if parent else None))


def new_code(n: int = 1) -> str:
    return make_credit_code("370103", 880000 + n)


def audits(action: str | None = None, object_type: str = "org_change") -> list[AuditLog]:
    stmt = select(AuditLog).where(AuditLog.object_type == object_type)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    return list(db.session.scalars(stmt.order_by(AuditLog.id)))


def row(item_id: int):
    return db.session.execute(select(OrgChange.state, OrgChange.old_decided_by_id, OrgChange.new_decided_by_id,
                                     OrgChange.reason).where(OrgChange.id == item_id)).one()


def org_row(org_id: int):
    return db.session.execute(select(Org.parent_id, Org.path, Org.credit_code, Org.region_id, Org.temporary_code)
                              .where(Org.id == org_id)).one()


def bring_to(tree: Tree, state: str) -> OrgChange:
    """A parent change of the unit (dept -> dept2) with a new credit code, brought to `state`."""
    item = request(tree, parent=tree.dept2, code=new_code())
    if state == S.PENDING_NEW.value:
        flow.machine.apply(item, "approve_old", party(tree, "old"))
    elif state == S.PENDING_OLD.value:
        flow.machine.apply(item, "approve_new", party(tree, "new"))
    elif state == S.APPROVED.value:
        flow.machine.apply(item, "approve_old", party(tree, "old"))
        flow.machine.apply(item, "approve_new", party(tree, "new"))
    elif state == S.REJECTED.value:
        flow.machine.apply(item, "reject_old", party(tree, "old"), "材料不符")
    elif state == S.WITHDRAWN.value:
        flow.withdraw(item, party(tree, "own"))
    db.session.expire_all()
    assert db.session.get(OrgChange, item.id).state == state
    return db.session.get(OrgChange, item.id)


# ---------------------------------------------------------------- the grid

ACTIONS = ("approve_old", "approve_new", "reject_old", "reject_new", "withdraw")
STATES = [s.value for s in S]
NEXT = {  # (state, action) -> target
    ("pending", "approve_old"): "pending_new", ("pending", "approve_new"): "pending_old",
    ("pending", "reject_old"): "rejected", ("pending", "reject_new"): "rejected",
    ("pending_new", "approve_new"): "approved", ("pending_new", "reject_new"): "rejected",
    ("pending_old", "approve_old"): "approved", ("pending_old", "reject_old"): "rejected",
    ("pending", "withdraw"): "withdrawn", ("pending_new", "withdraw"): "withdrawn",
    ("pending_old", "withdraw"): "withdrawn",
}
ALLOWED = {"approve_old": ("old", "old_hr", "both"), "reject_old": ("old", "old_hr", "both"),
           "approve_new": ("new", "new_hr", "both"), "reject_new": ("new", "new_hr", "both"),
           "withdraw": ("own",)}
GRID = [(state, action) for state in STATES for action in ACTIONS]


@pytest.mark.parametrize("state,action", GRID, ids=[f"{s}-{a}" for s, a in GRID])
def test_grid(tree, db, outbox, state, action):
    """Every party tries every action in every state: only the deciding parties of the waiting side (or the
    requester, to withdraw) move it, by exactly the declared step, with one audit row; the rest change nothing."""
    item = bring_to(tree, state)
    target = NEXT.get((state, action))
    allowed = ALLOWED[action] if target else ()
    before_row, before_audit = row(item.id), len(audits())
    before_org = org_row(tree.w.unit.id)
    for key in PARTIES:
        if key in allowed:
            continue
        with pytest.raises(TransitionNotAllowed if target is None else PermissionDenied):
            flow.machine.apply(db.session.get(OrgChange, item.id), action, party(tree, key), "理由")
        assert row(item.id) == before_row, key
        assert len(audits()) == before_audit, key
        assert org_row(tree.w.unit.id) == before_org, key
    if not target:
        return
    for key in allowed:  # each deciding party may take the step (checked without taking it) ...
        flow.machine.check(db.session.get(OrgChange, item.id), action, party(tree, key))
    mails = len(outbox)
    flow.machine.apply(db.session.get(OrgChange, item.id), action, party(tree, allowed[0]), "理由")  # ... one does
    db.session.expire_all()
    done = db.session.get(OrgChange, item.id)
    assert done.state == target
    [audit] = audits(f"org_change.{action}")
    assert (audit.from_state, audit.to_state, audit.object_id) == (state, target, item.id)
    assert len(audits()) == before_audit + 1
    unit = db.session.get(Org, tree.w.unit.id)
    if target == "approved":
        assert (unit.parent_id, unit.credit_code) == (tree.dept2.id, new_code())
        assert unit.path == f"{tree.dept2.path}{unit.id}/"
    else:
        assert org_row(unit.id) == before_org
    if action.startswith("reject"):
        assert done.reason == "理由"
    side_of = {"approve_old": "old", "reject_old": "old", "approve_new": "new", "reject_new": "new"}
    if action in side_of:
        decider = done.old_decided_by_id if side_of[action] == "old" else done.new_decided_by_id
        assert decider == _get(tree, PARTIES[allowed[0]][0]).id
        # the requester hears of the decision (the other side's admins, of the request waiting for them)
        assert [m.recipients for m in outbox[mails:] if tree.w.unit_admin.email in m.recipients] == [
            [tree.w.unit_admin.email]]
    else:
        assert len(outbox) == mails


def test_a_reject_needs_a_reason(tree, db):
    item = bring_to(tree, "pending")
    for action, who in (("reject_old", "old"), ("reject_new", "new")):
        with pytest.raises(DomainError):
            flow.machine.apply(db.session.get(OrgChange, item.id), action, party(tree, who), "  ")
    assert row(item.id).state == "pending" and not audits("org_change.reject_old")


def test_one_account_covering_both_sides_cannot_approve_both(tree, db):
    """The city bureau covers both parents: it may decide one side, never the second as well."""
    item = bring_to(tree, "pending")
    flow.decide(item, "approve", party(tree, "both"))
    assert row(item.id).state == "pending_new"
    with pytest.raises(PermissionDenied):
        flow.decide(db.session.get(OrgChange, item.id), "approve", party(tree, "both"))
    with pytest.raises(PermissionDenied):
        flow.decide(db.session.get(OrgChange, item.id), "reject", party(tree, "both"), "不同意")
    assert flow.queue(party(tree, "both"), flow.TODO) == []
    assert [c.id for c in flow.queue(party(tree, "both"), flow.WAITING)] == [item.id]
    flow.decide(db.session.get(OrgChange, item.id), "approve", party(tree, "new"))
    assert row(item.id).state == "approved"


def test_decide_picks_the_side_the_actor_covers(tree, db):
    item = bring_to(tree, "pending")
    flow.decide(item, "approve", party(tree, "new_hr"))
    assert row(item.id).state == "pending_old"
    flow.decide(db.session.get(OrgChange, item.id), "approve", party(tree, "old_hr"))
    assert row(item.id).state == "approved"
    assert [a.action for a in audits()] == ["org_change.submit", "org_change.approve_new", "org_change.approve_old"]


# ---------------------------------------------------------------- same parent: a credit-code change alone

SAME_PARENT_PARTIES = [(key, action) for key in PARTIES for action in ("approve_old", "approve_new")]


@pytest.mark.parametrize("key,action", SAME_PARENT_PARTIES, ids=[f"{k}-{a}" for k, a in SAME_PARENT_PARTIES])
def test_same_parent_needs_one_approval_by_that_parent(tree, db, key, action):
    item = request(tree, code=new_code(2))
    assert (item.old_parent_id, item.new_parent_id) == (tree.w.dept.id, tree.w.dept.id)
    before = org_row(tree.w.unit.id)
    if key in ("old", "old_hr", "both"):
        flow.machine.apply(item, action, party(tree, key))
        db.session.expire_all()
        done = db.session.get(OrgChange, item.id)
        assert done.state == "approved"
        assert done.old_decided_by_id == done.new_decided_by_id == _get(tree, PARTIES[key][0]).id
        unit = db.session.get(Org, tree.w.unit.id)
        assert (unit.credit_code, unit.parent_id, unit.path) == (new_code(2), before.parent_id, before.path)
        assert len(audits(f"org_change.{action}")) == 1
    else:
        with pytest.raises(PermissionDenied):
            flow.machine.apply(item, action, party(tree, key))
        assert row(item.id).state == "pending" and org_row(tree.w.unit.id) == before


def test_same_parent_reject(tree, db, outbox):
    item = request(tree, code=new_code(3))
    flow.decide(item, "reject", party(tree, "old"), "代码不符")
    assert row(item.id).state == "rejected"
    assert db.session.get(Org, tree.w.unit.id).credit_code != new_code(3)
    [mail] = [m for m in outbox if m.recipients == [tree.w.unit_admin.email]]
    assert "代码不符" in mail.body


def test_sub_unit_change_is_decided_by_the_parent_unit(tree, db):
    """A sub-unit's org above is a unit: that unit's admin (UNIT_ADMIN) decides; the sub-unit's own admin never."""
    item = request(tree, code=new_code(4), org="sub_unit", admin="sub_unit_admin")
    with pytest.raises(PermissionDenied):
        flow.decide(item, "approve", party(tree, "sub"))
    with pytest.raises(PermissionDenied):
        flow.decide(db.session.get(OrgChange, item.id), "approve", party(tree, "sibling"))
    flow.decide(db.session.get(OrgChange, item.id), "approve", party(tree, "own"))
    assert row(item.id).state == "approved"
    assert db.session.get(Org, tree.w.sub_unit.id).credit_code == new_code(4)


# ---------------------------------------------------------------- requesting: rules and "nothing pending"

def _pending_registration(tree):
    register(tree.w.unit, "待审核的专技人员")


def _pending_registration_below(tree):
    register(tree.w.sub_unit, "分院待审核人员")


def _pending_org_registration_below(tree):
    register_org(OrgKind.UNIT, tree.w.unit, "待审核的下级单位")


def _pending_declaration(tree):
    make_declaration(tree.w, make_person("有申报的医生", tree.w.unit), "pending_unit")


def _pending_declaration_below(tree):
    make_declaration(tree.w, make_person("分院有申报的医生", tree.w.sub_unit), "pending_dept")


def _pending_change(tree):
    request(tree, code=new_code(9))


def _pending_change_below(tree):
    request(tree, code=new_code(9), org="sub_unit", admin="sub_unit_admin")


def _pending_transfer(tree):
    person = make_person("调出中的医生", tree.w.unit)
    db.session.add(Transfer(person_id=db.session.scalar(select(Person.id).where(Person.user_id == person.id)),
                            from_unit_id=tree.w.unit.id, to_unit_id=tree.w.other_unit.id, state="pending_out"))
    db.session.commit()


def _pending_transfer_in(tree):
    person = make_person("调入中的老师", tree.w.other_unit)
    db.session.add(Transfer(person_id=db.session.scalar(select(Person.id).where(Person.user_id == person.id)),
                            from_unit_id=tree.w.other_unit.id, to_unit_id=tree.w.sub_unit.id,
                            state="pending_in"))
    db.session.commit()


PENDING = {
    "registration": (_pending_registration, "a registration is under review"),
    "registration below": (_pending_registration_below, "a registration is under review"),
    "org registration below": (_pending_org_registration_below, "a registration is under review"),
    "declaration": (_pending_declaration, "an hour declaration is under review"),
    "declaration below": (_pending_declaration_below, "an hour declaration is under review"),
    "change": (_pending_change, "an organisation change is under review"),
    "change below": (_pending_change_below, "an organisation change is under review"),
    "transfer out": (_pending_transfer, "a unit transfer is under review"),
    "transfer in below": (_pending_transfer_in, "a unit transfer is under review"),
}


@pytest.mark.parametrize("case", list(PENDING))
def test_nothing_may_be_pending(tree, db, case):
    make, reason = PENDING[case]
    make(tree)
    changes, audit_rows, before = db.session.scalar(select(func.count(OrgChange.id))), len(audits()), \
        org_row(tree.w.unit.id)
    with pytest.raises(DomainError) as exc:
        request(tree, parent=tree.dept2)
    assert zh(reason) in str(exc.value.message) or reason in str(exc.value.message)
    assert db.session.scalar(select(func.count(OrgChange.id))) == changes
    assert len(audits()) == audit_rows and org_row(tree.w.unit.id) == before


def test_final_approval_refused_when_something_became_pending_meanwhile(tree, db):
    item = bring_to(tree, "pending_new")
    _pending_declaration(tree)
    with pytest.raises(DomainError) as exc:
        flow.decide(db.session.get(OrgChange, item.id), "approve", party(tree, "new"))
    assert "hour declaration" in str(exc.value.message) or zh("an hour declaration is under review") in str(
        exc.value.message)
    assert row(item.id).state == "pending_new"
    assert db.session.get(Org, tree.w.unit.id).parent_id == tree.w.dept.id
    assert not audits("org_change.approve_new")


def test_two_orgs_asking_for_one_code_only_one_gets_it(tree, db):
    code = new_code(5)
    request(tree, code=code)
    with pytest.raises(DomainError) as exc:
        request(tree, code=code, org="other_unit", admin="other_unit_admin")
    assert exc.value.field == "credit_code"


def test_concurrent_request_is_a_clear_message(tree, db, monkeypatch):
    """Two admins of one org submit at the same instant: the partial unique index refuses the second."""
    request(tree, code=new_code(6))
    monkeypatch.setattr(flow, "pending_for_org", lambda org: [])  # as if both passed the check together
    with pytest.raises(DomainError) as exc:
        request(tree, code=new_code(7))
    assert "same moment" in str(exc.value.message) or "同时" in str(exc.value.message)
    assert db.session.scalar(select(func.count(OrgChange.id))) == 1


def test_only_the_requester_withdraws(tree, db):
    second = factories.make_account("第二单位管理员", [(R.UNIT_ADMIN, tree.w.unit)])
    item = bring_to(tree, "pending")
    with pytest.raises(PermissionDenied):
        flow.withdraw(item, actor_for(second, R.UNIT_ADMIN, tree.w.unit))
    flow.withdraw(db.session.get(OrgChange, item.id), party(tree, "own"))
    assert row(item.id).state == "withdrawn" and len(audits("org_change.withdraw")) == 1


def test_the_top_bureau_cannot_request(tree, db):
    with pytest.raises(DomainError):
        request(tree, code=new_code(8), org="city", admin="city_admin", role=R.HR_ADMIN)


def test_an_admin_of_another_role_cannot_request_for_the_org(tree, db):
    with pytest.raises(PermissionDenied):
        flow.request_change(actor_for(tree.w.dept_admin, R.DEPT_ADMIN, tree.w.unit),
                            flow.ChangeRequest(credit_code=new_code(8), parent_id=None))
    assert db.session.scalar(select(func.count(OrgChange.id))) == 0


# ---------------------------------------------------------------- subtree path rewrite

def _paths_consistent():
    orgs = {o.id: o for o in db.session.scalars(select(Org))}
    for org in orgs.values():
        expected = f"{orgs[org.parent_id].path if org.parent_id else '/'}{org.id}/"
        assert org.path == expected, (org.name, org.path, expected)


def test_moving_a_unit_with_sub_units_rewrites_every_path(tree, db, client):
    from app.models import Region

    region = Region(code="370103", name="乙区")
    db.session.add(region)
    db.session.flush()
    for org in (tree.w.other_district, tree.dept2):
        org.region_id = region.id
    db.session.commit()
    item = bring_to(tree, "approved")
    db.session.expire_all()
    unit, sub, sub_sub = (db.session.get(Org, o.id) for o in (tree.w.unit, tree.w.sub_unit, tree.sub_sub))
    assert unit.path == f"{tree.dept2.path}{unit.id}/"
    assert sub.path == f"{unit.path}{sub.id}/" and sub_sub.path == f"{sub.path}{sub_sub.id}/"
    assert {unit.region_id, sub.region_id, sub_sub.region_id} == {region.id}
    _paths_consistent()
    assert item.state == "approved"

    log_in(client, tree.dept2_admin.username, R.DEPT_ADMIN.value)
    listing = page(client.get("/orgs/list/"))
    assert all(name in listing for name in (unit.name, sub.name, sub_sub.name))
    client2 = client.application.test_client()  # the old department no longer sees them
    log_in(client2, tree.w.dept_admin.username, R.DEPT_ADMIN.value)
    listing = page(client2.get("/orgs/list/"))
    assert unit.name not in listing and sub.name not in listing and sub_sub.name not in listing


def test_a_unit_cannot_move_below_itself_or_to_an_illegal_parent(tree, db):
    for parent in (tree.w.sub_unit, tree.sub_sub, tree.w.unit, tree.w.base):
        with pytest.raises(DomainError) as exc:
            request(tree, parent=parent)
        assert exc.value.field == "parent_id"
    pending_dept = factories.make_org(OrgKind.DEPARTMENT, "待审核的部门", tree.w.district, state=OrgState.PENDING)
    with pytest.raises(DomainError):
        request(tree, parent=pending_dept)
    # a department cannot go below a unit, an HR district bureau only below the city
    with pytest.raises(DomainError):
        request(tree, parent=tree.w.other_unit, org="dept", admin="dept_admin", role=R.DEPT_ADMIN)
    with pytest.raises(DomainError):
        request(tree, parent=tree.w.other_district, org="district", admin="district_admin", role=R.HR_ADMIN)
    assert db.session.scalar(select(func.count(OrgChange.id))) == 0


def test_the_parent_checks_are_repeated_at_approval(tree, db):
    """dept2 moved below the unit meanwhile would make a loop: the approval is refused, nothing moves."""
    item = bring_to(tree, "pending_new")
    db.session.execute(OrgChange.__table__.update().where(OrgChange.id == item.id)
                       .values(new_parent_id=tree.w.sub_unit.id))
    db.session.commit()
    with pytest.raises(DomainError):
        flow.machine.apply(db.session.get(OrgChange, item.id), "approve_new", party(tree, "old"))
    assert row(item.id).state == "pending_new"
    _paths_consistent()


def test_approval_replaces_a_temporary_code(tree, db):
    unit = db.session.get(Org, tree.w.unit.id)
    unit.temporary_code = True
    db.session.commit()
    item = request(tree, code=new_code(10))
    flow.decide(item, "approve", party(tree, "old"))
    unit = db.session.get(Org, tree.w.unit.id)
    assert (unit.credit_code, unit.temporary_code) == (new_code(10), False)


# ---------------------------------------------------------------- the pages

def _profile(client):
    return page(client.get("/org/profile/"))


@pytest.mark.parametrize("admin,role,org", [("unit_admin", R.UNIT_ADMIN, "unit"), ("dept_admin", R.DEPT_ADMIN, "dept"),
                                            ("district_admin", R.HR_ADMIN, "district"),
                                            ("base_admin", R.BASE_ADMIN, "base")])
def test_every_org_admin_sees_and_edits_its_profile(client, tree, db, admin, role, org):
    token = log_in(client, _get(tree, admin).username, role.value)
    target = _get(tree, org)
    html = _profile(client)
    assert target.name in html and target.credit_code in html and target.parent.name in html
    assert zh("Org profile") in page(client.get("/home/"))
    response = client.post("/org/profile/edit", data={
        "csrf_token": token, "phone": "0531-12345678", "address": "新地址88号", "contact": "王联系",
        "nature": "事业单位", "industry": "教育", "description": "简介"})
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Org, target.id)
    assert (saved.phone, saved.address, saved.contact, saved.nature, saved.industry, saved.description) == (
        "0531-12345678", "新地址88号", "王联系", "事业单位", "教育", "简介")
    assert (saved.name, saved.credit_code, saved.parent_id) == (target.name, target.credit_code, target.parent_id)
    [audit] = audits("org.edit", "org")
    assert audit.object_id == target.id
    # the same values again: nothing changed, no audit row
    client.post("/org/profile/edit", data={
        "csrf_token": token, "phone": "0531-12345678", "address": "新地址88号", "contact": "王联系",
        "nature": "事业单位", "industry": "教育", "description": "简介"})
    assert len(audits("org.edit", "org")) == 1


def test_the_top_bureau_sees_its_profile_without_a_change_form(client, tree, db):
    log_in(client, tree.w.city_admin.username, R.HR_ADMIN.value)
    html = _profile(client)
    assert tree.w.city.name in html and 'id="change-form"' not in html
    assert zh("An organisation with no organisation above cannot request this change.") in html


def test_name_code_and_parent_cannot_be_edited_through_the_form(client, tree, db):
    token = log_in(client, tree.w.unit_admin.username, R.UNIT_ADMIN.value)
    before = org_row(tree.w.unit.id)
    client.post("/org/profile/edit", data={"csrf_token": token, "phone": "0531-1111111", "name": "篡改名称",
                                           "credit_code": new_code(11), "parent_id": str(tree.dept2.id),
                                           "path": "/1/", "state": "closed"})
    db.session.expire_all()
    unit = db.session.get(Org, tree.w.unit.id)
    assert unit.name == tree.w.unit.name and org_row(unit.id) == before and unit.state == "active"


EDIT_CASES = {
    "html in address": ({"address": "<script>alert(1)</script>"}, "Must not contain < > or control characters.",
                        "address"),
    "html in description": ({"description": "<b>x</b>"}, "Must not contain < > or control characters.",
                            "description"),
    "phone with letters": ({"phone": "call me"}, "Enter a phone number of digits, spaces, + - and brackets.",
                           "phone"),
    "phone missing": ({"phone": ""}, "This field is required.", "phone"),
    "address too long": ({"address": "长" * 201}, None, "address"),
    "description too long": ({"description": "长" * 1001}, None, "description"),
    "unknown nature": ({"nature": "黑客组织"}, "Choose a value from the list.", "nature"),
}


@pytest.mark.parametrize("case", list(EDIT_CASES))
def test_bad_profile_input(client, tree, db, case):
    overrides, msgid, field = EDIT_CASES[case]
    token = log_in(client, tree.w.unit_admin.username, R.UNIT_ADMIN.value)
    before = db.session.execute(select(Org.phone, Org.address, Org.nature, Org.description)
                                .where(Org.id == tree.w.unit.id)).one()
    data = {"csrf_token": token, "phone": "0531-7654321", "address": "好地址", "nature": "", "industry": "",
            **overrides}
    response = client.post("/org/profile/edit", data=data)
    assert response.status_code == 200
    html = page(response)
    assert f'id="group-{field}"' in html
    group = html.split(f'id="group-{field}"', 1)[1].split("</div>", 1)[0]
    assert "field-error" in group
    if msgid:
        assert zh(msgid) in group
    else:
        assert any("\u4e00" <= c <= "\u9fff" for c in group.split("field-error", 1)[1])
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.execute(select(Org.phone, Org.address, Org.nature, Org.description)
                              .where(Org.id == tree.w.unit.id)).one() == before
    assert not audits("org.edit", "org")


def _wrong_check(code: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return code[:17] + alphabet[(alphabet.index(code[17]) + 1) % 31]


CHANGE_CASES = {
    "bad check character": (lambda t: {"credit_code": _wrong_check(new_code(12))},
                            "Unified social credit code check character is wrong", "credit_code"),
    "17 characters": (lambda t: {"credit_code": new_code(12)[:17]},
                      "Unified social credit code must be 18 characters", "credit_code"),
    "html as code": (lambda t: {"credit_code": "<script>x</script>"}, None, "credit_code"),
    "too long code": (lambda t: {"credit_code": "9" * 31}, None, "credit_code"),
    "duplicate code": (lambda t: {"credit_code": t.w.other_unit.credit_code},
                       "An organisation with this credit code is already registered.", "credit_code"),
    "nothing to change": (lambda t: {"credit_code": t.w.unit.credit_code, "parent_id": str(t.w.dept.id)},
                          "Enter a new credit code or choose a new organisation above.", "credit_code"),
    "unknown parent": (lambda t: {"parent_id": "999999"}, "Choose the new organisation above from the list.",
                       "parent_id"),
    "garbage parent": (lambda t: {"parent_id": "1 OR 1=1"}, "Choose the new organisation above from the list.",
                       "parent_id"),
    "illegal parent kind": (lambda t: {"parent_id": str(t.w.base.id)},
                            "An organisation of this kind cannot be above yours.", "parent_id"),
    "own sub-unit as parent": (lambda t: {"parent_id": str(t.w.sub_unit.id)},
                               "The organisation above cannot be your own organisation or one below it.",
                               "parent_id"),
    "html in note": (lambda t: {"credit_code": new_code(13), "note": "<img src=x>"},
                     "Must not contain < > or control characters.", "note"),
}


@pytest.mark.parametrize("case", list(CHANGE_CASES))
def test_bad_change_request(client, tree, db, case):
    make, msgid, field = CHANGE_CASES[case]
    token = log_in(client, tree.w.unit_admin.username, R.UNIT_ADMIN.value)
    before = org_row(tree.w.unit.id)
    response = client.post("/org/profile/change", data={"csrf_token": token, **make(tree)})
    assert response.status_code == 200
    html = page(response)
    marker = 'id="group-parent_id"' if field == "parent_id" else f'id="group-{field}"'
    if field == "parent_id":  # the picker's form group
        assert zh(msgid) in html
        assert "field-error" in html
    else:
        group = html.split(marker, 1)[1].split("</div>", 1)[0]
        assert "field-error" in group
        if msgid:
            assert zh(msgid) in group
        else:
            assert any("\u4e00" <= c <= "\u9fff" for c in group.split("field-error", 1)[1])
    assert "<script>x</script>" not in response.get_data(as_text=True)
    assert "<img src=x>" not in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(OrgChange.id))) == 0
    assert org_row(tree.w.unit.id) == before and not audits()


def test_request_blocked_by_pending_names_it_on_the_page(client, tree, db):
    _pending_declaration(tree)
    token = log_in(client, tree.w.unit_admin.username, R.UNIT_ADMIN.value)
    assert zh("an hour declaration is under review") in _profile(client)
    html = page(client.post("/org/profile/change", data={"csrf_token": token, "credit_code": new_code(14)}))
    assert zh("an hour declaration is under review") in html
    assert db.session.scalar(select(func.count(OrgChange.id))) == 0


def test_full_flow_through_the_pages(app, client, tree, db, outbox):
    """Request on the profile page, the old department then the new one approve in their queues."""
    token = log_in(client, tree.w.unit_admin.username, R.UNIT_ADMIN.value)
    response = client.post("/org/profile/change", data={"csrf_token": token, "credit_code": new_code(15),
                                                        "parent_id": str(tree.dept2.id), "note": "机构调整"})
    assert response.status_code == 302
    html = _profile(client)
    assert zh("Awaiting both organisations above") in html and tree.dept2.name in html
    [item] = db.session.scalars(select(OrgChange)).all()
    assert len(audits("org_change.submit")) == 1

    # the unit's own admin and the sub-unit's admin never see it in a queue nor its detail
    for account, role in ((tree.w.unit_admin, R.UNIT_ADMIN), (tree.w.sub_unit_admin, R.UNIT_ADMIN),
                          (tree.w.other_unit_admin, R.UNIT_ADMIN)):
        c = app.test_client()
        tok = log_in(c, account.username, role.value)
        for tab in ("todo", "waiting", "decided"):
            assert f"/review/org-changes/{item.id}" not in page(c.get(f"/review/org-changes/?tab={tab}"))
        assert c.get(f"/review/org-changes/{item.id}").status_code == 404
        c.post("/review/org-changes/decide", data={"csrf_token": tok, "ids": str(item.id), "action": "approve"})
        assert row(item.id).state == "pending"

    old = app.test_client()
    tok = log_in(old, tree.w.dept_admin.username, R.DEPT_ADMIN.value)
    queue = page(old.get("/review/org-changes/"))
    assert tree.w.unit.name in queue and zh("the current organisation above") in queue
    detail = page(old.get(f"/review/org-changes/{item.id}"))
    assert new_code(15) in detail and tree.w.unit.credit_code in detail and tree.dept2.name in detail
    old.post("/review/org-changes/decide", data={"csrf_token": tok, "ids": str(item.id), "action": "approve"})
    assert row(item.id).state == "pending_new"
    assert f"/review/org-changes/{item.id}" not in page(old.get("/review/org-changes/"))
    assert f"/review/org-changes/{item.id}" in page(old.get("/review/org-changes/?tab=waiting"))

    new = app.test_client()
    tok = log_in(new, tree.dept2_admin.username, R.DEPT_ADMIN.value)
    assert zh("the new organisation above") in page(new.get("/review/org-changes/"))
    response = new.post(f"/review/org-changes/decide?back={item.id}",
                        data={"csrf_token": tok, "ids": str(item.id), "action": "approve"})
    assert response.status_code == 302
    assert row(item.id).state == "approved"
    detail = page(new.get(f"/review/org-changes/{item.id}"))
    assert tree.w.dept_admin.first_name in detail and tree.dept2_admin.first_name in detail
    assert f"/review/org-changes/{item.id}" in page(new.get("/review/org-changes/?tab=decided"))
    db.session.expire_all()
    unit = db.session.get(Org, tree.w.unit.id)
    assert (unit.parent_id, unit.credit_code) == (tree.dept2.id, new_code(15))
    assert [m.recipients for m in outbox if tree.w.unit_admin.email in m.recipients] == [[tree.w.unit_admin.email]] * 2
    html = _profile(client)
    assert new_code(15) in html and zh("Approved") in html


@pytest.mark.parametrize("who", ["dept2_admin", "other_district_admin", "other_unit_admin", "sub_unit_admin",
                                 "unit_admin"])
def test_admins_outside_the_parents_see_and_decide_nothing(app, client, tree, db, who):
    """A credit-code change of the unit is the department's (and those above it) alone."""
    role = {"dept2_admin": R.DEPT_ADMIN, "other_district_admin": R.HR_ADMIN}.get(who, R.UNIT_ADMIN)
    item = request(tree, code=new_code(17))
    token = log_in(client, _get(tree, who).username, role.value)
    for tab in ("todo", "waiting", "decided"):
        assert f"/review/org-changes/{item.id}" not in page(client.get(f"/review/org-changes/?tab={tab}"))
    assert client.get(f"/review/org-changes/{item.id}").status_code == 404
    for action in ("approve", "reject"):
        client.post("/review/org-changes/decide", data={"csrf_token": token, "ids": str(item.id),
                                                        "action": action, "reason": "越权"})
    assert row(item.id).state == "pending" and len(audits()) == 1
    assert db.session.get(Org, tree.w.unit.id).credit_code != new_code(17)


def test_reject_in_the_queue_needs_a_reason(app, client, tree, db):
    item = bring_to(tree, "pending")
    tok = log_in(client, tree.dept2_admin.username, R.DEPT_ADMIN.value)
    html = page(client.post("/review/org-changes/decide", data={"csrf_token": tok, "ids": str(item.id),
                                                                "action": "reject"}, follow_redirects=True))
    assert zh("A reason is required to reject.") in html
    assert row(item.id).state == "pending"
    client.post("/review/org-changes/decide", data={"csrf_token": tok, "ids": str(item.id), "action": "reject",
                                                    "reason": "不接收"})
    assert row(item.id).state == "rejected" and row(item.id).reason == "不接收"


def test_batch_picks_each_items_side(app, client, tree, db):
    """One batch: the city bureau approves the old side of one request and the new side of another."""
    a = bring_to(tree, "pending_old")                      # the unit: waits for its old side (dept)
    other_dept = factories.make_org(OrgKind.DEPARTMENT, "乙区财政局", tree.w.other_district)
    b = flow.request_change(actor_for(tree.w.other_unit_admin, R.UNIT_ADMIN, tree.w.other_unit),
                            flow.ChangeRequest(credit_code=None, parent_id=other_dept.id))
    flow.decide(b, "approve", party(tree, "new_hr"))  # other_district is b's OLD parent: old side done
    assert row(b.id).state == "pending_new"
    tok = log_in(client, tree.w.city_admin.username, R.HR_ADMIN.value)
    client.post("/review/org-changes/decide", data={"csrf_token": tok, "ids": [str(a.id), str(b.id)],
                                                    "action": "approve"})
    assert row(a.id).state == "approved" and row(b.id).state == "approved"
    assert len(audits("org_change.approve_old")) == 2 and len(audits("org_change.approve_new")) == 2


def test_withdraw_through_the_page(client, tree, db):
    item = bring_to(tree, "pending")
    token = log_in(client, tree.w.unit_admin.username, R.UNIT_ADMIN.value)
    assert client.post(f"/org/profile/change/{item.id}/withdraw", data={"csrf_token": token}).status_code == 302
    assert row(item.id).state == "withdrawn"
    assert len(audits("org_change.withdraw")) == 1


def test_withdraw_of_another_orgs_change_is_not_found(client, tree, db):
    item = request(tree, code=new_code(16), org="other_unit", admin="other_unit_admin")
    token = log_in(client, tree.w.unit_admin.username, R.UNIT_ADMIN.value)
    assert client.post(f"/org/profile/change/{item.id}/withdraw", data={"csrf_token": token}).status_code == 404
    assert row(item.id).state == "pending"


# ---------------------------------------------------------------- races (PostgreSQL)

def _needs_postgres(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("Races need a server database with row locks: SQLite serialises all writers.")


def _race(app, deciders, item_id):
    """Each (user id, role, org id, action, reason) decides the same request at the same moment."""
    barrier = threading.Barrier(len(deciders))
    outcomes = [None] * len(deciders)

    def run(idx):
        user_id, role, org_id, action, reason = deciders[idx]
        with app.app_context():
            from app.extensions import db as tdb

            actor = actor_for(tdb.session.get(Account, user_id), role, tdb.session.get(Org, org_id))
            tdb.session.commit()
            barrier.wait(timeout=30)
            try:
                flow.decide(tdb.session.get(OrgChange, item_id), action, actor, reason)
                outcomes[idx] = "done"
            except (ConcurrentTransition, TransitionNotAllowed, PermissionDenied):
                outcomes[idx] = "refused"
            except Exception as exc:  # noqa: BLE001 - any other failure is a test failure
                tdb.session.rollback()
                outcomes[idx] = f"error {exc!r}"
            tdb.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(deciders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not [o for o in outcomes if o.startswith("error")], outcomes
    return outcomes


def _chain_is_consistent(item_id):
    rows = audits()
    steps = [(a.action, a.from_state, a.to_state) for a in rows if a.object_id == item_id]
    assert steps[0][0] == "org_change.submit"
    state = "pending"
    for action, source, target in steps[1:]:
        assert source == state, steps
        state = target
    assert state == row(item_id).state
    return [s[0] for s in steps[1:]]


def test_race_of_both_sides_and_two_admins_each(app, tree, db):
    _needs_postgres(db)
    second_old = factories.make_account("第二主管部门管理员", [(R.DEPT_ADMIN, tree.w.dept)])
    second_new = factories.make_account("乙区第二教育局管理员", [(R.DEPT_ADMIN, tree.dept2)])
    for _round in range(3):
        db.session.expire_all()
        for change in db.session.scalars(select(OrgChange).where(OrgChange.state.in_(flow.PENDING_ORG_CHANGE_STATES))):
            change.state = "withdrawn"
        db.session.commit()
        unit = db.session.get(Org, tree.w.unit.id)
        target = tree.dept2 if unit.parent_id == tree.w.dept.id else tree.w.dept
        item = request(tree, parent=db.session.get(Org, target.id))
        old_org, new_org = item.old_parent_id, item.new_parent_id
        old_admins = [tree.w.dept_admin, second_old] if old_org == tree.w.dept.id else [tree.dept2_admin, second_new]
        new_admins = [tree.dept2_admin, second_new] if new_org == tree.dept2.id else [tree.w.dept_admin, second_old]
        deciders = [(a.id, R.DEPT_ADMIN, old_org, "approve", None) for a in old_admins]
        deciders += [(a.id, R.DEPT_ADMIN, new_org, "approve", None) for a in new_admins]
        outcomes = _race(app, deciders, item.id)
        db.session.expire_all()
        assert outcomes.count("done") == 2, outcomes
        assert sorted(_chain_is_consistent(item.id)) == ["org_change.approve_new", "org_change.approve_old"]
        assert row(item.id).state == "approved"
        assert db.session.get(Org, tree.w.unit.id).parent_id == target.id
        _paths_consistent()


def test_race_of_approve_and_reject(app, tree, db):
    _needs_postgres(db)
    for n in range(4):
        item = request(tree, code=new_code(100 + n))  # same parent: one approval decides
        deciders = [(tree.w.dept_admin.id, R.DEPT_ADMIN, tree.w.dept.id, "approve", None),
                    (tree.w.district_admin.id, R.HR_ADMIN, tree.w.district.id, "reject", "不同意"),
                    (tree.w.city_admin.id, R.HR_ADMIN, tree.w.city.id, "approve", None)]
        outcomes = _race(app, deciders, item.id)
        db.session.expire_all()
        assert outcomes.count("done") == 1, outcomes
        [step] = _chain_is_consistent(item.id)
        final = row(item.id).state
        assert final in ("approved", "rejected")
        code = db.session.get(Org, tree.w.unit.id).credit_code
        assert (code == new_code(100 + n)) == (final == "approved")

    # different parents: a reject by one side races the approvals of both sides
    item = request(tree, parent=tree.dept2)
    deciders = [(tree.w.dept_admin.id, R.DEPT_ADMIN, tree.w.dept.id, "approve", None),
                (tree.dept2_admin.id, R.DEPT_ADMIN, tree.dept2.id, "approve", None),
                (tree.w.district_admin.id, R.HR_ADMIN, tree.w.district.id, "reject", "不同意")]
    _race(app, deciders, item.id)
    db.session.expire_all()
    steps = _chain_is_consistent(item.id)
    assert len(steps) == len(set(steps))  # no step twice
    final = row(item.id).state
    moved = db.session.get(Org, tree.w.unit.id).parent_id == tree.dept2.id
    assert moved == (final == "approved")
    _paths_consistent()
