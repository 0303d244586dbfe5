"""Batch decisions (`StateMachine.decide_many`, shared by the web queues and the API): one transaction with a
savepoint per item.

- What a batch costs: the SQL statements of a batch of 20 exceed those of a batch of 5 by at most PER_ITEM[kind]
  statements per extra item (the item's savepoint and release, its state's UPDATE … RETURNING and the writes the
  transition itself makes); related rows, next reviewers, e-mail choices, audit, wait and notification rows are
  read and written for the whole batch at once. A query per item (a lazy load, a reviewer lookup, a notification
  INSERT) fails this test.
- An item refused after its first write (its membership moved meanwhile) is rolled back to its savepoint: no state
  change, audit row or notification of it, while the others are decided with theirs.
- Two reviewers racing with batches over the same items (PostgreSQL): each item takes its step exactly once, with
  one audit row and one decision notice, and what one reviewer did is what the other was refused.
"""
from __future__ import annotations

import datetime
import json
import threading
from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from app.models import (Account, AuditLog, Declaration, HourRecord, LearningForm, Membership, Notification, Org,
                        Person, Registration, ReviewWait, RoleName, TitleChange, YearSummary)
from app.workflows import declaration as decl_flow
from app.workflows import notifications
from app.workflows import registration as reg_flow
from app.workflows import title_change as title_flow
from tests import factories
from tests.factories import actor_for
from tests.helpers import needs_postgres, register, zh

R = RoleName
YEAR = datetime.date.today().year
START, END = datetime.date(YEAR, 1, 5), datetime.date(YEAR, 1, 6)
# Statements per extra item of a batch, at most (SQLite and PostgreSQL):
PER_ITEM = {
    # SAVEPOINT, UPDATE declaration … RETURNING, RELEASE
    "declarations at the unit": 3,
    # SAVEPOINT, UPDATE declaration … RETURNING, INSERT hour_record, UPDATE year_summary, RELEASE; and for the first
    # credit of a person and year (as here), SELECT, SAVEPOINT, INSERT, RELEASE of its new year summary
    "declarations, final": 9,
    # SAVEPOINT, UPDATE registration … RETURNING, UPDATE membership … RETURNING, RELEASE
    "registrations": 4,
    # SAVEPOINT, SELECT person FOR UPDATE, SELECT title_change (read again under the lock), UPDATE title_change …
    # RETURNING, UPDATE person (the new title), RELEASE
    "title changes": 6,
}

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")  # 证件号 birth dates stay in the past


# ---------------------------------------------------------------- items

def _people(world, n: int, unit=None) -> list[Person]:
    unit = unit or world.unit
    accounts = [factories.make_account(f"批量申报人{i}", [(R.PROFESSIONAL, unit)], person_unit=unit)
                for i in range(n)]
    from app.extensions import db

    return list(db.session.scalars(select(Person).where(Person.user_id.in_([a.id for a in accounts]))
                                   .order_by(Person.id)))


def _declarations(db, world, people: list[Person], state: str, reviewer: Org) -> list[int]:
    """One declaration per person waiting at `reviewer`, with its wait row (as a submission leaves it)."""
    online = db.session.scalar(select(LearningForm).where(LearningForm.code == "online"))
    rows = [Declaration(person_id=p.id, unit_id=p.unit_id, reviewer_org_id=reviewer.id, subject="professional",
                        form_id=online.id, year=YEAR, title=f"网络课程{i}", hours=Decimal("4.5"), start_date=START,
                        end_date=END, details_json='{"platform": "专技继续教育平台"}', state=state,
                        submitted_at=datetime.datetime.now()) for i, p in enumerate(people)]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def _registrations(world, n: int) -> list[int]:
    return [register(world.unit, f"新注册人{i}").id for i in range(n)]


def _title_changes(db, world, people: list[Person]) -> list[int]:
    ids = []
    for person in people:
        actor = actor_for(db.session.get(Account, person.user_id), R.PROFESSIONAL, world.unit)
        before = title_flow.current_title(person)
        after = title_flow.encode({**before, "title_level": "副高级", "title_name": "副主任医师"})
        item = title_flow.machine.open(TitleChange(person_id=person.id, unit_id=person.unit_id,
                                                   before_json=json.dumps(before, ensure_ascii=False),
                                                   after_json=json.dumps(after, ensure_ascii=False)), actor)
        ids.append(item.id)
    return ids


def _kind(kind: str, db, world, n: int):
    """(flow, reviewer Actor, ids) of n items of this kind waiting for the reviewer."""
    if kind == "declarations at the unit":
        return decl_flow, actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit), _declarations(
            db, world, _people(world, n), "pending_unit", world.unit)
    if kind == "declarations, final":
        return decl_flow, actor_for(world.district_admin, R.HR_ADMIN, world.district), _declarations(
            db, world, _people(world, n), "pending_hr", world.district)
    if kind == "registrations":
        return reg_flow, actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit), _registrations(world, n)
    return title_flow, actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit), _title_changes(
        db, world, _people(world, n))


