"""State machine 1 (registration), called directly without HTTP: T3 grid, role and scope denials, side effects,
audit rows, withdrawal with the password, and T4 concurrent review on PostgreSQL."""
from __future__ import annotations

import itertools
import random
import threading

import pytest
from sqlalchemy import func, select

from app.models import (Account, AuditLog, Membership, MembershipState, Org, OrgKind, Person, Registration,
                        RegistrationState, RoleName)
from app.workflows import registration as reg_flow
from app.workflows.accounts import authenticate, hash_password
from app.workflows.base import Actor, ConcurrentTransition, DomainError, PermissionDenied, TransitionNotAllowed
from app.workflows.orgs import search_orgs
from tests import factories
from tests.factories import PASSWORD, actor_for

R = RoleName
S = RegistrationState
TRANSITIONS = ("registration.approve", "registration.reject", "registration.withdraw")


pytestmark = pytest.mark.usefixtures("fresh_id_sequence")  # 证件号 birth dates stay in the past


# ---------------------------------------------------------------- helpers

def account_data(id_number: str | None = None, *, name: str = "王五", password: str = PASSWORD,
                 existing_user: bool = False, email: str | None = None) -> reg_flow.AccountData:
    id_number = id_number or factories.new_id_number()
    return reg_flow.AccountData(id_type="resident_id", id_number=id_number, password=password, confirm=password,
                                name=name, email=email or f"w{id_number}@example.cn", mobile="13912345678",
                                existing_user=existing_user)


def register_person(unit: Org, **kw) -> Registration:
    return reg_flow.register_person(account_data(**kw), unit.id, {"education": "大学本科"}, ip="10.1.1.1")


_codes = itertools.count(1)


def register_unit(parent: Org, *, name: str | None = None, kind: OrgKind = OrgKind.UNIT,
                  credit_code: str | None = None, **kw) -> Registration:
    seq = next(_codes)
    fields = {"name": name or f"新注册机构{seq}",
              "credit_code": credit_code or factories.make_credit_code("370102", 300000 + seq)}
    return reg_flow.register_org(kind, account_data(**kw), parent.id, fields, ip="10.1.1.2")


def admin(world, key: str):
    """(account, role, org) of a world admin, as an Actor."""
    table = {
        "unit_admin": (world.unit_admin, R.UNIT_ADMIN, world.unit),
        "sub_unit_admin": (world.sub_unit_admin, R.UNIT_ADMIN, world.sub_unit),
        "other_unit_admin": (world.other_unit_admin, R.UNIT_ADMIN, world.other_unit),
        "dept_admin": (world.dept_admin, R.DEPT_ADMIN, world.dept),
        "district_admin": (world.district_admin, R.HR_ADMIN, world.district),
        "other_district_admin": (world.other_district_admin, R.HR_ADMIN, world.other_district),
        "city_admin": (world.city_admin, R.HR_ADMIN, world.city),
        "base_admin": (world.base_admin, R.BASE_ADMIN, world.base),
        "support": (world.support, R.SUPPORT, None),
        "sysadmin": (world.sysadmin, R.SYSADMIN, None),
        "auditor": (world.auditor, R.AUDITOR, None),
    }
    account, role, org = table[key]
    return actor_for(account, role, org)


def snapshot(db, reg_id: int) -> dict:
    """Everything a transition may change, read fresh from the database."""
    db.session.expire_all()
    reg = db.session.get(Registration, reg_id)
    return {
        "state": reg.state, "reason": reg.reason, "decided_at": reg.decided_at, "decided_by": reg.decided_by_id,
        "membership": reg.membership.state, "org": reg.org.state,
        "audit": db.session.scalar(select(func.count(AuditLog.id))),
        "memberships": db.session.scalar(select(func.count(Membership.id))),
    }


def transition_rows(db, reg_id: int) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(
        AuditLog.object_type == "registration", AuditLog.object_id == reg_id, AuditLog.action.in_(TRANSITIONS))))


