"""U2 / D2: an org's profile, and state machine 5 — a change of its credit code or of the org above it, approved by
the current org above AND the new one (a credit-code change alone: one approval by the current org above)."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import aliased, selectinload

from ..authz import ORG_CHANGE_REVIEW_VIEW
from ..extensions import db
from ..models import (Account, Membership, MembershipState, NotificationKind, Org, OrgChange, OrgChangeState, OrgKind,
                      OrgState, RoleName)
from ..models.changes import PENDING_ORG_CHANGE_STATES
from ..models.org import ALLOWED_PARENTS
from ..validators import ValidationError, validate_credit_code
from .base import (APPLICANT, Actor, ConcurrentTransition, DomainError, PermissionDenied, StateMachine, Transition,
                   audit, capped_count, now)
from .notifications import Note, Waiting
from .orgs import longest_path_below, rewrite_subtree, subtree_ids
from .pending import blocked_message, pending_for_org

S = OrgChangeState
DECIDERS = frozenset({RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN})
# The admin role of an org's own admins (who edit its profile and request its changes).
ORG_ADMIN_ROLES = {
    OrgKind.UNIT.value: RoleName.UNIT_ADMIN,
    OrgKind.DEPARTMENT.value: RoleName.DEPT_ADMIN,
    OrgKind.HR_CITY.value: RoleName.HR_ADMIN,
    OrgKind.HR_DISTRICT.value: RoleName.HR_ADMIN,
    OrgKind.BASE.value: RoleName.BASE_ADMIN,
}
PROFILE_FIELDS = ("phone", "address", "contact", "nature", "industry", "description")
LIVE_ORG_STATES = (OrgState.PENDING.value, OrgState.ACTIVE.value)
PATH_MAX = 255


def _own_org_admins(org_path):
    """The accounts that administer (an active admin membership, whichever role the session acts in) the org at
    `org_path` or an org inside its subtree: they never decide its change, not even through a membership of an org
    above (a unit admin who also administers the new department)."""
    inside = aliased(Org)
    return select(Membership.user_id).join(inside, inside.id == Membership.org_id).where(
        Membership.state == MembershipState.ACTIVE.value, Membership.role != RoleName.PROFESSIONAL.value,
        inside.path.startswith(org_path, autoescape=isinstance(org_path, str)))


def _is_own_org_admin(item: OrgChange, actor: Actor) -> bool:
    """The admins of the org itself or of anything inside its subtree, and the requester (they never decide its
    change), judged by the account, not only by the session's membership."""
    if bool(actor.scope_path) and actor.scope_path.startswith(item.org.path):
        return True
    if actor.user_id is None or item.requested_by_id == actor.user_id:
        return True
    return bool(db.session.scalar(select(exists(_own_org_admins(item.org.path).where(
        Membership.user_id == actor.user_id)))))


