"""P6 profile and title change requests, P7 identity corrections; U6 / D4 / H3 personnel change review; S3
identity correction review; the evidence files of change requests, served only to those who may see the request."""
from __future__ import annotations

import datetime
import unicodedata

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, FieldList, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional, ValidationError as WTFValidationError

from ..extensions import db
from ..models import ChangeState, IdentityCorrection, Person, TitleChange
from ..authz import CHANGE_FILE_VIEW, IDENTITY_REVIEW_VIEW, PERSONNEL_REVIEW_VIEW, PROFILE_VIEW, module_allows
from ..security import current_actor, current_membership
from ..validators import ValidationError as Invalid, check_past_date, check_study_date, mask_id_number
from ..workflows import evidence
from ..workflows import identity as id_flow
from ..workflows import title_change as title_flow
from ..workflows.attachments import change_path_of
from .forms import DEGREES, EDUCATION, ETHNICITIES, TITLE_LEVELS, TITLE_SERIES, ButtonForm, DecisionForm
from .util import N_, arg_choice, batch_decision, domain_errors, keyset_page, send_evidence

REQUIRED = _l("This field is required.")
TOO_LONG = _l("At most %(max)d characters.")
CHOOSE = _l("Choose a value from the list.")
MAX_LIST = 10  # 职(执)业资格 / 学术技术称号 entries
STATE_TABS = [(ChangeState.PENDING.value, _l("Pending review")), (ChangeState.APPROVED.value, _l("Approved")),
              (ChangeState.REJECTED.value, _l("Rejected"))]
PAGE_SIZE = 20


def _choices(values):
    return [("", _l("Please choose"))] + [(x, x) for x in values]


