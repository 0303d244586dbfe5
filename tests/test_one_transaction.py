"""One use case, one transaction, through the state machines: a refused declaration submit leaves the database
and the upload folder exactly as before (no draft, no edit, no file, no audit row); a registration's decision
moves its membership and org through their own machines in the same transaction, and is refused whole when one
of them has moved meanwhile."""
from __future__ import annotations

import datetime
import os
import threading

import pytest
from sqlalchemy import select, text

from app import clock
from app.models import (Attachment, AuditLog, Declaration, HourRecord, LearningForm, Membership, Org, OrgKind,
                        Person, Registration, RoleName, YearSummary)
from app.workflows import declaration as flow
from app.workflows import memberships
from app.workflows import registration as reg_flow
from app.workflows.base import ConcurrentTransition, DomainError, TransitionNotAllowed
from tests import factories
from tests.factories import actor_for
from tests.helpers import zh

R = RoleName
TODAY = clock.today()
YEAR = TODAY.year
START, END = TODAY - datetime.timedelta(days=10), TODAY - datetime.timedelta(days=1)
CONFERENCE = {"organiser": "中华医学会", "conf_level": "省级"}  # 学术会议: 12 hours a declaration, 36 a year


pytestmark = pytest.mark.usefixtures("fresh_id_sequence")  # 证件号 birth dates stay in the past


def _conference(hours: str = "12", title: str = "全国心血管病学术年会") -> flow.DeclarationInput:
    form = factories_form("conference")
    return flow.DeclarationInput(subject="professional", form_id=form.id, year=YEAR, title=title, hours=hours,
                                 start_date=START, end_date=END, details=dict(CONFERENCE))


def factories_form(code: str) -> LearningForm:
    from app.extensions import db

    return db.session.scalar(select(LearningForm).where(LearningForm.code == code))