class OrgChangeMachine(StateMachine):
    model = OrgChange
    object_type = "org_change"
    initial = (S.PENDING,)
    transitions = (
        Transition(S.PENDING, "approve_old", S.PENDING_NEW, DECIDERS),
        Transition(S.PENDING, "approve_new", S.PENDING_OLD, DECIDERS),
        Transition(S.PENDING, "reject_old", S.REJECTED, DECIDERS),
        Transition(S.PENDING, "reject_new", S.REJECTED, DECIDERS),
        Transition(S.PENDING_NEW, "approve_new", S.APPROVED, DECIDERS),
        Transition(S.PENDING_NEW, "reject_new", S.REJECTED, DECIDERS),
        Transition(S.PENDING_OLD, "approve_old", S.APPROVED, DECIDERS),
        Transition(S.PENDING_OLD, "reject_old", S.REJECTED, DECIDERS),
        *(Transition(state, "withdraw", S.WITHDRAWN, frozenset({APPLICANT}))
          for state in (S.PENDING, S.PENDING_NEW, S.PENDING_OLD)),
    )
    reason_required = frozenset({"reject_old", "reject_new"})

    def in_scope(self, item: OrgChange, actor: Actor) -> bool:
        """Whether the actor is a deciding party of either side (and not an admin of the org itself)."""
        if _is_own_org_admin(item, actor):
            return False
        return actor.covers(item.old_parent.path) or actor.covers(item.new_parent.path)

    def may_act(self, item: OrgChange, transition: Transition, actor: Actor) -> bool:
        """approve_old / reject_old: an admin whose subtree covers the current org above; *_new: the new one.
        Never an admin of the org itself, never the same account on both sides of a parent change."""
        if _is_own_org_admin(item, actor):
            return False
        side = transition.action.rsplit("_", 1)[-1]
        parent = item.old_parent if side == "old" else item.new_parent
        if not actor.covers(parent.path):
            return False
        if item.old_parent_id != item.new_parent_id:
            other_decider = item.new_decided_by_id if side == "old" else item.old_decided_by_id
            if other_decider is not None and other_decider == actor.user_id:
                return False
        return True

    def is_owner(self, item: OrgChange, actor: Actor) -> bool:
        return actor.user_id is not None and item.requested_by_id == actor.user_id

    def resolve(self, item: OrgChange, transition: Transition):
        target = transition.target
        # One approval decides a change whose two parents are the same org (a credit-code change alone).
        if (transition.action in ("approve_old", "approve_new") and item.old_parent_id == item.new_parent_id):
            target = S.APPROVED
        return target, {}

    def on_enter(self, item: OrgChange, transition: Transition, actor: Actor, comment: str | None) -> None:
        action = transition.action
        if action != "withdraw":
            side = action.rsplit("_", 1)[-1]
            if side == "old" or item.old_parent_id == item.new_parent_id:
                item.old_decided_by_id = actor.user_id
            if side == "new" or item.old_parent_id == item.new_parent_id:
                item.new_decided_by_id = actor.user_id
        if item.state in (S.APPROVED.value, S.REJECTED.value, S.WITHDRAWN.value):
            item.decided_at = now()
        if action.startswith("reject"):
            item.reason = comment
        if item.state == S.APPROVED.value:
            _apply_change(item)

    queues = True

    def notify(self, item: OrgChange, transition: Transition, actor: Actor | None) -> list[Note]:
        """X2: the requester hears of every decision."""
        if transition.source is None or transition.action == "withdraw" or item.requested_by_id is None:
            return []
        requester = db.session.get(Account, item.requested_by_id)
        if requester is None:
            return []
        side_org = item.old_parent.name if transition.action.endswith("_old") else item.new_parent.name
        if item.state == S.APPROVED.value:
            subject = gettext("The change of your organisation has been approved")
            body = gettext("Hello %(name)s,\n\nthe change of %(org)s (%(what)s) has been approved and is now in "
                           "force.", name=requester.first_name, org=item.org.name, what=describe(item))
        elif item.state == S.REJECTED.value:
            subject = gettext("The change of your organisation has been rejected")
            body = gettext("Hello %(name)s,\n\nthe change of %(org)s (%(what)s) has been rejected by "
                           "%(reviewer)s.\nReason: %(reason)s", name=requester.first_name, org=item.org.name,
                           what=describe(item), reviewer=side_org, reason=item.reason or "")
        else:
            subject = gettext("The change of your organisation has been approved by %(reviewer)s",
                              reviewer=side_org)
            body = gettext("Hello %(name)s,\n\nthe change of %(org)s (%(what)s) has been approved by %(reviewer)s. "
                           "It still awaits %(other)s.", name=requester.first_name, org=item.org.name,
                           what=describe(item), reviewer=side_org,
                           other=item.new_parent.name if item.state == S.PENDING_NEW.value else item.old_parent.name)
        return [Note([requester], NotificationKind.DECISION, subject, body, "/org/profile/")]

    def waiting(self, item: OrgChange) -> list[Waiting]:
        """A pending change waits for the admins of the current org above and of the new one (the side that has
        not decided yet)."""
        sides = {S.PENDING.value: (item.old_parent, item.new_parent), S.PENDING_NEW.value: (item.new_parent,),
                 S.PENDING_OLD.value: (item.old_parent,)}.get(item.state, ())
        waits, seen = [], set()
        for parent in sides:
            role = ORG_ADMIN_ROLES.get(parent.kind)
            if parent.id in seen or role not in DECIDERS:
                continue
            seen.add(parent.id)
            waits.append(Waiting(parent, role.value, ORG_CHANGE_REVIEW_VIEW,
                                 gettext("An organisation change waits for your review"),
                                 gettext("%(org)s asks for a change (%(what)s).", org=item.org.name,
                                         what=describe(item)),
                                 f"/review/org-changes/{item.id}", exclude_user_id=item.requested_by_id))
        return waits

    def decision_step(self, item: OrgChange, decision: str, actor: Actor) -> str:
        """approve / reject on the side the actor covers and that still waits."""
        return f"{decision}_{side_for(item, actor)}"

    def enter_decision(self, item: OrgChange, decision: str, actor: Actor, reason: str | None = None):
        """If the other party moved the request on at the same instant, decide again on what it has become
        (once). The refused attempt wrote nothing: the state's conditional UPDATE is the first write."""
        try:
            return super().enter_decision(item, decision, actor, reason)
        except ConcurrentTransition:
            db.session.refresh(item)
            return super().enter_decision(item, decision, actor, reason)


