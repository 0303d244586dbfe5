"""Training bases report hours for trainees (B2); the HR bureau above reviews them (H3)."""
from __future__ import annotations

import io

from flask import abort, flash, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from wtforms import FileField

from .. import clock
from ..extensions import db
from ..models import BaseReport, LearningForm
from ..security import current_actor
from ..validators import mask_id_number
from ..workflows import base_reports as report_flow
from ..workflows.declaration import YEARS_BACK
from .export import MIME
from .forms import BaseReportForm, DecisionForm
from .util import domain_errors


class BaseReportUploadForm(BaseReportForm):
    lines = None  # the trainees come from the file
    file = FileField(_l("Trainees (.xlsx: ID number, name, hours)"))


def _with_choices(form):
    forms = db.session.scalars(select(LearningForm).where(LearningForm.active.is_(True)).order_by(LearningForm.id))
    form.form_id.choices = [("", _l("Please choose"))] + [(f.id, f"{f.group_label} · {f.name}") for f in forms]
    this_year = clock.today().year
    form.year.choices = [(y, str(y)) for y in range(this_year, this_year - YEARS_BACK - 1, -1)]
    return form


def _submitted(report):
    flash(gettext("The report of %(n)s trainee(s) has been submitted to %(org)s.",
                  n=len(report.lines), org=report.reviewer_org.name), "success")
    return redirect(url_for("BaseReportView.show", report_id=report.id))


class BaseReportView(BaseView):
    route_base = "/base/reports"
    default_view = "index"
    class_permission_name = "BaseReportView"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("base/reports.html", rows=report_flow.of_base(current_actor()),
                                    title=_l("Reported hours"))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        form = _with_choices(BaseReportForm())
        if form.validate_on_submit():
            with domain_errors(form):
                report = report_flow.submit_report(
                    current_actor(), title=form.title.data, subject=form.subject.data, form_id=form.form_id.data,
                    year=form.year.data, start_date=form.start_date.data, end_date=form.end_date.data,
                    lines_text=form.lines.data)
                return _submitted(report)
        return self.render_template("base/new.html", form=form, title=_l("Report hours for trainees"))

    @expose("/upload", methods=["GET", "POST"])
    @has_access
    def upload(self):
        """The same report with the trainees in an .xlsx (证件号, 姓名, 学时) instead of a typed list."""
        form = _with_choices(BaseReportUploadForm())
        if form.validate_on_submit():
            upload = form.file.data
            with domain_errors(form):
                report = report_flow.submit_report(
                    current_actor(), title=form.title.data, subject=form.subject.data, form_id=form.form_id.data,
                    year=form.year.data, start_date=form.start_date.data, end_date=form.end_date.data,
                    sheet=upload.read() if upload and hasattr(upload, "read") else b"")
                return _submitted(report)
        return self.render_template("base/new.html", form=form, upload=True, title=_l("Report hours for trainees"))

    @expose("/template.xlsx")
    @has_access
    def template(self):
        return send_file(io.BytesIO(report_flow.template_workbook()), mimetype=MIME, as_attachment=True,
                         download_name=f"{gettext('trainee-hours-template')}.xlsx", max_age=0)

    @expose("/<int:report_id>")
    @has_access
    def show(self, report_id):
        report = db.session.get(BaseReport, report_id)
        actor = current_actor()
        if report is None or not report_flow.can_see(report, actor):
            abort(404)
        return self.render_template("base/show.html", report=report, mask=mask_id_number,
                                    can_decide=report_flow.can_decide(report, actor),
                                    form=DecisionForm(formdata=None), title=report.title)


class BaseReportReviewView(BaseView):
    route_base = "/review/base-reports"
    default_view = "index"
    class_permission_name = "BaseReportReviewView"

    @expose("/")
    @has_access
    def index(self):
        state = request.args.get("state", "pending")
        state = state if state in ("pending", "approved", "rejected") else "pending"
        return self.render_template("base/review.html", rows=report_flow.queue(current_actor(), state),
                                    state=state, title=_l("Base report review"))

    @expose("/<int:report_id>")
    @has_access
    def show(self, report_id):
        report = db.session.get(BaseReport, report_id)
        actor = current_actor()
        if report is None or not report_flow.can_see(report, actor):
            abort(404)
        return self.render_template("base/show.html", report=report, mask=mask_id_number, reviewer=True,
                                    can_decide=report_flow.can_decide(report, actor),
                                    form=DecisionForm(formdata=None), title=report.title)

    @expose("/<int:report_id>/decide", methods=["POST"])
    @has_access
    def decide(self, report_id):
        report = db.session.get(BaseReport, report_id)
        form = DecisionForm()
        if report is None or not form.validate_on_submit():
            abort(400)
        with domain_errors():
            if form.action.data == "approve":
                report_flow.approve(report, current_actor())
            else:
                report_flow.reject(report, current_actor(), form.reason.data)
            flash(gettext("The report has been handled."), "success")
        return redirect(url_for("BaseReportReviewView.index"))
