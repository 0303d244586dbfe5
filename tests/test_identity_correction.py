"""P7 / S3 identity corrections through the workflow: the full state × action grid, who may decide (support only,
never on their own request), validation of the new 证件号, the correction applied everywhere the person is
referenced, sessions revoked, audit rows (T12) and concurrent decisions on PostgreSQL (T4)."""
from __future__ import annotations

import datetime
import threading
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from app.demo import make_id_number
from app.extensions import db
from app.models import (Account, AuditLog, ChangeAttachment, IdentityCorrection, Membership, OrgKind, Person,
                        Registration, RoleName)
from app.workflows import identity as flow
from app.workflows.base import ConcurrentTransition, DomainError, PermissionDenied, TransitionNotAllowed
from tests import factories
from tests.factories import JPEG, PDF, PNG, actor_for
from tests.helpers import (NEW_NAME, cheap_passwords, login, make_correction, make_person, needs_postgres, person_of,
                           said, support, uploaded_files)

R = RoleName
PENDING = "An identity correction is already under review. Withdraw it first or wait for the decision."


def new_number() -> str:
    return factories.new_id_number()


def applicant(world, name: str = "证件待改的人"):
    return make_person(name, world.unit)


def me(account: Account):
    return actor_for(account, R.PROFESSIONAL, person_of(account).unit)


def account_row(account_id: int):
    return db.session.execute(select(Account.username, Account.first_name, Account.sessions_valid_after)
                              .where(Account.id == account_id)).one()


def person_row(account_id: int):
    return db.session.execute(select(Person.name, Person.id_number, Person.birth_date)
                              .where(Person.user_id == account_id)).one()


def state_of(item_id: int) -> str:
    return db.session.execute(select(IdentityCorrection.state).where(IdentityCorrection.id == item_id)).scalar_one()


def audits(action: str, object_id: int | None = None) -> list[AuditLog]:
    stmt = select(AuditLog).where(AuditLog.action == action)
    if object_id:
        stmt = stmt.where(AuditLog.object_id == object_id)
    return list(db.session.scalars(stmt.order_by(AuditLog.id)))


def counts():
    return (db.session.scalar(select(func.count(IdentityCorrection.id))),
            db.session.scalar(select(func.count(ChangeAttachment.id))), uploaded_files(),
            db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.object_type == "identity_correction")))


# ---------------------------------------------------------------- T3: the grid

ALLOWED = {("pending", "approve", "support"): "approved", ("pending", "reject", "support"): "rejected",
           ("pending", "withdraw", "owner"): "withdrawn"}
GRID = [(state, action, who) for state in ("pending", "approved", "rejected", "withdrawn")
        for action in ("approve", "reject", "withdraw") for who in ("owner", "support")]


@pytest.mark.parametrize("state,action,who", GRID, ids=[f"{s}-{a}-{w}" for s, a, w in GRID])
def test_grid(fast_world, state, action, who):
    world = fast_world
    owner = applicant(world)
    item = make_correction(world, owner, state)
    actor = me(owner) if who == "owner" else support(world)
    before = (account_row(owner.id), person_row(owner.id), len(audits(f"identity_correction.{action}")))
    target = ALLOWED.get((state, action, who))
    if target is None:
        with pytest.raises(TransitionNotAllowed if state != "pending" else PermissionDenied):
            flow.machine.apply(item, action, actor, "理由")
        assert state_of(item.id) == state
        assert (account_row(owner.id), person_row(owner.id), len(audits(f"identity_correction.{action}"))) == before
        return
    flow.machine.apply(item, action, actor, "理由")
    assert state_of(item.id) == target
    [entry] = audits(f"identity_correction.{action}", item.id)
    assert (entry.from_state, entry.to_state, entry.actor_id) == ("pending", target, actor.user_id)
    applied = account_row(owner.id)[:2] == (item.new_id_number, NEW_NAME)
    assert applied is (target == "approved")


# ---------------------------------------------------------------- applied everywhere

