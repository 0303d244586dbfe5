"""State machine 2 (title change) and the P6 profile, through the workflow functions: the full state × action grid,
owner vs reviewer, scope and escalation, one pending change at a time, evidence files, audit rows (T12) and the
concurrent decisions of several reviewers on PostgreSQL (T4)."""
from __future__ import annotations

import json
import threading
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Account, AuditLog, ChangeAttachment, Org, RoleName, TitleChange
from app.workflows import title_change as flow
from app.workflows.base import ConcurrentTransition, DomainError, PermissionDenied, TransitionNotAllowed
from tests import factories
from tests.factories import actor_for
from tests.helpers import (NEW_TITLE, OLD_TITLE, as_professional, cheap_passwords, make_change, needs_postgres,
                           person_of, professional, said, title_of, uploaded_files)

R = RoleName
PNG, JPEG, PDF = factories.PNG, factories.JPEG, factories.PDF  # real files: uploads are checked by parsing them


def reviewer_of(world, name: str = "unit_admin", role: RoleName = R.UNIT_ADMIN):
    account = getattr(world, name)
    org = {"unit_admin": world.unit, "sub_unit_admin": world.sub_unit, "other_unit_admin": world.other_unit,
           "dept_admin": world.dept, "district_admin": world.district, "other_district_admin": world.other_district,
           "city_admin": world.city, "base_admin": world.base}.get(name)
    return actor_for(account, role, org)


def row(item_id: int):
    return db.session.execute(select(TitleChange.state, TitleChange.reason, TitleChange.decided_by_id)
                              .where(TitleChange.id == item_id)).one()


PENDING = "A title change is already under review. Withdraw it first or wait for the decision."


def audits(action: str | None = None, object_id: int | None = None) -> list[AuditLog]:
    stmt = select(AuditLog).where(AuditLog.object_type.in_(["title_change", "person"]))
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if object_id:
        stmt = stmt.where(AuditLog.object_id == object_id)
    return list(db.session.scalars(stmt.order_by(AuditLog.id)))


# ---------------------------------------------------------------- T3: the grid

ALLOWED = {("pending", "approve", "reviewer"): "approved", ("pending", "reject", "reviewer"): "rejected",
           ("pending", "withdraw", "owner"): "withdrawn"}
GRID = [(state, action, who) for state in ("pending", "approved", "rejected", "withdrawn")
        for action in ("approve", "reject", "withdraw") for who in ("owner", "reviewer")]


@pytest.mark.parametrize("state,action,who", GRID, ids=[f"{s}-{a}-{w}" for s, a, w in GRID])
def test_grid(fast_world, state, action, who):
    world = fast_world
    owner = professional(world.unit)
    item = make_change(world, owner, state)
    actor = as_professional(owner) if who == "owner" else reviewer_of(world)
    before_row, before_title, before_audits = row(item.id), title_of(owner), len(audits())
    target = ALLOWED.get((state, action, who))
    if target is None:
        expected = TransitionNotAllowed if state != "pending" else PermissionDenied
        with pytest.raises(expected):
            flow.machine.apply(item, action, actor, "理由")
        assert row(item.id) == before_row
        assert title_of(owner) == before_title
        assert len(audits()) == before_audits
        return
    flow.machine.apply(item, action, actor, "理由")
    assert row(item.id).state == target
    [entry] = audits(f"title_change.{action}", item.id)
    assert (entry.from_state, entry.to_state, entry.actor_id) == ("pending", target, actor.user_id)
    expected_title = NEW_TITLE if target == "approved" else OLD_TITLE
    assert title_of(owner) == expected_title