def _batch_statements(db, flow, actor, ids) -> int:
    """The statements of one batch, up to its commit. (The e-mails are handed over after it to the worker, which
    delivers each in a transaction of its own: the test records what is handed over instead.)"""
    from tests.helpers import statements

    db.session.remove()  # a fresh session, as a request has
    with statements() as seen:
        done, failed = flow.decide_many(ids, "approve", actor)
    assert (done, failed) == (len(ids), [])
    return len(seen)


# ---------------------------------------------------------------- 1. a constant number of statements per item

@pytest.mark.parametrize("kind", sorted(PER_ITEM))
def test_a_batch_costs_a_constant_number_of_statements_per_item(world, db, kind, monkeypatch):
    flow, actor, ids = _kind(kind, db, world, 25)
    handed_over = []
    monkeypatch.setattr(notifications, "dispatch", handed_over.append)
    small = _batch_statements(db, flow, actor, ids[:5])
    large = _batch_statements(db, flow, actor, ids[5:])
    assert large - small <= 15 * PER_ITEM[kind], (kind, small, large, (large - small) / 15)
    # the e-mails were handed over once per batch, after its commit: each pending e-mail row of the batch once
    assert len(handed_over) == 2
    pending = set(db.session.scalars(select(Notification.id).where(Notification.email_state == "pending",
                                                                   Notification.object_id.in_(ids))))
    assert sorted(i for batch in handed_over for i in batch) == sorted(pending) and pending
    # …and every item was decided with its audit row and its notices
    db.session.expire_all()
    model = flow.machine.model
    assert db.session.scalar(select(func.count()).select_from(model).where(
        model.id.in_(ids), model.state == "pending")) in (0, None)
    audits = db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.object_type == flow.machine.object_type, AuditLog.object_id.in_(ids),
        AuditLog.action == f"{flow.machine.object_type}.approve"))
    assert audits == 25
    notices = db.session.scalar(select(func.count(Notification.id)).where(
        Notification.object_type == flow.machine.object_type, Notification.object_id.in_(ids),
        Notification.kind == "decision"))
    assert notices == 25


def test_the_next_reviewers_of_a_batch_are_notified_and_wait_rows_follow(world, db):
    """A unit's batch sends every declaration on to the department: the department's admin is told of each one (one
    queue notice per item), and each item's wait row moves from the unit to the department."""
    flow, actor, ids = _kind("declarations at the unit", db, world, 6)
    db.session.add_all([ReviewWait(object_type="declaration", object_id=i, org_id=world.unit.id, role="UnitAdmin",
                                   view_name="DeclarationReviewView", title="待审", since=datetime.datetime.now())
                        for i in ids])
    db.session.commit()
    assert flow.decide_many(ids, "approve", actor) == (6, [])
    db.session.expire_all()
    waits = db.session.execute(select(ReviewWait.object_id, ReviewWait.org_id).where(
        ReviewWait.object_type == "declaration")).all()
    assert sorted(waits) == sorted((i, world.dept.id) for i in ids)
    queue = db.session.execute(select(Notification.user_id, Notification.object_id).where(
        Notification.kind == "queue", Notification.object_id.in_(ids))).all()
    assert sorted(queue) == sorted((world.dept_admin.id, i) for i in ids)


# ---------------------------------------------------------------- 2. an item refused after its first write

def test_an_item_refused_midway_is_rolled_back_alone(world, db):
    ids = _registrations(world, 3)
    middle = db.session.get(Registration, ids[1])
    # its membership was moved on meanwhile: the registration's UPDATE succeeds, the membership's step is refused
    db.session.execute(update(Membership).where(Membership.id == middle.membership_id).values(state="revoked"))
    db.session.commit()
    audits_before = db.session.scalar(select(func.count(AuditLog.id)))
    done, failed = reg_flow.decide_many(ids, "approve", actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit))
    assert (done, failed) == (2, [(ids[1], zh("This action is not allowed in the item's current state."))])
    db.session.expire_all()
    states = {r.id: (r.state, r.decided_by_id, r.membership.state) for r in
              db.session.scalars(select(Registration).where(Registration.id.in_(ids)))}
    assert states[ids[0]] == ("approved", world.unit_admin.id, "active")
    assert states[ids[2]] == ("approved", world.unit_admin.id, "active")
    assert states[ids[1]] == ("pending", None, "revoked")
    audited = list(db.session.scalars(select(AuditLog.object_id).where(AuditLog.id > 0).order_by(AuditLog.id)
                                      .offset(audits_before)))
    assert sorted(audited) == sorted([ids[0], ids[2]])
    told = set(db.session.scalars(select(Notification.object_id).where(Notification.kind == "decision")))
    assert told == {ids[0], ids[2]}


def test_failures_are_listed_in_the_order_given_and_duplicates_decided_once(world, db):
    flow, actor, ids = _kind("declarations at the unit", db, world, 3)
    missing = max(ids) + 1000
    done, failed = flow.decide_many([ids[2], missing, ids[0], ids[2], 0, ids[1]], "approve", actor)
    assert done == 3
    assert [i for i, _ in failed] == [missing, 0]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "declaration.approve")) == 3


