"""State machine 3: unit transfer (P7 for the professional, U7 for unit admins).

A professional with nothing pending applies (pending_out); the old unit's admins release it (pending_in), then the
new unit's admins accept it (done); either may reject with a reason; the applicant withdraws while pending.
A unit admin may start a transfer-out for an employee of their subtree (pending_in): the new unit accepts.
On acceptance the person, their professional membership and their declarations move to the new unit in the same
transaction; hour records and year summaries are per person and follow by themselves.
"""
from __future__ import annotations

import re

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import selectinload

from ..authz import TRANSFER_REVIEW_VIEW
from ..extensions import db
from ..models import (Account, Declaration, Membership, MembershipState, NotificationKind, Org, OrgKind, OrgState,
                      Person, RoleName, Transfer, TransferState)
from ..models.changes import PENDING_TRANSFER_STATES
from . import memberships
from .base import APPLICANT, Actor, DomainError, PermissionDenied, StateMachine, Transition, capped_count, now
from .notifications import Note, Waiting, reason_line
from .orgs import subtree_ids
from .pending import blocked_message, lock_person, pending_for_person

S = TransferState
UNIT_ADMINS = frozenset({RoleName.UNIT_ADMIN})
NOTE_MAX = 200
# The step each party decides: the old unit releases, the new unit accepts.
APPROVE_STEP = {S.PENDING_OUT.value: "release", S.PENDING_IN.value: "accept"}


class TransferMachine(StateMachine):
    model = Transfer
    object_type = "transfer"
    initial = (S.PENDING_OUT, S.PENDING_IN)  # asked by the person, or started (released) by the old unit
    transitions = (
        Transition(S.PENDING_OUT, "release", S.PENDING_IN, UNIT_ADMINS),
        Transition(S.PENDING_OUT, "reject", S.REJECTED, UNIT_ADMINS),
        Transition(S.PENDING_IN, "accept", S.DONE, UNIT_ADMINS),
        Transition(S.PENDING_IN, "reject", S.REJECTED, UNIT_ADMINS),
        Transition(S.PENDING_OUT, "withdraw", S.WITHDRAWN, frozenset({APPLICANT})),
        # A transfer-out started by the unit is withdrawn by the old unit's admins; one applied for by the
        # professional, by the professional.
        Transition(S.PENDING_IN, "withdraw", S.WITHDRAWN, frozenset({APPLICANT, RoleName.UNIT_ADMIN})),
    )

    batch_load = (selectinload(Transfer.person).selectinload(Person.user), selectinload(Transfer.from_unit),
                  selectinload(Transfer.to_unit))

    def in_scope(self, item: Transfer, actor: Actor) -> bool:
        """Either unit of the transfer lies in the actor's subtree (who may see it)."""
        return actor.role == RoleName.UNIT_ADMIN and (actor.covers(item.from_unit.path)
                                                      or actor.covers(item.to_unit.path))

    def may_act(self, item: Transfer, transition: Transition, actor: Actor) -> bool:
        """The party of the step: the old unit releases (and rejects while pending_out), the new unit accepts (and
        rejects while pending_in); the old unit withdraws the transfer-outs it started. Nobody decides their own."""
        if actor.role != RoleName.UNIT_ADMIN or actor.user_id is None or item.person.user_id == actor.user_id:
            return False
        if transition.action == "withdraw":
            return item.initiator == "unit" and actor.covers(item.from_unit.path)
        if transition.source == S.PENDING_OUT:
            return actor.covers(item.from_unit.path)
        return actor.covers(item.to_unit.path)

    def lock(self, item, action: str) -> bool:
        return lock_person(item.person_id)

    def is_owner(self, item: Transfer, actor: Actor) -> bool:
        return (actor.user_id is not None and actor.role == RoleName.PROFESSIONAL and item.initiator == "person"
                and item.person.user_id == actor.user_id)

    def on_enter(self, item: Transfer, transition: Transition, actor: Actor, comment: str | None) -> None:
        action = transition.action
        if action in ("release", "accept"):
            _check_still_possible(item)
        if transition.source == S.PENDING_OUT and action in ("release", "reject"):
            item.out_decided_at, item.out_decided_by_id = now(), actor.user_id
        elif transition.source == S.PENDING_IN and action in ("accept", "reject"):
            item.in_decided_at, item.in_decided_by_id = now(), actor.user_id
        if action == "reject":
            item.reason = comment
        if action == "accept":
            _move(item, actor)

    queues = True

    def notify(self, item: Transfer, transition: Transition, actor: Actor | None) -> list[Note]:
        """X2: the applicant hears of each step (started by the unit, released, accepted, rejected)."""
        if transition.action not in ("start", "release", "accept", "reject"):
            return []
        person, label = item.person, item.state_label
        reason = reason_line(item.reason) if transition.action == "reject" else ""
        return [Note([person.user], NotificationKind.DECISION, gettext("Your unit transfer: %(state)s", state=label),
                     gettext("Hello %(name)s,\n\nyour transfer from %(old)s to %(new)s is now: %(state)s.%(reason)s",
                             name=person.name, old=item.from_unit.name, new=item.to_unit.name, state=label,
                             reason=reason), "/transfer/")]

    def waiting(self, item: Transfer) -> list[Waiting]:
        """A transfer waits for the admins of the old unit (to release it), then of the new one (to accept it): those
        of the unit and of the units above it."""
        unit = {S.PENDING_OUT.value: item.from_unit, S.PENDING_IN.value: item.to_unit}.get(item.state)
        if unit is None:
            return []
        above = [int(x) for x in unit.path.strip("/").split("/") if x and int(x) != unit.id]
        return [Waiting(unit, RoleName.UNIT_ADMIN.value, TRANSFER_REVIEW_VIEW,
                        gettext("A unit transfer waits for your review"),
                        gettext("The transfer of %(name)s from %(old)s to %(new)s waits for your review.",
                                name=item.person.name, old=item.from_unit.name, new=item.to_unit.name),
                        f"/review/transfers/{item.id}", exclude_user_id=item.person.user_id, also=above)]

    def decision_step(self, item: Transfer, decision: str, actor: Actor) -> str:
        """A unit admin's "approve" releases what waits for the old unit and accepts what waits for the new one."""
        return "reject" if decision == "reject" else APPROVE_STEP.get(item.state, "release")


