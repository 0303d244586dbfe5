"""Registration review queue (U5, D4, H3): scoped to the reviewer's subtree, batch approve / reject; each row
opens a detail page with everything the applicant entered, where the same decision can be taken."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l

from ..extensions import db
from ..models import Registration, RegistrationState
from ..authz import REVIEW_VIEW
from ..security import current_actor
from ..validators import ID_TYPES, mask_id_number
from ..workflows import evidence
from ..workflows import registration as reg_flow
from ..workflows.attachments import change_path_of
from .export import export_url, is_export, xlsx_response
from .forms import DecisionForm
from .util import N_, arg_choice, batch_decision, domain_errors, keyset_page, send_evidence

KIND_CHOICES = [("", _l("All")), ("person", _l("Professional")), ("unit", _l("Employer unit")),
                ("department", _l("Competent department")), ("base", _l("Training base")),
                ("hr_district", _l("District HR bureau"))]
STATE_TABS = [(RegistrationState.PENDING.value, _l("Pending review")),
              (RegistrationState.APPROVED.value, _l("Approved")),
              (RegistrationState.REJECTED.value, _l("Rejected"))]
PAGE_SIZE = 20
QUEUE_ARGS = ("state", "kind", "q")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _export(rows, state: str):
    """The queue's rows as the page shows them (证件号 masked), with the reason and the decision time of a
    decided tab, as an .xlsx file."""
    decided = state != RegistrationState.PENDING.value
    labels = [_l("Submitted"), _l("Kind"), _l("Applicant"), _l("ID number"), _l("Organisation"),
              _l("Reviewing organisation"), _l("State")] + ([_l("Reason"), _l("Decided at")] if decided else [])
    values = ([_when(r.created_at), r.kind_label, r.user.first_name, mask_id_number(r.user.username),
               r.org.name if r.org else "", r.reviewer_org.name if r.reviewer_org else "", r.state_label]
              + ([r.reason or "", _when(r.decided_at)] if decided else []) for r in rows)
    title = f"{gettext('Registration review')}-{dict(STATE_TABS)[state]}"
    return xlsx_response(title, labels, values)


class RegistrationReviewView(BaseView):
    route_base = "/review/registrations"
    default_view = "index"
    class_permission_name = REVIEW_VIEW

    @expose("/export")
    @expose("/")
    @has_access
    def index(self):
        """The queue, and at /export the whole queue of the tab with the same filters as an .xlsx file (one
        endpoint: the export carries exactly the queue's permission; url_for builds "/", the first URL)."""
        actor = current_actor()
        state = arg_choice("state", STATE_TABS, RegistrationState.PENDING.value)
        kind = arg_choice("kind", KIND_CHOICES) or None
        q = (request.args.get("q") or "").strip()[:30] or None
        if is_export():
            return _export(reg_flow.queue_rows(actor, state=state, q=q, kind=kind), state)
        rows, next_after = keyset_page(lambda **page: reg_flow.queue(actor, state=state, q=q, kind=kind, **page),
                                       PAGE_SIZE)
        return self.render_template(
            "review/registrations.html", rows=rows, state=state, kind=kind or "", q=q or "", tabs=STATE_TABS,
            kinds=KIND_CHOICES, next_after=next_after, mask=mask_id_number,
            export_url=export_url(f"{self.route_base}/export", state=state, kind=kind, q=q),
            form=DecisionForm(formdata=None), pending=reg_flow.pending_count(actor),
            title=_l("Registration review"))

    @expose("/decide", methods=["POST"])
    @has_access
    def decide(self):
        batch_decision(reg_flow.decide_many, none_selected=N_("Select at least one registration."),
                       handled=N_("%(n)s registration(s) handled."), failed_one=N_("Registration %(id)s: %(msg)s"))
        return redirect(url_for("RegistrationReviewView.index", **{k: v for k, v in request.args.items()
                                                                     if k in QUEUE_ARGS}))

    def _item(self, registration_id: int) -> Registration:
        """A registration of the reviewer's queue; any other id is a 404 (never a hint that it exists)."""
        reg = db.session.get(Registration, registration_id) if 0 < registration_id < 2 ** 31 else None
        if reg is None or not reg_flow.visible(reg, current_actor()):
            abort(404)
        return reg

    @expose("/<int:registration_id>")
    @has_access
    def detail(self, registration_id):
        """Everything the applicant entered, the ID number masked (reviewers never see it in full; the birth date
        only where the number does not carry it), the licence scan of an org, and the decision."""
        actor = current_actor()
        reg = self._item(registration_id)
        account = reg.user
        return self.render_template(
            "review/registration_detail.html", reg=reg, account=account, person=reg_flow.person_of(reg),
            masked=mask_id_number(account.username), id_type=dict(ID_TYPES).get(account.id_type or "", ""),
            show_birth_date=reg_flow.birth_date_shown(account.username),
            licence=reg_flow.licence_of(reg), can_decide=reg_flow.can_decide(reg, actor),
            own=reg_flow.machine.is_owner(reg, actor),
            form=DecisionForm(formdata=None), title=_l("Registration"))

    @expose("/<int:registration_id>/decide", methods=["POST"])
    @has_access
    def decide_one(self, registration_id):
        """The decision of the detail page: the batch's workflow function on this one id (scope, state and the
        required reason checked there again)."""
        reg = self._item(registration_id)
        form = DecisionForm()
        if not form.validate_on_submit():
            flash(gettext("Invalid request."), "danger")
            return redirect(url_for("RegistrationReviewView.detail", registration_id=reg.id))
        with domain_errors() as refused:
            done, failed = reg_flow.decide_many([reg.id], form.action.data, current_actor(), form.reason.data)
        if refused.error:
            return redirect(url_for("RegistrationReviewView.detail", registration_id=reg.id))
        for _id, message in failed:
            flash(message, "danger")
        if not done:
            return redirect(url_for("RegistrationReviewView.detail", registration_id=reg.id))
        flash(gettext("The registration of %(name)s has been approved.", name=reg.applicant_name)
              if form.action.data == "approve"
              else gettext("The registration of %(name)s has been rejected.", name=reg.applicant_name), "success")
        return redirect(url_for("RegistrationReviewView.index"))

    @expose("/<int:registration_id>/licence")
    @has_access
    def licence(self, registration_id):
        """The business licence scan of an org registration, to the reviewers of its queue only; each opening is
        audited. An image may be shown inline on the detail page (content checked on upload, nosniff); a PDF is
        downloaded."""
        row = evidence.licence_file(self._item(registration_id), current_actor())
        if row is None:
            abort(404)
        inline = row.content_type.startswith("image/") and request.args.get("inline") == "1"
        return send_evidence(row, change_path_of(row), inline=inline)
