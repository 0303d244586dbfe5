"""Registration review queue (U5, D4, H3): scoped to the reviewer's subtree, batch approve / reject."""
from __future__ import annotations

from flask import redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l

from ..models import RegistrationState
from ..security import REVIEW_VIEW, current_actor
from ..validators import mask_id_number
from ..workflows import registration as reg_flow
from .forms import DecisionForm
from .util import N_, arg_choice, batch_decision, keyset_page

KIND_CHOICES = [("", _l("All")), ("person", _l("Professional")), ("unit", _l("Employer unit")),
                ("department", _l("Competent department")), ("base", _l("Training base")),
                ("hr_district", _l("District HR bureau"))]
STATE_TABS = [(RegistrationState.PENDING.value, _l("Pending review")),
              (RegistrationState.APPROVED.value, _l("Approved")),
              (RegistrationState.REJECTED.value, _l("Rejected"))]
PAGE_SIZE = 20




class RegistrationReviewView(BaseView):
    route_base = "/review/registrations"
    default_view = "index"
    class_permission_name = REVIEW_VIEW

    @expose("/")
    @has_access
    def index(self):
        actor = current_actor()
        state = arg_choice("state", STATE_TABS, RegistrationState.PENDING.value)
        kind = arg_choice("kind", KIND_CHOICES) or None
        q = (request.args.get("q") or "").strip()[:30] or None
        rows, next_after = keyset_page(lambda **page: reg_flow.queue(actor, state=state, q=q, kind=kind, **page),
                                       PAGE_SIZE)
        return self.render_template(
            "review/registrations.html", rows=rows, state=state, kind=kind or "", q=q or "", tabs=STATE_TABS,
            kinds=KIND_CHOICES, next_after=next_after, mask=mask_id_number,
            form=DecisionForm(formdata=None), pending=reg_flow.pending_count(actor),
            title=_l("Registration review"))

    @expose("/decide", methods=["POST"])
    @has_access
    def decide(self):
        batch_decision(reg_flow.decide_many, none_selected=N_("Select at least one registration."),
                       handled=N_("%(n)s registration(s) handled."), failed_one=N_("Registration %(id)s: %(msg)s"))
        return redirect(url_for("RegistrationReviewView.index", **{k: v for k, v in request.args.items()
                                                                     if k in ("state", "kind", "q")}))