machine = TransferMachine()


# ---------------------------------------------------------------- rules shared by the steps

def _other_pending(person: Person, transfer_id: int | None = None) -> list:
    """What is pending for the person other than this transfer."""
    transfer_reason = str(_l("a unit transfer is under review"))
    reasons = [r for r in pending_for_person(person) if str(r) != transfer_reason]
    others = select(Transfer.id).where(Transfer.person_id == person.id, Transfer.state.in_(PENDING_TRANSFER_STATES))
    if transfer_id is not None:
        others = others.where(Transfer.id != transfer_id)
    if db.session.scalar(select(exists(others))):
        reasons.append(_l("a unit transfer is under review"))
    return reasons


def _is_active_unit(org: Org | None) -> bool:
    return org is not None and org.kind == OrgKind.UNIT.value and org.state == OrgState.ACTIVE.value


def _active_professional(person: Person) -> bool:
    return bool(db.session.scalar(select(exists(select(Membership.id).where(
        Membership.user_id == person.user_id, Membership.role == RoleName.PROFESSIONAL.value,
        Membership.state == MembershipState.ACTIVE.value)))))


def _check_still_possible(item: Transfer) -> None:
    """At release and acceptance: nothing else became pending meanwhile, the person is still at the old unit and
    the new unit still takes staff."""
    person = item.person
    reasons = _other_pending(person, item.id)
    if reasons:
        raise DomainError(blocked_message(reasons, _l("Completing this transfer")))
    if person.unit_id != item.from_unit_id:
        raise DomainError(_l("The person's unit has changed since the transfer was requested."))
    if not _is_active_unit(item.to_unit):
        raise DomainError(_l("The new unit is no longer active."))


def _move(item: Transfer, actor: Actor) -> None:
    """The person, their professional membership and their declarations belong to the new unit from now on; the
    admin rights they held in the old unit end (each audited, their admin sessions stop at once)."""
    person = item.person
    for admin in list(db.session.scalars(select(Membership).where(
            Membership.user_id == person.user_id, Membership.org_id == item.from_unit_id,
            Membership.role == RoleName.UNIT_ADMIN.value, Membership.state == MembershipState.ACTIVE.value))):
        memberships.revoke(admin, actor, audit_as="admin.remove",
                           comment=gettext("transferred to %(unit)s", unit=item.to_unit.name))
    person.unit_id = item.to_unit_id
    db.session.execute(update(Membership).where(
        Membership.user_id == person.user_id, Membership.role == RoleName.PROFESSIONAL.value,
        Membership.state == MembershipState.ACTIVE.value).values(org_id=item.to_unit_id)
        .execution_options(synchronize_session=False))
    db.session.execute(update(Declaration).where(Declaration.person_id == person.id)
                       .values(unit_id=item.to_unit_id).execution_options(synchronize_session=False))


