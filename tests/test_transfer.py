"""State machine 3, unit transfer (P7, U7): the full grid of both starts, the "nothing pending" preconditions,
withdrawal, scope and escalation, what an accepted transfer moves, audit rows (T12), notifications, bad input (T1)
and concurrent decisions on PostgreSQL (T4)."""
from __future__ import annotations

import threading
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (AuditLog, Declaration, HourRecord, IdentityCorrection, Membership, Org, OrgKind, OrgState,
                        Person, RoleName, TitleChange, Transfer, YearSummary)
from app.workflows import transfer as flow
from app.workflows.base import (ConcurrentTransition, DomainError, PermissionDenied, TransitionNotAllowed)
from tests import factories
from tests.helpers import (cheap_passwords, credit_year, make_declaration, make_person, needs_postgres, person_of, pro,
                           unit_of, zh)

R = RoleName
ACTIONS = ("release", "accept", "reject", "withdraw")
REASON = "岗位调整未完成"


class Parties:
    """Everyone who might try to act on a transfer of `person` from world.unit to world.other_unit."""

    def __init__(self, world):
        self.world = world
        self.sibling = factories.make_org(OrgKind.UNIT, "甲区第二医院", world.dept)
        self.sibling_admin = factories.make_account("兄弟单位管理员", [(R.UNIT_ADMIN, self.sibling)])
        self.colleague = make_person("同院同事", world.unit)
        cheap_passwords()

    def actor(self, party: str, person_account=None):
        w = self.world
        table = {
            "applicant": (person_account, R.PROFESSIONAL, w.unit),
            "colleague": (self.colleague, R.PROFESSIONAL, w.unit),
            "old": (w.unit_admin, R.UNIT_ADMIN, w.unit),
            "new": (w.other_unit_admin, R.UNIT_ADMIN, w.other_unit),
            "sub_unit": (w.sub_unit_admin, R.UNIT_ADMIN, w.sub_unit),  # below the old unit: does not cover it
            "sibling": (self.sibling_admin, R.UNIT_ADMIN, self.sibling),
            "dept": (w.dept_admin, R.DEPT_ADMIN, w.dept),
            "hr": (w.district_admin, R.HR_ADMIN, w.district),
            "city": (w.city_admin, R.HR_ADMIN, w.city),
            "base": (w.base_admin, R.BASE_ADMIN, w.base),
            "support": (w.support, R.SUPPORT, None),
            "sysadmin": (w.sysadmin, R.SYSADMIN, None),
        }
        account, role, org = table[party]
        return factories.actor_for(account, role, org)


PARTIES = ("applicant", "colleague", "old", "new", "sub_unit", "sibling", "dept", "hr", "city", "base", "support",
           "sysadmin")

# (initiator, state, action) -> the one party allowed; every other combination is refused.
ALLOWED = {
    ("person", "pending_out", "release"): "old",
    ("person", "pending_out", "reject"): "old",
    ("person", "pending_out", "withdraw"): "applicant",
    ("person", "pending_in", "accept"): "new",
    ("person", "pending_in", "reject"): "new",
    ("person", "pending_in", "withdraw"): "applicant",
    ("unit", "pending_in", "accept"): "new",
    ("unit", "pending_in", "reject"): "new",
    ("unit", "pending_in", "withdraw"): "old",
}
TARGET = {"release": "pending_in", "accept": "done", "reject": "rejected", "withdraw": "withdrawn"}
STATES = {"person": ("pending_out", "pending_in", "done", "rejected", "withdrawn"),
          "unit": ("pending_in", "done", "rejected", "withdrawn")}
GRID = [(i, s) for i in STATES for s in STATES[i]]


def admin(account, org: Org, role=R.UNIT_ADMIN):
    return factories.actor_for(account, role, org)


def make_transfer(world, state: str, *, initiator: str = "person", account=None, to: Org | None = None,
                  name: str = "调转申请人") -> Transfer:
    """A transfer of a professional of world.unit to world.other_unit (or `to`), brought to `state` through the
    workflow by the parties of each step."""
    account = account or make_person(name, world.unit)
    to = to or world.other_unit
    old = admin(world.unit_admin, world.unit)
    new_admin = {world.other_unit.id: world.other_unit_admin, world.sub_unit.id: world.sub_unit_admin}.get(
        to.id, world.unit_admin)
    new = admin(new_admin, to)
    if initiator == "person":
        item = flow.submit(pro(account, world.unit), to.id, "家庭原因")
    else:
        item = flow.start(old, person_of(account).id, to.id, "工作需要")
    if state == "pending_out" or state == item.state:
        pass
    elif state == "withdrawn":
        if initiator == "person":
            flow.withdraw(item, pro(account, world.unit))
        else:
            flow.machine.apply(item, "withdraw", old)
    elif state == "rejected":
        flow.reject(item, old if item.state == "pending_out" else new, REASON)
    else:
        if item.state == "pending_out":
            flow.release(item, old)
        if state == "done":
            flow.accept(item, new)
    assert item.state == state, (item.state, state)
    return item