def do(action: str, reg: Registration, world, id_number: str, password: str = PASSWORD):
    """Perform an action as the actor the transition table allows for it."""
    if action == "approve":
        return reg_flow.approve(reg, admin(world, "unit_admin"))
    if action == "reject":
        return reg_flow.reject(reg, admin(world, "unit_admin"), "材料不全")
    return reg_flow.withdraw(reg.id, id_number, password, ip="10.9.9.9")


# ---------------------------------------------------------------- T3: the grid

DECLARED = {("pending", "approve"): "approved", ("pending", "reject"): "rejected",
            ("pending", "withdraw"): "withdrawn"}


@pytest.mark.parametrize("state", [s.value for s in S])
@pytest.mark.parametrize("action", ["approve", "reject", "withdraw"])
def test_grid_only_declared_transitions_succeed(world, db, state, action):
    id_number = factories.new_id_number()
    reg = register_person(world.unit, id_number=id_number)
    if state != "pending":
        do({"approved": "approve", "rejected": "reject", "withdrawn": "withdraw"}[state], reg, world, id_number)
    assert snapshot(db, reg.id)["state"] == state
    before = snapshot(db, reg.id)

    if (state, action) in DECLARED:
        do(action, db.session.get(Registration, reg.id), world, id_number)
        after = snapshot(db, reg.id)
        assert after["state"] == DECLARED[(state, action)]
        assert after["audit"] == before["audit"] + 1
        [row] = transition_rows(db, reg.id)
        assert (row.action, row.from_state, row.to_state) == (f"registration.{action}", "pending", after["state"])
    else:
        with pytest.raises(TransitionNotAllowed):
            do(action, db.session.get(Registration, reg.id), world, id_number)
        assert snapshot(db, reg.id) == before


def test_unknown_action_and_step_skipping_are_refused(world, db):
    reg = register_person(world.unit)
    before = snapshot(db, reg.id)
    for action in ("activate", "approved", "submit", ""):
        with pytest.raises(TransitionNotAllowed):
            reg_flow.machine.apply(db.session.get(Registration, reg.id), action, admin(world, "unit_admin"))
    with pytest.raises(DomainError):
        reg_flow.decide_many([reg.id], "withdraw", admin(world, "unit_admin"))
    assert snapshot(db, reg.id) == before


def test_reviewer_cannot_withdraw_and_applicant_cannot_approve(world, db):
    id_number = factories.new_id_number()
    reg = register_person(world.unit, id_number=id_number)
    before = snapshot(db, reg.id)
    with pytest.raises(PermissionDenied):
        reg_flow.machine.apply(db.session.get(Registration, reg.id), "withdraw", admin(world, "unit_admin"))
    applicant = db.session.get(Account, reg.user_id)
    as_self = Actor(applicant.id, "self", None, None, None, "10.0.0.1")
    for action in ("approve", "reject"):
        with pytest.raises(PermissionDenied):
            reg_flow.machine.apply(db.session.get(Registration, reg.id), action, as_self, "理由")
    # The applicant's own pending professional membership gives no review right either.
    as_professional = actor_for(applicant, R.PROFESSIONAL, world.unit)
    with pytest.raises(PermissionDenied):
        reg_flow.approve(db.session.get(Registration, reg.id), as_professional)
    assert snapshot(db, reg.id) == before


# ---------------------------------------------------------------- role and scope