machine = OrgChangeMachine()


def describe(item: OrgChange) -> str:
    """"credit code A → B; organisation above X → Y" for messages."""
    parts = []
    if item.new_credit_code and item.new_credit_code != item.old_credit_code:
        parts.append(gettext("credit code %(old)s → %(new)s", old=item.old_credit_code or "—",
                             new=item.new_credit_code))
    if item.new_parent_id != item.old_parent_id:
        parts.append(gettext("organisation above %(old)s → %(new)s", old=item.old_parent.name,
                             new=item.new_parent.name))
    return gettext("; ").join(parts)


def side_for(item: OrgChange, actor: Actor) -> str:
    """The side ("old" / "new") this actor would decide now: the waiting side it may act on."""
    for side in {S.PENDING_NEW.value: ("new",), S.PENDING_OLD.value: ("old",)}.get(item.state, ("old", "new")):
        transition = machine.table.get((item.state, f"approve_{side}"))
        if transition is not None and actor.role in transition.allowed and machine.may_act(item, transition, actor):
            return side
    return "new" if item.state == S.PENDING_NEW.value else "old"


def decide(item: OrgChange, action: str, actor: Actor, reason: str | None = None) -> OrgChange:
    """approve / reject by a reviewer, on the side the actor covers and that still waits."""
    return machine.decide(item, action, actor, reason)


def decide_many(ids: list[int], action: str, actor: Actor, reason: str | None = None):
    return machine.decide_many(ids, action, actor, reason)


def can_decide(item: OrgChange, actor: Actor) -> bool:
    """Whether this admin decides a side of the request that still waits (the side `side_for` names): the detail
    page offers the decision panel on it."""
    return machine.can_decide(item, actor)


def withdraw(item: OrgChange, actor: Actor) -> OrgChange:
    return machine.apply(item, "withdraw", actor)


def _apply_change(item: OrgChange) -> None:
    """On approval, in the same transaction: the new credit code, the new org above and the subtree's paths."""
    org = item.org
    # Nothing may have become pending for the org or its staff meanwhile (a declaration submitted after the
    # request would otherwise be left with a reviewer that is no longer above its unit). This request itself is
    # already "approved" in this transaction, so it does not count.
    reasons = pending_for_org(org)
    if reasons:
        raise DomainError(blocked_message(reasons, _l("Approving this change")))
    if item.new_credit_code and item.new_credit_code != org.credit_code:
        if _code_taken(item.new_credit_code, org.id, change_id=item.id):
            raise DomainError(_l("An organisation with this credit code is already registered."),
                              field="credit_code")
        org.credit_code = item.new_credit_code
        org.temporary_code = False
    if item.new_parent_id != org.parent_id:
        parent = item.new_parent
        problem = _parent_problem(org, parent)
        if problem:
            raise DomainError(problem, field="parent_id")
        db.session.flush()
        rewrite_subtree(org, parent)


