"""The professional's hours (P8 declare, P9 progress, P10 annual completion, P11 printing) and the reviewers'
declaration queue (U8, D5, H4); evidence files are served only to those who may see the declaration."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import Attachment, Declaration, LearningForm, Person
from ..security import current_actor
from ..validators import mask_id_number
from ..workflows import annual
from ..workflows import base_reports as report_flow
from ..workflows import certificates
from ..workflows import declaration as decl_flow
from ..workflows import evidence
from ..workflows.attachments import path_of
from .export import export_url, is_export, xlsx_response
from .forms import ButtonForm, DecisionForm, DeclarationForm, YearRangeForm
from .util import N_, batch_decision, db_id, domain_errors, keyset_page, send_evidence

STATE_TABS = [("", _l("All")), ("draft", _l("Not submitted")), ("pending", _l("Pending review")),
              ("approved", _l("Approved")), ("rejected", _l("Rejected"))]


def _years() -> list[int]:
    this_year = clock.today().year
    return list(range(this_year, this_year - decl_flow.YEARS_BACK - 1, -1))


def _my_person() -> Person:
    person = db.session.scalar(select(Person).where(Person.user_id == current_user.id))
    if person is None:
        abort(403)
    return person


class HoursView(BaseView):
    route_base = "/hours"
    default_view = "index"
    class_permission_name = "HoursView"

    # ------------------------------------------------------------ P9 progress
    @expose("/")
    @has_access
    def index(self):
        state = request.args.get("state", "")
        state = state if state in {s for s, _ in STATE_TABS} else ""
        actor = current_actor()
        tab = "base" if request.args.get("tab") == "base" else "mine"
        person = _my_person()
        rows = decl_flow.mine(actor, state or None) if tab == "mine" else []
        reported = report_flow.reported_for(person) if tab == "base" else []
        return self.render_template("hours/index.html", rows=rows, reported=reported, tab=tab, state=state,
                                    tabs=STATE_TABS, title=_l("My hour declarations"))

    # ------------------------------------------------------------ P8 declare / edit
    def _form(self, item: Declaration | None = None) -> DeclarationForm:
        form = DeclarationForm(obj=None if request.method == "POST" else item)
        forms = list(db.session.scalars(select(LearningForm).where(LearningForm.active.is_(True))
                                        .order_by(LearningForm.id)))
        form.form_id.choices = [("", _l("Please choose"))] + [(f.id, f"{f.group_label} · {f.name}") for f in forms]
        form.year.choices = [(y, str(y)) for y in _years()]
        form.learning_forms = forms
        return form

    def _save(self, form: DeclarationForm, item: Declaration | None):
        details = {key: request.form.get(f"f_{key}", "") for key in decl_flow.FIELDS}
        files = [(f.filename, f.read()) for f in request.files.getlist(form.attachments.name) if f and f.filename]
        data = decl_flow.DeclarationInput(form.subject.data, form.form_id.data, form.year.data, form.title.data,
                                          form.hours.data, form.start_date.data, form.end_date.data, details)
        submit = request.form.get("action") == "submit"
        saved = decl_flow.save(current_actor(), data, item.id if item else None, submit=submit, attachments=files)
        flash(gettext("Submitted for review.") if submit else gettext("Saved as a draft."), "success")
        return redirect(url_for("HoursView.detail", declaration_id=saved.id))

    def _form_page(self, item: Declaration | None):
        """The declare / edit form: saved (and submitted when asked) on a valid POST; else shown again with each
        refusal next to its field, a form field's or one of the learning form's detail fields."""
        form = self._form(item)
        refused = domain_errors(form)
        if form.validate_on_submit():
            with refused:
                return self._save(form, item)
        elif form.is_submitted():
            flash(gettext("Please correct the marked fields."), "danger")
        error = refused.error
        detail_errors = {error.field: str(error.message)} if error and error.field in decl_flow.FIELDS else {}
        values = request.form if item is None or request.method == "POST" else {
            f"f_{k}": v for k, v in item.details.items()}
        return self.render_template("hours/declare.html", form=form, item=item, fields=decl_flow.FIELDS,
                                    values=values, detail_errors=detail_errors,
                                    title=_l("Edit declaration") if item else _l("Declare hours"))

    @expose("/declare", methods=["GET", "POST"])
    @has_access
    def declare(self):
        _my_person()
        return self._form_page(None)

    @expose("/<int:declaration_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, declaration_id):
        item = self._own(declaration_id)
        if not decl_flow.editable(item):
            flash(gettext("Only a draft or a rejected declaration can be edited."), "warning")
            return redirect(url_for("HoursView.detail", declaration_id=item.id))
        return self._form_page(item)

    def _own(self, declaration_id) -> Declaration:
        item = db.session.get(Declaration, declaration_id)
        if item is None or item.person.user_id != current_user.id:
            abort(404)
        return item

    # ------------------------------------------------------------ detail and owner actions
    @expose("/<int:declaration_id>")
    @has_access
    def detail(self, declaration_id):
        item = self._own(declaration_id)
        return self.render_template("hours/detail.html", item=item, timeline=decl_flow.timeline(item),
                                    attachments=_attachments(item), form=ButtonForm(),
                                    can_decide=decl_flow.can_decide(item, current_actor()),
                                    actions=decl_flow.owner_actions(item), title=item.title)

    @expose("/<int:declaration_id>/<any(submit, withdraw, delete):action>", methods=["POST"])
    @has_access
    def act(self, declaration_id, action):
        item = self._own(declaration_id)
        actor = current_actor()
        with domain_errors():
            if action == "delete":
                decl_flow.delete_draft(item, actor)
                flash(gettext("The draft has been deleted."), "success")
                return redirect(url_for("HoursView.index"))
            {"submit": decl_flow.submit, "withdraw": decl_flow.withdraw}[action](item, actor)
            flash(gettext("Submitted for review.") if action == "submit" else
                  gettext("Withdrawn: the declaration is a draft again."), "success")
        return redirect(url_for("HoursView.detail", declaration_id=item.id))

    # ------------------------------------------------------------ P10 annual completion, P11 printing
    @expose("/annual")
    @has_access
    def annual(self):
        person = _my_person()
        form = YearRangeForm(request.args)
        rows = annual.completion(person, form.year_from.data, form.year_to.data)
        return self.render_template("hours/annual.html", rows=rows, form=form, person=person,
                                    masked=mask_id_number(person.id_number), print_form=ButtonForm(),
                                    title=_l("Annual completion"))

    @expose("/annual/<int:year>")
    @has_access
    def annual_detail(self, year):
        person = _my_person()
        if year > clock.today().year:
            abort(404)
        return self.render_template("hours/annual_detail.html", year=year, result=annual.year_result(person, year),
                                    records=annual.records(person, year), title=_l("Learning record details"))

    @expose("/standards")
    @has_access
    def standards(self):
        person = _my_person()
        years = list(range(clock.today().year, clock.today().year - 10, -1))
        marks = annual.standards(years, annual.region_of(person))
        distinct = list(dict.fromkeys(marks[y] for y in years if y in marks))
        return self.render_template("hours/standards.html", marks=distinct,
                                    title=_l("Yearly standards"))

    @expose("/print/<int:year>/<any(completion, register):kind>", methods=["POST"])
    @has_access
    def print_pdf(self, year, kind):
        person = _my_person()
        if not ButtonForm().validate_on_submit():
            abort(400)
        with domain_errors() as refused:
            cert = certificates.issue(person, year, kind, current_actor())
        if refused.error:
            return redirect(url_for("HoursView.annual"))
        response = make_response(certificates.render_pdf(cert))
        response.headers["Content-Type"] = "application/pdf"
        response.headers["Content-Disposition"] = f'attachment; filename="{cert.number}.pdf"'
        return response


def _attachments(item: Declaration) -> list[Attachment]:
    return list(db.session.scalars(select(Attachment).where(Attachment.declaration_id == item.id)
                                   .order_by(Attachment.id)))


def _export_declarations(rows):
    """The review queue's rows as the page shows them (证件号 masked), as an .xlsx file."""
    labels_ = [_l("Applicant"), _l("ID number"), _l("Unit"), _l("Title"), _l("Subject"), _l("Learning form"),
               _l("Year"), _l("Hours"), _l("State")]
    values = ([d.person.name, mask_id_number(d.person.id_number), d.unit.name, d.title, d.subject_label,
               d.form.name if d.form else "", d.year, d.hours, d.state_label] for d in rows)
    title = gettext("Hour declaration review")
    return xlsx_response(title, labels_, values)


