"""State machine 4 (hour declarations), called directly without HTTP: the T3 grid, the review chain along the org
tree, step skipping / scope / self-approval refusals, T4 concurrent approvals on PostgreSQL, YearSummary kept equal
to the credited records, and T1 bad input through save() with nothing written."""
from __future__ import annotations

import datetime
import os
import random
import threading
from collections import defaultdict
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from app import clock
from app.models import (Account, Attachment, AuditLog, BaseReport, Declaration, HourRecord, LearningForm,
                        Membership, MembershipState, Org, OrgKind, Person, Region, RoleName, YearSummary)
from app.workflows import base_reports as report_flow
from app.workflows import declaration as flow
from app.workflows.base import ConcurrentTransition, DomainError, PermissionDenied, TransitionNotAllowed
from tests import factories
from tests.factories import actor_for
from tests.helpers import needs_postgres, pro, study_dates, zh

R = RoleName
TODAY = clock.today()
YEAR = TODAY.year
START, END = TODAY - datetime.timedelta(days=10), TODAY - datetime.timedelta(days=1)
PAST = (TODAY - datetime.timedelta(days=30)).isoformat()
PNG, JPEG, PDF = factories.PNG, factories.JPEG, factories.PDF  # real files: uploads are checked by parsing them

# A valid set of form-specific fields for every learning form of the seeded catalogue.
DETAILS = {
    "training": {"organiser": "山东省卫生健康委员会", "location": "济南"},
    "conference": {"organiser": "中华医学会", "conf_level": "省级"},
    "degree": {"school": "山东大学", "major": "临床医学"},
    "paper": {"journal": "中华医学杂志", "issn": "0376-2491", "publish_date": PAST, "author_rank": "第一作者"},
    "book": {"publisher": "人民卫生出版社", "isbn": "978-7-117-12345-6", "publish_date": PAST, "words": "12"},
    "project": {"project_rank": "省部级", "role_in": "主持人"},
    "patent": {"patent_no": "ZL202410000001.5", "patent_type": "发明专利", "grant_date": PAST},
    "exam": {"exam_name": "健康管理师", "cert_no": "JK20260001", "exam_date": PAST},
    "online": {"platform": "专技继续教育平台"},
}
DECLARED = {  # (state, action) -> (next state, reviewer org attribute of World or None)
    ("draft", "submit"): ("pending_unit", "unit"),
    ("rejected", "submit"): ("pending_unit", "unit"),
    ("pending_unit", "withdraw"): ("draft", None),
    ("pending_unit", "approve"): ("pending_dept", "dept"),
    ("pending_dept", "approve"): ("pending_hr", "district"),
    ("pending_hr", "approve"): ("approved", "district"),
    ("pending_unit", "reject"): ("rejected", "unit"),
    ("pending_dept", "reject"): ("rejected", "dept"),
    ("pending_hr", "reject"): ("rejected", "district"),
}
STATES = ("draft", "pending_unit", "pending_dept", "pending_hr", "approved", "rejected")
ACTIONS = ("submit", "withdraw", "approve", "reject")
REVIEWER_OF = {"pending_unit": "unit_admin", "pending_dept": "dept_admin", "pending_hr": "district_admin"}
# Actors tried against every declared transition; those not entitled to it must be refused.
# (city_admin is left out: whether the city bureau may take a district's final check is not fixed by the spec.)
CANDIDATES = ("owner", "colleague", "unit_admin", "sub_unit_admin", "other_unit_admin", "dept_admin",
              "district_admin", "other_district_admin", "base_admin", "support", "sysadmin", "auditor")


pytestmark = pytest.mark.usefixtures("fresh_id_sequence")  # 证件号 birth dates stay in the past


# ---------------------------------------------------------------- helpers

def form(code: str) -> LearningForm:
    from app.extensions import db

    return db.session.scalar(select(LearningForm).where(LearningForm.code == code))


def decl_input(code: str = "training", hours="8", *, subject: str = "professional", year: int | None = YEAR,
               title: str = "心血管病诊疗新进展培训班", start=START, end=END, form_id=None, **details):
    merged = {k: v for k, v in {**DETAILS[code], **details}.items() if v is not None}
    if (start, end) == (START, END) and isinstance(year, int) and 1900 < year < YEAR:
        start, end = study_dates(year)  # a declaration counts only in a year its dates touch
    return flow.DeclarationInput(subject=subject, form_id=form_id or form(code).id, year=year, title=title,
                                 hours=hours, start_date=start, end_date=end, details=merged)


def professional(unit: Org, name: str = "申报人", extra_roles=()) -> Account:
    return factories.make_account(name, [(R.PROFESSIONAL, unit), *extra_roles], person_unit=unit)


def person_of(account: Account) -> Person:
    from app.extensions import db

    return db.session.scalar(select(Person).where(Person.user_id == account.id))


def admin(world, key: str):
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


def declare(actor, code: str = "training", hours="8", submit: bool = False, **kw) -> Declaration:
    return flow.save(actor, decl_input(code, hours, **kw), submit=submit)


def bring_to(state: str, world, owner, **kw) -> Declaration:
    """A declaration of `owner` (a professional Actor at world.unit) walked through the machine to `state`."""
    item = declare(owner, submit=state != "draft", **kw)
    if state == "rejected":
        flow.reject(item, admin(world, "unit_admin"), "材料不全")
    for level in ("pending_unit", "pending_dept", "pending_hr"):
        if item.state == state or state in ("draft", "rejected"):
            break
        flow.approve(item, admin(world, REVIEWER_OF[level]))
    assert item.state == state
    return item


def snapshot(db, item_id: int) -> dict:
    """Everything a declaration transition may change, read fresh from the database."""
    db.session.expire_all()
    item = db.session.get(Declaration, item_id)
    return {
        "state": item.state, "reviewer": item.reviewer_org_id, "reason": item.reason,
        "submitted_at": item.submitted_at, "hours": item.hours, "title": item.title,
        "records": sorted(tuple(r) for r in db.session.execute(select(
            HourRecord.person_id, HourRecord.year, HourRecord.subject, HourRecord.hours, HourRecord.source,
            HourRecord.source_id))),
        "summaries": sorted(tuple(r) for r in db.session.execute(select(
            YearSummary.person_id, YearSummary.year, YearSummary.public_hours, YearSummary.professional_hours))),
        "audit": db.session.scalar(select(func.count(AuditLog.id))),
        "attachments": db.session.scalar(select(func.count(Attachment.id))),
    }


