"""S4: support staff merge one org into another and issue temporary credit codes to orgs that have none."""
from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import (BaseReport, Declaration, Membership, MembershipState, Org, OrgChange, OrgKind, OrgRole,
                      OrgState, Person, RoleName)
from ..models.changes import PENDING_ORG_CHANGE_STATES
from ..models.hours import BaseReportState
from ..validators import make_temporary_credit_code, validate_temporary_code
from .base import Actor, ConcurrentTransition, DomainError, PermissionDenied, audit
from . import memberships
from .orgs import longest_path_below, rewrite_subtree
from .orgs import machine as org_machine
from .pending import blocked_message, pending_for_org

SUPPORT_ROLES = frozenset({RoleName.SUPPORT})
PATH_MAX = 255


def _check_support(actor: Actor) -> None:
    if actor.role not in SUPPORT_ROLES:
        raise PermissionDenied(_l("You do not have permission to do this."))


def search(q: str | None, kind: str | None = None, state: str | None = None, limit: int = 50) -> list[Org]:
    """Orgs by part of the name or by the exact credit code, any state (support sees closed ones too)."""
    stmt = select(Org)
    q = (q or "").strip()
    if q:
        stmt = stmt.where(or_(Org.name.contains(q, autoescape=True), Org.credit_code == q.upper()))
    if kind:
        stmt = stmt.where(Org.kind == kind)
    if state:
        stmt = stmt.where(Org.state == state)
    return list(db.session.scalars(stmt.order_by(func.length(Org.name), Org.name, Org.id).limit(limit)
                                   .options(selectinload(Org.parent))))  # the page shows each org's parent


def merge(source: Org | None, target: Org | None, actor: Actor) -> Org:
    """Merge org A (source) into org B (target) in one transaction: A's staff, their professional memberships,
    A's declarations and A's direct child orgs (with their subtrees) move to B; A's admins lose their rights;
    A is closed with merged_into = B."""
    _check_support(actor)
    try:
        if source is None:
            raise DomainError(_l("Choose the organisation to merge from the list."), field="source_id")
        if target is None:
            raise DomainError(_l("Choose the organisation to merge into from the list."), field="target_id")
        if source.id == target.id:
            raise DomainError(_l("An organisation cannot be merged into itself."), field="target_id")
        if source.kind != target.kind:
            raise DomainError(_l("Only organisations of the same kind can be merged."), field="target_id")
        if source.state != OrgState.ACTIVE.value or target.state != OrgState.ACTIVE.value:
            raise DomainError(_l("Both organisations must be active."), field="target_id")
        if target.path.startswith(source.path):
            raise DomainError(_l("An organisation cannot be merged into one below it."), field="target_id")
        if source.parent_id is None:
            raise DomainError(_l("The top organisation cannot be merged."), field="source_id")
        reasons = pending_for_org(source)
        if db.session.scalar(select(BaseReport.id).where(BaseReport.base_id == source.id,
                                                         BaseReport.state == BaseReportState.PENDING.value).limit(1)):
            reasons.append(_l("a base report is under review"))
        if db.session.scalar(select(OrgChange.id).where(OrgChange.new_parent_id == source.id,
                                                        OrgChange.state.in_(PENDING_ORG_CHANGE_STATES)).limit(1)):
            reasons.append(_l("an organisation change is under review"))
        if reasons:
            raise DomainError(blocked_message(reasons, _l("Merging this organisation")), field="source_id")
        depth = len(target.path) + longest_path_below(source) - len(source.path)
        if depth > PATH_MAX:
            raise DomainError(_l("The organisation tree would be too deep."), field="target_id")

        # Close A first, conditionally: two support staff merging the same org at once merge it once.
        org_machine.enter(source, "close", actor, values={"merged_into_id": target.id}, follows=True,
                          audit_as=False)
        moved = {}
        moved["staff"] = db.session.execute(
            update(Person).where(Person.unit_id == source.id).values(unit_id=target.id)
            .execution_options(synchronize_session=False)).rowcount
        moved["memberships"] = db.session.execute(
            update(Membership).where(Membership.org_id == source.id,
                                     Membership.role == RoleName.PROFESSIONAL.value)
            .values(org_id=target.id).execution_options(synchronize_session=False)).rowcount
        moved["declarations"] = db.session.execute(
            update(Declaration).where(Declaration.unit_id == source.id).values(unit_id=target.id)
            .execution_options(synchronize_session=False)).rowcount
        if source.kind == OrgKind.BASE.value:
            moved["base_reports"] = db.session.execute(
                update(BaseReport).where(BaseReport.base_id == source.id).values(base_id=target.id)
                .execution_options(synchronize_session=False)).rowcount
        admins = list(db.session.scalars(select(Membership).where(
            Membership.org_id == source.id, Membership.role != RoleName.PROFESSIONAL.value,
            Membership.state.in_([MembershipState.ACTIVE.value, MembershipState.PENDING.value]))))
        for admin in admins:
            memberships.revoke(admin, actor, end_super=False)
        moved["admins_revoked"] = len(admins)
        db.session.execute(update(OrgRole).where(OrgRole.org_id == source.id).values(active=False)
                           .execution_options(synchronize_session=False))
        children = list(db.session.scalars(select(Org).where(Org.parent_id == source.id, Org.id != source.id)))
        for child in children:
            rewrite_subtree(child, db.session.get(Org, target.id))
        moved["child_orgs"] = len(children)
        db.session.expire_all()
        source, target = db.session.get(Org, source.id), db.session.get(Org, target.id)
        audit(actor, "org.merge", object_type="org", object_id=source.id, from_state=OrgState.ACTIVE.value,
              to_state=OrgState.CLOSED.value,
              comment=f"{source.name} -> {target.name} (#{target.id}); "
                      + ", ".join(f"{k}={v}" for k, v in moved.items()))
        db.session.commit()
        return target
    except Exception:
        db.session.rollback()
        raise


