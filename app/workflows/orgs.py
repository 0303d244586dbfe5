"""Org tree services: creating orgs with their materialised path, picker search, scope helpers."""
from __future__ import annotations

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Org, OrgKind, OrgState
from .base import FOLLOWS, Actor, StateMachine, Transition

STEP = frozenset({FOLLOWS})


class OrgMachine(StateMachine):
    """An org is pending while its registration is reviewed, then active (or rejected / withdrawn), and closed
    when it is deleted (a sub-unit) or merged into another. Every step is taken by the use case that checked
    who acts (`FOLLOWS`): the registration's review, the deletion of a sub-unit, support's merge."""

    model = Org
    object_type = "org"
    initial = (OrgState.PENDING, OrgState.ACTIVE)  # registered (reviewed), or set up by the platform
    reason_required = frozenset()
    transitions = (
        Transition(OrgState.PENDING, "approve", OrgState.ACTIVE, STEP),
        Transition(OrgState.PENDING, "reject", OrgState.REJECTED, STEP),
        Transition(OrgState.PENDING, "withdraw", OrgState.WITHDRAWN, STEP),
        Transition(OrgState.ACTIVE, "close", OrgState.CLOSED, STEP),
    )

    def in_scope(self, item: Org, actor: Actor) -> bool:
        return False  # only steps of other use cases

    def is_owner(self, item: Org, actor: Actor) -> bool:
        return False


machine = OrgMachine()


def create_org(*, kind: OrgKind, name: str, parent: Org | None, state: OrgState = OrgState.PENDING,
               **fields) -> Org:
    """Insert an org in one of its initial states and set its path (parent path + own id); the caller commits
    (the registration's audit row records a registered org)."""
    org = Org(kind=kind.value, name=name, parent_id=parent.id if parent else None,
              region_id=fields.pop("region_id", parent.region_id if parent else None), **fields)
    machine.open(org, None, state=state, commit=False, audit_as=False)
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    return org


def search_orgs(q: str, kinds: list[str] | None = None, limit: int = 20, region_id: int | None = None,
                scope_path: str | None = None) -> list[Org]:
    """Active orgs whose name contains q, for the searchable picker (never a full dropdown)."""
    stmt = select(Org).options(selectinload(Org.parent)).where(Org.state == OrgState.ACTIVE.value)
    q = (q or "").strip()
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Org.name.like(f"%{escaped}%", escape="\\"))
    if kinds:
        stmt = stmt.where(Org.kind.in_(kinds))
    if region_id:
        stmt = stmt.where(Org.region_id == region_id)
    if scope_path:
        stmt = stmt.where(Org.path.startswith(scope_path, autoescape=True))
    stmt = stmt.order_by(func.length(Org.name), Org.name, Org.id).limit(limit)
    return list(db.session.scalars(stmt))


def picked(org_id, kinds=None) -> Org | None:
    """The org a searchable picker holds, to show its name again when a form comes back: only an active org (of
    the given kinds), the same the picker itself offers; another id shows nothing (no name of a pending or closed
    org is told by typing its id)."""
    org = db.session.get(Org, org_id) if isinstance(org_id, int) and 0 < org_id < 2 ** 31 else None
    if org is None or org.state != OrgState.ACTIVE.value:
        return None
    if kinds and org.kind not in {getattr(k, "value", k) for k in kinds}:
        return None
    return org


def subtree_ids(root_path: str):
    """A subquery of the ids of every org in the subtree whose root has this path."""
    return select(Org.id).where(Org.path.startswith(root_path, autoescape=True))


def rewrite_subtree(root: Org, new_parent: Org) -> int:
    """Put `root` under `new_parent` and rewrite the materialised path of root and of its whole subtree in one
    UPDATE ("/1/5/23/..." -> new parent's path + "23/..."); the caller checks that new_parent is not inside the
    subtree and commits. Descendants that shared root's region follow it to the new parent's region.
    Returns the number of orgs whose path changed."""
    old_prefix = root.path
    new_prefix = f"{new_parent.path}{root.id}/"
    old_region = root.region_id
    new_region = new_parent.region_id if new_parent.region_id is not None else old_region
    db.session.flush()
    count = 0
    if old_prefix != new_prefix:
        count = db.session.execute(
            update(Org).where(Org.path.startswith(old_prefix, autoescape=True))
            .values(path=literal(new_prefix) + func.substr(Org.path, len(old_prefix) + 1))
            .execution_options(synchronize_session=False)).rowcount
    if new_region != old_region:
        same_region = Org.region_id.is_(None) if old_region is None else Org.region_id == old_region
        db.session.execute(
            update(Org).where(Org.path.startswith(new_prefix, autoescape=True), same_region)
            .values(region_id=new_region).execution_options(synchronize_session=False))
    db.session.execute(update(Org).where(Org.id == root.id).values(parent_id=new_parent.id)
                       .execution_options(synchronize_session=False))
    db.session.expire_all()
    return count


def longest_path_below(root: Org) -> int:
    """The length of the longest materialised path in root's subtree."""
    return db.session.scalar(select(func.max(func.length(Org.path))).where(
        Org.path.startswith(root.path, autoescape=True))) or len(root.path)