def row(item_id: int):
    return db.session.execute(select(
        Transfer.state, Transfer.reason, Transfer.out_decided_by_id, Transfer.out_decided_at, Transfer.in_decided_by_id,
        Transfer.in_decided_at).where(Transfer.id == item_id)).one()


def audits(item_id: int | None = None) -> list[tuple]:
    stmt = select(AuditLog.action, AuditLog.object_id, AuditLog.from_state, AuditLog.to_state, AuditLog.actor_id,
                  AuditLog.comment).where(AuditLog.object_type == "transfer").order_by(AuditLog.id)
    if item_id is not None:
        stmt = stmt.where(AuditLog.object_id == item_id)
    return db.session.execute(stmt).all()


# ---------------------------------------------------------------- the grid

@pytest.mark.parametrize("initiator,state", GRID, ids=[f"{i}-{s}" for i, s in GRID])
def test_grid_every_action_by_every_party(fast_world, initiator, state):
    world = fast_world
    parties = Parties(world)
    account = make_person("网格申请人", world.unit)
    item = make_transfer(world, state, initiator=initiator, account=account)
    before_row, before_audit = row(item.id), audits()
    refused = 0
    for action in ACTIONS:
        allowed_party = ALLOWED.get((initiator, state, action))
        for party in PARTIES:
            if party == allowed_party:
                continue
            expected = PermissionDenied if allowed_party else TransitionNotAllowed
            with pytest.raises(expected):
                flow.machine.apply(item, action, parties.actor(party, account), REASON)
            refused += 1
            assert row(item.id) == before_row, (action, party)
            assert audits() == before_audit, (action, party)
            assert unit_of(account) == (world.other_unit.id if state == "done" else world.unit.id)
    assert refused >= len(ACTIONS) * (len(PARTIES) - 1)
    # Each allowed (action, party) on a fresh transfer in the same state: one step, one audit row.
    for action in ACTIONS:
        allowed_party = ALLOWED.get((initiator, state, action))
        if not allowed_party:
            continue
        fresh_account = make_person(f"网格{action}", world.unit)
        fresh = make_transfer(world, state, initiator=initiator, account=fresh_account)
        n = len(audits(fresh.id))
        flow.machine.apply(fresh, action, parties.actor(allowed_party, fresh_account),
                           REASON if action == "reject" else None)
        assert row(fresh.id).state == TARGET[action]
        new_rows = audits(fresh.id)[n:]
        assert [(a, f, t) for a, _, f, t, _, _ in new_rows] == [(f"transfer.{action}", state, TARGET[action])]
        expected_unit = world.other_unit.id if action == "accept" else world.unit.id
        assert unit_of(fresh_account) == expected_unit


def test_approving_in_a_batch_releases_then_accepts_never_both_at_once(fast_world):
    """decide_many maps approve to the step of each item's state; one batch moves each item one step."""
    world = fast_world
    out_item = make_transfer(world, "pending_out", name="待调出")
    in_item = make_transfer(world, "pending_in", name="待调入")
    done, failed = flow.decide_many([out_item.id, in_item.id], "approve", admin(world.unit_admin, world.unit))
    assert (done, [i for i, _ in failed]) == (1, [in_item.id])  # the old unit cannot accept for the new one
    assert row(out_item.id).state == "pending_in"
    done, failed = flow.decide_many([out_item.id, in_item.id], "approve",
                                    admin(world.other_unit_admin, world.other_unit))
    assert (done, failed) == (2, [])
    assert {row(out_item.id).state, row(in_item.id).state} == {"done"}
    assert [a for a, *_ in audits(out_item.id)] == ["transfer.submit", "transfer.release", "transfer.accept"]


def test_batch_reject_needs_a_reason_and_changes_nothing_without(fast_world):
    world = fast_world
    item = make_transfer(world, "pending_out")
    before = row(item.id), audits()
    for reason in (None, "", "   "):
        with pytest.raises(DomainError) as exc:
            flow.decide_many([item.id], "reject", admin(world.unit_admin, world.unit), reason)
        assert exc.value.field == "reason"
    with pytest.raises(DomainError):
        flow.decide_many([item.id], "release", admin(world.unit_admin, world.unit))  # only approve / reject
    assert (row(item.id), audits()) == before


def test_a_parent_unit_decides_for_its_sub_units_and_a_sub_unit_not_for_its_parent(fast_world):
    world = fast_world
    account = make_person("分院调出人", world.sub_unit)
    item = flow.submit(pro(account, world.sub_unit), world.other_unit.id)
    flow.release(item, admin(world.unit_admin, world.unit))  # the parent unit covers the sub-unit
    assert item.state == "pending_in"
    # into the sub-unit: the parent unit's admin accepts as well
    other = make_person("乙校调入人", world.other_unit)
    incoming = flow.submit(pro(other, world.other_unit), world.sub_unit.id)
    flow.release(incoming, admin(world.other_unit_admin, world.other_unit))
    flow.accept(incoming, admin(world.unit_admin, world.unit))
    assert unit_of(other) == world.sub_unit.id
    # the sub-unit's admin does not cover its parent unit
    upward = make_transfer(world, "pending_out", name="本院调出人")
    with pytest.raises(PermissionDenied):
        flow.release(upward, admin(world.sub_unit_admin, world.sub_unit))


