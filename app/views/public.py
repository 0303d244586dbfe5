"""Public pages: home, the four registrations (P1, U1, D1, B1), progress lookup and withdrawal (P2), org picker."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, request, session, url_for
from flask_appbuilder import BaseView, IndexView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user

from ..models import OrgKind
from ..models.org import ALLOWED_PARENTS, ORG_KIND_LABELS
from ..authz import PUBLIC_VIEW
from ..validators import mask_id_number, normalize_id_number
from ..workflows import registration as reg_flow
from ..workflows.orgs import picked, search_orgs
from .captcha import captcha_passed
from .forms import OrgRegistrationForm, PersonRegistrationForm, ProgressForm, WithdrawForm
from .util import db_id, domain_errors, limit

# The org kinds that register on the public page, in the order of the home page.
REGISTERABLE = {
    "unit": OrgKind.UNIT,
    "department": OrgKind.DEPARTMENT,
    "base": OrgKind.BASE,
    "district": OrgKind.HR_DISTRICT,
}


class HomeIndexView(IndexView):
    """'/': the public home page; a logged-in person goes to their own home."""

    index_template = "public/index.html"

    @expose("/")
    def index(self):
        if current_user.is_authenticated:
            return redirect(url_for("HomeView.index"))
        return self.render_template(self.index_template, title=_l("Home"))


def _account_data(form) -> reg_flow.AccountData:
    return reg_flow.AccountData(
        id_type=form.id_type.data, id_number=form.id_number.data, password=form.password.data,
        confirm=form.confirm.data, name=form.name.data, email=form.email.data, mobile=form.mobile.data,
        existing_user=bool(form.existing_user.data))


class PublicView(BaseView):
    route_base = "/public"
    class_permission_name = PUBLIC_VIEW

    @expose("/register/person", methods=["GET", "POST"])
    @has_access
    @limit("PUBLIC_POST_RATE_LIMIT", methods=["POST"])
    def register_person(self):
        form = PersonRegistrationForm()
        if form.validate_on_submit() and captcha_passed(form):
            profile = {name: getattr(form, name).data for name in form.PROFILE_FIELDS}
            with domain_errors(form):
                reg = reg_flow.register_person(_account_data(form), form.unit_id.data, profile, request.remote_addr)
                return self._done(reg)
        if form.is_submitted() and any(f.errors for f in form):
            flash(gettext("Please correct the marked fields."), "danger")
        form.captcha.data = ""
        return self.render_template("public/register_person.html", form=form, unit=picked(form.unit_id.data, ["unit"]),
                                    title=_l("Professional registration"))

    @expose("/register/<kind>", methods=["GET", "POST"])
    @has_access
    @limit("PUBLIC_POST_RATE_LIMIT", methods=["POST"])
    def register_org(self, kind):
        org_kind = REGISTERABLE.get(kind)
        if org_kind is None:
            abort(404)
        form = OrgRegistrationForm()
        if form.validate_on_submit() and captcha_passed(form):
            fields = {"name": form.org_name.data, "credit_code": form.credit_code.data, "nature": form.nature.data or None,
                      "industry": form.industry.data or None, "phone": form.phone.data, "address": form.address.data,
                      "contact": form.name.data}
            scan = form.licence.data
            licence = (scan.filename or "", scan.read()) if scan and getattr(scan, "filename", None) else None
            with domain_errors(form):
                reg = reg_flow.register_org(org_kind, _account_data(form), form.parent_id.data, fields,
                                            request.remote_addr, licence=licence)
                return self._done(reg)
        if form.is_submitted() and any(f.errors for f in form):
            flash(gettext("Please correct the marked fields."), "danger")
        form.captcha.data = ""
        parent_kinds = [k.value for k in ALLOWED_PARENTS[org_kind]]
        return self.render_template(
            "public/register_org.html", form=form, kind=kind, kind_label=ORG_KIND_LABELS[org_kind],
            parent=picked(form.parent_id.data, parent_kinds), parent_kinds=",".join(parent_kinds),
            parent_kind_labels="、".join(str(ORG_KIND_LABELS[k]) for k in ALLOWED_PARENTS[org_kind]),
            title=gettext("%(kind)s registration", kind=ORG_KIND_LABELS[org_kind]))

    def _done(self, reg):
        return self.render_template("public/register_done.html", reg=reg,
                                    masked=mask_id_number(reg.user.username), title=_l("Registration submitted"))

    @expose("/progress", methods=["GET", "POST"])
    @has_access
    @limit("PUBLIC_POST_RATE_LIMIT", methods=["POST"])
    def progress(self):
        """P2: look up one's registrations by 证件号 (captcha against enumeration); withdraw with the password."""
        form = ProgressForm()
        registrations, id_number = None, None
        if form.validate_on_submit():
            if captcha_passed(form):
                id_number = normalize_id_number(form.id_number.data)
                registrations = reg_flow.lookup(id_number)
                session["progress_id"] = id_number  # withdrawal reads it here, never from the page
        form.captcha.data = ""
        return self.render_template("public/progress.html", form=form, registrations=registrations,
                                    masked=mask_id_number(id_number),
                                    withdraw_form=WithdrawForm(formdata=None), title=_l("Registration progress"))

    @expose("/progress/withdraw", methods=["POST"])
    @has_access
    @limit("PUBLIC_POST_RATE_LIMIT", methods=["POST"])
    def withdraw(self):
        form = WithdrawForm()
        if form.validate_on_submit():
            with domain_errors():
                reg_flow.withdraw(db_id(form.registration_id.data) or 0, session.get("progress_id", ""),
                                  form.password.data, request.remote_addr)
                flash(gettext("Your registration has been withdrawn."), "success")
        else:
            flash(gettext("Please enter your password."), "danger")
        return redirect(url_for("PublicView.progress"))

    @expose("/orgs")
    @has_access
    def orgs(self):
        """Searchable picker source (select2 AJAX): active orgs by name, 20 at a time."""
        kinds = [k for k in (request.args.get("kind") or "").split(",") if k in {x.value for x in OrgKind}]
        q = (request.args.get("q") or "")[:50]
        rows = search_orgs(q, kinds or None)
        return jsonify(results=[{"id": o.id, "text": o.name, "kind": str(o.kind_label),
                                 "parent": o.parent.name if o.parent else ""} for o in rows])

    @expose("/help")
    @has_access
    def help(self):
        return self.render_template("public/help.html", title=_l("Help and special registration cases"))
