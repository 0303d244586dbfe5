"""The logged-in home page: who you are, what waits for you."""
from __future__ import annotations

import datetime

from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import Person, RoleName
from ..security import HOME_VIEW, REVIEW_VIEW, current_actor, current_membership, module_allows
from ..validators import mask_id_number
from ..workflows import annual
from ..workflows import declaration as decl_flow
from ..workflows import registration as reg_flow


class HomeView(BaseView):
    route_base = "/home"
    default_view = "index"
    class_permission_name = HOME_VIEW

    @expose("/")
    @has_access
    def index(self):
        actor = current_actor()
        membership = current_membership()
        # an admin with an org-defined role sees only the queues of its modules (U3)
        pending = (reg_flow.pending_count(actor) if actor.role in reg_flow.REVIEWERS
                   and module_allows(membership, REVIEW_VIEW) else None)
        pending_declarations = (decl_flow.pending_count(actor) if actor.role in decl_flow.REVIEWERS
                                and module_allows(membership, "DeclarationReviewView") else None)
        # issue 4: title changes waiting for a reviewer (U6 / D4 / H3), identity corrections for support (S3)
        from ..security import PERSONNEL_REVIEW_VIEW
        from ..workflows import identity as id_flow
        from ..workflows import title_change as title_flow

        pending_changes = (title_flow.pending_count(actor) if actor.role in title_flow.REVIEWERS
                           and module_allows(membership, PERSONNEL_REVIEW_VIEW) else None)
        pending_corrections = id_flow.pending_count(actor) if id_flow.can_decide(actor) else None
        person = this_year = None
        if actor.role == RoleName.PROFESSIONAL:
            person = db.session.scalar(select(Person).where(Person.user_id == current_user.id))
            this_year = annual.year_result(person, datetime.date.today().year) if person else None
        return self.render_template("home.html", membership=membership, pending=pending, person=person,
                                    pending_declarations=pending_declarations,
                                    pending_changes=pending_changes, pending_corrections=pending_corrections,
                                    this_year=this_year,
                                    masked=mask_id_number(current_user.username), title=_l("My home"))