# ---------------------------------------------------------------- the org's own admins

def _own_org(actor: Actor) -> Org:
    org = db.session.get(Org, actor.org_id) if actor.org_id else None
    if org is None or ORG_ADMIN_ROLES.get(org.kind) != actor.role:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return org


def edit_profile(actor: Actor, values: dict) -> Org:
    """U2 / D2: the org's admin edits the free fields of its profile; saved at once, audited."""
    org = _own_org(actor)
    if org.state != OrgState.ACTIVE.value:
        raise DomainError(_l("The organisation is not active."))
    changed = [name for name in PROFILE_FIELDS if name in values and (values[name] or None) != getattr(org, name)]
    for name in changed:
        setattr(org, name, values[name] or None)
    if changed:
        audit(actor, "org.edit", object_type="org", object_id=org.id, comment=", ".join(changed))
    db.session.commit()
    return org


def _code_taken(code: str, org_id: int, change_id: int | None = None) -> bool:
    if db.session.scalar(select(Org.id).where(Org.credit_code == code, Org.id != org_id,
                                              Org.state.in_(LIVE_ORG_STATES)).limit(1)):
        return True
    stmt = select(OrgChange.id).where(OrgChange.new_credit_code == code, OrgChange.org_id != org_id,
                                      OrgChange.state.in_(PENDING_ORG_CHANGE_STATES))
    if change_id:
        stmt = stmt.where(OrgChange.id != change_id)
    return bool(db.session.scalar(stmt.limit(1)))


def _parent_problem(org: Org, parent: Org | None):
    """Why `parent` may not be the org above `org` (None: it may)."""
    if parent is None or parent.state != OrgState.ACTIVE.value:
        return _l("Choose the new organisation above from the list.")
    if OrgKind(parent.kind) not in ALLOWED_PARENTS[OrgKind(org.kind)]:
        return _l("An organisation of this kind cannot be above yours.")
    if parent.id == org.id or parent.path.startswith(org.path):
        return _l("The organisation above cannot be your own organisation or one below it.")
    if len(parent.path) + longest_path_below(org) - len(org.parent.path if org.parent else "/") > PATH_MAX:
        return _l("The organisation tree would be too deep.")
    return None


@dataclass
class ChangeRequest:
    credit_code: str | None
    parent_id: int | None
    note: str | None = None


def request_change(actor: Actor, data: ChangeRequest) -> OrgChange:
    """The org's admin asks to change its credit code and / or the org above it (nothing pending allowed)."""
    try:
        org = _own_org(actor)
        if org.parent_id is None:
            raise DomainError(_l("An organisation with no organisation above cannot request this change."))
        code = (data.credit_code or "").strip() or None
        if code:
            try:
                code = validate_credit_code(code)
            except ValidationError as exc:
                raise DomainError(exc.message, field="credit_code") from exc
            if code == org.credit_code:
                code = None
        parent = org.parent
        if data.parent_id and data.parent_id != org.parent_id:
            parent = db.session.get(Org, data.parent_id)
            problem = _parent_problem(org, parent)
            if problem:
                raise DomainError(problem, field="parent_id")
        if code is None and parent.id == org.parent_id:
            raise DomainError(_l("Enter a new credit code or choose a new organisation above."),
                              field="credit_code")
        reasons = pending_for_org(org)
        if reasons:
            raise DomainError(blocked_message(reasons, _l("Changing the credit code or the organisation above")))
        if code and _code_taken(code, org.id):
            raise DomainError(_l("An organisation with this credit code is already registered."),
                              field="credit_code")
        item = OrgChange(org_id=org.id, old_parent_id=org.parent_id, new_parent_id=parent.id,
                         old_credit_code=org.credit_code, new_credit_code=code or org.credit_code,
                         note=(data.note or "").strip() or None, requested_by_id=actor.user_id)
    except Exception:
        db.session.rollback()
        raise
    return machine.open(item, actor, comment=f"credit_code: {item.old_credit_code or '-'} -> "
                                              f"{item.new_credit_code or '-'}; "
                                              f"parent: {org.parent.name} -> {parent.name}",
                        duplicate=_l("A change of this organisation was submitted at the same moment. Please reload "
                                     "the page."))


