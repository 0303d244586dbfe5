"""The logged-in home page: who you are, what waits for you."""
from __future__ import annotations

import datetime

from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import Person, RoleName
from ..security import HOME_VIEW, current_actor, current_membership
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
        pending = reg_flow.pending_count(actor) if actor.role in reg_flow.REVIEWERS else None
        pending_declarations = decl_flow.pending_count(actor) if actor.role in decl_flow.REVIEWERS else None
        person = this_year = None
        if actor.role == RoleName.PROFESSIONAL:
            person = db.session.scalar(select(Person).where(Person.user_id == current_user.id))
            this_year = annual.year_result(person, datetime.date.today().year) if person else None
        return self.render_template("home.html", membership=membership, pending=pending, person=person,
                                    pending_declarations=pending_declarations, this_year=this_year,
                                    masked=mask_id_number(current_user.username), title=_l("My home"))