def test_submit_keeps_the_old_title_until_approved(fast_world, outbox):
    world = fast_world
    owner = professional(world.sub_unit, "分院的医生")
    item = flow.submit(as_professional(owner), NEW_TITLE, [("证书.png", PNG), ("聘书.pdf", PDF)])
    assert (item.state, item.unit_id) == ("pending", world.sub_unit.id)
    assert item.before == {**OLD_TITLE, "title_date": "2018-09-01"}
    assert item.after == {**NEW_TITLE, "title_date": "2025-06-01"}
    assert title_of(owner) == OLD_TITLE
    assert [f.filename for f in flow.files_of(item)] == ["证书.png", "聘书.pdf"]
    [submitted] = audits("title_change.submit")
    assert (submitted.object_id, submitted.to_state, submitted.actor_id) == (item.id, "pending", owner.id)
    # the parent unit's admin covers the sub-unit
    flow.approve(item, reviewer_of(world))
    assert title_of(owner) == NEW_TITLE
    assert row(item.id).decided_by_id == world.unit_admin.id
    [mail] = [m for m in outbox if owner.email in m.recipients]  # (the unit's admins were told of the request)
    assert "副主任医师" not in mail.body and item.state_label  # the mail names the state, not the data


def test_reject_needs_a_reason_and_keeps_the_title(fast_world, outbox):
    world = fast_world
    owner = professional(world.unit)
    item = make_change(world, owner)
    for reason in (None, "", "   "):
        with pytest.raises(DomainError) as err:
            flow.reject(item, reviewer_of(world), reason)
        assert err.value.field == "reason"
    assert row(item.id).state == "pending" and [m for m in outbox if owner.email in m.recipients] == []
    flow.reject(item, reviewer_of(world, "dept_admin", R.DEPT_ADMIN), "证书编号不符")
    assert row(item.id)[:2] == ("rejected", "证书编号不符")
    assert title_of(owner) == OLD_TITLE
    [mail] = [m for m in outbox if owner.email in m.recipients]
    assert "证书编号不符" in mail.body


def test_withdrawn_or_decided_change_allows_a_new_one(fast_world):
    world = fast_world
    owner = professional(world.unit)
    for state in ("withdrawn", "rejected"):
        make_change(world, owner, state)
    make_change(world, owner, "pending")
    mine = select(func.count(TitleChange.id)).where(TitleChange.person_id == person_of(owner).id)
    assert db.session.scalar(mine) == 3


def test_one_pending_change_at_a_time(fast_world):
    world = fast_world
    owner = professional(world.unit)
    make_change(world, owner)
    files, count = uploaded_files(), db.session.scalar(select(func.count(TitleChange.id)))
    with pytest.raises(DomainError, match=said(PENDING)):
        flow.submit(as_professional(owner), {**NEW_TITLE, "title_level": "正高级"}, [("证书.png", PNG)])
    assert uploaded_files() == files and db.session.scalar(select(func.count(TitleChange.id))) == count


def test_a_racing_second_submission_gets_a_clear_message(fast_world, monkeypatch):
    """Two submissions at the same instant both pass the check; the partial unique index stops the second one,
    whose files are removed again."""
    world = fast_world
    owner = professional(world.unit)
    make_change(world, owner)
    files = uploaded_files()
    attachments = db.session.scalar(select(func.count(ChangeAttachment.id)))
    monkeypatch.setattr(flow, "pending_of", lambda person: None)
    with pytest.raises(DomainError, match=said(PENDING)):
        flow.submit(as_professional(owner), {**NEW_TITLE, "title_level": "正高级"}, [("证书.png", PNG)])
    assert uploaded_files() == files
    assert db.session.scalar(select(func.count(ChangeAttachment.id))) == attachments
    assert db.session.scalar(select(func.count(TitleChange.id))) == 1
    assert len(audits("title_change.submit")) == 1