@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("who", ["professional", "base_admin", "support", "sysadmin", "auditor"])
def test_roles_that_do_not_review_are_denied(world, db, who, action):
    reg = register_person(world.unit)
    if who == "professional":
        colleague = factories.make_account("同事", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
        actor = actor_for(colleague, R.PROFESSIONAL, world.unit)  # in scope: only the role can deny
    elif who == "base_admin":
        # A base admin whose scope would cover the unit (city level): only the role can deny.
        actor = actor_for(world.base_admin, R.BASE_ADMIN, world.city)
    else:
        actor = admin(world, who)  # platform-wide roles cover every org
    before = snapshot(db, reg.id)
    with pytest.raises(PermissionDenied):
        getattr(reg_flow, action)(db.session.get(Registration, reg.id), actor, "理由")
    assert snapshot(db, reg.id) == before
    if who in ("professional", "base_admin"):
        assert reg_flow.pending_count(actor) == 0


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("who", ["other_unit_admin", "other_district_admin", "sub_unit_admin"])
def test_admins_outside_the_subtree_are_denied(world, db, who, action):
    reg = register_person(world.unit)
    before = snapshot(db, reg.id)
    with pytest.raises(PermissionDenied):
        getattr(reg_flow, action)(db.session.get(Registration, reg.id), admin(world, who), "理由")
    assert snapshot(db, reg.id) == before
    assert reg.id not in [r.id for r in reg_flow.queue(admin(world, who))]


@pytest.mark.parametrize("who", ["sub_unit_admin", "unit_admin", "dept_admin", "district_admin", "city_admin"])
def test_sub_unit_registration_is_approved_by_any_level_above(world, db, who):
    reg = register_person(world.sub_unit)
    actor = admin(world, who)
    assert reg.id in [r.id for r in reg_flow.queue(actor)]
    reg_flow.approve(db.session.get(Registration, reg.id), actor)
    after = snapshot(db, reg.id)
    assert (after["state"], after["membership"], after["decided_by"]) == ("approved", "active", actor.user_id)


def test_nobody_approves_their_own_person_registration(world, db):
    # The unit admin also registers as a professional of the unit ("已是本系统用户").
    reg = reg_flow.register_person(account_data(world.unit_admin.username, existing_user=True), world.unit.id, {})
    assert reg.user_id == world.unit_admin.id
    before = snapshot(db, reg.id)
    for action in ("approve", "reject"):
        with pytest.raises(PermissionDenied):
            getattr(reg_flow, action)(db.session.get(Registration, reg.id), admin(world, "unit_admin"), "理由")
    assert snapshot(db, reg.id) == before
    reg_flow.approve(db.session.get(Registration, reg.id), admin(world, "dept_admin"))
    assert snapshot(db, reg.id)["state"] == "approved"
    assert authenticate(world.unit_admin.username, PASSWORD, "Professional").error is None


def test_nobody_approves_their_own_org_registration(world, db):
    reg = register_unit(world.dept, id_number=world.dept_admin.username, existing_user=True)
    before = snapshot(db, reg.id)
    with pytest.raises(PermissionDenied):
        reg_flow.approve(db.session.get(Registration, reg.id), admin(world, "dept_admin"))
    assert snapshot(db, reg.id) == before
    reg_flow.approve(db.session.get(Registration, reg.id), admin(world, "district_admin"))
    assert snapshot(db, reg.id)["org"] == "active"


# ---------------------------------------------------------------- reasons, side effects, audit

@pytest.mark.parametrize("reason", [None, "", "   \n\t "])
def test_reject_without_a_reason_is_refused(world, db, reason):
    reg = register_person(world.unit)
    before = snapshot(db, reg.id)
    with pytest.raises(DomainError) as exc:
        reg_flow.reject(db.session.get(Registration, reg.id), admin(world, "unit_admin"), reason)
    assert exc.value.field == "reason"
    with pytest.raises(DomainError):
        reg_flow.decide_many([reg.id], "reject", admin(world, "unit_admin"), reason)
    assert snapshot(db, reg.id) == before


def test_approve_person_activates_membership_audits_and_mails(world, db, outbox):
    id_number = factories.new_id_number()
    reg = register_person(world.unit, id_number=id_number, name="赵六")
    assert authenticate(id_number, PASSWORD, "Professional").error is not None  # still under review
    before = snapshot(db, reg.id)
    actor = admin(world, "unit_admin")
    reg_flow.approve(db.session.get(Registration, reg.id), actor)

    after = snapshot(db, reg.id)
    assert after["state"] == "approved" and after["membership"] == "active"
    assert after["decided_by"] == world.unit_admin.id and after["decided_at"] is not None
    assert after["audit"] == before["audit"] + 1
    [row] = transition_rows(db, reg.id)
    assert (row.action, row.object_type, row.from_state, row.to_state, row.result) == (
        "registration.approve", "registration", "pending", "approved", "ok")
    assert (row.actor_id, row.role, row.ip) == (world.unit_admin.id, "UnitAdmin", "127.0.0.1")
    assert world.unit_admin.username not in (row.actor or "")  # masked in the log
    person = db.session.scalar(select(Person).where(Person.user_id == reg.user_id))
    assert person.unit_id == world.unit.id and person.id_number == id_number
    [mail] = [m for m in outbox if m.recipients == [f"w{id_number}@example.cn"]]  # (the reviewers were told too)
    assert "赵六" in mail.body
    result = authenticate(id_number, PASSWORD, "Professional")
    assert result.error is None and [m.org_id for m in result.memberships] == [world.unit.id]


def test_reject_person_sets_states_reason_and_mails(world, db, outbox):
    id_number = factories.new_id_number()
    reg = register_person(world.unit, id_number=id_number)
    reg_flow.reject(db.session.get(Registration, reg.id), admin(world, "dept_admin"), "  单位信息不符  ")
    after = snapshot(db, reg.id)
    assert (after["state"], after["membership"], after["reason"]) == ("rejected", "rejected", "单位信息不符")
    [row] = transition_rows(db, reg.id)
    assert (row.action, row.from_state, row.to_state, row.comment, row.actor_id, row.role) == (
        "registration.reject", "pending", "rejected", "单位信息不符", world.dept_admin.id, "DeptAdmin")
    [mail] = [m for m in outbox if m.recipients == [reg.user.email]]  # (the reviewers were told of it too)
    assert "单位信息不符" in mail.body
    assert authenticate(id_number, PASSWORD, "Professional").error is not None
    # A rejected applicant registers again with the same 证件号 (P2): same account, a new pending registration.
    again = register_person(world.sub_unit, id_number=id_number)
    assert again.user_id == reg.user_id and again.state == "pending" and again.reviewer_org_id == world.sub_unit.id


@pytest.mark.parametrize("kind,parent_key,reviewer", [
    (OrgKind.UNIT, "dept", "dept_admin"),
    (OrgKind.UNIT, "unit", "unit_admin"),
    (OrgKind.UNIT, "district", "district_admin"),
    (OrgKind.DEPARTMENT, "district", "district_admin"),
    (OrgKind.BASE, "city", "city_admin"),
    (OrgKind.HR_DISTRICT, "city", "city_admin"),
])
def test_approve_org_registration_activates_org_and_its_admin(world, db, kind, parent_key, reviewer):
    parent = getattr(world, parent_key)
    id_number = factories.new_id_number()
    name = f"待审机构{kind.value}{id_number[-4:]}"
    reg = register_unit(parent, name=name, kind=kind, id_number=id_number)
    assert reg.reviewer_org_id == parent.id and reg.kind == kind.value
    assert snapshot(db, reg.id)["org"] == "pending"
    assert name not in [o.name for o in search_orgs(name)]

    reg_flow.approve(db.session.get(Registration, reg.id), admin(world, reviewer))
    after = snapshot(db, reg.id)
    assert (after["state"], after["membership"], after["org"]) == ("approved", "active", "active")
    org = db.session.get(Org, reg.org_id)
    assert org.parent_id == parent.id and org.path == f"{parent.path}{org.id}/"
    assert [o.id for o in search_orgs(name)] == [org.id]
    result = authenticate(id_number, PASSWORD, reg_flow.ADMIN_ROLE[kind].value)
    assert result.error is None and result.memberships[0].org_id == org.id
    assert len(transition_rows(db, reg.id)) == 1


@pytest.mark.parametrize("action,state", [("reject", "rejected"), ("withdraw", "withdrawn")])
def test_reject_or_withdraw_org_registration_sets_org_state(world, db, action, state):
    id_number = factories.new_id_number()
    code = factories.make_credit_code("370102", 399999)
    reg = register_unit(world.dept, name="将被驳回的单位", credit_code=code, id_number=id_number)
    if action == "reject":
        reg_flow.reject(db.session.get(Registration, reg.id), admin(world, "dept_admin"), "名称不规范")
    else:
        reg_flow.withdraw(reg.id, id_number, PASSWORD)
    after = snapshot(db, reg.id)
    assert (after["state"], after["membership"], after["org"]) == (state, state, state)
    assert search_orgs("将被驳回的单位") == []
    [row] = transition_rows(db, reg.id)
    assert (row.action, row.from_state, row.to_state) == (f"registration.{action}", "pending", state)
    # The name and credit code are free again.
    again = register_unit(world.dept, name="将被驳回的单位", credit_code=code)
    assert again.state == "pending"


# ---------------------------------------------------------------- withdrawal with the password

def test_withdraw_with_the_right_password(world, db):
    id_number = factories.new_id_number()
    reg = register_person(world.unit, id_number=id_number)
    reg_flow.withdraw(reg.id, id_number, PASSWORD, ip="10.9.9.9")
    after = snapshot(db, reg.id)
    assert (after["state"], after["membership"], after["decided_by"]) == ("withdrawn", "withdrawn", None)
    [row] = transition_rows(db, reg.id)
    assert (row.action, row.actor_id, row.ip, row.from_state, row.to_state) == (
        "registration.withdraw", reg.user_id, "10.9.9.9", "pending", "withdrawn")


def test_withdraw_refused_without_proof_of_ownership(world, db):
    id_number = factories.new_id_number()
    reg = register_person(world.unit, id_number=id_number)
    other_id = factories.new_id_number()
    register_person(world.unit, id_number=other_id)
    before = snapshot(db, reg.id)
    attempts = [
        (id_number, "Wrong@2026a"),              # wrong password
        (id_number, ""),                          # no password
        (other_id, PASSWORD),                     # another applicant's valid credentials
        (factories.new_id_number(), PASSWORD),    # unknown account
    ]
    for who, password in attempts:
        with pytest.raises(DomainError) as exc:
            reg_flow.withdraw(reg.id, who, password)
        assert not isinstance(exc.value, TransitionNotAllowed)
    with pytest.raises(DomainError):
        reg_flow.withdraw(0, id_number, PASSWORD)
    after = snapshot(db, reg.id)
    # Nothing changes but the audit trail: each wrong or missing password is one failed check, kept on record.
    assert {**after, "audit": 0} == {**before, "audit": 0}
    failures = list(db.session.scalars(select(AuditLog).where(AuditLog.id > 0, AuditLog.result == "fail")))
    assert after["audit"] - before["audit"] == len(failures) == 3
    assert {row.action for row in failures} == {"registration.withdraw"}


# ---------------------------------------------------------------- batch

def test_decide_many_handles_each_item_alone(world, db, outbox):
    mine = [register_person(world.unit).id, register_person(world.sub_unit).id]
    foreign = register_person(world.other_unit).id
    done_already = register_person(world.unit).id
    reg_flow.approve(db.session.get(Registration, done_already), admin(world, "dept_admin"))
    outbox.clear()
    done, failed = reg_flow.decide_many([*mine, foreign, done_already, 999999], "approve",
                                        admin(world, "unit_admin"))
    assert done == 2
    assert sorted(i for i, _ in failed) == sorted([foreign, done_already, 999999])
    assert [snapshot(db, i)["state"] for i in mine] == ["approved", "approved"]
    assert snapshot(db, foreign)["state"] == "pending"
    assert len(transition_rows(db, done_already)) == 1 and transition_rows(db, foreign) == []
    assert len(outbox) == 2


# ---------------------------------------------------------------- T4: concurrent review (PostgreSQL)

def _bulk_pending(db, unit: Org, n: int) -> list[int]:
    """n pending professional registrations at `unit`, inserted in one go (one password hash)."""
    pw = hash_password(PASSWORD)
    accounts = []
    for i in range(n):
        id_number = factories.new_id_number()
        accounts.append(Account(username=id_number, first_name=f"并发{i}", last_name="",
                                email=f"c{i}-{id_number}@example.cn", active=True, password=pw))
    db.session.add_all(accounts)
    db.session.flush()
    memberships = [Membership(user_id=a.id, role=R.PROFESSIONAL.value, org_id=unit.id,
                              state=MembershipState.PENDING.value) for a in accounts]
    db.session.add_all(memberships)
    db.session.flush()
    regs = [Registration(kind="person", user_id=a.id, membership_id=m.id, org_id=unit.id, reviewer_org_id=unit.id,
                         applicant_name=a.first_name, state=S.PENDING.value) for a, m in zip(accounts, memberships)]
    db.session.add_all(regs)
    db.session.commit()
    return [r.id for r in regs]


def test_concurrent_reviewers_make_exactly_one_transition_each(app, world, db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("T4 needs a server database with row locks: SQLite serialises all writers. "
                    "Run with TEST_DATABASE_URL=postgresql+psycopg://… to exercise it.")
    ids = _bulk_pending(db, world.unit, 200)
    reviewers = [  # (account id, role, org id, action), all in scope of the unit
        (world.unit_admin.id, R.UNIT_ADMIN, world.unit.id, "approve"),
        (world.dept_admin.id, R.DEPT_ADMIN, world.dept.id, "approve"),
        (world.district_admin.id, R.HR_ADMIN, world.district.id, "reject"),
        (world.city_admin.id, R.HR_ADMIN, world.city.id, "approve"),
    ]
    orders = [list(ids), list(ids), list(reversed(ids)), random.Random(4).sample(ids, len(ids))]
    barrier = threading.Barrier(len(reviewers))
    outcomes: list[list[tuple[int, str]]] = [[] for _ in reviewers]

    def review(idx: int) -> None:
        user_id, role, org_id, action = reviewers[idx]
        with app.app_context():
            from app.extensions import db as tdb

            actor = actor_for(tdb.session.get(Account, user_id), role, tdb.session.get(Org, org_id))
            tdb.session.commit()
            barrier.wait(timeout=30)
            for reg_id in orders[idx]:
                reg = tdb.session.get(Registration, reg_id)
                try:
                    if action == "approve":
                        reg_flow.approve(reg, actor)
                    else:
                        reg_flow.reject(reg, actor, "并发驳回")
                    outcomes[idx].append((reg_id, action))
                except ConcurrentTransition:
                    outcomes[idx].append((reg_id, "concurrent"))
                except TransitionNotAllowed:
                    outcomes[idx].append((reg_id, "not_allowed"))
                except Exception as exc:  # noqa: BLE001 - any other failure is a test failure
                    tdb.session.rollback()
                    outcomes[idx].append((reg_id, f"error {exc!r}"))

    threads = [threading.Thread(target=review, args=(i,)) for i in range(len(reviewers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)

    flat = [(reg_id, what, idx) for idx, rows in enumerate(outcomes) for reg_id, what in rows]
    assert len(flat) == len(ids) * len(reviewers), "every reviewer tried every registration"
    errors = [row for row in flat if row[1].startswith("error")]
    assert errors == []
    winners: dict[int, list[tuple[str, int]]] = {}
    for reg_id, what, idx in flat:
        if what in ("approve", "reject"):
            winners.setdefault(reg_id, []).append((what, idx))
    assert sorted(winners) == sorted(ids)
    assert all(len(w) == 1 for w in winners.values()), "a registration was decided twice"

    db.session.expire_all()
    rows = db.session.execute(select(AuditLog.object_id, AuditLog.action, AuditLog.actor_id).where(
        AuditLog.object_type == "registration", AuditLog.action.in_(TRANSITIONS))).all()
    assert sorted(r.object_id for r in rows) == sorted(ids), "exactly one audit row per registration"
    audit_by_id = {r.object_id: r for r in rows}
    regs = {r.id: r for r in db.session.scalars(select(Registration).where(Registration.id.in_(ids)))}
    for reg_id, [(what, idx)] in winners.items():
        reg = regs[reg_id]
        expected = "approved" if what == "approve" else "rejected"
        assert reg.state == expected and reg.membership.state == ("active" if what == "approve" else "rejected")
        assert reg.decided_by_id == reviewers[idx][0]
        assert audit_by_id[reg_id].action == f"registration.{what}"
        assert audit_by_id[reg_id].actor_id == reviewers[idx][0]
    # The race really happened: losers saw a concurrent change, and more than one reviewer won some items.
    assert len({idx for w in winners.values() for _, idx in w}) > 1