def _plain(form, field):
    """Free text: no markup characters, no control characters."""
    value = field.data or ""
    if any(c in "<>" or unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise WTFValidationError(str(_l("Must not contain < > or control characters.")))


def _date(past_only: bool = True):
    """A date typed as 2026-11-22 (the browser's date input sends this form): valid, not before 1900, not in the
    future. The field's data becomes a datetime.date."""

    def check(form, field):
        raw = (field.data or "").strip() if isinstance(field.data, str) else field.data
        if not raw:
            field.data = None
            return
        if isinstance(raw, datetime.date):
            return
        try:
            value = datetime.date.fromisoformat(raw)
        except ValueError:
            raise WTFValidationError(str(_l("Enter a valid date such as 2026-11-22."))) from None
        try:  # the one sane range of every date field (app/validators.py)
            (check_past_date if past_only else check_study_date)(value)
        except Invalid as exc:
            raise WTFValidationError(str(exc.message)) from None
        field.data = value

    return check


def _text(label, max_len: int, required: bool = False):
    return StringField(label, validators=[DataRequired(REQUIRED) if required else Optional(),
                                          Length(max=max_len, message=TOO_LONG), _plain])


def _select(label, values, required: bool = True):
    return SelectField(label, choices=_choices(values), validate_choice=False,
                       validators=[DataRequired(REQUIRED) if required else Optional(),
                                   AnyOf(list(values) + ([] if required else [""]), message=CHOOSE)])


def _date_field(label):
    return StringField(label, validators=[Optional(), Length(max=10, message=TOO_LONG), _date()])


def _date_value(value) -> str:
    return value.isoformat() if isinstance(value, datetime.date) else (value or "")


class ProfileForm(FlaskForm):
    """P6: everything but unit, name, 证件号 (locked) and the title (reviewed)."""

    gender = _select(_l("Gender"), ["M", "F"])
    ethnicity = _select(_l("Ethnicity"), ETHNICITIES)
    native_place = _text(_l("Native place"), 50)
    department = _text(_l("Department"), 50)
    education = _select(_l("Highest education"), EDUCATION)
    school = _text(_l("School"), 60, required=True)
    major = _text(_l("Major"), 60, required=True)
    graduation_date = _date_field(_l("Graduation date"))
    degree = _select(_l("Degree"), DEGREES)
    postdoc = BooleanField(_l("Postdoctoral experience"))
    admin_post = _text(_l("Administrative post"), 50)
    admin_level = _text(_l("Administrative level"), 20)
    vocational_qualifications = FieldList(
        StringField(_l("Vocational qualification"), validators=[Optional(), Length(max=50, message=TOO_LONG),
                                                               _plain]), max_entries=MAX_LIST)
    academic_titles = FieldList(
        StringField(_l("Academic title"), validators=[Optional(), Length(max=50, message=TOO_LONG), _plain]),
        max_entries=MAX_LIST)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gender.choices = [("", _l("Please choose")), ("M", _l("Male")), ("F", _l("Female"))]


class TitleChangeForm(FlaskForm):
    title_series = _select(_l("Title series"), TITLE_SERIES)
    title_level = _select(_l("Title level"), TITLE_LEVELS)
    title_name = _text(_l("Current professional title"), 50)
    title_date = _date_field(_l("Title effective date"))
    title_cert_no = _text(_l("Certificate number"), 50)
    attachments = MultipleFileField(_l("Evidence (PNG, JPEG or PDF, at most 5 MB each)"))


class IdentityCorrectionForm(FlaskForm):
    new_name = StringField(_l("Correct name"), validators=[DataRequired(REQUIRED), Length(max=30, message=TOO_LONG)])
    new_id_number = StringField(_l("Correct ID number"), validators=[DataRequired(REQUIRED),
                                                                    Length(max=30, message=TOO_LONG)])
    note = TextAreaField(_l("Explanation"), validators=[Optional(), Length(max=200, message=TOO_LONG), _plain])
    attachments = MultipleFileField(_l("ID card images (1 or 2, PNG or JPEG, at most 5 MB each)"))


def _files(field) -> list[tuple[str, bytes]]:
    return [(f.filename, f.read()) for f in request.files.getlist(field.name) if f and f.filename]




def _my_person() -> Person:
    person = db.session.scalar(select(Person).where(Person.user_id == current_user.id))
    if person is None:
        abort(403)
    return person


def _fill_list(field, values: list[str]) -> None:
    """The saved entries plus two empty boxes (up to MAX_LIST)."""
    while len(field.entries):
        field.pop_entry()
    for value in values[:MAX_LIST]:
        field.append_entry(value)
    while len(field.entries) < min(MAX_LIST, len(values) + 2):
        field.append_entry()


class ProfileView(BaseView):
    """The professional's own profile (P6), title change requests and identity corrections (P7)."""

    route_base = "/profile"
    default_view = "index"
    class_permission_name = PROFILE_VIEW

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        person = _my_person()
        if request.method == "POST":
            form = ProfileForm()
            if form.validate_on_submit():
                values = {name: form[name].data for name in title_flow.PROFILE_FIELDS}
                with domain_errors(form):
                    changed = title_flow.update_profile(current_actor(), values)
                    flash(gettext("Your profile has been saved.") if changed else gettext("Nothing was changed."),
                          "success")
                    return redirect(url_for("ProfileView.index"))
            else:
                flash(gettext("Please correct the marked fields."), "danger")
        else:
            data = {name: getattr(person, name) for name in title_flow.PROFILE_FIELDS
                    if name not in title_flow.LIST_FIELDS}
            data["graduation_date"] = _date_value(person.graduation_date)
            form = ProfileForm(formdata=None, data=data)
            for name in title_flow.LIST_FIELDS:
                _fill_list(form[name], title_flow.split_list(getattr(person, name)))
        changes = title_flow.history(person)
        corrections = id_flow.history(person.user_id)
        return self.render_template(
            "profile/index.html", form=form, person=person, masked=mask_id_number(person.id_number),
            title_now=title_flow.current_title(person), title_labels=title_flow.TITLE_LABELS,
            pending=next((c for c in changes if c.state == ChangeState.PENDING.value), None), changes=changes,
            files={c.id: title_flow.files_of(c) for c in changes},
            correction=next((c for c in corrections if c.state == ChangeState.PENDING.value), None),
            corrections=corrections, mask=mask_id_number, button=ButtonForm(formdata=None), title=_l("My profile"))

    @expose("/title", methods=["GET", "POST"])
    @has_access
    def title(self):
        person = _my_person()
        pending = title_flow.pending_of(person)
        if request.method == "POST":
            form = TitleChangeForm()
            if pending is not None:
                flash(gettext("A title change is already under review. Withdraw it first or wait for the decision."),
                      "warning")
                return redirect(url_for("ProfileView.index"))
            if form.validate_on_submit():
                values = {key: form[key].data for key in ("title_series", "title_level", "title_name", "title_date",
                                                          "title_cert_no")}
                with domain_errors(form):
                    title_flow.submit(current_actor(), values, _files(form.attachments))
                    flash(gettext("Your title change has been submitted to your unit for review."), "success")
                    return redirect(url_for("ProfileView.index"))
            else:
                flash(gettext("Please correct the marked fields."), "danger")
        else:
            now = title_flow.current_title(person)
            form = TitleChangeForm(formdata=None, data={**now, "title_date": now["title_date"] or ""})
        return self.render_template("profile/title.html", form=form, person=person, pending=pending,
                                    title_now=title_flow.current_title(person),
                                    title_labels=title_flow.TITLE_LABELS, title=_l("Change of professional title"))

    @expose("/title/<int:change_id>/withdraw", methods=["POST"])
    @has_access
    def withdraw_title(self, change_id):
        item = db.session.get(TitleChange, change_id)
        if item is None or item.person.user_id != current_user.id:
            abort(404)
        with domain_errors():
            title_flow.withdraw(item, current_actor())
            flash(gettext("The title change has been withdrawn."), "success")
        return redirect(url_for("ProfileView.index"))

    @expose("/identity", methods=["GET", "POST"])
    @has_access
    def identity(self):
        person = _my_person()
        pending = id_flow.pending_of(person.user_id)
        form = IdentityCorrectionForm() if request.method == "POST" else IdentityCorrectionForm(
            formdata=None, data={"new_name": person.name})
        if request.method == "POST":
            if pending is not None:
                flash(gettext("An identity correction is already under review. Withdraw it first or wait for the "
                              "decision."), "warning")
                return redirect(url_for("ProfileView.index"))
            if form.validate_on_submit():
                with domain_errors(form):
                    id_flow.submit(current_actor(), form.new_name.data, form.new_id_number.data,
                                   _files(form.attachments), form.note.data)
                    flash(gettext("Your request has been sent to support staff."), "success")
                    return redirect(url_for("ProfileView.index"))
            else:
                flash(gettext("Please correct the marked fields."), "danger")
        return self.render_template("profile/identity.html", form=form, person=person, pending=pending,
                                    masked=mask_id_number(person.id_number),
                                    title=_l("Correction of name or ID number"))

    @expose("/identity/<int:correction_id>/withdraw", methods=["POST"])
    @has_access
    def withdraw_identity(self, correction_id):
        item = db.session.get(IdentityCorrection, correction_id)
        if item is None or item.user_id != current_user.id:
            abort(404)
        with domain_errors():
            id_flow.withdraw(item, current_actor())
            flash(gettext("The correction request has been withdrawn."), "success")
        return redirect(url_for("ProfileView.index"))


class PersonnelReviewView(BaseView):
    """U6 / D4 / H3: title changes of the staff of the reviewer's subtree; batch approve / reject."""

    route_base = "/review/personnel"
    default_view = "index"
    class_permission_name = PERSONNEL_REVIEW_VIEW

    @expose("/")
    @has_access
    def index(self):
        actor = current_actor()
        state = arg_choice("state", STATE_TABS, ChangeState.PENDING.value)
        q = (request.args.get("q") or "").strip()[:30] or None
        rows, next_after = keyset_page(lambda **page: title_flow.queue(actor, state=state, q=q, **page), PAGE_SIZE)
        return self.render_template(
            "personnel/review.html", rows=rows, state=state, q=q or "", tabs=STATE_TABS,
            diffs={r.id: title_flow.diff(r) for r in rows}, next_after=next_after,
            pending=title_flow.pending_count(actor), form=DecisionForm(formdata=None), mask=mask_id_number,
            title=_l("Personnel change review"))

    @expose("/<int:change_id>")
    @has_access
    def detail(self, change_id):
        item = db.session.get(TitleChange, change_id)
        actor = current_actor()
        if item is None or actor.role not in title_flow.REVIEWERS or not title_flow.can_see(item, actor):
            abort(404)
        return self.render_template("personnel/detail.html", item=item, diff=title_flow.diff(item),
                                    files=title_flow.files_of(item), form=DecisionForm(formdata=None),
                                    can_decide=title_flow.can_decide(item, actor),
                                    mask=mask_id_number, title=_l("Change of professional title"))

    @expose("/decide", methods=["POST"])
    @has_access
    def decide(self):
        batch_decision(title_flow.decide_many, none_selected=N_("Select at least one change."),
                       handled=N_("%(n)s change(s) handled."), failed_one=N_("Change %(id)s: %(msg)s"))
        return redirect(url_for("PersonnelReviewView.index", **{k: v for k, v in request.args.items()
                                                                  if k in ("state", "q")}))


class IdentityReviewView(BaseView):
    """S3: support staff decide name / 证件号 corrections; the full numbers are shown on the detail page only,
    and each opening of it is audited."""

    route_base = "/support/identity"
    default_view = "index"
    class_permission_name = IDENTITY_REVIEW_VIEW

    @expose("/")
    @has_access
    def index(self):
        actor = current_actor()
        state = arg_choice("state", STATE_TABS, ChangeState.PENDING.value)
        q = (request.args.get("q") or "").strip()[:30] or None
        rows, next_after = keyset_page(lambda **page: id_flow.queue(actor, state=state, q=q, **page), PAGE_SIZE)
        return self.render_template(
            "personnel/identity_review.html", rows=rows, state=state, q=q or "", tabs=STATE_TABS,
            next_after=next_after, pending=id_flow.pending_count(actor), mask=mask_id_number,
            title=_l("Identity corrections"))

    def _item(self, correction_id) -> IdentityCorrection:
        item = db.session.get(IdentityCorrection, correction_id)
        actor = current_actor()
        if item is None or not id_flow.reviewable(item, actor):
            abort(404)  # nor their own request: support never opens it as its decider
        return item

    @expose("/<int:correction_id>")
    @has_access
    def detail(self, correction_id):
        item = self._item(correction_id)
        actor = current_actor()
        id_flow.view_full(item, actor)
        return self.render_template("personnel/identity_detail.html", item=item, files=id_flow.files_of(item),
                                    can_decide=id_flow.can_decide(item, actor),
                                    form=DecisionForm(formdata=None), title=_l("Identity correction"))

    @expose("/<int:correction_id>/decide", methods=["POST"])
    @has_access
    def decide(self, correction_id):
        item = self._item(correction_id)
        form = DecisionForm()
        if not form.validate_on_submit():
            flash(gettext("Invalid request."), "danger")
        else:
            with domain_errors():
                id_flow.decide(item, form.action.data, current_actor(), form.reason.data)
                flash(gettext("The correction has been approved and applied.") if form.action.data == "approve"
                      else gettext("The correction has been rejected."), "success")
                return redirect(url_for("IdentityReviewView.index"))
        return redirect(url_for("IdentityReviewView.detail", correction_id=item.id))


class ChangeAttachmentView(BaseView):
    """Evidence of change requests: to the applicant, the reviewers who may see the request, support for identity
    corrections; as an attachment, never inline."""

    route_base = "/change-files"
    class_permission_name = CHANGE_FILE_VIEW

    @expose("/<int:attachment_id>")
    @has_access
    def download(self, attachment_id):
        row = evidence.change_file(attachment_id, current_actor(), personnel_module=module_allows(
            current_membership(), PERSONNEL_REVIEW_VIEW))
        if row is None:
            abort(404)
        return send_evidence(row, change_path_of(row))