NOT_A_FILE = "%(name)s is not a PNG, JPEG or PDF file."
BAD_SUBMISSIONS = {
    "nothing changes": (OLD_TITLE, [("证书.png", PNG)], "The new title is the same as the current one: nothing to "
                                                        "change.", {}),
    "no file": (NEW_TITLE, [], "Attach at least one evidence file.", {}),
    "text behind a .png name": (NEW_TITLE, [("证书.png", b"hello, I am not a picture")], NOT_A_FILE,
                                {"name": "证书.png"}),
    "html behind a .pdf name": (NEW_TITLE, [("证书.pdf", b"<html><script>alert(1)</script></html>")],
                                NOT_A_FILE, {"name": "证书.pdf"}),
    "empty file": (NEW_TITLE, [("证书.png", b"")], NOT_A_FILE, {"name": "证书.png"}),
    "too many files": (NEW_TITLE, [(f"{n}.png", PNG) for n in range(6)], "At most %(n)s files.", {"n": 5}),
}


@pytest.mark.parametrize("case", list(BAD_SUBMISSIONS))
def test_bad_submission_changes_nothing(fast_world, case):
    world = fast_world
    owner = professional(world.unit)
    values, files, msgid, kw = BAD_SUBMISSIONS[case]
    before = (uploaded_files(), db.session.scalar(select(func.count(TitleChange.id))), len(audits()))
    with pytest.raises(DomainError, match=said(msgid, **kw)):
        flow.submit(as_professional(owner), values, files)
    assert (uploaded_files(), db.session.scalar(select(func.count(TitleChange.id))), len(audits())) == before


@pytest.mark.parametrize("role,org", [(R.UNIT_ADMIN, "unit"), (R.HR_ADMIN, "district"), (R.SUPPORT, None)])
def test_only_the_professional_submits_for_themselves(fast_world, role, org):
    world = fast_world
    owner = professional(world.unit)
    actor = actor_for(owner, role, getattr(world, org) if org else None)
    with pytest.raises(PermissionDenied):
        flow.submit(actor, NEW_TITLE, [("证书.png", PNG)])
    assert db.session.scalar(select(func.count(TitleChange.id))) == 0


# ---------------------------------------------------------------- scope and escalation

# (acting admin, role, the unit of the applicant, may decide)
SCOPE = [
    ("unit_admin", R.UNIT_ADMIN, "unit", True),
    ("unit_admin", R.UNIT_ADMIN, "sub_unit", True),           # a parent unit covers its sub-units
    ("sub_unit_admin", R.UNIT_ADMIN, "unit", False),          # upwards: the parent unit's person
    ("other_unit_admin", R.UNIT_ADMIN, "unit", False),        # a sibling org
    ("unit_admin", R.UNIT_ADMIN, "other_unit", False),
    ("dept_admin", R.DEPT_ADMIN, "unit", True),
    ("dept_admin", R.DEPT_ADMIN, "other_unit", False),
    ("district_admin", R.HR_ADMIN, "sub_unit", True),
    ("district_admin", R.HR_ADMIN, "other_unit", False),
    ("other_district_admin", R.HR_ADMIN, "unit", False),
    ("city_admin", R.HR_ADMIN, "other_unit", True),
    ("base_admin", R.BASE_ADMIN, "unit", False),              # wrong role, even over a unit it does not hold
    ("support", R.SUPPORT, "unit", False),                    # platform-wide, but no reviewer
    ("sysadmin", R.SYSADMIN, "unit", False),
    ("auditor", R.AUDITOR, "unit", False),
]


@pytest.mark.parametrize("admin,role,unit,allowed", SCOPE, ids=[f"{a}-{u}" for a, _, u, _ in SCOPE])
def test_scope_of_the_reviewers(fast_world, admin, role, unit, allowed):
    world = fast_world
    owner = professional(getattr(world, unit))
    item = make_change(world, owner)
    actor = reviewer_of(world, admin, role)
    assert (item.id in [r.id for r in flow.queue(actor)]) is allowed
    assert flow.can_see(item, actor) is allowed
    assert (flow.pending_count(actor) == 1) is allowed
    for action in ("reject", "approve"):
        if allowed and action == "approve":
            flow.approve(item, actor)
            assert title_of(owner) == NEW_TITLE
            continue
        if allowed:
            continue
        with pytest.raises(PermissionDenied):
            flow.machine.apply(item, action, actor, "越权")
        assert row(item.id).state == "pending" and title_of(owner) == OLD_TITLE
    if not allowed:
        assert audits("title_change.approve") == [] and audits("title_change.reject") == []
        done, failed = flow.decide_many([item.id], "approve", actor)
        assert done == 0 and len(failed) == 1 and row(item.id).state == "pending"