def _new_unit(to_unit_id, person: Person) -> Org:
    to_unit = db.session.get(Org, to_unit_id) if isinstance(to_unit_id, int) and to_unit_id > 0 else None
    if not _is_active_unit(to_unit):
        raise DomainError(_l("Choose the new unit from the list."), field="to_unit_id")
    if to_unit.id == person.unit_id:
        raise DomainError(_l("The new unit must differ from the current unit."), field="to_unit_id")
    return to_unit


def _clean_note(note: str | None) -> str | None:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise DomainError(gettext("The note may have at most %(n)s characters.", n=NOTE_MAX), field="note")
    if re.search(r"[<>]", note):
        raise DomainError(_l("The note may not contain < or >."), field="note")
    return note or None


def _create(person: Person, to_unit: Org, actor: Actor, *, initiator: str, note: str | None) -> Transfer:
    """Insert the transfer and its audit row in one transaction; a second one racing in is refused."""
    item = Transfer(person_id=person.id, from_unit_id=person.unit_id, to_unit_id=to_unit.id, initiator=initiator,
                    note=note, started_by_id=actor.user_id if initiator == "unit" else None)
    if initiator == "unit":  # the old unit's admin releases by starting it
        item.out_decided_at, item.out_decided_by_id = now(), actor.user_id
    machine.open(item, actor, action="submit" if initiator == "person" else "start", comment=note,
                 state=S.PENDING_OUT if initiator == "person" else S.PENDING_IN,
                 duplicate=blocked_message([_l("a unit transfer is under review")], _l("Applying for a unit transfer")))
    return item


# ---------------------------------------------------------------- the professional (P7)

def person_of(actor: Actor) -> Person:
    person = db.session.scalar(select(Person).where(Person.user_id == actor.user_id)) if actor.user_id else None
    if person is None or actor.role != RoleName.PROFESSIONAL:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return person


def blocked_reasons(person: Person) -> list:
    """Why the professional cannot apply now (empty: they can)."""
    return _other_pending(person)


def submit(actor: Actor, to_unit_id, note: str | None = None) -> Transfer:
    """P7: the professional applies to move to another unit; the current unit releases first."""
    person = person_of(actor)
    lock_person(person.id)
    if not _is_active_unit(person.unit) or not _active_professional(person):
        raise DomainError(_l("Only an active professional of an active unit can apply for a transfer."))
    to_unit = _new_unit(to_unit_id, person)
    note = _clean_note(note)
    reasons = _other_pending(person)
    if reasons:
        raise DomainError(blocked_message(reasons, _l("Applying for a unit transfer")))
    return _create(person, to_unit, actor, initiator="person", note=note)


def withdraw(item: Transfer, actor: Actor) -> Transfer:
    return machine.apply(item, "withdraw", actor)


def mine(actor: Actor) -> list[Transfer]:
    person = person_of(actor)
    return list(db.session.scalars(
        select(Transfer).options(selectinload(Transfer.from_unit), selectinload(Transfer.to_unit))
        .where(Transfer.person_id == person.id).order_by(Transfer.id.desc()).limit(100)))


# ---------------------------------------------------------------- unit admins (U7)

def _admin_scope(actor: Actor) -> str:
    if actor.role != RoleName.UNIT_ADMIN or not actor.scope_path or actor.user_id is None:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return actor.scope_path


def staff_query(actor: Actor, q: str | None = None, limit: int = 20) -> list[Person]:
    """Active professionals of the admin's unit and its sub-units whose name contains q (the admin excluded)."""
    root = _admin_scope(actor)
    stmt = (select(Person).options(selectinload(Person.unit))
            .where(Person.unit_id.in_(subtree_ids(root)), Person.user_id != actor.user_id,
                   exists(select(Membership.id).where(
                       Membership.user_id == Person.user_id, Membership.role == RoleName.PROFESSIONAL.value,
                       Membership.state == MembershipState.ACTIVE.value))))
    q = (q or "").strip()[:30]
    if q:
        stmt = stmt.where(Person.name.contains(q, autoescape=True))
    return list(db.session.scalars(stmt.order_by(func.length(Person.name), Person.name, Person.id).limit(limit)))


def employee(actor: Actor, person_id) -> Person:
    """An active professional of the admin's subtree, else a refusal (another unit's people are not found)."""
    root = _admin_scope(actor)
    person = db.session.get(Person, person_id) if isinstance(person_id, int) and person_id > 0 else None
    if (person is None or person.unit is None or not person.unit.path.startswith(root)
            or not _active_professional(person)):
        raise DomainError(_l("Choose an employee of your unit from the list."), field="person_id")
    if person.user_id == actor.user_id:
        raise DomainError(_l("You cannot start a transfer of yourself."), field="person_id")
    return person