def test_nobody_decides_their_own_transfer(fast_world):
    """An admin of the old unit who is also its professional applies: they cannot release it, a colleague can;
    as an admin of the new unit they cannot accept it either."""
    world = fast_world
    both = factories.make_account("兼任管理员", [(R.PROFESSIONAL, world.unit), (R.UNIT_ADMIN, world.unit),
                                                 (R.UNIT_ADMIN, world.other_unit)], person_unit=world.unit)
    item = flow.submit(pro(both, world.unit), world.other_unit.id)
    with pytest.raises(PermissionDenied):
        flow.release(item, admin(both, world.unit))
    assert flow.queue(admin(both, world.unit), "out") == []
    flow.release(item, admin(world.unit_admin, world.unit))
    with pytest.raises(PermissionDenied):
        flow.accept(item, admin(both, world.other_unit))
    assert flow.queue(admin(both, world.other_unit), "in") == []
    flow.accept(item, admin(world.other_unit_admin, world.other_unit))
    assert item.state == "done"


# ---------------------------------------------------------------- applying (P7): preconditions and bad input

def _pending_declaration(world, account):
    make_declaration(world, account, "pending_unit", title="待审核的培训")


def _pending_title_change(world, account):
    db.session.add(TitleChange(person_id=person_of(account).id, unit_id=world.unit.id, state="pending",
                               before_json="{}", after_json='{"title_level": "副高级"}'))
    db.session.commit()


def _pending_identity_correction(world, account):
    db.session.add(IdentityCorrection(user_id=account.id, old_name="旧名", old_id_number=account.username,
                                      new_name="新名", new_id_number=account.username, state="pending"))
    db.session.commit()


def _pending_transfer(world, account):
    flow.submit(pro(account, world.unit), world.other_unit.id)


PENDING = [
    (_pending_declaration, "an hour declaration is under review"),
    (_pending_title_change, "a title change is under review"),
    (_pending_identity_correction, "an identity correction is under review"),
    (_pending_transfer, "a unit transfer is under review"),
]


@pytest.mark.parametrize("make_pending,reason", PENDING, ids=[r for _, r in PENDING])
def test_applying_is_refused_while_something_is_pending(app, fast_world, make_pending, reason):
    world = fast_world
    account = make_person("有待审事项的人", world.unit)
    make_pending(world, account)
    before = db.session.scalar(select(func.count(Transfer.id))), audits()
    third = factories.make_org(OrgKind.UNIT, "丙单位", world.district)
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        with pytest.raises(DomainError) as exc:
            flow.submit(pro(account, world.unit), third.id)
        assert zh(reason) in str(exc.value.message)
        assert zh("Applying for a unit transfer") in str(exc.value.message)
        assert flow.blocked_reasons(person_of(account))  # the page hides the form and says why
        with pytest.raises(DomainError) as exc:
            flow.start(admin(world.unit_admin, world.unit), person_of(account).id, third.id)
        assert zh(reason) in str(exc.value.message)
    assert (db.session.scalar(select(func.count(Transfer.id))), audits()) == before


@pytest.mark.parametrize("step", ["release", "accept"])
@pytest.mark.parametrize("make_pending,reason", PENDING[:3], ids=[r for _, r in PENDING[:3]])
def test_something_pending_that_appeared_meanwhile_blocks_release_and_acceptance(app, fast_world, make_pending,
                                                                                  reason, step):
    world = fast_world
    account = make_person("后来有待审事项", world.unit)
    item = make_transfer(world, "pending_out" if step == "release" else "pending_in", account=account)
    make_pending(world, account)  # e.g. a declaration submitted after the application
    before = row(item.id), audits(item.id)
    decider = admin(world.unit_admin, world.unit) if step == "release" else admin(world.other_unit_admin,
                                                                                   world.other_unit)
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        with pytest.raises(DomainError) as exc:
            flow.machine.apply(item, step, decider)
        assert zh(reason) in str(exc.value.message)
    assert (row(item.id), audits(item.id)) == before
    assert unit_of(account) == world.unit.id
    # a rejection stays possible (it moves nobody)
    flow.reject(item, decider, "请先处理待审核事项")
    assert row(item.id).state == "rejected"


def _bad_inputs(world):
    dept, closed = world.dept, factories.make_org(OrgKind.UNIT, "已注销单位", world.district, state=OrgState.CLOSED)
    pending = factories.make_org(OrgKind.UNIT, "待审核单位", world.district, state=OrgState.PENDING)
    return [
        ({"to_unit_id": None}, "to_unit_id", "Choose the new unit from the list."),
        ({"to_unit_id": 999999}, "to_unit_id", "Choose the new unit from the list."),
        ({"to_unit_id": "abc"}, "to_unit_id", "Choose the new unit from the list."),
        ({"to_unit_id": -1}, "to_unit_id", "Choose the new unit from the list."),
        ({"to_unit_id": world.unit.id}, "to_unit_id", "The new unit must differ from the current unit."),
        ({"to_unit_id": dept.id}, "to_unit_id", "Choose the new unit from the list."),
        ({"to_unit_id": world.base.id}, "to_unit_id", "Choose the new unit from the list."),
        ({"to_unit_id": closed.id}, "to_unit_id", "Choose the new unit from the list."),
        ({"to_unit_id": pending.id}, "to_unit_id", "Choose the new unit from the list."),
        ({"to_unit_id": world.other_unit.id, "note": "<script>alert(1)</script>"}, "note",
         "The note may not contain < or >."),
        ({"to_unit_id": world.other_unit.id, "note": "调" * 201}, "note", None),
    ]