def test_nobody_decides_their_own_change(fast_world):
    """A unit admin who is also a professional of the unit neither sees nor decides their own change; another
    admin of the unit does."""
    world = fast_world
    both = factories.make_account("兼任管理员的医生", [(R.PROFESSIONAL, world.unit), (R.UNIT_ADMIN, world.unit)],
                                  person_unit=world.unit)
    cheap_passwords()
    item = flow.submit(actor_for(both, R.PROFESSIONAL, world.unit), NEW_TITLE, [("证书.png", PNG)])
    self_review = actor_for(both, R.UNIT_ADMIN, world.unit)
    assert flow.queue(self_review) == [] and flow.pending_count(self_review) == 0
    assert not flow.can_see(item, self_review)
    for action in ("approve", "reject"):
        with pytest.raises(PermissionDenied):
            flow.machine.apply(item, action, self_review, "自己审自己")
    # not as the department's admin either, if they hold that role too
    assert row(item.id).state == "pending"
    flow.approve(item, reviewer_of(world))
    assert row(item.id).state == "approved"


def test_owner_cannot_withdraw_as_an_admin_nor_someone_else(fast_world):
    world = fast_world
    owner = professional(world.unit)
    item = make_change(world, owner)
    colleague = professional(world.unit, "同事")
    for actor in (as_professional(colleague), actor_for(owner, R.UNIT_ADMIN, world.unit), reviewer_of(world)):
        with pytest.raises(PermissionDenied):
            flow.withdraw(item, actor)
    assert row(item.id).state == "pending"


def test_queue_tabs_and_keyset_pages(fast_world):
    world = fast_world
    owners = [professional(world.unit, f"医生{n}") for n in range(5)]
    items = [make_change(world, a) for a in owners]
    flow.reject(items[0], reviewer_of(world), "材料不全")
    flow.approve(items[1], reviewer_of(world))
    actor = reviewer_of(world)
    first = flow.queue(actor, limit=2)
    assert [i.id for i in first] == [items[4].id, items[3].id]
    assert [i.id for i in flow.queue(actor, after_id=first[-1].id, limit=2)] == [items[2].id]
    assert [i.id for i in flow.queue(actor, state="rejected")] == [items[0].id]
    assert [i.id for i in flow.queue(actor, state="approved")] == [items[1].id]
    assert [i.id for i in flow.queue(actor, q="医生3")] == [items[3].id]


# ---------------------------------------------------------------- P6 profile

def test_profile_edit_saves_at_once_with_one_audit_row(fast_world):
    world = fast_world
    owner = professional(world.unit)
    actor = as_professional(owner)
    changed = flow.update_profile(actor, {"school": "山东大学", "major": "临床医学", "postdoc": True,
                                          "vocational_qualifications": ["执业医师", "心理咨询师 ", "执业医师、护士"],
                                          "academic_titles": "泰山学者，省级专家"})
    assert set(changed) == {"school", "major", "postdoc", "vocational_qualifications", "academic_titles"}
    person = person_of(owner)
    assert person.vocational_qualifications == "执业医师,心理咨询师,护士"  # one each, comma-separated
    assert flow.split_list(person.academic_titles) == ["泰山学者", "省级专家"]
    [entry] = audits("profile.edit")
    assert entry.object_id == person.id and entry.actor_id == owner.id
    # saving again unchanged writes nothing; title fields, unit, name, 证件号 are never touched here
    assert flow.update_profile(actor, {"school": "山东大学", "title_level": "正高级", "unit_id": world.other_unit.id,
                                       "name": "改名", "id_number": "x"}) == []
    assert len(audits("profile.edit")) == 1
    assert title_of(owner) == OLD_TITLE
    assert (person.unit_id, person.name) == (world.unit.id, "申请职称的医生")


