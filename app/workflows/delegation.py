"""X9 delegation: an admin hands their review rights to another admin of the same org and role for a period.

- never wider than the delegator's own rights: the deputy, acting for the delegator, carries the delegator as
  `Actor.on_behalf_of`, and every transition is checked for both (`StateMachine.check`): the item must lie in
  the scope of each, be the own item of neither, and belong to a review module the delegator's org-defined role
  (if any) includes (`permits`); views open with the delegator's modules (app/security.py `rights_membership`);
- never to oneself, only to an active admin of the same org with the same role, never two periods of one
  delegator that overlap (the delegator's membership row is locked while that is checked);
- it is in force from its start date to its end date, both included (`clock.today()`): after the end date it
  ends by itself, with no job to run; the delegator can revoke it early, which ends it at once (every check
  reads the delegation again);
- a decision taken by the deputy is audited with the delegator (`AuditLog.on_behalf_of`), and timelines show
  "A 代 B" (`who`).
"""
from __future__ import annotations

import datetime

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .. import clock
from ..authz import Actor
from ..extensions import db
from ..models import Account, AuditLog, Delegation, DelegationState, Membership, MembershipState, RoleName
from .accounts import actor_of, display_name
from .base import APPLICANT, DomainError, PermissionDenied, StateMachine, Transition, audit, now, transaction
from .deputies import REVIEW_MODULES, SESSION_KEY, acting, holds, permits  # noqa: F401  (the rules of acting)

S = DelegationState
ADMIN_ROLES = frozenset({RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN})
MAX_DAYS = 366
NOTE_MAX = 200
NOT_IN_FORCE = _l("This delegation is not in force.")


class DelegationMachine(StateMachine):
    model = Delegation
    object_type = "delegation"
    initial = (S.ACTIVE,)
    transitions = (Transition(S.ACTIVE, "revoke", S.REVOKED, frozenset({APPLICANT})),)
    reason_required = frozenset()

    def in_scope(self, item, actor: Actor) -> bool:
        return False

    def is_owner(self, item, actor: Actor) -> bool:
        """The delegator, acting as themselves."""
        return actor.on_behalf_of is None and actor.user_id is not None and item.delegator.user_id == actor.user_id


machine = DelegationMachine()


# ---------------------------------------------------------------- in force, acting

def deputy_actor(item: Delegation, ip: str | None = None) -> Actor:
    """The deputy as an Actor acting for the delegator: the deputy's own identity, role and org, with the
    delegator's Actor in `on_behalf_of`."""
    own = actor_of(item.deputy, ip)
    return Actor(own.user_id, own.display, own.role, own.org_id, own.scope_path, ip,
                 on_behalf_of=actor_of(item.delegator, ip), delegation_id=item.id)


def act(membership: Membership, delegation_id: int | None, ip: str | None = None) -> Delegation:
    """The deputy switches to acting for the delegator (the view keeps the id in the session); audited."""
    item = db.session.get(Delegation, delegation_id) if delegation_id and 0 < delegation_id < 2 ** 31 else None
    if item is None or item.deputy_id != membership.id:
        raise PermissionDenied(_l("You do not have permission to do this."))
    if not holds(item, clock.today()):
        raise DomainError(NOT_IN_FORCE)
    with transaction():
        audit(deputy_actor(item, ip), "delegation.act", object_type="delegation", object_id=item.id)
    return item


# ---------------------------------------------------------------- the delegator's page

def _own_membership(actor: Actor) -> Membership:
    """The delegator's admin membership: an admin role of an org, acting as themselves."""
    if actor.on_behalf_of is not None:
        raise PermissionDenied(_l("A deputy cannot delegate the rights they act with."))
    if actor.user_id is None or actor.role not in ADMIN_ROLES or actor.org_id is None:
        raise PermissionDenied(_l("You do not have permission to do this."))
    membership = db.session.scalar(select(Membership).where(
        Membership.user_id == actor.user_id, Membership.org_id == actor.org_id,
        Membership.role == actor.role.value, Membership.state == MembershipState.ACTIVE.value
    ).order_by(Membership.id))
    if membership is None:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return membership


def candidates(actor: Actor) -> list[Membership]:
    """The admins a delegator may name as deputy: the other active admins of their org with their role."""
    mine = _own_membership(actor)
    return list(db.session.scalars(select(Membership).join(Account, Account.id == Membership.user_id).options(
        joinedload(Membership.user)).where(
        Membership.org_id == mine.org_id, Membership.role == mine.role,
        Membership.state == MembershipState.ACTIVE.value, Membership.user_id != mine.user_id,
        Account.active.is_(True)).order_by(Membership.id).limit(500)))


