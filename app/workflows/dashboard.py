"""What each role sees at a glance on its home page.

Every figure is an aggregate computed by the database: the counts a page needs are read together in one SELECT of
scalar subqueries (`counts`), and each short list is one bounded statement; no row is loaded to be counted.
The queue counts reuse the scope rules of the queues themselves, so a card never counts what its queue hides.
"""
from __future__ import annotations

import datetime
from typing import Callable

from sqlalchemy import Select, distinct, func, select

from .. import clock
from ..extensions import db
from ..models import (Account, AuditLog, BaseReport, BaseReportLine, BaseReportState, ChangeState, Declaration,
                      IdentityCorrection, Membership, MembershipState, OrgChange, Registration,
                      RegistrationState, RoleName, TitleChange, Transfer)
from ..models import BaseFiling, ClassState, Enrolment, OnlineClass  # issue 11: a base's year at a glance
from . import base_plans
from . import declaration as decl_flow
from . import identity as id_flow
from . import org_change as org_change_flow
from . import registration as reg_flow
from . import title_change as title_flow
from . import transfer as transfer_flow
from .base import COUNT_CAP, Actor
from .orgs import subtree_ids

RECENT = 10        # rows of a "recent" list
RECENT_REPORTS = 5
RECENT_DAYS = 30   # recent lists look this far back only (an index range on audit_log.at, never the whole trail)
# What support staff do to accounts and orgs (their home page lists the latest of these).
ACCOUNT_ACTIONS = ("password.admin_reset", "role.grant", "role.revoke", "identity_correction.approve",
                   "identity_correction.reject", "org.merge", "org.temporary_code")


def _none(stmt: Select) -> Select:
    return stmt.where(False)


def _declarations(actor: Actor) -> Select:
    """The declarations waiting at the actor's review level in their scope (their ids)."""
    state = next((s for s, role in decl_flow.REVIEW_ROLE.items() if role == actor.role), None)
    stmt = select(Declaration.id)
    return decl_flow._scoped(stmt.where(Declaration.state == state.value) if state else _none(stmt), actor)


def _base_reports_to_review(actor: Actor) -> Select:
    stmt = select(func.count(BaseReport.id)).where(BaseReport.state == BaseReportState.PENDING.value)
    if actor.role != RoleName.HR_ADMIN or not actor.scope_path:
        return _none(stmt)
    return stmt.where(BaseReport.reviewer_org_id.in_(subtree_ids(actor.scope_path)))


def _identity(actor: Actor) -> Select:
    stmt = select(func.count(IdentityCorrection.id)).where(IdentityCorrection.state == ChangeState.PENDING.value,
                                                           IdentityCorrection.user_id != actor.user_id)
    return stmt if id_flow.is_decider(actor) else _none(stmt)


def _capped(rows: Select) -> Select:
    """The count of `rows`, read no further than COUNT_CAP + 1 rows (base.capped_count, as a statement: the home
    page reads its counts in one round trip)."""
    return select(func.count()).select_from(rows.limit(COUNT_CAP + 1).subquery())


def _staff(actor: Actor) -> Select:
    """Staff as the staff list counts them: people whose professional registration is active, in the subtree. Read
    from the active professional memberships of the subtree's orgs (a membership follows its person's unit through
    registration and transfer): an index-only count, where the people themselves are rows all over the table."""
    rows = select(Membership.id).where(Membership.role == RoleName.PROFESSIONAL.value,
                                       Membership.state == MembershipState.ACTIVE.value)
    if actor.is_global:
        return _capped(rows)
    if not actor.scope_path:
        return _none(select(func.count(Membership.id)))
    return _capped(rows.where(Membership.org_id.in_(subtree_ids(actor.scope_path))))


def _base(state: str | None):
    def build(actor: Actor) -> Select:
        stmt = select(func.count(BaseReport.id)).where(BaseReport.base_id == _base_id(actor))
        return stmt.where(BaseReport.state == state) if state else stmt
    return build


def _base_id(actor: Actor) -> int:
    return actor.org_id if actor.role == RoleName.BASE_ADMIN and actor.org_id else -1


def _trainees(actor: Actor) -> Select:
    """Distinct trainees in the base's reports of this year (whatever their state)."""
    return (select(func.count(distinct(BaseReportLine.person_id)))
            .join(BaseReport, BaseReport.id == BaseReportLine.report_id)
            .where(BaseReport.base_id == _base_id(actor), BaseReport.year == clock.today().year))


def _classes(state: str):
    def build(actor: Actor) -> Select:
        return select(func.count(OnlineClass.id)).where(OnlineClass.base_id == _base_id(actor),
                                                        OnlineClass.state == state)
    return build


