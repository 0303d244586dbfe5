"""The life of a role membership: pending while its registration is reviewed, active once approved or granted,
then revoked (by support, by the org's super admin or the org above, by a transfer, by closing or merging the
org). Every step is taken by the use case that checked who acts (`FOLLOWS`), inside that use case's transaction."""
from __future__ import annotations

from ..models import Membership, MembershipState
from .base import FOLLOWS, Actor, StateMachine, Transition

M = MembershipState
STEP = frozenset({FOLLOWS})


class MembershipMachine(StateMachine):
    model = Membership
    object_type = "membership"
    initial = (M.PENDING, M.ACTIVE)  # registered (reviewed) or granted (by support, by an org's super admin)
    reason_required = frozenset()
    transitions = (
        Transition(M.PENDING, "approve", M.ACTIVE, STEP),  # its registration is approved
        Transition(M.PENDING, "reject", M.REJECTED, STEP),
        Transition(M.PENDING, "withdraw", M.WITHDRAWN, STEP),
        Transition(M.PENDING, "revoke", M.REVOKED, STEP),  # its org is merged into another
        Transition(M.ACTIVE, "revoke", M.REVOKED, STEP),
    )

    def in_scope(self, item: Membership, actor: Actor) -> bool:
        return False  # only steps of other use cases

    def is_owner(self, item: Membership, actor: Actor) -> bool:
        return False


machine = MembershipMachine()


def revoke(membership: Membership, actor: Actor, *, audit_as: str | bool = False, comment: str | None = None,
           end_super: bool = True) -> None:
    """End a membership's rights in the caller's transaction (its sessions stop at the next request)."""
    machine.enter(membership, "revoke", actor, comment, {"is_super": False} if end_super else None, follows=True,
                  audit_as=audit_as)
