"""X6 / H6: the public certificate verification page. By number + verification code (the QR link, GET), or by
证件号 + name (POST with CSRF and captcha, so the ID number never appears in a URL)."""
from __future__ import annotations

from flask import request
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..security import current_actor
from ..validators import mask_id_number, normalize_id_number
from ..workflows import certificates as cert_flow
from .captcha import captcha_passed
from .util import limit

VERIFY_VIEW = "VerifyView"
REQUIRED = _l("This field is required.")


class CodeForm(FlaskForm):
    """Number + code, read from the query string (the QR link); nothing changes, so no CSRF token."""

    class Meta:
        csrf = False

    number = StringField(_l("Certificate number"), validators=[DataRequired(REQUIRED), Length(max=40)])
    code = StringField(_l("Verification code"), validators=[DataRequired(REQUIRED), Length(max=20)])


class PersonLookupForm(FlaskForm):
    id_number = StringField(_l("ID number"), validators=[DataRequired(REQUIRED), Length(max=30)])
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=30)])
    captcha = StringField(_l("Captcha"), validators=[DataRequired(REQUIRED), Length(max=10)])


class VerifyView(BaseView):
    route_base = "/verify"
    default_view = "index"
    class_permission_name = VERIFY_VIEW

    def _page(self, code_form, lookup_form, **context):
        lookup_form.captcha.data = ""
        return self.render_template("public/verify.html", code_form=code_form, lookup_form=lookup_form,
                                    kind_labels=cert_flow.KIND_LABELS, hours=cert_flow.hours_text,
                                    title=_l("Certificate verification"), **context)

    @expose("/")
    @has_access
    @limit("PUBLIC_POST_RATE_LIMIT")
    def index(self):
        """GET ?number=…&code=…: the certificate, or "not found"; without parameters, the two forms."""
        code_form = CodeForm(formdata=request.args if request.args else None)
        checked, cert = False, None
        if request.args:
            checked = True
            if code_form.validate():
                cert = cert_flow.verify(code_form.number.data, code_form.code.data)
        return self._page(code_form, PersonLookupForm(formdata=None), checked=checked, cert=cert,
                          masked=mask_id_number(cert.person.id_number) if cert else "")

    @expose("/lookup", methods=["GET", "POST"])
    @has_access
    @limit("PUBLIC_POST_RATE_LIMIT", methods=["POST"])
    def lookup(self):
        """H6 e-certificate lookup by 证件号 + name; both must match."""
        form = PersonLookupForm()
        found, masked = None, ""
        if form.validate_on_submit():
            if captcha_passed(form):
                masked = mask_id_number(normalize_id_number(form.id_number.data))
                found = cert_flow.lookup(form.id_number.data, form.name.data, actor=current_actor())
        form.id_number.data = ""  # the full number is never echoed back into the page
        return self._page(CodeForm(formdata=None), form, found=found, masked=masked, lookup_done=found is not None)
