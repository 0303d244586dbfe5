"""The logged-in home page: who you are, what waits for you."""
from __future__ import annotations

from flask import url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .. import clock
from ..extensions import db
from ..models import ClassState, Person, RoleName
from ..extensions import appbuilder
from ..authz import HOME_VIEW, STATISTICS_VIEW, module_allows
from ..security import current_actor, current_membership
from ..validators import mask_id_number
from ..workflows import annual, dashboard
from ..workflows import statistics as stats
from ..workflows import declaration as decl_flow
from ..workflows import org_change as org_change_flow
from ..workflows import registration as reg_flow
from ..workflows import title_change as title_flow
from .labels import AUDIT_ACTIONS, AUDIT_OBJECTS, AUDIT_RESULTS, ROLES


class HomeView(BaseView):
    route_base = "/home"
    default_view = "index"
    class_permission_name = HOME_VIEW

    @expose("/")
    @has_access
    def index(self):
        actor = current_actor()
        membership = current_membership()
        person = this_year = None
        if actor.role == RoleName.PROFESSIONAL:
            person = db.session.scalar(select(Person).options(joinedload(Person.unit))
                                       .where(Person.user_id == current_user.id))
            this_year = annual.year_result(person, clock.today().year) if person else None
        cards = _cards(actor, membership)
        figures = dashboard.counts(actor, [c["count"] for c in cards] + list(FIGURES.get(actor.role, ())))
        for card in cards:
            card["count"] = figures[card["count"]]
        extra = {}
        if actor.role == RoleName.BASE_ADMIN:
            extra["reports"] = dashboard.recent_base_reports(actor)
            extra["filings"] = dashboard.base_filings(actor)  # issue 11: this year's plan and report, classes
            extra.update(class_states=list(ClassState), this_year_number=clock.today().year)
        elif actor.role == RoleName.SYSADMIN:
            extra["by_role"] = dashboard.memberships_by_role()
            extra["events"] = dashboard.recent_logins()
        elif actor.role == RoleName.AUDITOR:
            extra["events"] = dashboard.recent_audit()
        elif actor.role == RoleName.SUPPORT:
            extra["events"] = dashboard.recent_audit(dashboard.ACCOUNT_ACTIONS)
        if actor.role == RoleName.HR_ADMIN and module_allows(membership, STATISTICS_VIEW) and \
                appbuilder.sm.has_access("can_completion", STATISTICS_VIEW):
            try:
                extra["completion"] = stats.completion(actor)  # this year, the bureau's whole subtree (H6)
            except stats.OutOfScope:
                pass  # an org the statistics do not cover: the home page goes without the figures
        return self.render_template("home.html", membership=membership, cards=cards, figures=figures,
                                    role=actor.role.value if actor.role else "", person=person,
                                    this_year=this_year, roles=ROLES, actions=AUDIT_ACTIONS, objects=AUDIT_OBJECTS,
                                    results=AUDIT_RESULTS, report_states=REPORT_STATES, count_cap=dashboard.COUNT_CAP,
                                    masked=mask_id_number(current_user.username), title=_l("My home"), **extra)


# What waits for the viewer: (card id, endpoint, label, roles, count name in dashboard.COUNTS). A card shows when
# the role has the page and the session's org-defined role (U3) opens its view.
ADMINS = {RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN}
QUEUES = (
    ("pending-card", "RegistrationReviewView.index", _l("Registrations waiting for your review"),
     reg_flow.REVIEWERS, "registrations"),
    ("pending-declarations-card", "DeclarationReviewView.index", _l("Hour declarations waiting for your review"),
     decl_flow.REVIEWERS, "declarations"),
    ("pending-changes-card", "PersonnelReviewView.index", _l("Title changes waiting for your review"),
     title_flow.REVIEWERS, "title_changes"),
    ("pending-transfers-out-card", "TransferReviewView.index", _l("Transfers out waiting for your review"),
     {RoleName.UNIT_ADMIN}, "transfers_out"),
    ("pending-transfers-in-card", "TransferReviewView.index", _l("Transfers in waiting for your acceptance"),
     {RoleName.UNIT_ADMIN}, "transfers_in"),
    ("pending-org-changes-card", "OrgChangeReviewView.index", _l("Organisation changes waiting for your decision"),
     org_change_flow.DECIDERS, "org_changes"),
    ("pending-base-reports-card", "BaseReportReviewView.index", _l("Base reports waiting for your review"),
     {RoleName.HR_ADMIN}, "base_reports_to_review"),
    ("pending-base-plans-card", "BasePlanReviewView.index",
     _l("Base plans and annual reports waiting for your review"), {RoleName.HR_ADMIN}, "base_plans_to_review"),
    ("pending-corrections-card", "IdentityReviewView.index", _l("Identity corrections waiting for your decision"),
     {RoleName.SUPPORT}, "identity_corrections"),
    ("staff-card", "StaffModelView.list", _l("Professionals in your organisations"), ADMINS, "staff"),
)
# The figures of a role's own panel (names in dashboard.COUNTS), read in the same statement as the cards.
FIGURES = {
    RoleName.BASE_ADMIN: ("base_pending", "base_approved", "base_rejected", "base_trainees",
                          *(f"base_classes_{state.value}" for state in ClassState), "base_learners"),
    RoleName.SYSADMIN: ("accounts", "active_accounts", "failed_logins_today"),
    RoleName.AUDITOR: ("events_today", "failed_logins_today"),
}
REPORT_STATES = {"pending": _l("Pending review"), "approved": _l("Approved"), "rejected": _l("Rejected")}


def _cards(actor, membership) -> list[dict]:
    cards = []
    for card_id, endpoint, label, roles, count in QUEUES:
        view = endpoint.split(".")[0]
        if actor.role in roles and module_allows(membership, view) and appbuilder.sm.has_access(
                "can_list" if endpoint.endswith(".list") else "can_index", view):
            cards.append({"id": card_id, "url": url_for(endpoint), "label": label, "count": count})
    return cards