def given(actor: Actor) -> list[Delegation]:
    """The delegations the actor gave, newest first."""
    if actor.on_behalf_of is not None or actor.user_id is None or actor.org_id is None:
        return []
    return list(db.session.scalars(_listing().join(Membership, Membership.id == Delegation.delegator_id).where(
        Membership.user_id == actor.user_id, Delegation.org_id == actor.org_id)))


def received(membership: Membership | None) -> list[Delegation]:
    """The delegations naming this membership as deputy, not ended nor revoked, soonest first."""
    if membership is None:
        return []
    return list(db.session.scalars(_listing(newest=False).where(
        Delegation.deputy_id == membership.id, Delegation.state == S.ACTIVE.value,
        Delegation.end_date >= clock.today())))


def _listing(newest: bool = True):
    order = (Delegation.id.desc(),) if newest else (Delegation.start_date, Delegation.id)
    return select(Delegation).options(
        joinedload(Delegation.delegator).joinedload(Membership.user),
        joinedload(Delegation.deputy).joinedload(Membership.user)).order_by(*order).limit(200)


def _date(value, field: str) -> datetime.date:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat((value or "").strip())
    except ValueError:
        raise DomainError(_l("Enter a date as 2026-01-31."), field=field) from None


def create(actor: Actor, deputy_id, start, end, note: str | None = None) -> Delegation:
    """The actor delegates their review rights to the deputy (a membership id) from `start` to `end`."""
    mine = _own_membership(actor)
    start_date, end_date = _date(start, "start_date"), _date(end, "end_date")
    today = clock.today()
    if start_date < today:
        raise DomainError(_l("The start date cannot be in the past."), field="start_date")
    if end_date < start_date:
        raise DomainError(_l("The end date cannot be before the start date."), field="end_date")
    if (end_date - start_date).days >= MAX_DAYS:
        raise DomainError(_l("A delegation lasts one year at most."), field="end_date")
    note = (note or "").strip() or None
    if note and len(note) > NOTE_MAX:
        raise DomainError(_l("At most %(n)s characters.", n=NOTE_MAX), field="note")
    deputy_id = deputy_id if isinstance(deputy_id, int) else (
        int(deputy_id) if str(deputy_id or "").isascii() and str(deputy_id or "").isdigit()
        and len(str(deputy_id)) < 10 else None)
    deputy = db.session.get(Membership, deputy_id) if deputy_id else None
    if deputy is not None and deputy.user_id == mine.user_id:
        raise DomainError(_l("You cannot delegate to yourself."), field="deputy_id")
    if (deputy is None or deputy.org_id != mine.org_id or deputy.role != mine.role
            or deputy.state != MembershipState.ACTIVE.value or not deputy.user.active):
        raise DomainError(_l("The deputy must be an active administrator of your organisation."),
                          field="deputy_id")
    with transaction():
        # one delegator's periods never overlap: their membership row serialises two requests at once
        db.session.scalar(select(Membership.id).where(Membership.id == mine.id).with_for_update())
        clash = db.session.scalar(select(Delegation.id).where(
            Delegation.delegator_id == mine.id, Delegation.state == S.ACTIVE.value, Delegation.end_date >= today,
            Delegation.start_date <= end_date, Delegation.end_date >= start_date).limit(1))
        if clash is not None:
            raise DomainError(_l("You already have a delegation in this period."), field="start_date")
        item = Delegation(delegator_id=mine.id, deputy_id=deputy.id, org_id=mine.org_id, start_date=start_date,
                          end_date=end_date, note=note, created_at=now())
        machine.open(item, actor, action="create", commit=False,
                     comment=f"{deputy_display(deputy)} {start_date.isoformat()}~{end_date.isoformat()}")
    return item


def revoke(item: Delegation, actor: Actor) -> Delegation:
    """The delegator ends the delegation now (one not yet ended)."""
    if not machine.is_owner(item, actor):
        raise PermissionDenied(_l("You do not have permission to do this."))
    if item.status(clock.today()) == "ended" and item.state == S.ACTIVE.value:
        raise DomainError(_l("This delegation has already ended."))
    return machine.apply(item, "revoke", actor, values={"revoked_at": now()})


def deputy_display(membership: Membership) -> str:

    return display_name(membership.user)


# ---------------------------------------------------------------- timelines

def timeline(object_type: str, object_id: int) -> list[AuditLog]:
    """The audit rows of one item, oldest first (its review timeline; a page shows it only to whoever may see the
    item)."""
    return list(db.session.scalars(select(AuditLog).where(
        AuditLog.object_type == object_type, AuditLog.object_id == object_id).order_by(AuditLog.id).limit(200)))


def who(row) -> str:
    """The actor column of an audit row: "A 代 B" for a deputy's act."""
    if getattr(row, "on_behalf_of", None):
        return gettext("%(actor)s on behalf of %(principal)s", actor=row.actor or "", principal=row.on_behalf_of)
    return row.actor or ""