def start(actor: Actor, person_id, to_unit_id, note: str | None = None) -> Transfer:
    """U7: the old unit's admin starts a transfer-out of an employee; the new unit accepts or rejects."""
    person = employee(actor, person_id)
    lock_person(person.id)
    to_unit = _new_unit(to_unit_id, person)
    note = _clean_note(note)
    reasons = _other_pending(person)
    if reasons:
        raise DomainError(blocked_message(reasons, _l("Starting a transfer-out")))
    return _create(person, to_unit, actor, initiator="unit", note=note)


def decide_many(ids: list[int], action: str, actor: Actor, reason: str | None = None):
    return machine.decide_many(ids, action, actor, reason)


def release(item: Transfer, actor: Actor) -> Transfer:
    return machine.apply(item, "release", actor)


def accept(item: Transfer, actor: Actor) -> Transfer:
    return machine.apply(item, "accept", actor)


def reject(item: Transfer, actor: Actor, reason: str | None) -> Transfer:
    return machine.apply(item, "reject", actor, reason)


def _scoped(stmt, actor: Actor, tab: str):
    """outgoing: waiting for the old unit in my subtree; incoming: waiting for the new unit in my subtree;
    history: every transfer from or to my subtree. Never the admin's own transfer in the waiting tabs."""
    if actor.role != RoleName.UNIT_ADMIN or not actor.scope_path:
        return stmt.where(False)
    orgs = subtree_ids(actor.scope_path)
    own = select(Person.id).where(Person.user_id == actor.user_id)
    if tab == "out":
        return stmt.where(Transfer.state == S.PENDING_OUT.value, Transfer.from_unit_id.in_(orgs),
                          Transfer.person_id.notin_(own))
    if tab == "in":
        return stmt.where(Transfer.state == S.PENDING_IN.value, Transfer.to_unit_id.in_(orgs),
                          Transfer.person_id.notin_(own))
    # The new unit sees a transfer once it has reached it (released, or started by the old unit), never an
    # application its current unit has not released.
    reached = or_(Transfer.state.in_([S.PENDING_IN.value, S.DONE.value]), Transfer.in_decided_at.is_not(None),
                  and_(Transfer.state == S.WITHDRAWN.value, Transfer.out_decided_at.is_not(None)))
    return stmt.where(or_(Transfer.from_unit_id.in_(orgs), and_(Transfer.to_unit_id.in_(orgs), reached)))


def queue(actor: Actor, tab: str = "out", q: str | None = None, after_id: int | None = None,
          limit: int = 20) -> list[Transfer]:
    """A page of a tab, newest first, keyset-paginated; the page's rows only are loaded with their relations."""
    ids = _scoped(select(Transfer.id), actor, tab)
    q = (q or "").strip()[:30]
    if q:
        ids = ids.where(Transfer.person_id.in_(select(Person.id).where(Person.name.contains(q, autoescape=True))))
    if after_id:
        ids = ids.where(Transfer.id < after_id)
    ids = ids.order_by(Transfer.id.desc()).limit(limit)
    return list(db.session.scalars(
        select(Transfer).where(Transfer.id.in_(ids))
        .options(selectinload(Transfer.person), selectinload(Transfer.from_unit), selectinload(Transfer.to_unit))
        .order_by(Transfer.id.desc())))


def visible(item: Transfer, actor: Actor) -> bool:
    """A transfer of the admin's history tab (from the subtree, or to it once it has reached the new unit)."""
    return db.session.scalar(_scoped(select(Transfer.id).where(Transfer.id == item.id), actor, "history")) is not None


def can_decide(item: Transfer, actor: Actor) -> bool:
    """Whether this admin decides the step the transfer waits at (the old unit releases, the new unit accepts;
    never their own transfer): the detail page offers the decision panel on it."""
    return machine.can_decide(item, actor)


def waiting_tab(item: Transfer, actor: Actor) -> str | None:
    """"out" or "in" when the transfer waits for this admin's decision (the row of that tab), else None."""
    if not can_decide(item, actor):
        return None
    return {S.PENDING_OUT.value: "out", S.PENDING_IN.value: "in"}.get(item.state)


def pending_count(actor: Actor, tab: str) -> int:
    return capped_count(_scoped(select(Transfer.id), actor, tab))


def can_withdraw_as_unit(item: Transfer, actor: Actor) -> bool:
    return item.state == S.PENDING_IN.value and machine.may_act(item, machine.table[(item.state, "withdraw")],
                                                                actor)


def names_of(ids) -> dict[int, str]:
    """Display names of the deciding accounts."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(select(Account.id, Account.first_name).where(Account.id.in_(ids))).all())