def test_bad_input_is_refused_at_the_field_and_changes_nothing(app, fast_world):
    world = fast_world
    account = make_person("输错的人", world.unit)
    employee = make_person("被调出的人", world.unit)
    cases = _bad_inputs(world)
    before = db.session.scalar(select(func.count(Transfer.id))), audits()
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        for data, field, msgid in cases:
            with pytest.raises(DomainError) as exc:
                flow.submit(pro(account, world.unit), data["to_unit_id"], data.get("note"))
            assert exc.value.field == field, data
            text = str(exc.value.message)
            assert text == zh(msgid) if msgid else "200" in text and zh("The note may have at most %(n)s characters.",
                                                                         n=200) == text
            with pytest.raises(DomainError) as exc:
                flow.start(admin(world.unit_admin, world.unit), person_of(employee).id, data["to_unit_id"],
                           data.get("note"))
            assert exc.value.field == field, data
    assert (db.session.scalar(select(func.count(Transfer.id))), audits()) == before


def test_only_an_active_professional_applies(fast_world):
    world = fast_world
    with pytest.raises(PermissionDenied):  # an admin acting as admin is not a professional
        flow.submit(admin(world.unit_admin, world.unit), world.other_unit.id)
    account = make_person("注册未通过的人", world.unit)
    db.session.execute(Membership.__table__.update().where(Membership.user_id == account.id).values(state="revoked"))
    db.session.commit()
    with pytest.raises(DomainError):
        flow.submit(pro(account, world.unit), world.other_unit.id)
    assert db.session.scalar(select(func.count(Transfer.id))) == 0


# ---------------------------------------------------------------- withdrawal

@pytest.mark.parametrize("state", ["pending_out", "pending_in"])
def test_the_applicant_withdraws_while_pending(fast_world, state):
    world = fast_world
    account = make_person("撤回的人", world.unit)
    item = make_transfer(world, state, account=account)
    flow.withdraw(item, pro(account, world.unit))
    assert row(item.id).state == "withdrawn"
    assert audits(item.id)[-1][:4] == ("transfer.withdraw", item.id, state, "withdrawn")
    assert unit_of(account) == world.unit.id
    # now they may apply again
    again = flow.submit(pro(account, world.unit), world.other_unit.id)
    assert again.state == "pending_out"


def test_a_professional_cannot_withdraw_or_act_for_another_person(fast_world):
    world = fast_world
    owner = make_person("本人", world.unit)
    item = make_transfer(world, "pending_out", account=owner)
    nosy = make_person("别人", world.unit)
    for action in ACTIONS:
        with pytest.raises(DomainError):
            flow.machine.apply(item, action, pro(nosy, world.unit), REASON)
    assert row(item.id).state == "pending_out"
    started = make_transfer(world, "pending_in", initiator="unit", name="被调出者")
    with pytest.raises(PermissionDenied):  # the person of a transfer-out started by the unit does not withdraw it
        flow.withdraw(started, pro(started.person.user, world.unit))
    assert row(started.id).state == "pending_in"


# ---------------------------------------------------------------- transfer-out started by the unit (U7)

def test_a_unit_admin_starts_a_transfer_out_of_an_employee(fast_world, outbox):
    world = fast_world
    employee = make_person("分院员工", world.sub_unit)
    item = flow.start(admin(world.unit_admin, world.unit), person_of(employee).id, world.other_unit.id, "借调")
    assert (item.state, item.initiator, item.started_by_id, item.from_unit_id) == (
        "pending_in", "unit", world.unit_admin.id, world.sub_unit.id)
    assert audits(item.id) == [("transfer.start", item.id, None, "pending_in", world.unit_admin.id, "借调")]
    recipients = {r for m in outbox for r in m.recipients}
    assert world.other_unit_admin.email in recipients and employee.email in recipients
    flow.accept(item, admin(world.other_unit_admin, world.other_unit))
    assert unit_of(employee) == world.other_unit.id