def _owner(world):
    account = factories.make_account("申报人", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
    return actor_for(account, R.PROFESSIONAL, world.unit)


def _files(app) -> list[str]:
    path = os.path.join(app.config["UPLOAD_FOLDER"], "declarations")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def _everything(db, app) -> tuple:
    """Every row a declaration save or submit may write, and the stored files."""
    db.session.expire_all()

    def rows(model):
        table = model.__table__
        return sorted(tuple(map(repr, r)) for r in db.session.execute(select(*table.columns)))

    return (rows(Declaration), rows(Attachment), rows(AuditLog), rows(HourRecord), rows(YearSummary),
            _files(app))


def _year_cap_reached(owner, world):
    """Three 12-hour conferences pending: the 36 hours a year of 学术会议 are used up."""
    for n in range(3):
        flow.save(owner, _conference(title=f"学术年会第{n + 1}场"), submit=True)


def test_a_new_declaration_refused_at_submit_leaves_nothing(app, world, db):
    owner = _owner(world)
    _year_cap_reached(owner, world)
    before = _everything(db, app)
    with pytest.raises(DomainError) as exc:
        flow.save(owner, _conference(title="第四场学术年会"), submit=True,
                  attachments=[("证书.png", factories.PNG), ("议程.pdf", factories.PDF)])
    assert exc.value.field == "hours"
    assert str(exc.value.message) == zh("This form gives at most %(cap)s hours a year; %(used)s are already "
                                        "declared for %(year)s.", cap="36.0", used="36.0", year=YEAR)
    assert _everything(db, app) == before, "a draft, a file or an audit row was left behind"


def test_an_edited_draft_refused_at_submit_keeps_its_saved_version(app, world, db):
    owner = _owner(world)
    draft = flow.save(owner, _conference(title="草稿的学术年会"), attachments=[("原件.png", factories.PNG)])
    _year_cap_reached(owner, world)
    before = _everything(db, app)
    with pytest.raises(DomainError):
        flow.save(owner, _conference(hours="10", title="改过名称的学术年会"), declaration_id=draft.id, submit=True,
                  attachments=[("新证书.jpg", factories.JPEG)])
    assert _everything(db, app) == before
    item = db.session.get(Declaration, draft.id)
    assert (item.state, item.title, item.hours) == ("draft", "草稿的学术年会", 12)


def test_a_saved_draft_refused_at_submit_stays_a_draft(app, world, db):
    owner = _owner(world)
    draft = flow.save(owner, _conference(title="草稿的学术年会"))
    _year_cap_reached(owner, world)
    before = _everything(db, app)
    with pytest.raises(DomainError):
        flow.submit(db.session.get(Declaration, draft.id), owner)
    assert _everything(db, app) == before


def test_the_cap_is_read_under_the_person_lock(app, world, db):
    """PostgreSQL: while another transaction holds the person's lock and submits the declaration that reaches the
    year's cap, a save-and-submit waits for it, then is refused whole; it never saves a draft first nor goes
    over the cap."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs a server database with row locks (TEST_DATABASE_URL=postgresql+psycopg://…)")
    owner = _owner(world)
    for n in range(2):
        flow.save(owner, _conference(title=f"学术年会第{n + 1}场"), submit=True)
    third_id = flow.save(owner, _conference(title="学术年会第三场")).id
    person_id = db.session.scalar(select(Person.id).where(Person.user_id == owner.user_id))
    before = {r for r in db.session.scalars(select(Declaration.id))}
    locked, done, errors = threading.Event(), threading.Event(), []

    def other_tab():
        with app.app_context():
            from app.extensions import db as tdb

            try:
                tdb.session.execute(text("SELECT id FROM person WHERE id = :id FOR UPDATE"), {"id": person_id})
                locked.set()
                done.wait(0.5)  # the main thread is now waiting for the lock (or has not reached it yet)
                flow.submit(tdb.session.get(Declaration, third_id), owner)  # commits: the lock is released
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                tdb.session.rollback()
            finally:
                tdb.session.remove()

    thread = threading.Thread(target=other_tab)
    thread.start()
    assert locked.wait(10)
    with pytest.raises(DomainError) as exc:
        flow.save(owner, _conference(title="第四场学术年会"), submit=True)
    done.set()
    thread.join(30)
    assert errors == []
    assert exc.value.field == "hours"
    db.session.expire_all()
    assert {r for r in db.session.scalars(select(Declaration.id))} == before, "a draft was saved"
    assert db.session.get(Declaration, third_id).state == "pending_unit"


# ---------------------------------------------------------------- registrations: membership and org machines

def _register_unit(world) -> Registration:
    data = reg_flow.AccountData(id_type="resident_id", id_number=factories.new_id_number(),
                                password=factories.PASSWORD, confirm=factories.PASSWORD, name="王五",
                                email="wangwu@example.cn", mobile="13912345678")
    return reg_flow.register_org(OrgKind.UNIT, data, world.dept.id,
                                 {"name": "新注册单位", "credit_code": factories.make_credit_code("370102", 310001)})


def _reviewer(world):
    return actor_for(world.dept_admin, R.DEPT_ADMIN, world.dept)


@pytest.mark.parametrize("decision,membership_state,org_state", [
    ("approve", "active", "active"), ("reject", "rejected", "rejected")])
def test_a_decision_moves_the_membership_and_the_org_with_it(app, world, db, decision, membership_state, org_state):
    reg = _register_unit(world)
    getattr(reg_flow, decision)(reg, _reviewer(world), "材料不全" if decision == "reject" else None)
    db.session.expire_all()
    reg = db.session.get(Registration, reg.id)
    assert (reg.state, reg.membership.state, reg.org.state) == (
        "approved" if decision == "approve" else "rejected", membership_state, org_state)
    assert [a.action for a in db.session.scalars(select(AuditLog).where(AuditLog.object_id == reg.id,
                                                                        AuditLog.object_type == "registration")
                                                 .order_by(AuditLog.id))] \
        == ["registration.submit", f"registration.{decision}"]


def test_an_approval_is_refused_whole_when_the_membership_moved_meanwhile(app, world, db):
    """The applicant's pending admin membership was revoked (its org merged) after the page was loaded: approving
    the registration changes nothing at all — not the registration, not the org."""
    reg = _register_unit(world)
    stale = db.session.get(Registration, reg.id)
    membership_id, org_id = stale.membership_id, stale.org_id
    assert stale.membership.state == "pending"  # loaded as the reviewer's page saw it
    db.session.execute(text("UPDATE membership SET state = 'revoked' WHERE id = :id"), {"id": membership_id})
    db.session.commit()  # another request's change (written here as SQL: the test stands for that request)
    before = db.session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1))
    with pytest.raises((ConcurrentTransition, TransitionNotAllowed)):
        reg_flow.approve(stale, _reviewer(world))
    db.session.expire_all()
    assert db.session.get(Registration, reg.id).state == "pending"
    assert db.session.get(Org, org_id).state == "pending"
    assert db.session.get(Membership, membership_id).state == "revoked"
    assert db.session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1)) == before


def test_membership_and_org_steps_are_taken_only_inside_another_use_case(app, world, db):
    """Their transitions are steps of other use cases: nobody, not even the system administrator, takes one on its
    own through the machine."""
    reg = _register_unit(world)
    sysadmin = actor_for(world.sysadmin, R.SYSADMIN)
    from app.workflows.base import PermissionDenied
    from app.workflows.orgs import machine as org_machine

    with pytest.raises(PermissionDenied):
        memberships.machine.apply(reg.membership, "approve", sysadmin)
    with pytest.raises(PermissionDenied):
        org_machine.apply(reg.org, "approve", sysadmin)
    db.session.expire_all()
    assert (reg.membership.state, reg.org.state) == ("pending", "pending")
