"""X9 代理审核: an admin's delegations of their review rights (list, create, revoke) and the deputy's switch to act
for a delegator (kept in the session, like the role chosen at login). Rules in app/workflows/delegation.py."""
from __future__ import annotations

from flask import abort, flash, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l

from .. import clock
from ..authz import DELEGATION_VIEW
from ..extensions import db
from ..models import DELEGATION_STATUS_LABELS, Delegation
from ..security import current_actor, current_membership
from ..workflows import delegation as flow
from .forms import ButtonForm
from .util import db_id, domain_errors


class DelegationView(BaseView):
    route_base = "/delegations"
    default_view = "index"
    class_permission_name = DELEGATION_VIEW

    @expose("/")
    @has_access
    def index(self, form=None, values=None):
        actor = current_actor()
        acting = actor.on_behalf_of is not None
        return self.render_template(
            "delegation/index.html", acting=acting, actor=actor, given=flow.given(actor),
            received=flow.received(current_membership()), candidates=[] if acting else flow.candidates(actor),
            today=clock.today(), status_labels=DELEGATION_STATUS_LABELS, form=form or ButtonForm(formdata=None),
            values=values or {}, acting_id=session.get(flow.SESSION_KEY), title=_l("Delegations"))

    @expose("/new", methods=["POST"])
    @has_access
    def create(self):
        form = ButtonForm()
        if not form.validate_on_submit():
            abort(400)
        values = {k: request.form.get(k, "") for k in ("deputy_id", "start_date", "end_date", "note")}
        with domain_errors(form) as refused:
            flow.create(current_actor(), db_id(values["deputy_id"]), values["start_date"], values["end_date"],
                        values["note"])
            flash(gettext("The delegation has been saved."), "success")
            return redirect(url_for("DelegationView.index"))
        return self.index(form=form, values=values), 400 if refused.error else 200

    @expose("/<int:delegation_id>/revoke", methods=["POST"])
    @has_access
    def revoke(self, delegation_id: int):
        item = db.session.get(Delegation, delegation_id) if 0 < delegation_id < 2 ** 31 else None
        if item is None:
            abort(404)
        with domain_errors(denied=404):
            flow.revoke(item, current_actor())
            flash(gettext("The delegation has been revoked."), "success")
        return redirect(url_for("DelegationView.index"))

    @expose("/act", methods=["POST"])
    @has_access
    def act(self):
        """The deputy acts for a delegator from now on (or, with no id, as themselves again)."""
        if not ButtonForm().validate_on_submit():
            abort(400)
        delegation_id = db_id(request.form.get("id"))
        if delegation_id is None:
            session.pop(flow.SESSION_KEY, None)
            flash(gettext("You act as yourself again."), "success")
            return redirect(url_for("DelegationView.index"))
        membership = current_membership()
        if membership is None:
            abort(403)
        with domain_errors(denied=404):
            item = flow.act(membership, delegation_id, request.remote_addr)
            session[flow.SESSION_KEY] = item.id
            flash(gettext("You now review on behalf of %(name)s.", name=flow.deputy_display(item.delegator)),
                  "success")
        return redirect(url_for("DelegationView.index"))


def register(appbuilder, app) -> None:
    """The view, its menu item and the template helpers: an audit row's actor ("A 代 B") and an item's timeline."""
    app.jinja_env.globals["audit_actor"] = flow.who
    app.jinja_env.globals["review_timeline"] = flow.timeline
    app.jinja_env.globals["deputy_display"] = flow.deputy_display  # the banner of a deputy acting (baselayout)
    appbuilder.add_view(DelegationView(), "Delegations", label=_l("Delegations"), icon="fa-user-plus",
                        category="Review")