# ---------------------------------------------------------------- temporary credit codes

def make_temporary_code(division: str | None = None) -> str:
    """A random temporary code in the platform's own format, "LS" + 16 digits (the division code, then 10 random
    digits): the format the org registration form accepts as "the temporary code issued by support"."""
    division = division if division and len(division) == 6 and division.isdigit() else "370000"
    return validate_temporary_code(make_temporary_credit_code(int(division + f"{secrets.randbelow(10 ** 10):010d}")))


def _code_in_use(code: str) -> bool:
    return bool(db.session.scalar(select(Org.id).where(Org.credit_code == code).limit(1))
                or db.session.scalar(select(OrgChange.id).where(OrgChange.new_credit_code == code).limit(1)))


def issue_temporary_code(org: Org | None, actor: Actor) -> str:
    """S4: an active org without a credit code gets a unique temporary one (Org.temporary_code)."""
    _check_support(actor)
    if org is None:
        raise DomainError(_l("Record not found."))
    if org.state != OrgState.ACTIVE.value:
        raise DomainError(_l("The organisation is not active."))
    if org.credit_code:
        raise DomainError(_l("This organisation already has a credit code."))
    division = org.region.code if org.region is not None else None
    for _attempt in range(20):
        code = make_temporary_code(division)
        if _code_in_use(code):
            continue
        try:
            result = db.session.execute(
                update(Org).where(Org.id == org.id, Org.state == OrgState.ACTIVE.value,
                                  or_(Org.credit_code.is_(None), Org.credit_code == ""))
                .values(credit_code=code, temporary_code=True).execution_options(synchronize_session=False))
            if result.rowcount != 1:
                raise ConcurrentTransition(_l("This item has just been handled by someone else. Please refresh."))
            audit(actor, "org.temporary_code", object_type="org", object_id=org.id, comment=f"{org.name}: {code}")
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            continue
        except Exception:
            db.session.rollback()
            raise
        db.session.refresh(org)
        return code
    raise DomainError(_l("No free temporary code was found. Please try again."))  # pragma: no cover
