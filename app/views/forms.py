"""WTForms used by the custom screens. Field-level checks here; business rules live in app/workflows."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, FileField, HiddenField, IntegerField, MultipleFileField, PasswordField,
                     RadioField, SelectField, StringField, TextAreaField)
from wtforms.validators import DataRequired, Length, Optional, ValidationError as WTFValidationError

from ..models import RoleName
from ..models.account import ROLE_LABELS
from .. import validators as v
from ..choices import DEGREES, EDUCATION, ETHNICITIES, INDUSTRIES, ORG_NATURES, TITLE_LEVELS, TITLE_SERIES  # noqa: F401
from .input_filter import StudyDateField  # every DateField gets the sane past-date range there; study dates this one

REQUIRED = _l("This field is required.")

LOGIN_ROLES = [RoleName.PROFESSIONAL, RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN,
               RoleName.BASE_ADMIN, RoleName.SUPPORT, RoleName.SYSADMIN, RoleName.AUDITOR]


class RowIdField(IntegerField):
    """The id of a row picked in a form: a number no INTEGER column can hold is no choice at all (the field's
    DataRequired / Optional validators then answer), never a database error."""

    row_id = True  # not typed by a person: the input filter leaves its message to DataRequired / Optional

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and (not 0 < self.data <= 2 ** 31 - 1 or not str(valuelist[0]).isascii()):
            self.data = None
            self.process_errors = []


def _choice_int(x) -> int | None:
    """A chosen option's number: ASCII digits only (int() would read full-width ones too)."""
    return int(x) if str(x).isascii() and str(x).isdigit() else None


def _choices(values):
    return [("", _l("Please choose"))] + [(x, x) for x in values]


def _wrap(func):
    """Turn a validators.ValidationError into a WTForms error with the same message."""

    def check(form, field):
        if not field.data:
            return
        try:
            field.data = func(field.data)
        except v.ValidationError as exc:
            raise WTFValidationError(str(exc.message)) from exc

    return check


class LoginForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[(r.value, ROLE_LABELS[r]) for r in LOGIN_ROLES],
                       validators=[DataRequired(REQUIRED)])
    id_number = StringField(_l("ID number"), validators=[DataRequired(REQUIRED), Length(max=30)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=64)])
    captcha = StringField(_l("Captcha"), validators=[DataRequired(REQUIRED), Length(max=10)])


class PickRoleForm(FlaskForm):
    membership_id = RowIdField(validators=[DataRequired(REQUIRED)])


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField(_l("Old password"), validators=[DataRequired(REQUIRED), Length(max=64)])
    password = PasswordField(_l("New password"), validators=[DataRequired(REQUIRED), Length(max=64)])
    confirm = PasswordField(_l("Confirm new password"), validators=[DataRequired(REQUIRED), Length(max=64)])


class ForgotPasswordForm(FlaskForm):
    id_number = StringField(_l("ID number"), validators=[DataRequired(REQUIRED), Length(max=30)])
    channel = RadioField(_l("Send by"), choices=[("email", _l("E-mail")), ("sms", _l("Mobile phone"))],
                         default="email", validators=[DataRequired(REQUIRED)])
    contact = StringField(_l("Registered e-mail or mobile"), validators=[DataRequired(REQUIRED), Length(max=254)])
    captcha = StringField(_l("Captcha"), validators=[DataRequired(REQUIRED), Length(max=10)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(REQUIRED), Length(max=64)])
    confirm = PasswordField(_l("Confirm new password"), validators=[DataRequired(REQUIRED), Length(max=64)])