@pytest.mark.parametrize("who,role,org,whom", [
    ("other_unit_admin", R.UNIT_ADMIN, "other_unit", "unit"),   # another unit's person
    ("sub_unit_admin", R.UNIT_ADMIN, "sub_unit", "unit"),       # upwards: the parent unit's person
    ("dept_admin", R.DEPT_ADMIN, "dept", "unit"),               # only unit admins start transfers
    ("district_admin", R.HR_ADMIN, "district", "unit"),
    ("support", R.SUPPORT, None, "unit"),
])
def test_a_transfer_out_of_someone_outside_the_subtree_is_refused(fast_world, who, role, org, whom):
    world = fast_world
    employee = make_person("不归我管的人", getattr(world, whom))
    actor = factories.actor_for(getattr(world, who), role, getattr(world, org) if org else None)
    third = factories.make_org(OrgKind.UNIT, "丙单位", world.district)
    with pytest.raises(DomainError):
        flow.start(actor, person_of(employee).id, third.id)
    if role == R.UNIT_ADMIN:
        assert flow.staff_query(actor, "不归我管") == []  # not even offered in the picker
    else:
        with pytest.raises(PermissionDenied):
            flow.staff_query(actor, "不归我管")
    assert db.session.scalar(select(func.count(Transfer.id))) == 0 and audits() == []


def test_an_admin_cannot_start_a_transfer_of_themselves_or_of_a_non_professional(fast_world):
    world = fast_world
    both = factories.make_account("兼任管理员", [(R.PROFESSIONAL, world.unit), (R.UNIT_ADMIN, world.unit)],
                                  person_unit=world.unit)
    with pytest.raises(DomainError) as exc:
        flow.start(admin(both, world.unit), person_of(both).id, world.other_unit.id)
    assert exc.value.field == "person_id"
    assert all(p.user_id != both.id for p in flow.staff_query(admin(both, world.unit)))
    applicant = factories.make_account("无专技身份", [], person_unit=world.unit)  # a profile without membership
    with pytest.raises(DomainError):
        flow.start(admin(world.unit_admin, world.unit), person_of(applicant).id, world.other_unit.id)
    assert db.session.scalar(select(func.count(Transfer.id))) == 0


def test_staff_search_lists_only_the_admins_own_staff(fast_world):
    world = fast_world
    mine = make_person("张三甲", world.unit)
    sub = make_person("张三乙", world.sub_unit)
    theirs = make_person("张三丙", world.other_unit)
    found = {p.user_id for p in flow.staff_query(admin(world.unit_admin, world.unit), "张三")}
    assert found == {mine.id, sub.id}
    assert {p.user_id for p in flow.staff_query(admin(world.other_unit_admin, world.other_unit), "张三")} == {theirs.id}
    assert flow.staff_query(admin(world.unit_admin, world.unit), "%") == []  # LIKE wildcards are escaped


# ---------------------------------------------------------------- acceptance moves the person and their history

def test_acceptance_moves_person_membership_and_declarations_and_keeps_hours(fast_world, outbox):
    world = fast_world
    account = make_person("调转的医生", world.unit)
    person_id = person_of(account).id
    decl = make_declaration(world, account, "approved", title="已通过的培训", hours=12)
    rejected = make_declaration(world, account, "rejected", title="被驳回的培训")
    credit_year(account, 10, 20)
    hours_before = db.session.execute(select(YearSummary.year, YearSummary.public_hours,
                                             YearSummary.professional_hours).where(
        YearSummary.person_id == person_id)).all()
    records_before = db.session.scalar(select(func.count(HourRecord.id)).where(HourRecord.person_id == person_id))
    old_reviews = db.session.execute(select(AuditLog.id, AuditLog.action, AuditLog.actor_id).where(
        AuditLog.object_type == "declaration", AuditLog.object_id == decl.id)).all()
    outbox.clear()  # the declarations' mails

    item = make_transfer(world, "done", account=account)

    db.session.expire_all()
    assert unit_of(account) == world.other_unit.id
    assert db.session.execute(select(Membership.org_id).where(
        Membership.user_id == account.id, Membership.role == R.PROFESSIONAL.value)).scalar_one() == world.other_unit.id
    assert set(db.session.scalars(select(Declaration.unit_id).where(Declaration.person_id == person_id))) == {
        world.other_unit.id}
    assert db.session.get(Declaration, rejected.id).unit_id == world.other_unit.id
    assert db.session.execute(select(YearSummary.year, YearSummary.public_hours, YearSummary.professional_hours)
                              .where(YearSummary.person_id == person_id)).all() == hours_before
    assert db.session.scalar(select(func.count(HourRecord.id)).where(HourRecord.person_id == person_id)) \
        == records_before
    # the old unit's reviews stay in the audit trail
    assert db.session.execute(select(AuditLog.id, AuditLog.action, AuditLog.actor_id).where(
        AuditLog.object_type == "declaration", AuditLog.object_id == decl.id)).all() == old_reviews
    # T12: one audit row per event, by the party of each step
    assert [(a, f, t, who) for a, _, f, t, who, _ in audits(item.id)] == [
        ("transfer.submit", None, "pending_out", account.id),
        ("transfer.release", "pending_out", "pending_in", world.unit_admin.id),
        ("transfer.accept", "pending_in", "done", world.other_unit_admin.id)]
    assert (item.out_decided_by_id, item.in_decided_by_id) == (world.unit_admin.id, world.other_unit_admin.id)
    # the new unit's admins now see the person, the old unit's do not
    assert [p.user_id for p in flow.staff_query(admin(world.other_unit_admin, world.other_unit), "调转的医生")] \
        == [account.id]
    assert flow.staff_query(admin(world.unit_admin, world.unit), "调转的医生") == []
    # X2: the old unit was told on submission, the new unit on release, the applicant on each decision
    subjects = defaultdict(list)
    for m in outbox:
        for r in m.recipients:
            subjects[r].append(m.subject)
    assert len(subjects[world.unit_admin.email]) == 1
    assert len(subjects[world.other_unit_admin.email]) == 1
    assert len(subjects[account.email]) == 2  # released, then accepted