def _learners(actor: Actor) -> Select:
    """Distinct learners enrolled in any of the base's classes."""
    return (select(func.count(distinct(Enrolment.person_id)))
            .join(OnlineClass, OnlineClass.id == Enrolment.class_id)
            .where(OnlineClass.base_id == _base_id(actor)))


def _base_plans_to_review(actor: Actor) -> Select:
    stmt = select(func.count(BaseFiling.id)).where(BaseFiling.state == "pending")
    if actor.role != RoleName.HR_ADMIN or not actor.scope_path:
        return _none(stmt)
    return stmt.where(BaseFiling.reviewer_org_id.in_(subtree_ids(actor.scope_path)))


def base_filings(actor: Actor) -> dict[str, BaseFiling | None]:
    """This year's annual plan and annual report of the base ({"plan": latest filing or None, "report": …})."""
    return base_plans.year_states(_base_id(actor), clock.today().year)


def _since(days: float) -> datetime.datetime:
    return datetime.datetime.now() - datetime.timedelta(days=days)


# name -> the count statement of an actor
COUNTS: dict[str, Callable[[Actor], Select]] = {
    # What waits in a queue is capped too: a city's 50,000 pending registrations (100,000 at twice the bench) cost a
    # city reviewer's home no more than a district's; past the cap the card says "more than 10,000".
    "registrations": lambda a: _capped(reg_flow._scoped(
        select(Registration.id).where(Registration.state == RegistrationState.PENDING.value), a)),
    "declarations": lambda a: _capped(_declarations(a)),
    "title_changes": lambda a: _capped(title_flow._scoped(
        select(TitleChange.id).where(TitleChange.state == ChangeState.PENDING.value), a)),
    "transfers_out": lambda a: transfer_flow._scoped(select(func.count(Transfer.id)), a, "out"),
    "transfers_in": lambda a: transfer_flow._scoped(select(func.count(Transfer.id)), a, "in"),
    "org_changes": lambda a: org_change_flow._filtered(select(func.count(OrgChange.id)), a, org_change_flow.TODO),
    "identity_corrections": _identity,
    "base_reports_to_review": _base_reports_to_review,
    "staff": _staff,
    "base_pending": _base(BaseReportState.PENDING.value),
    "base_approved": _base(BaseReportState.APPROVED.value),
    "base_rejected": _base(BaseReportState.REJECTED.value),
    "base_trainees": _trainees,
    **{f"base_classes_{state.value}": _classes(state.value) for state in ClassState},
    "base_learners": _learners,
    "base_plans_to_review": _base_plans_to_review,
    "accounts": lambda a: _capped(select(Account.id)),
    "active_accounts": lambda a: _capped(select(Account.id).where(Account.active.is_(True))),
    "failed_logins_today": lambda a: select(func.count(AuditLog.id)).where(
        AuditLog.at >= _since(1), AuditLog.action == "login", AuditLog.result == "fail"),
    "events_today": lambda a: select(func.count(AuditLog.id)).where(AuditLog.at >= _since(1)),
}


def counts(actor: Actor, names) -> dict[str, int]:
    """The named counts of `COUNTS`, all in one statement."""
    names = list(dict.fromkeys(names))
    if not names:
        return {}
    row = db.session.execute(select(*[COUNTS[n](actor).scalar_subquery().label(n) for n in names])).one()
    return {n: int(row._mapping[n] or 0) for n in names}


def recent_base_reports(actor: Actor, limit: int = RECENT_REPORTS) -> list[BaseReport]:
    """The base's latest reports (only the report rows: title, year, state, date)."""
    return list(db.session.scalars(select(BaseReport).where(BaseReport.base_id == _base_id(actor))
                                   .order_by(BaseReport.id.desc()).limit(limit)))


def memberships_by_role() -> dict[str, int]:
    """Active memberships per role, for the system administrator, each capped like every count of the home pages
    (a GROUP BY read the city's 850,000 memberships): one statement, index-only on (role, state)."""
    row = db.session.execute(select(*[
        _capped(select(Membership.id).where(Membership.role == role.value,
                                            Membership.state == MembershipState.ACTIVE.value))
        .scalar_subquery().label(role.value) for role in RoleName])).one()
    return {role.value: int(row._mapping[role.value] or 0) for role in RoleName}


def recent_audit(actions=None, limit: int = RECENT) -> list[AuditLog]:
    """The latest audit rows of the last RECENT_DAYS (of the given actions), newest first. The actor column
    holds a masked ID number only."""
    stmt = select(AuditLog).where(AuditLog.at >= _since(RECENT_DAYS))
    if actions:
        stmt = stmt.where(AuditLog.action.in_(actions))
    return list(db.session.scalars(stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)))


def recent_logins(limit: int = RECENT) -> list[AuditLog]:
    return recent_audit(("login",), limit)