class DeclarationReviewView(BaseView):
    """The queue of each review level, scoped to the reviewer's subtree; batch approve / reject."""

    route_base = "/review/declarations"
    default_view = "index"
    class_permission_name = "DeclarationReviewView"

    @expose("/export")
    @expose("/")
    @has_access
    def index(self):
        """The queue, and at /export the whole queue with the same filters as an .xlsx file (one endpoint: the
        export carries exactly the queue's permission; url_for builds "/", the first URL)."""
        actor = current_actor()
        year = db_id(request.args.get("year"))
        subject = request.args.get("subject") if request.args.get("subject") in ("public", "professional") else None
        q = (request.args.get("q") or "").strip()[:30] or None
        if is_export():
            return _export_declarations(decl_flow.queue_rows(actor, year=year, subject=subject, q=q))
        rows, next_after = keyset_page(
            lambda **page: decl_flow.queue(actor, year=year, subject=subject, q=q, **page))
        return self.render_template("hours/review.html", rows=rows, year=year or "", subject=subject or "",
                                    q=q or "", years=_years(), next_after=next_after,
                                    pending=decl_flow.pending_count(actor), form=DecisionForm(formdata=None),
                                    mask=mask_id_number,
                                    export_url=export_url(f"{self.route_base}/export", year=year, subject=subject,
                                                          q=q),
                                    title=_l("Hour declaration review"))

    @expose("/<int:declaration_id>")
    @has_access
    def detail(self, declaration_id):
        item = db.session.get(Declaration, declaration_id)
        actor = current_actor()
        if item is None or not decl_flow.can_see(item, actor):
            abort(404)
        return self.render_template("hours/detail.html", item=item, timeline=decl_flow.timeline(item),
                                    attachments=_attachments(item), form=DecisionForm(formdata=None),
                                    can_decide=decl_flow.can_decide(item, actor),
                                    reviewer=True, mask=mask_id_number, title=item.title)

    @expose("/decide", methods=["POST"])
    @has_access
    def decide(self):
        batch_decision(decl_flow.decide_many, none_selected=N_("Select at least one declaration."),
                       handled=N_("%(n)s declaration(s) handled."), failed_one=N_("Declaration %(id)s: %(msg)s"))
        return redirect(url_for("DeclarationReviewView.index"))


class AttachmentView(BaseView):
    """Evidence downloads: the applicant and the reviewers in scope only, as an attachment, never inline."""

    route_base = "/attachments"
    class_permission_name = "AttachmentView"

    @expose("/<int:attachment_id>")
    @has_access
    def download(self, attachment_id):
        row = evidence.declaration_file(attachment_id, current_actor())
        if row is None:
            abort(404)
        return send_evidence(row, path_of(row))