def test_a_rejection_records_the_reason_and_the_deciding_unit(fast_world, outbox):
    world = fast_world
    account = make_person("被驳回的人", world.unit)
    out = make_transfer(world, "pending_out", account=account)
    flow.reject(out, admin(world.unit_admin, world.unit), "  服务期未满  ")
    r = row(out.id)
    assert (r.state, r.reason, r.out_decided_by_id, r.in_decided_by_id) == ("rejected", "服务期未满",
                                                                              world.unit_admin.id, None)
    assert any("服务期未满" in m.body for m in outbox if account.email in m.recipients)
    second = flow.submit(pro(account, world.unit), world.other_unit.id)
    flow.release(second, admin(world.unit_admin, world.unit))
    flow.reject(second, admin(world.other_unit_admin, world.other_unit), "编制已满")
    r = row(second.id)
    assert (r.state, r.reason, r.in_decided_by_id) == ("rejected", "编制已满", world.other_unit_admin.id)
    assert unit_of(account) == world.unit.id


def test_acceptance_refused_when_the_new_unit_closed_meanwhile(fast_world):
    world = fast_world
    third = factories.make_org(OrgKind.UNIT, "即将注销的单位", world.district)
    third_admin = factories.make_account("丙管理员", [(R.UNIT_ADMIN, third)])
    account = make_person("去丙单位的人", world.unit)
    item = flow.submit(pro(account, world.unit), third.id)
    flow.release(item, admin(world.unit_admin, world.unit))
    db.session.execute(Org.__table__.update().where(Org.id == third.id).values(state=OrgState.CLOSED.value))
    db.session.commit()
    with pytest.raises(DomainError):
        flow.accept(item, admin(third_admin, third))
    assert row(item.id).state == "pending_in" and unit_of(account) == world.unit.id


def test_queues_hold_what_waits_for_each_party(fast_world):
    world = fast_world
    out_item = make_transfer(world, "pending_out", name="甲")
    in_item = make_transfer(world, "pending_in", name="乙")
    done = make_transfer(world, "done", name="丙")
    old, new = admin(world.unit_admin, world.unit), admin(world.other_unit_admin, world.other_unit)
    ids = lambda actor, tab: [t.id for t in flow.queue(actor, tab)]  # noqa: E731
    assert ids(old, "out") == [out_item.id] and ids(old, "in") == []
    assert ids(new, "in") == [in_item.id] and ids(new, "out") == []
    assert ids(old, "history") == [done.id, in_item.id, out_item.id]
    assert ids(admin(world.sub_unit_admin, world.sub_unit), "history") == []
    assert ids(admin(world.dept_admin, world.dept, R.DEPT_ADMIN), "history") == []
    assert (flow.pending_count(old, "out"), flow.pending_count(new, "in")) == (1, 1)
    # the new unit does not see an application its current unit has not released (nor one rejected there)
    refused = make_transfer(world, "rejected", name="丁")
    assert refused.in_decided_at is None
    assert ids(new, "history") == [done.id, in_item.id]
    assert ids(old, "history")[:1] == [refused.id]
    flow.withdraw(in_item, pro(in_item.person.user, world.unit))  # released, then withdrawn: it had reached them
    assert ids(new, "history") == [done.id, in_item.id]
    page = flow.queue(old, "history", after_id=in_item.id)  # keyset: strictly older than the last row seen
    assert [t.id for t in page] == [out_item.id]
    assert [t.id for t in flow.queue(old, "history", q="乙")] == [in_item.id]


# ---------------------------------------------------------------- T4: concurrent decisions (PostgreSQL)

