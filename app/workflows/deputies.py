"""X9: whether a deputy acts for a delegator right now, and on which items. The floor under the state machines
(app/workflows/base.py asks `permits` in every check): it imports nothing of the workflows, so the machines reach it
without a cycle; creating, revoking and switching delegations live in app/workflows/delegation.py."""
from __future__ import annotations

import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .. import clock
from ..authz import Actor
from ..extensions import db
from ..models import Delegation, Membership, MembershipState

SESSION_KEY = "delegation_id"
# The review module (app/authz.py MODULES) each machine's items belong to: a deputy acts on these only, and only
# where the delegator's org-defined role (if any) ticks the module.
REVIEW_MODULES = {
    "registration": "registrations",
    "declaration": "declarations",
    "title_change": "personnel",
    "transfer": "transfers",
    "org_change": "orgs",
    "base_report": "hr",
    "online_class": "class_review",
    "base_filing": "base_plans_review",
}


def holds(item: Delegation | None, today: datetime.date) -> bool:
    """In force today between two active admin memberships of one org and role, of active accounts."""
    if item is None or not item.in_force(today):
        return False
    a, b = item.deputy, item.delegator
    return (a.state == b.state == MembershipState.ACTIVE.value and a.org_id == b.org_id == item.org_id
            and a.role == b.role and a.user_id != b.user_id and a.user.active and b.user.active)


def acting(membership: Membership, session) -> Delegation | None:
    """The delegation the session's deputy acts under (the switch `act` set), if it still holds; a session whose
    delegation ended, was revoked or is not this membership's forgets it. No query when the switch is off."""
    delegation_id = session.get(SESSION_KEY)
    if not delegation_id:
        return None
    item = acting_by_id(membership, delegation_id)
    if item is None:
        session.pop(SESSION_KEY, None)
    return item


def acting_by_id(membership: Membership, delegation_id) -> Delegation | None:
    """The delegation `delegation_id` if this membership is its deputy and it holds today (a web session's switch,
    or an API request's X-On-Behalf-Of header), else None."""
    if not isinstance(delegation_id, int) or not 0 < delegation_id < 2 ** 31:
        return None
    item = db.session.scalar(select(Delegation).options(
        joinedload(Delegation.delegator).joinedload(Membership.user),
        joinedload(Delegation.delegator).joinedload(Membership.org),
        joinedload(Delegation.delegator).joinedload(Membership.org_role),
        joinedload(Delegation.deputy).joinedload(Membership.user)).where(Delegation.id == delegation_id))
    if item is None or item.deputy_id != membership.id or not holds(item, clock.today()):
        return None
    return item


def permits(actor: Actor, object_type: str) -> bool:
    """Whether the deputy `actor` may still act for its delegator on an item of this kind: the delegation holds
    today (read again: a revocation ends it at once) between these two people, and the item's review module is
    one the delegator's org-defined role (if any) includes."""
    principal = actor.on_behalf_of
    if principal is None or actor.delegation_id is None:
        return False
    item = db.session.get(Delegation, actor.delegation_id, populate_existing=True)
    if not holds(item, clock.today()) or item.deputy.user_id != actor.user_id \
            or item.delegator.user_id != principal.user_id or item.delegator.role != principal.role.value \
            or item.deputy.role != actor.role.value:
        return False
    module = REVIEW_MODULES.get(object_type)
    if module is None:
        return False
    org_role = item.delegator.org_role
    if org_role is None:
        return True
    return bool(org_role.active and org_role.org_id == item.org_id and module in org_role.modules)