def test_profile_edit_is_for_the_professional_only(fast_world):
    world = fast_world
    with pytest.raises(PermissionDenied):
        flow.update_profile(reviewer_of(world), {"school": "某大学"})


# ---------------------------------------------------------------- T4: concurrent decisions (PostgreSQL)

def race(app, reviewers, ids, actions):
    """Each reviewer decides every id at the same moment (its own thread, app context and session)."""
    barrier = threading.Barrier(len(reviewers))
    outcomes: list[list[tuple[int, str]]] = [[] for _ in reviewers]

    def review(idx: int) -> None:
        user_id, role, org_id = reviewers[idx]
        with app.app_context():
            from app.extensions import db as tdb

            actor = actor_for(tdb.session.get(Account, user_id), role, tdb.session.get(Org, org_id))
            tdb.session.commit()
            barrier.wait(timeout=30)
            for item_id in ids:
                item = tdb.session.get(TitleChange, item_id)
                try:
                    flow.machine.apply(item, actions[idx], actor, "并发审核")
                    outcomes[idx].append((item_id, actions[idx]))
                except ConcurrentTransition:
                    outcomes[idx].append((item_id, "concurrent"))
                except TransitionNotAllowed:
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
    return outcomes


def test_concurrent_approve_and_reject_of_60_changes_by_three_reviewers(app, fast_world, db):
    needs_postgres(db)
    world = fast_world
    owners = [professional(world.unit if n % 2 else world.sub_unit, f"并发医生{n}") for n in range(60)]
    ids = [make_change(world, a).id for a in owners]
    second = factories.make_account("第二单位管理员", [(R.UNIT_ADMIN, world.unit)])
    reviewers = [(world.unit_admin.id, R.UNIT_ADMIN, world.unit.id), (second.id, R.UNIT_ADMIN, world.unit.id),
                 (world.dept_admin.id, R.DEPT_ADMIN, world.dept.id)]
    outcomes = race(app, reviewers, ids, ["approve", "reject", "approve"])
    flat = [(item_id, what, idx) for idx, rows in enumerate(outcomes) for item_id, what in rows]
    assert [r for r in flat if r[1].startswith("error")] == []
    winners = defaultdict(list)
    for item_id, what, idx in flat:
        if what in ("approve", "reject"):
            winners[item_id].append((idx, what))
    assert sorted(winners) == sorted(ids) and all(len(w) == 1 for w in winners.values()), "decided twice"

    db.session.expire_all()
    decisions = defaultdict(list)
    for entry in db.session.scalars(select(AuditLog).where(AuditLog.action.in_(
            ["title_change.approve", "title_change.reject"]))):
        decisions[entry.object_id].append(entry)
    assert sorted(decisions) == sorted(ids)
    for item_id, entries in decisions.items():
        assert len(entries) == 1, f"title change {item_id} has {len(entries)} decision audit rows"
        [(idx, what)] = winners[item_id]
        assert entries[0].action == f"title_change.{what}" and entries[0].actor_id == reviewers[idx][0]
    for owner, item_id in zip(owners, ids):
        state = db.session.execute(select(TitleChange.state).where(TitleChange.id == item_id)).scalar_one()
        assert title_of(owner) == (NEW_TITLE if state == "approved" else OLD_TITLE)
    assert {what for w in winners.values() for _, what in w} == {"approve", "reject"}, "the race really happened"


def test_json_of_before_and_after_is_readable(fast_world):
    world = fast_world
    owner = professional(world.unit)
    item = make_change(world, owner)
    raw = db.session.execute(select(TitleChange.before_json, TitleChange.after_json)
                             .where(TitleChange.id == item.id)).one()
    assert json.loads(raw.before_json)["title_name"] == "主治医师"
    assert "副主任医师" in raw.after_json  # stored as text, not as \\u escapes
