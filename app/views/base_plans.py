"""B1: a training base's annual training plan and annual work report; the HR bureau above reviews them (H3, state
machine 6). The rules are in app/workflows/base_plans.py."""
from __future__ import annotations

from types import SimpleNamespace

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from .. import clock
from ..authz import BASE_PLAN_REVIEW_VIEW, BASE_PLAN_VIEW
from ..models import FilingKind, FilingState
from ..models.base_plans import FILING_KIND_LABELS, FILING_STATE_LABELS
from ..security import current_actor
from ..workflows import base_plans as flow
from .forms import REQUIRED, DecisionForm, _choice_int
from .util import N_, arg_choice, batch_decision, db_id, domain_errors, send_evidence

KINDS = [(k.value, label) for k, label in FILING_KIND_LABELS.items()]
STATES = [(s.value, label) for s, label in FILING_STATE_LABELS.items()]
ALL = [("", _l("All"))]


class FilingForm(FlaskForm):
    year = SelectField(_l("Year"), coerce=_choice_int, validators=[DataRequired(REQUIRED)])
    title = StringField(_l("Title"), validators=[DataRequired(REQUIRED), Length(max=100)])
    classes = StringField(_l("Classes"), validators=[DataRequired(REQUIRED), Length(max=10)])
    trainees = StringField(_l("Trainees"), validators=[DataRequired(REQUIRED), Length(max=10)])
    hours = StringField(_l("Hours"), validators=[DataRequired(REQUIRED), Length(max=10)])
    content = TextAreaField(_l("Content"), validators=[DataRequired(REQUIRED), Length(max=5000)])
    attachment = FileField(_l("Attachment (PDF, Word or Excel, at most 5 MB; optional)"))


# The figures' labels by kind: a plan's are planned, a report's are what was done.
FIGURE_LABELS = {
    FilingKind.PLAN.value: {"classes": _l("Classes planned"), "trainees": _l("Trainees planned"),
                            "hours": _l("Hours per trainee planned"), "content": _l("Plan: aims, subjects, schedule"),
                            "title": _l("Title of the plan")},
    FilingKind.REPORT.value: {"classes": _l("Classes held"), "trainees": _l("Trainees trained"),
                              "hours": _l("Hours granted in all"), "content": _l("Summary of the year's work"),
                              "title": _l("Title of the report")},
}


def _year_arg() -> int | None:
    value = db_id(request.args.get("year"))
    return value if value and 2000 <= value <= 2100 else None


class BasePlanView(BaseView):
    """The base admin's plans and reports: list by year with state and reason, file a plan or a report, detail."""

    route_base = "/base/plans"
    default_view = "index"
    class_permission_name = BASE_PLAN_VIEW

    @expose("/")
    @has_access
    def index(self):
        actor = current_actor()
        year = clock.today().year
        with domain_errors(denied=403):
            base = flow.own_base(actor)
        return self.render_template("base_plans/index.html", rows=flow.of_base(actor, _year_arg()), year=year,
                                    this_year=flow.year_states(base.id, year), filter_year=_year_arg(),
                                    kinds=KINDS, title=_l("Plans and reports"))

    @expose("/new/<kind>", methods=["GET", "POST"])
    @has_access
    def new(self, kind):
        if kind not in {k.value for k in FilingKind}:
            abort(404)
        actor = current_actor()
        with domain_errors(denied=403):
            flow.own_base(actor)
        form = FilingForm()
        form.year.choices = [(y, str(y)) for y in flow.years_for(kind)]
        labels = FIGURE_LABELS[kind]
        for name, label in labels.items():
            getattr(form, name).label.text = label
        if form.validate_on_submit():
            upload = form.attachment.data
            attachment = (upload.filename or "", upload.read()) if upload and hasattr(upload, "read") else None
            with domain_errors(form):
                item = flow.submit(actor, kind=kind, year=form.year.data, title=form.title.data,
                                   classes=form.classes.data, trainees=form.trainees.data, hours=form.hours.data,
                                   content=form.content.data, attachment=attachment)
                flash(gettext("%(what)s for %(year)s has been submitted to %(org)s.", what=item.kind_label,
                              year=item.year, org=item.reviewer_org.name), "success")
                return redirect(url_for("BasePlanView.show", filing_id=item.id))
        return self.render_template("base_plans/new.html", form=form, kind=kind,
                                    kind_label=FILING_KIND_LABELS[FilingKind(kind)],
                                    title=FILING_KIND_LABELS[FilingKind(kind)])

    @expose("/<int:filing_id>")
    @has_access
    def show(self, filing_id):
        item = flow.get(current_actor(), filing_id)
        if item is None:
            abort(404)
        return self.render_template("base_plans/show.html", item=item, labels=FIGURE_LABELS[item.kind],
                                    can_decide=False, title=item.title)

    @expose("/<int:filing_id>/file")
    @has_access
    def file(self, filing_id):
        return _send(filing_id)


def _send(filing_id):
    item = flow.get(current_actor(), filing_id)
    if item is None or not item.stored_name:
        abort(404)
    return send_evidence(SimpleNamespace(content_type=item.content_type, filename=item.file_name), flow.path_of(item))


class BasePlanReviewView(BaseView):
    """The HR bureau's queue of the plans and reports of the bases below it: filters, detail, approve / reject with a
    reason, one by one or ticked in a batch."""

    route_base = "/review/base-plans"
    default_view = "index"
    class_permission_name = BASE_PLAN_REVIEW_VIEW

    @expose("/")
    @has_access
    def index(self):
        actor = current_actor()
        state = request.args.get("state", FilingState.PENDING.value)  # "" is a choice: every state
        state = state if state in {value for value, _label in ALL + STATES} else FilingState.PENDING.value
        kind = arg_choice("kind", ALL + KINDS, "")
        year = _year_arg()
        rows = flow.queue(actor, state=state or None, kind=kind or None, year=year)
        this_year = clock.today().year
        return self.render_template("base_plans/review.html", rows=rows, state=state, kind=kind, year=year,
                                    states=ALL + STATES, kinds=ALL + KINDS,
                                    years=list(range(this_year + 1, this_year - 5, -1)),
                                    pending=flow.pending_count(actor), form=DecisionForm(formdata=None),
                                    title=_l("Base plans and annual reports"))

    @expose("/<int:filing_id>")
    @has_access
    def show(self, filing_id):
        actor = current_actor()
        item = flow.get(actor, filing_id)
        if item is None:
            abort(404)
        return self.render_template("base_plans/show.html", item=item, labels=FIGURE_LABELS[item.kind],
                                    reviewer=True, can_decide=flow.can_decide(item, actor),
                                    form=DecisionForm(formdata=None), title=item.title)

    @expose("/<int:filing_id>/file")
    @has_access
    def file(self, filing_id):
        return _send(filing_id)

    @expose("/decide", methods=["POST"])
    @has_access
    def decide(self):
        batch_decision(flow.decide_many, none_selected=N_("Select at least one filing."),
                       handled=N_("%(n)s filing(s) handled."), failed_one=N_("Filing %(id)s: %(msg)s"))
        back = db_id(request.args.get("back"))
        if back:
            return redirect(url_for("BasePlanReviewView.show", filing_id=back))
        return redirect(url_for("BasePlanReviewView.index"))