def changes_of(org: Org, limit: int = 50) -> list[OrgChange]:
    return list(db.session.scalars(
        select(OrgChange).options(selectinload(OrgChange.old_parent), selectinload(OrgChange.new_parent))
        .where(OrgChange.org_id == org.id).order_by(OrgChange.id.desc()).limit(limit)))


# ---------------------------------------------------------------- the review queue

TODO, WAITING, DECIDED = "todo", "waiting", "decided"


def _parents_in_scope(actor: Actor):
    if actor.role not in DECIDERS or not actor.scope_path:
        return None
    return subtree_ids(actor.scope_path)


def _filtered(stmt, actor: Actor, tab: str):
    """todo: the viewer is a deciding party of a side that still waits; waiting: pending, in scope, but the
    viewer's side is done (the other side decides); decided: approved, rejected or withdrawn, in scope."""
    orgs = _parents_in_scope(actor)
    if orgs is None:
        return stmt.where(False)
    old_in, new_in = OrgChange.old_parent_id.in_(orgs), OrgChange.new_parent_id.in_(orgs)
    # never a change of the viewer's own org or of one their org lies inside (the org's own admins)
    stmt = stmt.join(Org, Org.id == OrgChange.org_id).where(Org.path.not_in(_ancestor_paths(actor.scope_path)))
    me = actor.user_id
    # nor one the viewer requested or whose org the viewer administers through another membership
    stmt = stmt.where(or_(OrgChange.requested_by_id.is_(None), OrgChange.requested_by_id != me),
                      ~exists(_own_org_admins(Org.path).where(Membership.user_id == me)))
    same = OrgChange.old_parent_id == OrgChange.new_parent_id
    can_old = old_in & (same | OrgChange.new_decided_by_id.is_(None) | (OrgChange.new_decided_by_id != me))
    can_new = new_in & (same | OrgChange.old_decided_by_id.is_(None) | (OrgChange.old_decided_by_id != me))
    todo = or_((OrgChange.state == S.PENDING.value) & (can_old | can_new),
               (OrgChange.state == S.PENDING_NEW.value) & can_new,
               (OrgChange.state == S.PENDING_OLD.value) & can_old)
    if tab == TODO:
        return stmt.where(todo)
    if tab == WAITING:
        return stmt.where(OrgChange.state.in_(PENDING_ORG_CHANGE_STATES), old_in | new_in, ~todo)
    return stmt.where(OrgChange.state.not_in(PENDING_ORG_CHANGE_STATES), old_in | new_in)


def queue(actor: Actor, tab: str = TODO, after_id: int | None = None, limit: int = 20) -> list[OrgChange]:
    """A page of the requests of a tab, newest first, keyset-paginated (no deep OFFSET)."""
    stmt = select(OrgChange).options(selectinload(OrgChange.org), selectinload(OrgChange.old_parent),
                                     selectinload(OrgChange.new_parent))
    stmt = _filtered(stmt, actor, tab)
    if after_id:
        stmt = stmt.where(OrgChange.id < after_id)
    return list(db.session.scalars(stmt.order_by(OrgChange.id.desc()).limit(limit)))


def todo_count(actor: Actor) -> int:
    return capped_count(_filtered(select(OrgChange.id), actor, TODO))


def _ancestor_paths(scope_path: str) -> list[str]:
    """"/1/5/23/" -> ["/1/", "/1/5/", "/1/5/23/"]: the orgs whose subtree holds the viewer's own org."""
    ids = [x for x in scope_path.split("/") if x]
    return ["/" + "/".join(ids[:n]) + "/" for n in range(1, len(ids) + 1)]


def visible(item: OrgChange, actor: Actor) -> bool:
    """A reviewer sees a request when either org above lies in their subtree (never one of their own org)."""
    return actor.role in DECIDERS and machine.in_scope(item, actor)