class AccountFieldsMixin:
    existing_user = BooleanField(_l("I am already a user of this platform"))
    id_type = SelectField(_l("ID type"), choices=v.ID_TYPES, default="resident_id")
    id_number = StringField(_l("ID number"), validators=[DataRequired(REQUIRED), Length(max=30)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=64)])
    confirm = PasswordField(_l("Confirm password"), validators=[Optional(), Length(max=64)])
    mobile = StringField(_l("Mobile phone"), validators=[DataRequired(REQUIRED), _wrap(v.validate_mobile)])
    email = StringField(_l("E-mail"), validators=[DataRequired(REQUIRED), _wrap(v.validate_email)])
    commitment = BooleanField(_l("I promise that the information given is true"),
                              validators=[DataRequired(_l("Please confirm that the information is true."))])
    captcha = StringField(_l("Captcha"), validators=[DataRequired(REQUIRED), Length(max=10)])

    def validate_id_number(self, field):
        try:
            field.data = v.validate_id_number(self.id_type.data, field.data)
        except v.ValidationError as exc:
            raise WTFValidationError(str(exc.message)) from exc

    def validate_confirm(self, field):
        if not self.existing_user.data and field.data != self.password.data:
            raise WTFValidationError(str(_l("The two passwords do not match.")))


class PersonRegistrationForm(AccountFieldsMixin, FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), _wrap(v.validate_person_name)])
    gender = RadioField(_l("Gender"), choices=[("M", _l("Male")), ("F", _l("Female"))], default="M")
    ethnicity = SelectField(_l("Ethnicity"), choices=_choices(ETHNICITIES), validators=[DataRequired(REQUIRED)])
    native_place = StringField(_l("Native place"), validators=[Optional(), Length(max=50)])
    unit_id = RowIdField(_l("Unit"), validators=[DataRequired(_l("Choose your unit from the list."))])
    department = StringField(_l("Department"), validators=[Optional(), Length(max=50)])
    education = SelectField(_l("Highest education"), choices=_choices(EDUCATION), validators=[DataRequired(REQUIRED)])
    school = StringField(_l("School"), validators=[DataRequired(REQUIRED), Length(max=60)])
    major = StringField(_l("Major"), validators=[DataRequired(REQUIRED), Length(max=60)])
    graduation_date = DateField(_l("Graduation date"), validators=[Optional()])
    degree = SelectField(_l("Degree"), choices=_choices(DEGREES), validators=[DataRequired(REQUIRED)])
    postdoc = BooleanField(_l("Postdoctoral experience"))
    admin_post = StringField(_l("Administrative post"), validators=[Optional(), Length(max=50)])
    title_series = SelectField(_l("Title series"), choices=_choices(TITLE_SERIES), validators=[DataRequired(REQUIRED)])
    title_level = SelectField(_l("Title level"), choices=_choices(TITLE_LEVELS), validators=[DataRequired(REQUIRED)])
    title_name = StringField(_l("Current professional title"), validators=[Optional(), Length(max=50)])
    title_date = DateField(_l("Title effective date"), validators=[Optional()])
    title_cert_no = StringField(_l("Certificate number"), validators=[Optional(), Length(max=50)])
    vocational_qualifications = StringField(_l("Vocational qualifications"), validators=[Optional(), Length(max=200)])
    academic_titles = StringField(_l("Academic titles"), validators=[Optional(), Length(max=200)])

    PROFILE_FIELDS = ("gender", "ethnicity", "native_place", "department", "education", "school", "major",
                      "graduation_date", "degree", "postdoc", "admin_post", "title_series", "title_level",
                      "title_name", "title_date", "title_cert_no", "vocational_qualifications", "academic_titles")


class OrgRegistrationForm(AccountFieldsMixin, FlaskForm):
    org_name = StringField(_l("Organisation name"), validators=[DataRequired(REQUIRED), _wrap(v.validate_org_name)])
    credit_code = StringField(_l("Unified social credit code"), validators=[DataRequired(REQUIRED), Length(max=20)])
    temporary_code = BooleanField(_l("The organisation has no credit code (temporary code)"))
    parent_id = RowIdField(_l("Organisation above"), validators=[DataRequired(
        _l("Choose the organisation above yours from the list."))])
    nature = SelectField(_l("Nature"), choices=_choices(ORG_NATURES), validators=[Optional()])
    industry = SelectField(_l("Industry"), choices=_choices(INDUSTRIES), validators=[Optional()])
    phone = StringField(_l("Phone"), validators=[DataRequired(REQUIRED), Length(max=30)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=200)])
    licence = FileField(_l("Business licence scan (PNG, JPEG or PDF, at most 5 MB)"))
    name = StringField(_l("Administrator name"), validators=[DataRequired(REQUIRED), _wrap(v.validate_person_name)])

    def validate_credit_code(self, field):
        try:
            field.data = v.validate_org_code(field.data, temporary=bool(self.temporary_code.data))
        except v.ValidationError as exc:
            raise WTFValidationError(str(exc.message)) from exc