def _bulk(world, n: int, state: str) -> list[int]:
    """n transfers of distinct professionals from world.unit to world.other_unit, in `state`."""
    from app.workflows.base import now

    people = []
    for i in range(n):
        account = factories.make_account(f"并发调转{i}", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
        people.append(person_of(account))
    for p in people:
        db.session.add(Transfer(person_id=p.id, from_unit_id=world.unit.id, to_unit_id=world.other_unit.id,
                                initiator="person", state=state,
                                out_decided_at=now() if state == "pending_in" else None,
                                out_decided_by_id=world.unit_admin.id if state == "pending_in" else None))
    db.session.commit()
    return list(db.session.scalars(select(Transfer.id).order_by(Transfer.id)))


def _race(app, deciders, ids, action_of):
    """Each decider takes its action on every id at the same moment, in its own thread, app context and session."""
    from app.models import Account

    barrier = threading.Barrier(len(deciders))
    outcomes: list[list[tuple[int, str]]] = [[] for _ in deciders]

    def work(idx: int) -> None:
        user_id, org_id = deciders[idx]
        with app.app_context():
            from app.extensions import db as tdb

            actor = factories.actor_for(tdb.session.get(Account, user_id), R.UNIT_ADMIN, tdb.session.get(Org, org_id))
            tdb.session.commit()
            barrier.wait(timeout=30)
            for item_id in ids:
                item = tdb.session.get(Transfer, item_id)
                try:
                    flow.machine.apply(item, action_of(idx), actor, REASON if action_of(idx) == "reject" else None)
                    outcomes[idx].append((item_id, "won"))
                except ConcurrentTransition:
                    outcomes[idx].append((item_id, "concurrent"))
                except (TransitionNotAllowed, PermissionDenied):
                    outcomes[idx].append((item_id, "moved"))
                except Exception as exc:  # noqa: BLE001 - any other failure fails the test
                    tdb.session.rollback()
                    outcomes[idx].append((item_id, f"error {exc!r}"))
            tdb.session.remove()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(deciders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    flat = [(item_id, what, idx) for idx, rows in enumerate(outcomes) for item_id, what in rows]
    assert [f for f in flat if f[1].startswith("error")] == []
    winners = defaultdict(list)
    for item_id, what, idx in flat:
        if what == "won":
            winners[item_id].append(idx)
    assert sorted(winners) == sorted(ids) and all(len(w) == 1 for w in winners.values()), "decided twice"
    # The race really happened: more than one decider won some and some lost on the state check.
    assert len({w[0] for w in winners.values()}) > 1
    assert any(what != "won" for _, what, _ in flat)
    return {item_id: w[0] for item_id, w in winners.items()}


def _one_audit_each(ids, actions):
    rows = defaultdict(list)
    for action, object_id, *_ in db.session.execute(select(AuditLog.action, AuditLog.object_id).where(
            AuditLog.object_type == "transfer", AuditLog.action.in_(actions))):
        rows[object_id].append(action)
    assert sorted(rows) == sorted(ids)
    assert all(len(v) == 1 for v in rows.values()), "more than one decision audited"
    return rows


@pytest.mark.postgres
def test_three_old_unit_admins_release_or_reject_the_same_60_at_once(app, fast_world, db):
    needs_postgres(db)
    world = fast_world
    ids = _bulk(world, 60, "pending_out")
    second = factories.make_account("第二单位管理员", [(R.UNIT_ADMIN, world.unit)])
    third = factories.make_account("第三单位管理员", [(R.UNIT_ADMIN, world.unit)])
    deciders = [(world.unit_admin.id, world.unit.id), (second.id, world.unit.id), (third.id, world.unit.id)]
    winner = _race(app, deciders, ids, lambda idx: "reject" if idx == 2 else "release")
    db.session.expire_all()
    rows = _one_audit_each(ids, ["transfer.release", "transfer.reject"])
    for item_id, (action,) in rows.items():
        expected = "transfer.reject" if winner[item_id] == 2 else "transfer.release"
        assert action == expected
    states = dict(db.session.execute(select(Transfer.id, Transfer.state).where(Transfer.id.in_(ids))).all())
    assert all(states[i] == ("rejected" if winner[i] == 2 else "pending_in") for i in ids)


@pytest.mark.postgres
def test_two_new_unit_admins_accept_the_same_60_at_once_moving_each_person_once(app, fast_world, db):
    needs_postgres(db)
    world = fast_world
    ids = _bulk(world, 60, "pending_in")
    second = factories.make_account("乙校第二管理员", [(R.UNIT_ADMIN, world.other_unit)])
    deciders = [(world.other_unit_admin.id, world.other_unit.id), (second.id, world.other_unit.id)]
    _race(app, deciders, ids, lambda idx: "accept")
    db.session.expire_all()
    _one_audit_each(ids, ["transfer.accept"])
    assert set(db.session.scalars(select(Transfer.state).where(Transfer.id.in_(ids)))) == {"done"}
    people = list(db.session.scalars(select(Transfer.person_id).where(Transfer.id.in_(ids))))
    assert set(db.session.scalars(select(Person.unit_id).where(Person.id.in_(people)))) == {world.other_unit.id}


@pytest.mark.postgres
def test_accept_and_reject_racing_on_the_same_60(app, fast_world, db):
    needs_postgres(db)
    world = fast_world
    ids = _bulk(world, 60, "pending_in")
    second = factories.make_account("乙校第二管理员", [(R.UNIT_ADMIN, world.other_unit)])
    deciders = [(world.other_unit_admin.id, world.other_unit.id), (second.id, world.other_unit.id)]
    winner = _race(app, deciders, ids, lambda idx: "accept" if idx == 0 else "reject")
    db.session.expire_all()
    _one_audit_each(ids, ["transfer.accept", "transfer.reject"])
    for item_id, person_id, state in db.session.execute(select(Transfer.id, Transfer.person_id, Transfer.state)
                                                        .where(Transfer.id.in_(ids))):
        unit = db.session.get(Person, person_id).unit_id
        assert (state, unit) == (("done", world.other_unit.id) if winner[item_id] == 0
                                 else ("rejected", world.unit.id))


@pytest.mark.postgres
def test_two_applications_of_the_same_person_at_once_give_one_transfer(app, fast_world, db):
    needs_postgres(db)
    world = fast_world
    third = factories.make_org(OrgKind.UNIT, "丙单位", world.district)
    accounts = [make_person(f"双击申请{i}", world.unit) for i in range(15)]
    targets = [world.other_unit.id, third.id]
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def apply(idx: int) -> None:
        from app.models import Account

        with app.app_context():
            from app.extensions import db as tdb

            for acc in accounts:
                account = tdb.session.get(Account, acc.id)
                actor = pro(account, tdb.session.get(Org, world.unit.id))
                tdb.session.commit()
                barrier.wait(timeout=30)
                try:
                    flow.submit(actor, targets[idx])
                except DomainError:
                    pass
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))
                    tdb.session.rollback()
            tdb.session.remove()

    threads = [threading.Thread(target=apply, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    counts = db.session.execute(select(Transfer.person_id, func.count()).group_by(Transfer.person_id)).all()
    assert len(counts) == len(accounts) and all(c == 1 for _, c in counts)
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "transfer.submit")) \
        == len(accounts)


