"""The logged-in home page: who you are, what waits for you."""
from __future__ import annotations

import datetime

from flask import url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import Person, RoleName
from ..extensions import appbuilder
from ..security import HOME_VIEW, current_actor, current_membership, module_allows
from ..validators import mask_id_number
from ..workflows import annual
from ..workflows import declaration as decl_flow
from ..workflows import identity as id_flow
from ..workflows import org_change as org_change_flow
from ..workflows import registration as reg_flow
from ..workflows import title_change as title_flow
from ..workflows import transfer as transfer_flow


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
            person = db.session.scalar(select(Person).where(Person.user_id == current_user.id))
            this_year = annual.year_result(person, datetime.date.today().year) if person else None
        return self.render_template("home.html", membership=membership, cards=_cards(actor, membership),
                                    person=person, this_year=this_year,
                                    masked=mask_id_number(current_user.username), title=_l("My home"))


# What waits for the viewer: (card id, queue endpoint, label, roles, count). A card shows when the role has the queue
# and the session's org-defined role (U3) opens its view.
QUEUES = (
    ("pending-card", "RegistrationReviewView.index", _l("Registrations waiting for your review"),
     reg_flow.REVIEWERS, reg_flow.pending_count),
    ("pending-declarations-card", "DeclarationReviewView.index", _l("Hour declarations waiting for your review"),
     decl_flow.REVIEWERS, decl_flow.pending_count),
    ("pending-changes-card", "PersonnelReviewView.index", _l("Title changes waiting for your review"),
     title_flow.REVIEWERS, title_flow.pending_count),
    ("pending-transfers-out-card", "TransferReviewView.index", _l("Transfers out waiting for your review"),
     {RoleName.UNIT_ADMIN}, lambda actor: transfer_flow.pending_count(actor, "out")),
    ("pending-transfers-in-card", "TransferReviewView.index", _l("Transfers in waiting for your acceptance"),
     {RoleName.UNIT_ADMIN}, lambda actor: transfer_flow.pending_count(actor, "in")),
    ("pending-org-changes-card", "OrgChangeReviewView.index", _l("Organisation changes waiting for your decision"),
     org_change_flow.DECIDERS, org_change_flow.todo_count),
    ("pending-corrections-card", "IdentityReviewView.index", _l("Identity corrections waiting for your decision"),
     {RoleName.SUPPORT}, id_flow.pending_count),
)


def _cards(actor, membership) -> list[dict]:
    cards = []
    for card_id, endpoint, label, roles, count in QUEUES:
        view = endpoint.split(".")[0]
        if actor.role in roles and module_allows(membership, view) and appbuilder.sm.has_access("can_index", view):
            cards.append({"id": card_id, "url": url_for(endpoint), "label": label, "count": count(actor)})
    return cards