class ProgressForm(FlaskForm):
    id_number = StringField(_l("ID number"), validators=[DataRequired(REQUIRED), Length(max=30)])
    captcha = StringField(_l("Captcha"), validators=[DataRequired(REQUIRED), Length(max=10)])


class WithdrawForm(FlaskForm):
    registration_id = HiddenField(validators=[DataRequired(REQUIRED)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=64)])


class DecisionForm(FlaskForm):
    action = SelectField(choices=[("approve", _l("Approve")), ("reject", _l("Reject"))],
                         validators=[DataRequired(REQUIRED)])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=500)])


class AccountLookupForm(FlaskForm):
    id_number = StringField(_l("ID number"), validators=[DataRequired(REQUIRED), Length(max=30)])


class AssignRoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[(r.value, ROLE_LABELS[r]) for r in LOGIN_ROLES],
                       validators=[DataRequired(REQUIRED)])
    org_id = RowIdField(_l("Organisation"), validators=[Optional()])


# ---------------------------------------------------------------- hours (issue 3)

class DeclarationForm(FlaskForm):
    """P8. The learning form decides which of the detail fields are asked; the workflow checks them."""

    subject = SelectField(_l("Subject"), choices=[("professional", _l("Professional subjects")),
                                                   ("public", _l("Public subjects"))],
                          validators=[DataRequired(REQUIRED)])
    form_id = SelectField(_l("Learning form"), coerce=_choice_int,
                          validators=[DataRequired(_l("Choose a learning form."))])
    year = SelectField(_l("Counted in year"), coerce=_choice_int,
                       validators=[DataRequired(REQUIRED)])
    title = StringField(_l("Title of the learning"), validators=[DataRequired(REQUIRED), Length(max=100)])
    hours = StringField(_l("Hours"), validators=[DataRequired(REQUIRED), Length(max=10)])
    start_date = StudyDateField(_l("Start date"), validators=[Optional()])
    end_date = StudyDateField(_l("End date"), validators=[Optional()])
    attachments = MultipleFileField(_l("Evidence (PNG, JPEG or PDF, at most 5 MB each)"))


class BaseReportForm(FlaskForm):
    title = StringField(_l("Class or training name"), validators=[DataRequired(REQUIRED), Length(max=100)])
    subject = SelectField(_l("Subject"), choices=[("professional", _l("Professional subjects")),
                                                   ("public", _l("Public subjects"))])
    form_id = SelectField(_l("Learning form"), coerce=_choice_int,
                          validators=[DataRequired(_l("Choose a learning form."))])
    year = SelectField(_l("Counted in year"), coerce=_choice_int,
                       validators=[DataRequired(REQUIRED)])
    start_date = StudyDateField(_l("Start date"), validators=[Optional()])
    end_date = StudyDateField(_l("End date"), validators=[Optional()])
    lines = TextAreaField(_l("Trainees: one per line, ID number and hours"),
                          validators=[DataRequired(REQUIRED), Length(max=100000)])


class YearRangeForm(FlaskForm):
    class Meta:
        csrf = False

    year_from = IntegerField(_l("From year"), validators=[Optional()])
    year_to = IntegerField(_l("To year"), validators=[Optional()])


class ButtonForm(FlaskForm):
    """An empty form: its CSRF token protects the small POST buttons (submit, withdraw, delete, print)."""