@pytest.mark.postgres
def test_a_declaration_submitted_while_the_transfer_is_accepted_never_slips_through(app, fast_world, db):
    """"Nothing pending" holds under concurrency: the person's row is locked by every change of what is pending
    for them and by the transfer's completion. Per person, one of two outcomes, never a mix: the declaration
    went first (the acceptance is refused and the declaration waits at the old unit), or the transfer did (the
    declaration waits at the new unit)."""
    from app.models import Account
    from app.workflows import declaration as decl_flow

    needs_postgres(db)
    world = fast_world
    n = 20
    ids = _bulk(world, n, "pending_in")
    drafts = {}
    for transfer_id in ids:
        transfer = db.session.get(Transfer, transfer_id)
        drafts[transfer_id] = make_declaration(world, transfer.person.user, "draft", attach=False).id
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def accept_all() -> None:
        with app.app_context():
            from app.extensions import db as tdb

            actor = factories.actor_for(tdb.session.get(Account, world.other_unit_admin.id), R.UNIT_ADMIN,
                                        tdb.session.get(Org, world.other_unit.id))
            tdb.session.commit()
            barrier.wait(timeout=30)
            for transfer_id in ids:
                try:
                    flow.accept(tdb.session.get(Transfer, transfer_id), actor)
                except DomainError:
                    pass
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))
            tdb.session.remove()

    def submit_all() -> None:
        with app.app_context():
            from app.extensions import db as tdb

            barrier.wait(timeout=30)
            for transfer_id in ids:
                item = tdb.session.get(Declaration, drafts[transfer_id])
                actor = factories.actor_for(item.person.user, R.PROFESSIONAL, item.person.unit)
                try:
                    decl_flow.machine.apply(item, "submit", actor)
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))
            tdb.session.remove()

    threads = [threading.Thread(target=accept_all), threading.Thread(target=submit_all)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    db.session.expire_all()
    outcomes = set()
    for transfer_id in ids:
        transfer = db.session.get(Transfer, transfer_id)
        declaration = db.session.get(Declaration, drafts[transfer_id])
        assert declaration.state == "pending_unit"
        if transfer.state == "done":
            assert (transfer.person.unit_id, declaration.unit_id, declaration.reviewer_org_id) == (
                world.other_unit.id, world.other_unit.id, world.other_unit.id)
        else:
            assert transfer.state == "pending_in"
            assert (transfer.person.unit_id, declaration.unit_id, declaration.reviewer_org_id) == (
                world.unit.id, world.unit.id, world.unit.id)
        outcomes.add(transfer.state)
    assert outcomes  # each person ends in one consistent state


def test_the_old_units_admin_rights_end_with_the_transfer(fast_world):
    """A professional who is also an admin of the old unit keeps no admin rights there once transferred (audited);
    admin rights elsewhere stay."""
    from app.models import MembershipState

    world = fast_world
    account = factories.make_account("兼任管理员", [(R.PROFESSIONAL, world.unit), (R.UNIT_ADMIN, world.unit),
                                               (R.UNIT_ADMIN, world.sub_unit)], person_unit=world.unit)
    cheap_passwords()
    item = flow.submit(pro(account, world.unit), world.other_unit.id)
    flow.release(item, factories.actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit))
    flow.accept(item, factories.actor_for(world.other_unit_admin, R.UNIT_ADMIN, world.other_unit))
    states = dict(db.session.execute(select(Membership.org_id, Membership.state).where(
        Membership.user_id == account.id, Membership.role == R.UNIT_ADMIN.value)).all())
    assert states == {world.unit.id: MembershipState.REVOKED.value, world.sub_unit.id: MembershipState.ACTIVE.value}
    removed = db.session.scalars(select(AuditLog).where(AuditLog.action == "admin.remove")).all()
    assert len(removed) == 1 and removed[0].actor_id == world.other_unit_admin.id