def audit_rows(db, item_id: int, action: str | None = None) -> list[AuditLog]:
    stmt = select(AuditLog).where(AuditLog.object_type == "declaration", AuditLog.object_id == item_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    return list(db.session.scalars(stmt.order_by(AuditLog.id)))


def do(action: str, item: Declaration, actor, reason: str = "材料不全，请补充"):
    if action == "submit":
        return flow.submit(item, actor)
    if action == "withdraw":
        return flow.withdraw(item, actor)
    if action == "approve":
        return flow.approve(item, actor)
    return flow.reject(item, actor, reason)


def zh_label(key: str) -> str:
    with force_locale("zh"):
        return str(flow.FIELDS[key][0])


@pytest.fixture()
def owner_account(world):
    return professional(world.unit)


@pytest.fixture()
def owner(world, owner_account):
    return pro(owner_account, world.unit)


# ---------------------------------------------------------------- 1. the full grid (T3)

def test_transition_table_is_exactly_the_declared_grid():
    assert set(flow.machine.table) == set(DECLARED)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_grid(world, db, owner_account, owner, state, action):
    colleague = pro(professional(world.unit, "同事"), world.unit)
    actors = {"owner": owner, "colleague": colleague, **{k: admin(world, k) for k in CANDIDATES[2:]},
              "city_admin": admin(world, "city_admin")}
    item = bring_to(state, world, owner)
    before = snapshot(db, item.id)

    if (state, action) not in DECLARED:
        for key, actor in actors.items():
            # submit() first looks up the actor's own person: a non-professional is refused before the table.
            refused = PermissionDenied if action == "submit" and actor.role != R.PROFESSIONAL else TransitionNotAllowed
            with pytest.raises(refused) as exc:
                do(action, db.session.get(Declaration, item.id), actor)
            if refused is TransitionNotAllowed:
                assert str(exc.value.message) == zh("This action is not allowed in the item's current state."), key
            assert snapshot(db, item.id) == before, f"{key} changed something"
        return

    right = "owner" if action in ("submit", "withdraw") else REVIEWER_OF[state]
    for key in CANDIDATES:
        if key == right:
            continue
        with pytest.raises(PermissionDenied) as exc:
            do(action, db.session.get(Declaration, item.id), actors[key])
        assert str(exc.value.message) == zh("You do not have permission to do this."), key
        assert snapshot(db, item.id) == before, f"{key} changed something"

    actor = actors[right]
    do(action, db.session.get(Declaration, item.id), actor)
    after = snapshot(db, item.id)
    target, reviewer = DECLARED[(state, action)]
    assert after["state"] == target
    assert after["reviewer"] == (getattr(world, reviewer).id if reviewer else None)
    assert after["audit"] == before["audit"] + 1
    row = audit_rows(db, item.id, f"declaration.{action}")[-1]
    assert (row.from_state, row.to_state, row.actor_id, row.role, row.ip) == (
        state, target, actor.user_id, actor.role.value, "127.0.0.1")
    if action == "reject":
        assert after["reason"] == row.comment == "材料不全，请补充"
    if action == "submit":
        assert after["reason"] is None and after["submitted_at"] is not None
    person_id = person_of(owner_account).id
    if target == "approved":
        assert after["records"] == [(person_id, YEAR, "professional", Decimal("8.0"), "declaration", item.id)]
        assert after["summaries"] == [(person_id, YEAR, Decimal("0.0"), Decimal("8.0"))]
    else:
        assert after["records"] == before["records"] == []
        assert after["summaries"] == before["summaries"] == []


# ---------------------------------------------------------------- 2. the chain follows the org tree

def _walk(db, item, steps):
    """Approve step by step: steps = [(actor, expected state, expected reviewer org id)]."""
    for actor, state, reviewer in steps:
        flow.approve(db.session.get(Declaration, item.id), actor)
        db.session.expire_all()
        got = db.session.get(Declaration, item.id)
        assert (got.state, got.reviewer_org_id) == (state, reviewer)
        if state != "approved":
            assert db.session.scalar(select(func.count(HourRecord.id))) == 0, "credited before the last step"


def test_unit_with_department_takes_three_steps(world, db, owner_account, owner):
    item = declare(owner, hours="24", submit=True)
    assert (item.state, item.reviewer_org_id) == ("pending_unit", world.unit.id)
    _walk(db, item, [(admin(world, "unit_admin"), "pending_dept", world.dept.id),
                     (admin(world, "dept_admin"), "pending_hr", world.district.id),
                     (admin(world, "district_admin"), "approved", world.district.id)])
    summary = db.session.get(YearSummary, (person_of(owner_account).id, YEAR))
    assert (summary.public_hours, summary.professional_hours) == (0, Decimal("24.0"))
    assert [r.action for r in audit_rows(db, item.id)] == [
        "declaration.create", "declaration.submit", "declaration.approve", "declaration.approve",
        "declaration.approve"]


def test_unit_directly_under_district_goes_unit_then_hr(world, db):
    direct = factories.make_org(OrgKind.UNIT, "甲区直属中学", world.district)
    direct_admin = actor_for(factories.make_account("直属校管理员", [(R.UNIT_ADMIN, direct)]), R.UNIT_ADMIN, direct)
    account = professional(direct)
    item = declare(pro(account, direct), submit=True)
    assert item.reviewer_org_id == direct.id
    for actor in (admin(world, "dept_admin"), admin(world, "unit_admin"), admin(world, "district_admin")):
        with pytest.raises(PermissionDenied):
            flow.approve(db.session.get(Declaration, item.id), actor)
    _walk(db, item, [(direct_admin, "pending_hr", world.district.id),
                     (admin(world, "district_admin"), "approved", world.district.id)])
    assert db.session.scalar(select(func.count(HourRecord.id))) == 1


def _levels(db, world, levels: int) -> None:
    region = Region(code="370102", name="甲区", declaration_levels=levels)
    db.session.add(region)
    db.session.flush()
    db.session.get(Org, world.district.id).region_id = region.id
    db.session.commit()


def test_two_levels_skip_the_department(world, db, owner):
    _levels(db, world, 2)
    item = declare(owner, submit=True)
    _walk(db, item, [(admin(world, "unit_admin"), "pending_hr", world.district.id)])
    with pytest.raises(PermissionDenied):
        flow.approve(db.session.get(Declaration, item.id), admin(world, "dept_admin"))
    _walk(db, item, [(admin(world, "district_admin"), "approved", world.district.id)])


def test_one_level_unit_approval_completes(world, db, owner_account, owner):
    _levels(db, world, 1)
    item = declare(owner, hours="6.5", subject="public", submit=True)
    _walk(db, item, [(admin(world, "unit_admin"), "approved", world.unit.id)])
    summary = db.session.get(YearSummary, (person_of(owner_account).id, YEAR))
    assert (summary.public_hours, summary.professional_hours) == (Decimal("6.5"), 0)
    assert len(audit_rows(db, item.id, "declaration.approve")) == 1


def test_levels_lowered_while_pending_never_skips_the_hr_bureau(world, db, owner):
    """An item waiting at the department when the region drops to two levels still goes on to HR."""
    item = bring_to("pending_dept", world, owner)
    _levels(db, world, 2)
    _walk(db, item, [(admin(world, "dept_admin"), "pending_hr", world.district.id),
                     (admin(world, "district_admin"), "approved", world.district.id)])


@pytest.mark.parametrize("first", ["sub_unit_admin", "unit_admin"])
def test_sub_unit_declaration_is_approved_first_at_the_sub_unit(world, db, first):
    account = professional(world.sub_unit)
    item = declare(pro(account, world.sub_unit), submit=True)
    assert (item.state, item.reviewer_org_id) == ("pending_unit", world.sub_unit.id)
    for actor in (admin(world, "other_unit_admin"), admin(world, "dept_admin")):
        with pytest.raises(PermissionDenied):
            flow.approve(db.session.get(Declaration, item.id), actor)
    _walk(db, item, [(admin(world, first), "pending_dept", world.dept.id),
                     (admin(world, "dept_admin"), "pending_hr", world.district.id),
                     (admin(world, "district_admin"), "approved", world.district.id)])


@pytest.mark.parametrize("at", ["pending_unit", "pending_dept", "pending_hr"])
def test_rejected_anywhere_is_resubmitted_to_the_unit_and_credited_once(world, db, owner_account, owner, at):
    item = bring_to(at, world, owner)
    flow.reject(item, admin(world, REVIEWER_OF[at]), "学时计算有误")
    db.session.expire_all()
    assert (item.state, item.reason) == ("rejected", "学时计算有误")
    flow.save(owner, decl_input(hours="6"), declaration_id=item.id, submit=True)
    db.session.expire_all()
    item = db.session.get(Declaration, item.id)
    assert (item.state, item.reviewer_org_id, item.reason, item.hours) == (
        "pending_unit", world.unit.id, None, Decimal("6.0"))
    bring = [(admin(world, "unit_admin"), "pending_dept", world.dept.id),
             (admin(world, "dept_admin"), "pending_hr", world.district.id),
             (admin(world, "district_admin"), "approved", world.district.id)]
    _walk(db, item, bring)
    assert db.session.scalars(select(HourRecord.hours)).all() == [Decimal("6.0")]
    assert db.session.get(YearSummary, (person_of(owner_account).id, YEAR)).professional_hours == Decimal("6.0")


def test_withdraw_returns_to_draft_and_leaves_the_queue(world, db, owner):
    item = declare(owner, submit=True)
    unit_admin = admin(world, "unit_admin")
    assert [d.id for d in flow.queue(unit_admin)] == [item.id] and flow.pending_count(unit_admin) == 1
    flow.withdraw(item, owner)
    db.session.expire_all()
    assert (item.state, item.reviewer_org_id) == ("draft", None)
    assert flow.queue(unit_admin) == [] and flow.pending_count(unit_admin) == 0
    flow.delete_draft(db.session.get(Declaration, item.id), owner)
    assert db.session.get(Declaration, item.id) is None
    assert audit_rows(db, item.id)[-1].action == "declaration.delete"


# ---------------------------------------------------------------- 3. step skipping, scope, own item, reasons

@pytest.mark.parametrize("state,wrong", [
    ("pending_unit", "dept_admin"), ("pending_unit", "district_admin"), ("pending_unit", "city_admin"),
    ("pending_dept", "unit_admin"), ("pending_dept", "district_admin"), ("pending_dept", "city_admin"),
    ("pending_hr", "unit_admin"), ("pending_hr", "dept_admin"),
])
@pytest.mark.parametrize("action", ["approve", "reject"])
def test_step_skipping_is_refused(world, db, owner, state, wrong, action):
    item = bring_to(state, world, owner)
    before = snapshot(db, item.id)
    with pytest.raises(PermissionDenied) as exc:
        do(action, db.session.get(Declaration, item.id), admin(world, wrong))
    assert str(exc.value.message) == zh("You do not have permission to do this.")
    assert snapshot(db, item.id) == before


@pytest.mark.parametrize("state,outsider", [
    ("pending_unit", "other_unit_admin"), ("pending_unit", "sub_unit_admin"),
    ("pending_dept", "other_dept_admin"), ("pending_hr", "other_district_admin"),
])
def test_approving_out_of_scope_is_refused(world, db, owner, state, outsider):
    if outsider == "other_dept_admin":
        other_dept = factories.make_org(OrgKind.DEPARTMENT, "甲区教育局", world.district)
        actor = actor_for(factories.make_account("教育局管理员", [(R.DEPT_ADMIN, other_dept)]), R.DEPT_ADMIN,
                          other_dept)
    else:
        actor = admin(world, outsider)
    item = bring_to(state, world, owner)
    before = snapshot(db, item.id)
    for action in ("approve", "reject"):
        with pytest.raises(PermissionDenied):
            do(action, db.session.get(Declaration, item.id), actor)
    assert flow.decide_many([item.id], "approve", actor) == (
        0, [(item.id, zh("You do not have permission to do this."))])
    assert snapshot(db, item.id) == before
    assert item.id not in [d.id for d in flow.queue(actor)]
    assert not flow.can_see(db.session.get(Declaration, item.id), actor)


def test_an_admin_cannot_approve_their_own_declaration(world, db):
    both = professional(world.unit, "兼任管理员", extra_roles=[(R.UNIT_ADMIN, world.unit)])
    item = declare(pro(both, world.unit), submit=True)
    as_admin = actor_for(both, R.UNIT_ADMIN, world.unit)
    before = snapshot(db, item.id)
    for action in ("approve", "reject"):
        with pytest.raises(PermissionDenied):
            do(action, db.session.get(Declaration, item.id), as_admin)
    assert snapshot(db, item.id) == before
    assert flow.queue(as_admin) == [] and flow.pending_count(as_admin) == 0
    flow.approve(db.session.get(Declaration, item.id), admin(world, "unit_admin"))  # a colleague may
    db.session.expire_all()
    assert db.session.get(Declaration, item.id).state == "pending_dept"


def test_an_hr_admin_cannot_take_the_final_check_of_their_own_declaration(world, db):
    both = professional(world.unit, "人社兼专技", extra_roles=[(R.HR_ADMIN, world.district)])
    item = bring_to("pending_hr", world, pro(both, world.unit))
    before = snapshot(db, item.id)
    with pytest.raises(PermissionDenied):
        flow.approve(db.session.get(Declaration, item.id), actor_for(both, R.HR_ADMIN, world.district))
    assert snapshot(db, item.id) == before


@pytest.mark.parametrize("reason", [None, "", "   \n"])
def test_reject_needs_a_reason(world, db, owner, reason):
    item = bring_to("pending_unit", world, owner)
    before = snapshot(db, item.id)
    with pytest.raises(DomainError) as exc:
        flow.reject(db.session.get(Declaration, item.id), admin(world, "unit_admin"), reason)
    assert str(exc.value.message) == zh("A reason is required to reject.")
    with pytest.raises(DomainError) as exc:
        flow.decide_many([item.id], "reject", admin(world, "unit_admin"), reason)
    assert str(exc.value.message) == zh("A reason is required to reject.")
    assert snapshot(db, item.id) == before


def test_decide_many_applies_each_item_on_its_own(world, db, owner):
    mine = [declare(owner, submit=True, title=f"培训班第{i}期") for i in range(3)]
    other = declare(pro(professional(world.other_unit), world.other_unit), submit=True)
    missing = max(d.id for d in [*mine, other]) + 100
    done, failed = flow.decide_many([d.id for d in mine] + [other.id, missing], "reject",
                                    admin(world, "unit_admin"), "证明材料不清晰")
    assert done == 3
    assert [f[0] for f in failed] == [other.id, missing]
    db.session.expire_all()
    assert {db.session.get(Declaration, d.id).state for d in mine} == {"rejected"}
    assert db.session.get(Declaration, other.id).state == "pending_unit"
    with pytest.raises(DomainError):
        flow.decide_many([other.id], "delete", admin(world, "other_unit_admin"))


def test_queues_counts_and_visibility_follow_the_subtree(world, db, owner):
    at_unit = declare(owner, submit=True)
    at_sub = declare(pro(professional(world.sub_unit), world.sub_unit), submit=True)
    at_dept = bring_to("pending_dept", world, owner)
    draft = declare(owner)
    unit_admin, sub_admin, dept_admin = (admin(world, k) for k in ("unit_admin", "sub_unit_admin", "dept_admin"))
    assert [d.id for d in flow.queue(unit_admin)] == [at_sub.id, at_unit.id]
    assert flow.pending_count(unit_admin) == 2
    assert [d.id for d in flow.queue(unit_admin, after_id=at_sub.id)] == [at_unit.id]  # keyset page 2
    assert [d.id for d in flow.queue(sub_admin)] == [at_sub.id]
    assert [d.id for d in flow.queue(dept_admin)] == [at_dept.id] and flow.pending_count(dept_admin) == 1
    assert flow.queue(admin(world, "district_admin")) == []
    assert flow.queue(admin(world, "other_unit_admin")) == [] and flow.queue(owner) == []
    assert flow.can_see(at_unit, owner) and flow.can_see(at_unit, unit_admin) and flow.can_see(at_unit, dept_admin)
    assert not flow.can_see(at_unit, sub_admin) and not flow.can_see(at_unit, admin(world, "other_district_admin"))
    assert not flow.can_see(draft, pro(professional(world.unit, "同事"), world.unit))
    assert not flow.can_see(at_unit, admin(world, "base_admin"))


# ---------------------------------------------------------------- 4. concurrent approvals (T4, PostgreSQL)

def _bulk_pending(db, world, state: str, reviewer: Org, n: int = 200, persons: int = 8) -> tuple[list[int], dict]:
    """n declarations of some professionals of the unit over two years and both subjects, waiting at `reviewer`
    (with one person, all of the same year and subject)."""
    people = [person_of(professional(world.unit, f"并发申报人{i}")) for i in range(persons)]
    online = form("online")
    rows, expected = [], defaultdict(Decimal)
    for i in range(n):
        person = people[i % persons]
        year, subject = (YEAR - (i % 2), ("public", "professional")[(i // 2) % 2]) if persons > 1 else (
            YEAR, "professional")
        hours = Decimal(1 + i % 7) + Decimal("0.5")
        rows.append(Declaration(person_id=person.id, unit_id=world.unit.id, reviewer_org_id=reviewer.id,
                                subject=subject, form_id=online.id, year=year, title=f"网络课程{i}", hours=hours,
                                start_date=START, end_date=END, details_json='{"platform": "专技继续教育平台"}',
                                state=state, submitted_at=datetime.datetime.now()))
        expected[(person.id, year, subject)] += hours
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows], expected


def _race(app, reviewers: list[tuple[int, RoleName, int]], ids: list[int],
          orders: list[list[int]] | None = None) -> list[tuple[int, str, int]]:
    """Each reviewer approves every id (or the ids of its own order) at the same moment, in its own thread, app
    context and session."""
    orders = orders or [ids] * len(reviewers)
    barrier = threading.Barrier(len(reviewers))
    outcomes: list[list[tuple[int, str]]] = [[] for _ in reviewers]

    def review(idx: int) -> None:
        user_id, role, org_id = reviewers[idx]
        with app.app_context():
            from app.extensions import db as tdb

            actor = actor_for(tdb.session.get(Account, user_id), role, tdb.session.get(Org, org_id))
            tdb.session.commit()
            barrier.wait(timeout=30)
            for item_id in orders[idx]:
                item = tdb.session.get(Declaration, item_id)
                try:
                    flow.approve(item, actor)
                    outcomes[idx].append((item_id, "approve"))
                except ConcurrentTransition:
                    outcomes[idx].append((item_id, "concurrent"))
                except (TransitionNotAllowed, PermissionDenied):  # the other one already moved it on
                    outcomes[idx].append((item_id, "moved"))
                except Exception as exc:  # noqa: BLE001 - any other failure is a test failure
                    tdb.session.rollback()
                    outcomes[idx].append((item_id, f"error {exc!r}"))
            tdb.session.remove()

    threads = [threading.Thread(target=review, args=(i,)) for i in range(len(reviewers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    flat = [(item_id, what, idx) for idx, rows in enumerate(outcomes) for item_id, what in rows]
    assert len(flat) == sum(map(len, orders)), "every reviewer tried every declaration of its list"
    assert [row for row in flat if row[1].startswith("error")] == []
    winners = defaultdict(list)
    for item_id, what, idx in flat:
        if what == "approve":
            winners[item_id].append(idx)
    assert sorted(winners) == sorted(ids) and all(len(w) == 1 for w in winners.values()), "approved twice"
    # The race really happened: both reviewers won some (and, on the same list, some lost on the state check).
    assert {idx for _, what, idx in flat if what == "approve"} == set(range(len(reviewers)))
    assert any(what == "concurrent" for _, what, _ in flat) or len(set(map(tuple, orders))) > 1
    return flat


def _approve_audits(db, ids) -> dict[int, list[AuditLog]]:
    rows = defaultdict(list)
    for row in db.session.scalars(select(AuditLog).where(
            AuditLog.object_type == "declaration", AuditLog.action == "declaration.approve")):
        rows[row.object_id].append(row)
    assert sorted(rows) == sorted(ids)
    return rows


def test_two_unit_admins_approve_the_same_200_at_once(app, world, db):
    needs_postgres(db)
    ids, _ = _bulk_pending(db, world, "pending_unit", world.unit)
    second = factories.make_account("第二单位管理员", [(R.UNIT_ADMIN, world.unit)])
    reviewers = [(world.unit_admin.id, R.UNIT_ADMIN, world.unit.id), (second.id, R.UNIT_ADMIN, world.unit.id)]
    flat = _race(app, reviewers, ids)

    db.session.expire_all()
    audits = _approve_audits(db, ids)
    winner = {item_id: idx for item_id, what, idx in flat if what == "approve"}
    for item_id, rows in audits.items():
        assert len(rows) == 1, f"declaration {item_id} has {len(rows)} approve audit rows"
        assert (rows[0].from_state, rows[0].to_state) == ("pending_unit", "pending_dept")
        assert rows[0].actor_id == reviewers[winner[item_id]][0]
    states = db.session.execute(select(Declaration.state, Declaration.reviewer_org_id, func.count()).where(
        Declaration.id.in_(ids)).group_by(Declaration.state, Declaration.reviewer_org_id)).all()
    assert [tuple(s) for s in states] == [("pending_dept", world.dept.id, 200)], "moved exactly one step"
    assert db.session.scalar(select(func.count(HourRecord.id))) == 0


def test_two_hr_admins_credit_the_same_200_exactly_once(app, world, db):
    needs_postgres(db)
    ids, expected = _bulk_pending(db, world, "pending_hr", world.district)
    second = factories.make_account("第二人社管理员", [(R.HR_ADMIN, world.district)])
    reviewers = [(world.district_admin.id, R.HR_ADMIN, world.district.id),
                 (second.id, R.HR_ADMIN, world.district.id)]
    _race(app, reviewers, ids)

    db.session.expire_all()
    assert all(len(rows) == 1 for rows in _approve_audits(db, ids).values())
    assert set(db.session.scalars(select(Declaration.state).where(Declaration.id.in_(ids)))) == {"approved"}
    assert db.session.scalar(select(func.count(HourRecord.id))) == 200
    assert sorted(db.session.scalars(select(HourRecord.source_id))) == sorted(ids)
    got = defaultdict(Decimal)
    for s in db.session.scalars(select(YearSummary)):
        got[(s.person_id, s.year, "public")] += s.public_hours
        got[(s.person_id, s.year, "professional")] += s.professional_hours
    assert {k: v for k, v in got.items() if v} == dict(expected)


def test_parallel_credits_to_one_person_and_year_all_add_up(app, world, db):
    """Two HR admins approve different declarations of the same person and year at once: the first pair race to
    create the YearSummary row, the rest to add to it; no addition is lost."""
    needs_postgres(db)
    ids, expected = _bulk_pending(db, world, "pending_hr", world.district, n=60, persons=1)
    second = factories.make_account("第二人社管理员", [(R.HR_ADMIN, world.district)])
    reviewers = [(world.district_admin.id, R.HR_ADMIN, world.district.id),
                 (second.id, R.HR_ADMIN, world.district.id)]
    _race(app, reviewers, ids, orders=[ids[0::2], ids[1::2]])

    db.session.expire_all()
    [summary] = db.session.scalars(select(YearSummary)).all()
    assert (summary.public_hours, summary.professional_hours) == (0, sum(expected.values()))
    assert db.session.scalar(select(func.count(HourRecord.id))) == 60


# ---------------------------------------------------------------- 5. YearSummary == credited records

def _check_summaries(db, expected: dict) -> None:
    db.session.expire_all()
    records = defaultdict(Decimal)
    for r in db.session.scalars(select(HourRecord)):
        records[(r.person_id, r.year, r.subject)] += r.hours
    summaries = defaultdict(Decimal)
    for s in db.session.scalars(select(YearSummary)):
        summaries[(s.person_id, s.year, "public")] += s.public_hours
        summaries[(s.person_id, s.year, "professional")] += s.professional_hours
    nonzero = lambda d: {k: v for k, v in d.items() if v}  # noqa: E731
    assert nonzero(summaries) == nonzero(records) == nonzero(expected)
    approved = set(db.session.scalars(select(Declaration.id).where(Declaration.state == "approved")))
    assert set(db.session.scalars(select(HourRecord.source_id).where(HourRecord.source == "declaration"))) \
        == approved
    assert db.session.scalar(select(func.count(HourRecord.id)).where(HourRecord.source == "declaration")) \
        == len(approved), "an approved declaration was credited twice"


def test_summary_equals_records_after_random_sequences(world, db):
    rng = random.Random(20261122)
    people = []  # (account, person id, actor)
    for i, unit in enumerate((world.unit, world.unit, world.sub_unit, world.other_unit)):
        account = professional(unit, f"随机申报人{i}")
        people.append((account, person_of(account).id, pro(account, unit)))
    reviewer = {world.unit.id: "unit_admin", world.sub_unit.id: "sub_unit_admin", world.dept.id: "dept_admin",
                world.district.id: "district_admin", world.other_unit.id: "other_unit_admin",
                world.other_district.id: "other_district_admin"}
    base, city_hr = actor_for(world.base_admin, R.BASE_ADMIN, world.base), admin(world, "city_admin")
    owner_of = {pid: actor for _, pid, actor in people}
    years, codes = [YEAR, YEAR - 1, YEAR - 2], ["training", "online", "conference", "exam"]
    expected = defaultdict(Decimal)
    done = defaultdict(int)
    cap_head = zh("This form gives at most %(cap)s hours a year; %(used)s are already declared for %(year)s.",
                  cap="\0", used="\0", year="\0").split("\0")[0]

    def pick(state):
        ids = db.session.scalars(select(Declaration.id).where(Declaration.state.in_(state)).order_by(Declaration.id))
        ids = list(ids)
        return db.session.get(Declaration, rng.choice(ids)) if ids else None

    def new_input():
        return decl_input(rng.choice(codes), rng.choice(["0.5", "2", "4.5", "8", "12"]),
                          subject=rng.choice(["public", "professional"]), year=rng.choice(years))

    ops = ["create"] * 6 + ["submit"] * 3 + ["withdraw", "approve", "approve", "approve", "approve", "reject",
                                             "resubmit", "delete", "base_submit", "base_decide"]
    for step in range(300):
        op = rng.choice(ops)
        try:
            if op == "create":
                _, _, actor = rng.choice(people)
                flow.save(actor, new_input(), submit=rng.random() < 0.7)
            elif op == "submit" and (item := pick(["draft"])):
                flow.submit(item, owner_of[item.person_id])
            elif op == "withdraw" and (item := pick(["pending_unit"])):
                flow.withdraw(item, owner_of[item.person_id])
            elif op in ("approve", "reject") and (item := pick(["pending_unit", "pending_dept", "pending_hr"])):
                actor = admin(world, reviewer[item.reviewer_org_id])
                if op == "approve":
                    flow.approve(item, actor)
                    if item.state == "approved":
                        expected[(item.person_id, item.year, item.subject)] += item.hours
                else:
                    flow.reject(item, actor, "随机驳回")
            elif op == "resubmit" and (item := pick(["rejected"])):
                flow.save(owner_of[item.person_id], new_input(), declaration_id=item.id, submit=True)
            elif op == "delete" and (item := pick(["draft"])):
                flow.delete_draft(item, owner_of[item.person_id])
            elif op == "base_submit":
                chosen = rng.sample(people, rng.randint(1, len(people)))
                lines = "\n".join(f"{a.username} {rng.choice(['4', '7.5', '16'])}" for a, _, _ in chosen)
                year = rng.choice(years)
                report_flow.submit_report(base, title="公需科目集中培训", subject=rng.choice(["public", "professional"]),
                                          form_id=form("training").id, year=year, start_date=study_dates(year)[0],
                                          end_date=study_dates(year)[1], lines_text=lines)
            elif op == "base_decide":
                pending = list(db.session.scalars(select(BaseReport).where(BaseReport.state == "pending")))
                if pending:
                    report = rng.choice(pending)
                    if rng.random() < 0.7:
                        report_flow.approve(report, city_hr)
                        for line in report.lines:
                            expected[(line.person_id, report.year, report.subject)] += line.hours
                    else:
                        report_flow.reject(report, city_hr, "名单有误")
            done[op] += 1
        except DomainError as exc:  # only the yearly caps may refuse an operation of this walk
            assert str(exc.message).startswith(cap_head), (op, str(exc.message))
            done["capped"] += 1
        if step % 50 == 49:
            _check_summaries(db, expected)
    _check_summaries(db, expected)
    # The walk really exercised the machine and both sources of hours.
    assert sum(1 for k in expected if k) >= 10
    assert db.session.scalar(select(func.count(HourRecord.id)).where(HourRecord.source == "base")) > 0
    assert min(done[k] for k in ("create", "submit", "withdraw", "approve", "reject", "resubmit",
                                 "base_submit", "base_decide")) > 0


# ---------------------------------------------------------------- 6. T1: bad input through save(), nothing written

def _upload_files(app) -> list[str]:
    path = os.path.join(app.config["UPLOAD_FOLDER"], "declarations")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def _written(db, app) -> tuple:
    db.session.expire_all()
    return (db.session.scalar(select(func.count(Declaration.id))), db.session.scalar(select(func.count(
        Attachment.id))), db.session.scalar(select(func.count(AuditLog.id))), _upload_files(app),
        sorted(tuple(r) for r in db.session.execute(select(Declaration.id, Declaration.title, Declaration.hours,
                                                           Declaration.state, Declaration.details_json))))


@pytest.mark.parametrize("code", sorted(DETAILS))
def test_every_catalogue_form_accepts_its_valid_fields(app, world, db, owner, code):
    """The control for the cases below: with good input each form saves, with its fields and evidence."""
    hours = str(form(code).max_hours)
    item = flow.save(owner, decl_input(code, hours), attachments=[("证书.png", PNG), ("成绩单.pdf", PDF),
                                                                  ("照片.jpg", JPEG)])
    db.session.expire_all()
    item = db.session.get(Declaration, item.id)
    assert (item.state, item.hours) == ("draft", form(code).max_hours)
    assert set(item.details) == set(form(code).fields) - {"dates"}
    assert (item.start_date is not None) == ("dates" in form(code).fields)
    stored = db.session.scalars(select(Attachment).where(Attachment.declaration_id == item.id)).all()
    assert sorted((a.filename, a.content_type) for a in stored) == [
        ("成绩单.pdf", "application/pdf"), ("照片.jpg", "image/jpeg"), ("证书.png", "image/png")]
    assert len(_upload_files(app)) >= 3


def _bad_cases():
    big = PNG + b"\x00" * (5 * 1024 * 1024 + 1 - len(PNG))
    future = (TODAY + datetime.timedelta(days=1)).isoformat()
    cases = [  # id, (form, hours, overrides), attachments, msgid, message arguments (labels are field keys)
        ("zero-hours", ("training", "0", {}), None, "Hours must be greater than 0.", {}),
        ("negative-hours", ("training", "-8", {}), None, "Hours must be greater than 0.", {}),
        ("zero-with-a-decimal", ("training", "0.0", {}), None, "Hours must be greater than 0.", {}),
        ("two-decimals", ("training", "0.04", {}), None,
         "At most %(n)s decimal place(s) allowed; %(value)s has more.", {"n": 1, "value": "0.04"}),
        ("full-width-hours", ("training", "１２", {}), None,
         "Numbers must be written with the digits 0-9 (no full-width or other digits).", {}),
        ("non-numeric-hours", ("training", "八", {}), None, "Hours must be a number.", {}),
        ("empty-hours", ("training", "", {}), None, "Hours must be a number.", {}),
        ("nan-hours", ("training", "NaN", {}), None, "Hours must be a number.", {}),
        ("infinite-hours", ("training", "Infinity", {}), None, "Hours must be a number.", {}),
        ("over-form-cap", ("training", "90.1", {}), None,
         "One declaration of this form may give at most %(n)s hours.", {"n": Decimal("90.0")}),
        ("over-paper-cap", ("paper", "31", {}), None,
         "One declaration of this form may give at most %(n)s hours.", {"n": Decimal("30.0")}),
        ("end-before-start", ("training", "8", {"start": END, "end": START}), None,
         "The end date is before the start date.", {}),
        ("future-dates", ("training", "8", {"end": TODAY + datetime.timedelta(days=3)}), None,
         "The dates cannot be in the future.", {}),
        ("missing-dates", ("training", "8", {"start": None}), None, "Enter the start and end dates.", {}),
        ("year-too-old", ("training", "8", {"year": YEAR - 6}), None, "The year must be between %(a)s and %(b)s.",
         {"a": YEAR - 5, "b": YEAR}),
        ("next-year", ("training", "8", {"year": YEAR + 1}), None, "The year must be between %(a)s and %(b)s.",
         {"a": YEAR - 5, "b": YEAR}),
        ("no-year", ("training", "8", {"year": None}), None, "The year must be between %(a)s and %(b)s.",
         {"a": YEAR - 5, "b": YEAR}),
        ("paper-without-issn", ("paper", "15", {"issn": ""}), None, "%(field)s is required for this learning form.",
         {"field": "issn"}),
        ("paper-without-journal", ("paper", "15", {"journal": None}), None,
         "%(field)s is required for this learning form.", {"field": "journal"}),
        ("bad-issn", ("paper", "15", {"issn": "12345678"}), None, "ISSN must look like 1234-567X.", {}),
        ("bad-isbn", ("book", "20", {"isbn": "978-7-117"}), None, "ISBN must have 10 or 13 digits.", {}),
        ("negative-words", ("book", "20", {"words": "-3"}), None, "%(field)s must be a positive number.",
         {"field": "words"}),
        ("future-publication", ("paper", "15", {"publish_date": future}), None, "The dates cannot be in the future.",
         {}),
        ("not-a-date", ("exam", "10", {"exam_date": "2025-13-01"}), None, "%(field)s must be a date.",
         {"field": "exam_date"}),
        ("wrong-select", ("conference", "8", {"conf_level": "宇宙级"}), None, "Choose a value for %(field)s.",
         {"field": "conf_level"}),
        ("wrong-author-rank", ("paper", "15", {"author_rank": "<b>第一</b>"}), None,
         "Choose a value for %(field)s.", {"field": "author_rank"}),
        ("html-in-field", ("training", "8", {"organiser": "<script>alert(1)</script>"}), None,
         "%(field)s is too long or contains < or >.", {"field": "organiser"}),
        ("script-title", ("training", "8", {"title": "<script>alert(1)</script>"}), None,
         "Enter a title of 2 to 100 characters without < or >.", {}),
        ("long-title", ("training", "8", {"title": "培" * 101}), None,
         "Enter a title of 2 to 100 characters without < or >.", {}),
        ("bad-subject", ("training", "8", {"subject": "other"}), None, "Choose public or professional subjects.", {}),
        ("gif-as-png", ("training", "8", {}), [("证书.png", b"GIF89a\x01\x00\x01\x00" + b"\x00" * 32)],
         "%(name)s is not a PNG, JPEG or PDF file.", {"name": "证书.png"}),
        ("svg-as-png", ("training", "8", {}), [("ok.pdf", PDF), ("证书.png", b'<svg xmlns="http://www.w3.org/2000/svg">'
                                                                            b"<script>alert(1)</script></svg>")],
         "%(name)s is not a PNG, JPEG or PDF file.", {"name": "证书.png"}),
        ("empty-file", ("training", "8", {}), [("空.png", b"")], "%(name)s is not a PNG, JPEG or PDF file.",
         {"name": "空.png"}),
        ("oversize", ("training", "8", {}), [("ok.png", PNG), ("大图.png", big)], "%(name)s is larger than 5 MB.",
         {"name": "大图.png"}),
        ("six-files", ("training", "8", {}), [(f"证书{i}.png", PNG) for i in range(6)],
         "At most %(n)s attachments per declaration.", {"n": 5}),
    ]
    return [pytest.param(*c[1:], id=c[0]) for c in cases]


def _make_input(spec):
    code, hours, overrides = spec
    overrides = dict(overrides)
    kw = {k: overrides.pop(k) for k in ("subject", "year", "title", "start", "end") if k in overrides}
    return decl_input(code, hours, **kw, **overrides)


def _expected(msgid, args) -> str:
    args = {k: (zh_label(v) if k == "field" else v) for k, v in args.items()}
    return zh(msgid, **args)


@pytest.mark.parametrize("spec,files,msgid,args", _bad_cases())
def test_bad_new_declaration_is_refused_and_nothing_written(app, world, db, owner, spec, files, msgid, args):
    before = _written(db, app)
    for submit in (False, True):
        with pytest.raises(DomainError) as exc:
            flow.save(owner, _make_input(spec), submit=submit, attachments=files)
        assert str(exc.value.message) == _expected(msgid, args)
        assert _written(db, app) == before


@pytest.mark.parametrize("spec,files,msgid,args", _bad_cases())
def test_bad_edit_of_a_draft_is_refused_and_the_draft_unchanged(app, world, db, owner, spec, files, msgid, args):
    draft = flow.save(owner, decl_input("training", "8"), attachments=[("原件.png", PNG)])
    before = _written(db, app)
    with pytest.raises(DomainError) as exc:
        flow.save(owner, _make_input(spec), declaration_id=draft.id, submit=True, attachments=files)
    assert str(exc.value.message) == _expected(msgid, args)
    assert _written(db, app) == before
    assert db.session.get(Declaration, draft.id).state == "draft"


def test_attachments_are_counted_with_those_already_stored(app, world, db, owner):
    draft = flow.save(owner, decl_input(), attachments=[(f"证书{i}.png", PNG) for i in range(4)])
    before = _written(db, app)
    with pytest.raises(DomainError) as exc:
        flow.save(owner, decl_input(title="改过的名称"), declaration_id=draft.id,
                  attachments=[("a.png", PNG), ("b.pdf", PDF)])
    assert str(exc.value.message) == zh("At most %(n)s attachments per declaration.", n=5)
    assert _written(db, app) == before
    flow.save(owner, decl_input(title="改过的名称"), declaration_id=draft.id, attachments=[("a.png", PNG)])
    assert db.session.scalar(select(func.count(Attachment.id))) == 5 and len(_upload_files(app)) == len(before[3]) + 1


def test_yearly_cap_spans_several_declarations(world, db, owner):
    """学术会议: 12 hours a declaration, 36 a year. Pending and approved count; drafts and rejected do not."""
    draft = declare(owner, "conference", "12")  # a draft is not counted
    first = declare(owner, "conference", "12", submit=True)
    declare(owner, "conference", "12", submit=True)
    bring_to("approved", world, owner, code="conference", hours="12")
    declare(owner, "conference", "12", year=YEAR - 1, submit=True)  # another year has its own cap
    declare(owner, "conference", "12", subject="public", submit=True, year=YEAR - 2)
    expected = zh("This form gives at most %(cap)s hours a year; %(used)s are already declared for %(year)s.",
                  cap=Decimal("36.0"), used=Decimal("36.0"), year=YEAR)
    before = snapshot(db, draft.id)
    with pytest.raises(DomainError) as exc:
        flow.submit(draft, owner)
    assert str(exc.value.message) == expected
    with pytest.raises(DomainError) as exc:
        declare(owner, "conference", "0.5", submit=True)
    assert str(exc.value.message) == expected
    assert snapshot(db, draft.id) == before
    # Rejecting one frees its hours for the year.
    flow.reject(first, admin(world, "unit_admin"), "重复申报")
    flow.submit(db.session.get(Declaration, draft.id), owner)
    db.session.expire_all()
    assert db.session.get(Declaration, draft.id).state == "pending_unit"


def test_declarations_are_always_for_the_actor_themself(app, world, db, owner_account, owner):
    # An Actor claiming another unit still declares for their own person, at their own unit.
    spoofed = actor_for(owner_account, R.PROFESSIONAL, world.other_unit)
    item = declare(spoofed, submit=True)
    assert (item.person_id, item.unit_id, item.reviewer_org_id) == (
        person_of(owner_account).id, world.unit.id, world.unit.id)
    assert flow.queue(admin(world, "other_unit_admin")) == []

    stranger_account = professional(world.other_unit, "乙校教师")
    stranger = pro(stranger_account, world.other_unit)
    draft = declare(owner)
    before = _written(db, app)
    for attempt in (lambda: flow.save(stranger, decl_input(title="改成别人的"), declaration_id=draft.id),
                    lambda: flow.submit(db.session.get(Declaration, draft.id), stranger),
                    lambda: flow.delete_draft(db.session.get(Declaration, draft.id), stranger),
                    lambda: flow.withdraw(db.session.get(Declaration, item.id), stranger)):
        with pytest.raises(PermissionDenied) as exc:
            attempt()
        assert str(exc.value.message) == zh("You do not have permission to do this.")
        assert _written(db, app) == before


@pytest.mark.parametrize("who", ["unit_admin", "district_admin", "support", "professional_as_admin", "no_role"])
def test_only_a_professional_can_declare(app, world, db, who):
    if who == "professional_as_admin":  # has a person profile, but acts in the UnitAdmin role
        account = professional(world.unit, "兼任管理员", extra_roles=[(R.UNIT_ADMIN, world.unit)])
        actor = actor_for(account, R.UNIT_ADMIN, world.unit)
    elif who == "no_role":
        actor = actor_for(professional(world.unit), None, None)
    else:
        actor = admin(world, who)
    before = _written(db, app)
    with pytest.raises(PermissionDenied) as exc:
        flow.save(actor, decl_input(), attachments=[("证书.png", PNG)])
    assert str(exc.value.message) == zh("You do not have permission to do this.")
    assert _written(db, app) == before


def test_a_professional_of_an_inactive_unit_cannot_declare(app, world, db):
    account = professional(world.unit)
    db.session.get(Org, world.unit.id).state = "withdrawn"
    db.session.commit()
    before = _written(db, app)
    with pytest.raises(DomainError) as exc:
        declare(pro(account, world.unit), submit=True)
    assert str(exc.value.message) == zh("Your unit is not active; you cannot declare hours.")
    assert _written(db, app) == before


def test_an_inactive_learning_form_cannot_be_chosen(app, world, db, owner):
    form("patent").active = False
    db.session.commit()
    before = _written(db, app)
    with pytest.raises(DomainError) as exc:
        declare(owner, "patent", "10")
    assert str(exc.value.message) == zh("Choose a learning form.")
    assert _written(db, app) == before


def test_only_drafts_and_rejected_declarations_can_be_edited_or_deleted(app, world, db, owner):
    item = bring_to("pending_dept", world, owner)
    before = _written(db, app)
    with pytest.raises(DomainError) as exc:
        flow.save(owner, decl_input(hours="1"), declaration_id=item.id)
    assert str(exc.value.message) == zh("Only a draft or a rejected declaration can be edited.")
    with pytest.raises(DomainError) as exc:
        flow.delete_draft(db.session.get(Declaration, item.id), owner)
    assert str(exc.value.message) == zh("Only a draft can be deleted.")
    assert _written(db, app) == before


def test_only_active_reviewers_are_told_of_a_new_declaration(world, db, owner):
    """A revoked unit admin is not told about new declarations (X2 goes to active reviewers only)."""
    from app.extensions import mail

    revoked = factories.make_account("已撤销管理员", [(R.UNIT_ADMIN, world.unit)])
    m = db.session.scalar(select(Membership).where(Membership.user_id == revoked.id))
    m.state = MembershipState.REVOKED.value
    db.session.commit()
    with mail.record_messages() as outbox:
        declare(owner, submit=True)
    recipients = {r for msg in outbox for r in msg.recipients}
    assert world.unit_admin.email in recipients and revoked.email not in recipients