def test_approval_applies_everywhere_and_revokes_sessions(app, fast_world, outbox):
    world = fast_world
    owner = applicant(world, "李明")
    old_number = owner.username
    # the person's own registration (kind person)
    membership = db.session.scalar(select(Membership.id).where(Membership.user_id == owner.id))
    reg = Registration(kind="person", user_id=owner.id, membership_id=membership, org_id=world.unit.id,
                       reviewer_org_id=world.unit.id, applicant_name="李明", state="approved")
    db.session.add(reg)
    db.session.commit()
    number = make_id_number("110105", datetime.date(1985, 3, 4), 77)
    client = app.test_client()
    login(client, old_number)
    assert client.get("/home/").status_code == 200
    item = flow.submit(me(owner), "李小明", number, [("正面.png", PNG)], note="户口本上的名字是李小明")
    assert account_row(owner.id)[:2] == (old_number, "李明")  # nothing applied before the decision
    flow.approve(item, support(world))

    username, first_name, valid_after = account_row(owner.id)
    assert (username, first_name) == (number, "李小明") and valid_after is not None
    name, id_number, birth = person_row(owner.id)
    assert (name, id_number, birth.isoformat()) == ("李小明", number, "1985-03-04")
    assert db.session.execute(select(Registration.applicant_name).where(Registration.id == reg.id)).scalar_one() \
        == "李小明"
    # the old session is void, the old login fails, the new one works with the same password
    response = client.get("/home/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
    fresh = app.test_client()
    response = login(fresh, old_number, follow=False)
    assert not (response.status_code == 302 and response.headers["Location"].endswith("/home/"))
    response = login(fresh, number, follow=False)
    assert response.status_code == 302 and response.headers["Location"].endswith("/home/")
    assert [m.recipients for m in outbox if owner.email in m.recipients] == [[owner.email]]
    [entry] = audits("identity_correction.approve", item.id)
    assert entry.actor_id == world.support.id


def test_org_registrations_keep_the_org_name(fast_world):
    from tests.helpers import register_org

    world = fast_world
    reg = register_org(OrgKind.UNIT, world.dept, "新注册的单位")
    account = reg.user
    db.session.add(Person(user_id=account.id, name=account.first_name, id_number=account.username,
                          unit_id=world.unit.id))
    db.session.add(Membership(user_id=account.id, role=R.PROFESSIONAL.value, org_id=world.unit.id,
                                        state="active"))
    db.session.commit()
    item = flow.submit(me(account), "王新名", account.username, [("正面.png", PNG)])
    flow.approve(item, support(world))
    assert db.session.execute(select(Registration.applicant_name).where(Registration.id == reg.id)).scalar_one() \
        == "新注册的单位"
    assert account_row(account.id)[:2] == (account.username, "王新名")


def test_number_taken_meanwhile_is_refused_at_approval(fast_world):
    world = fast_world
    owner = applicant(world)
    number = new_number()
    item = make_correction(world, owner, id_number=number)
    factories.make_account("抢先注册的人", id_number=number)
    before = (account_row(owner.id), person_row(owner.id))
    with pytest.raises(DomainError) as err:
        flow.approve(item, support(world))
    assert err.value.field == "new_id_number"
    assert state_of(item.id) == "pending"
    assert (account_row(owner.id), person_row(owner.id)) == before
    assert audits("identity_correction.approve") == []


# ---------------------------------------------------------------- T1 through the workflow

def _taken(world):
    return world.unit_admin.username


BAD = {
    "wrong check digit": (lambda w: {"id_number": "110105194912310021"}, "new_id_number"),
    "17 digits": (lambda w: {"id_number": "11010519491231002"}, "new_id_number"),
    "impossible birth date": (lambda w: {"id_number": "110105194902300020"}, "new_id_number"),
    "another account's number": (lambda w: {"id_number": _taken(w)}, "new_id_number"),
    "HTML in the name": (lambda w: {"name": "<b>张三</b>"}, "new_name"),
    "SQL in the name": (lambda w: {"name": "Robert'); DROP TABLE person;--"}, "new_name"),
    "too long a name": (lambda w: {"name": "张" * 31}, "new_name"),
    "nothing changes": (lambda w: {"same": True}, "new_name"),
    "no image": (lambda w: {"files": []}, "attachments"),
    "three images": (lambda w: {"files": [("1.png", PNG)] * 3}, "attachments"),
    "a PDF": (lambda w: {"files": [("身份证.pdf", PDF)]}, "attachments"),
    "text behind .jpg": (lambda w: {"files": [("身份证.jpg", b"GIF89a not really")]}, "attachments"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_request_changes_nothing(fast_world, case):
    world = fast_world
    owner = applicant(world)
    spec, field = BAD[case]
    args = spec(world)
    name = owner.first_name if args.get("same") else args.get("name", NEW_NAME)
    number = owner.username if args.get("same") else args.get("id_number", new_number())
    before = counts()
    with pytest.raises(DomainError) as err:
        flow.submit(me(owner), name, number, args.get("files", [("正面.png", PNG)]))
    assert err.value.field == field
    assert counts() == before


def test_full_width_and_lowercase_x_are_normalised(fast_world):
    world = fast_world
    owner = applicant(world)
    item = flow.submit(me(owner), NEW_NAME, "１１０１０５１９４９１２３１００２x", [("正面.png", PNG)])
    assert item.new_id_number == "11010519491231002X"


def test_one_pending_request_at_a_time_and_withdraw(fast_world, monkeypatch):
    world = fast_world
    owner = applicant(world)
    item = make_correction(world, owner)
    before = counts()
    with pytest.raises(DomainError, match=said(PENDING)):
        flow.submit(me(owner), "另一个名字", new_number(), [("正面.png", PNG)])
    monkeypatch.setattr(flow, "pending_of", lambda account_id: None)  # a racing second submission
    with pytest.raises(DomainError, match=said(PENDING)):
        flow.submit(me(owner), "另一个名字", new_number(), [("正面.png", PNG)])
    assert counts() == before
    monkeypatch.undo()
    flow.withdraw(item, me(owner))
    make_correction(world, owner)


# ---------------------------------------------------------------- who decides

@pytest.mark.parametrize("who,role,org", [("sysadmin", R.SYSADMIN, None), ("auditor", R.AUDITOR, None),
                                          ("unit_admin", R.UNIT_ADMIN, "unit"), ("city_admin", R.HR_ADMIN, "city"),
                                          ("base_admin", R.BASE_ADMIN, "base")])
def test_only_support_decides(fast_world, who, role, org):
    world = fast_world
    owner = applicant(world)
    item = make_correction(world, owner)
    actor = actor_for(getattr(world, who), role, getattr(world, org) if org else None)
    assert flow.queue(actor) == [] and not flow.can_see(item, actor)
    for action in ("approve", "reject"):
        with pytest.raises(PermissionDenied):
            flow.machine.apply(item, action, actor, "越权")
    with pytest.raises(PermissionDenied):
        flow.view_full(item, actor)
    assert state_of(item.id) == "pending" and audits("identity.view") == []


def test_support_never_decides_their_own_request(fast_world):
    world = fast_world
    both = factories.make_account("兼职客服的医生", [(R.PROFESSIONAL, world.unit), (R.SUPPORT, None)],
                                  person_unit=world.unit)
    cheap_passwords()
    item = flow.submit(actor_for(both, R.PROFESSIONAL, world.unit), NEW_NAME, new_number(), [("正面.png", PNG)])
    self_review = actor_for(both, R.SUPPORT)
    assert flow.queue(self_review) == [] and flow.pending_count(self_review) == 0
    for action in ("approve", "reject"):
        with pytest.raises(PermissionDenied):
            flow.machine.apply(item, action, self_review, "自己审自己")
    assert state_of(item.id) == "pending"
    flow.approve(item, support(world))


def test_someone_else_cannot_withdraw(fast_world):
    world = fast_world
    owner = applicant(world)
    item = make_correction(world, owner)
    other = applicant(world, "别人")
    with pytest.raises(PermissionDenied):
        flow.withdraw(item, me(other))
    assert state_of(item.id) == "pending"


def test_view_full_is_audited_once_per_view(fast_world):
    world = fast_world
    item = make_correction(world, applicant(world))
    flow.view_full(item, support(world))
    flow.view_full(item, support(world))
    rows = audits("identity.view", item.id)
    assert len(rows) == 2 and {r.actor_id for r in rows} == {world.support.id}


def test_each_id_card_image_support_downloads_is_audited_and_the_owners_are_not(client, fast_world):
    from tests.helpers import log_in

    world = fast_world
    account = applicant(world)
    item = make_correction(world, account)
    files = list(db.session.scalars(select(ChangeAttachment).where(ChangeAttachment.owner_id == item.id,
                                                                   ChangeAttachment.owner_type == flow.OWNER_TYPE)))
    log_in(client, account.username, R.PROFESSIONAL.value)
    assert client.get(f"/change-files/{files[0].id}").status_code == 200
    assert audits("identity.view", item.id) == []
    staff = client.application.test_client()
    log_in(staff, world.support.username, R.SUPPORT.value)
    for row in files:
        response = staff.get(f"/change-files/{row.id}")
        assert response.status_code == 200 and response.data[:4] in (PNG[:4], JPEG[:4])
    rows = audits("identity.view", item.id)
    assert [r.comment for r in rows] == [f"image {row.id}: {row.filename}" for row in files]
    assert {r.actor_id for r in rows} == {world.support.id}


# ---------------------------------------------------------------- T4 (PostgreSQL)

def test_two_support_staff_decide_the_same_50_at_once(app, fast_world, db):
    needs_postgres(db)
    world = fast_world
    owners = [applicant(world, f"并发改名{n}") for n in range(50)]
    items = [make_correction(world, a) for a in owners]
    ids = [i.id for i in items]
    second = factories.make_account("第二客服", [(R.SUPPORT, None)])
    reviewers = [(world.support.id, "approve"), (second.id, "reject")]
    barrier = threading.Barrier(2)
    outcomes: list[list[tuple[int, str]]] = [[], []]

    def review(idx: int) -> None:
        user_id, action = reviewers[idx]
        with app.app_context():
            from app.extensions import db as tdb

            actor = actor_for(tdb.session.get(Account, user_id), R.SUPPORT)
            tdb.session.commit()
            barrier.wait(timeout=30)
            for item_id in ids:
                try:
                    flow.machine.apply(tdb.session.get(IdentityCorrection, item_id), action, actor, "并发")
                    outcomes[idx].append((item_id, action))
                except (ConcurrentTransition, TransitionNotAllowed):
                    outcomes[idx].append((item_id, "lost"))
                except Exception as exc:  # noqa: BLE001
                    tdb.session.rollback()
                    outcomes[idx].append((item_id, f"error {exc!r}"))
            tdb.session.remove()

    threads = [threading.Thread(target=review, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    flat = [(item_id, what) for rows in outcomes for item_id, what in rows]
    assert [f for f in flat if f[1].startswith("error")] == []
    won = defaultdict(list)
    for item_id, what in flat:
        if what in ("approve", "reject"):
            won[item_id].append(what)
    assert sorted(won) == sorted(ids) and all(len(w) == 1 for w in won.values())
    db.session.expire_all()
    decisions = defaultdict(list)
    for entry in db.session.scalars(select(AuditLog).where(AuditLog.action.in_(
            ["identity_correction.approve", "identity_correction.reject"]))):
        decisions[entry.object_id].append(entry.action)
    assert {k: v for k, v in decisions.items()} == {k: [f"identity_correction.{w[0]}"] for k, w in won.items()}
    for owner, item in zip(owners, items):
        applied = account_row(owner.id)[0] == item.new_id_number
        assert applied is (won[item.id] == ["approve"])