# ---------------------------------------------------------------- 3. two reviewers racing with batches (PostgreSQL)

def _race(app, reviewers: list[tuple[int, RoleName, int]], lists: list[list[int]], flow) -> list[tuple]:
    """Each reviewer decides its list in one batch, both at the same moment, each in its own thread and session."""
    barrier = threading.Barrier(len(reviewers))
    results: list = [None] * len(reviewers)

    def run(idx: int) -> None:
        user_id, role, org_id = reviewers[idx]
        with app.app_context():
            from app.extensions import db as tdb

            actor = actor_for(tdb.session.get(Account, user_id), role, tdb.session.get(Org, org_id))
            tdb.session.commit()
            barrier.wait(timeout=30)
            try:
                results[idx] = flow.decide_many(lists[idx], "approve", actor)
            except Exception as exc:  # noqa: BLE001 - any failure of the batch itself fails the test
                results[idx] = exc
            tdb.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(reviewers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert not [r for r in results if isinstance(r, Exception)], results
    return results


def test_two_reviewers_racing_with_batches_take_each_step_once(app, world, db):
    needs_postgres(db)
    ids = _declarations(db, world, _people(world, 8) * 15, "pending_unit", world.unit)  # 120, 15 per person
    second = factories.make_account("第二单位管理员", [(R.UNIT_ADMIN, world.unit)])
    reviewers = [(world.unit_admin.id, R.UNIT_ADMIN, world.unit.id), (second.id, R.UNIT_ADMIN, world.unit.id)]
    lists = [ids[:90], list(reversed(ids[30:]))]  # 60 wanted by both
    (done_a, failed_a), (done_b, failed_b) = _race(app, reviewers, lists, decl_flow)

    db.session.expire_all()
    audits = defaultdict(list)
    for row in db.session.scalars(select(AuditLog).where(AuditLog.action == "declaration.approve")):
        audits[row.object_id].append(row.actor_id)
    assert sorted(audits) == sorted(ids) and all(len(a) == 1 for a in audits.values()), "a step taken twice"
    assert done_a + done_b == len(ids)
    by_a = {i for i, who in audits.items() if who == [world.unit_admin.id]}
    assert {i for i, _ in failed_a} == set(lists[0]) - by_a
    assert {i for i, _ in failed_b} == set(lists[1]) & by_a
    messages = {m for _, m in failed_a + failed_b}
    assert messages <= {zh("This action is not allowed in the item's current state."),
                        zh("This item has just been handled by someone else. Please refresh."),
                        zh("This item was being changed by someone else at the same moment. Please refresh and try "
                           "again.")}
    states = db.session.execute(select(Declaration.state, Declaration.reviewer_org_id, func.count()).where(
        Declaration.id.in_(ids)).group_by(Declaration.state, Declaration.reviewer_org_id)).all()
    assert [tuple(s) for s in states] == [("pending_dept", world.dept.id, len(ids))], "moved exactly one step"
    told = db.session.execute(select(Notification.object_id, func.count()).where(
        Notification.kind == "decision", Notification.object_id.in_(ids)).group_by(Notification.object_id)).all()
    assert sorted(told) == sorted((i, 1) for i in ids), "each applicant told once per step"


def test_two_hr_batches_racing_credit_each_declaration_once(app, world, db):
    """Final approvals of declarations of the same persons and year: both batches add to the same year summaries;
    every declaration is credited at most once and the summaries equal the credited records."""
    needs_postgres(db)
    people = _people(world, 6)
    ids = _declarations(db, world, people * 10, "pending_hr", world.district)  # 60
    second = factories.make_account("第二人社管理员", [(R.HR_ADMIN, world.district)])
    reviewers = [(world.district_admin.id, R.HR_ADMIN, world.district.id),
                 (second.id, R.HR_ADMIN, world.district.id)]
    (done_a, _fa), (done_b, _fb) = _race(app, reviewers, [ids, list(reversed(ids))], decl_flow)

    db.session.expire_all()
    approved = set(db.session.scalars(select(Declaration.id).where(Declaration.id.in_(ids),
                                                                   Declaration.state == "approved")))
    assert done_a + done_b == len(approved)
    credited = list(db.session.scalars(select(HourRecord.source_id).where(HourRecord.source == "declaration")))
    assert sorted(credited) == sorted(approved), "credited once per approved declaration"
    audits = list(db.session.scalars(select(AuditLog.object_id).where(AuditLog.action == "declaration.approve")))
    assert sorted(audits) == sorted(approved)
    records = defaultdict(Decimal)
    for r in db.session.scalars(select(HourRecord)):
        records[r.person_id] += r.hours
    summaries = {s.person_id: s.professional_hours for s in db.session.scalars(select(YearSummary))}
    assert {k: v for k, v in summaries.items() if v} == dict(records)
    # an item neither reviewer could take (a deadlock twice) waits for the next try, still pending at the HR bureau
    assert set(db.session.scalars(select(Declaration.state).where(Declaration.id.in_(set(ids) - approved)))) \
        <= {"pending_hr"}
