"""U3 / D3 / H2 org admins and org-defined roles; U4 sub-units and H1 the orgs below an HR bureau.

Thin views: every action goes through app.workflows.admins, which re-checks who acts and on what. The session's
org is the only org these pages act for; no org id is ever taken from a form."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError as WTFValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .. import validators as v
from ..extensions import db
from ..models import Membership, OrgKind, OrgState
from ..models.org import ORG_KIND_LABELS, ORG_STATE_LABELS
from ..authz import MODULES, ORG_ADMINS_VIEW, SUB_UNIT_VIEW
from ..security import current_actor
from ..validators import mask_id_number
from ..workflows import admins as flow
from ..workflows import org_profile as profile_flow
from .forms import INDUSTRIES, REQUIRED, ButtonForm, RowIdField, _wrap
from .org_profile import SubOrgProfileForm
from .util import N_, db_id, denied_as, domain_errors

PAGE_SIZE = 20


# ---------------------------------------------------------------- forms

class RegisterAdminForm(FlaskForm):
    """(b) a new person: 证件号 validated like registration, password complexity checked by the workflow."""

    id_type = SelectField(_l("ID type"), choices=v.ID_TYPES, default="resident_id")
    id_number = StringField(_l("ID number"), validators=[DataRequired(REQUIRED), Length(max=30)])
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), _wrap(v.validate_person_name)])
    email = StringField(_l("E-mail"), validators=[DataRequired(REQUIRED), _wrap(v.validate_email)])
    mobile = StringField(_l("Mobile phone"), validators=[DataRequired(REQUIRED), _wrap(v.validate_mobile)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=64)])
    confirm = PasswordField(_l("Confirm password"), validators=[DataRequired(REQUIRED), Length(max=64)])

    def validate_id_number(self, field):
        try:
            field.data = v.validate_id_number(self.id_type.data, field.data)
        except v.ValidationError as exc:
            raise WTFValidationError(str(exc.message)) from exc


class ExistingAdminForm(FlaskForm):
    """(c) an existing user, who proves it with their own password."""

    id_number = StringField(_l("ID number"), validators=[DataRequired(REQUIRED), Length(max=30)])
    password = PasswordField(_l("The person's current password"), validators=[DataRequired(REQUIRED),
                                                                              Length(max=64)])


class AddStaffForm(FlaskForm):
    person_id = RowIdField(validators=[DataRequired(_l("Choose a member of your organisation's staff from the "
                                                         "search results."))])


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RoleForm(FlaskForm):
    name = StringField(_l("Role name"), validators=[DataRequired(REQUIRED), Length(
        max=flow.ROLE_NAME_MAX, message=_l("The role name may have at most 30 characters."))])
    # Every module is a possible value; the workflow refuses what the creator does not hold, with a message.
    modules = MultiCheckboxField(_l("Permission modules"), validate_choice=False)


class SetRoleForm(FlaskForm):
    org_role_id = SelectField(_l("Role"), coerce=db_id, validate_choice=False, validators=[Optional()])


# ---------------------------------------------------------------- U3 / D3 / H2

class OrgAdminsView(BaseView):
    route_base = "/org/admins"
    default_view = "index"
    class_permission_name = ORG_ADMINS_VIEW

    def _mine(self):
        actor = current_actor()
        with denied_as(403):
            return actor, flow.acting_membership(actor)

    def _roles_for(self, mine):
        return flow.roles_of(mine.org_id)

    @expose("/")
    @has_access
    def index(self):
        actor, mine = self._mine()
        admins = flow.admins_of(mine.org)
        roles = self._roles_for(mine)
        return self.render_template(
            "admins/index.html", org=mine.org, mine=mine, admins=admins, roles=roles, mask=mask_id_number,
            button=ButtonForm(formdata=None), title=_l("Administrators"))

    # ------------------------------------------------------------ adding
    def _render_add(self, mine, tab="staff", staff_form=None, new_form=None, existing_form=None, status=200):
        q = (request.args.get("q") or "").strip()[:30]
        found = flow.search_staff(current_actor(), q) if q else []
        return self.render_template(
            "admins/add.html", org=mine.org, tab=tab, q=q, found=found, mask=mask_id_number,
            staff_form=staff_form or AddStaffForm(formdata=None),
            new_form=new_form or RegisterAdminForm(formdata=None),
            existing_form=existing_form or ExistingAdminForm(formdata=None),
            title=_l("Add an administrator")), status

    def _super_or_403(self):
        actor, mine = self._mine()
        if not mine.is_super:
            abort(403)
        return actor, mine

    @expose("/add")
    @has_access
    def add(self):
        _actor, mine = self._super_or_403()
        tab = request.args.get("tab") if request.args.get("tab") in ("staff", "new", "existing") else "staff"
        return self._render_add(mine, tab)

    def _add(self, form_class, tab: str, add, done: str):
        """The POST of one of the three ways to add an admin: `add(actor, form)` runs the workflow step."""
        actor, mine = self._super_or_403()
        form = form_class()
        if form.validate_on_submit():
            with domain_errors(form, denied=403):
                add(actor, form)
                flash(gettext(done), "success")
                return redirect(url_for("OrgAdminsView.index"))
        return self._render_add(mine, tab, **{f"{tab}_form": form})

    @expose("/add/staff", methods=["POST"])
    @has_access
    def add_staff(self):
        return self._add(AddStaffForm, "staff", lambda actor, form: flow.add_from_staff(actor, form.person_id.data),
                         N_("The administrator has been added."))

    @expose("/add/new", methods=["POST"])
    @has_access
    def add_new(self):
        def register(actor, form):
            flow.register_admin(actor, flow.NewAdmin(
                id_type=form.id_type.data, id_number=form.id_number.data, name=form.name.data, email=form.email.data,
                mobile=form.mobile.data, password=form.password.data, confirm=form.confirm.data))

        return self._add(RegisterAdminForm, "new", register,
                         N_("The account has been created and the person added as an administrator; they must "
                            "change the password at their first login."))

    @expose("/add/existing", methods=["POST"])
    @has_access
    def add_existing(self):
        return self._add(ExistingAdminForm, "existing",
                         lambda actor, form: flow.add_existing(actor, form.id_number.data, form.password.data),
                         N_("The administrator has been added."))

    # ------------------------------------------------------------ acting on an admin
    def _act(self, fn, admin_id, done: str):
        actor, _mine = self._super_or_403()
        if not ButtonForm().validate_on_submit():
            abort(400)
        with domain_errors(denied=403):
            fn(actor, admin_id)
            flash(gettext(done), "success")
        return redirect(url_for("OrgAdminsView.index"))

    @expose("/<int:admin_id>/make-super", methods=["POST"])
    @has_access
    def make_super(self, admin_id):
        return self._act(flow.make_super, admin_id, "The super administrator right has been handed over.")

    @expose("/<int:admin_id>/remove", methods=["POST"])
    @has_access
    def remove(self, admin_id):
        return self._act(flow.remove_admin, admin_id, "The administrator has been removed.")

    @expose("/<int:admin_id>/role", methods=["POST"])
    @has_access
    def set_role(self, admin_id):
        actor, _mine = self._super_or_403()
        form = SetRoleForm()
        if not form.validate_on_submit():
            flash(gettext("Invalid request."), "danger")
            return redirect(url_for("OrgAdminsView.index"))
        with domain_errors(denied=403):
            flow.set_role(actor, admin_id, form.org_role_id.data)
            flash(gettext("The administrator's role has been changed."), "success")
        return redirect(url_for("OrgAdminsView.index"))

    # ------------------------------------------------------------ org-defined roles
    def _role_page(self, mine, form, role=None, status=200):
        roles = self._roles_for(mine)
        held = flow.role_holders([r.id for r in roles])
        form.modules.choices = [(key, label) for key, (label, _views) in MODULES.items()]
        allowed = {key for key, _label in flow.module_choices(mine)}
        return self.render_template(
            "admins/roles.html", org=mine.org, mine=mine, roles=roles, held=held, form=form, role=role,
            allowed=allowed, modules=MODULES, button=ButtonForm(formdata=None),
            title=_l("Edit role") if role else _l("Administrator roles")), status

    @expose("/roles", methods=["GET", "POST"])
    @has_access
    def roles(self):
        actor, mine = self._mine()
        form = RoleForm()
        if request.method == "POST":
            if not mine.is_super:
                abort(403)
            form.modules.choices = [(key, label) for key, (label, _views) in MODULES.items()]
            if form.validate_on_submit():
                with domain_errors(form, denied=403):
                    flow.create_role(actor, form.name.data, form.modules.data)
                    flash(gettext("The role has been defined."), "success")
                    return redirect(url_for("OrgAdminsView.roles"))
        return self._role_page(mine, form)

    @expose("/roles/<int:role_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit_role(self, role_id):
        actor, mine = self._super_or_403()
        with denied_as(404):
            role = flow._own_role(mine, role_id)
        if request.method == "GET":
            form = RoleForm(formdata=None, data={"name": role.name, "modules": role.modules})
        else:
            form = RoleForm()
            form.modules.choices = [(key, label) for key, (label, _views) in MODULES.items()]
            if form.validate_on_submit():
                with domain_errors(form, denied=403):
                    flow.edit_role(actor, role.id, form.name.data, form.modules.data)
                    flash(gettext("The role has been saved."), "success")
                    return redirect(url_for("OrgAdminsView.roles"))
        return self._role_page(mine, form, role=role)

    @expose("/roles/<int:role_id>/delete", methods=["POST"])
    @has_access
    def delete_role(self, role_id):
        actor, _mine = self._super_or_403()
        if not ButtonForm().validate_on_submit():
            abort(400)
        with domain_errors(denied=403):
            flow.delete_role(actor, role_id)
            flash(gettext("The role has been deleted."), "success")
        return redirect(url_for("OrgAdminsView.roles"))


# ---------------------------------------------------------------- U4 / H1

LEVEL_CHOICES = [("", _l("All levels"))] + [(k, ORG_KIND_LABELS[OrgKind(k)]) for k in flow.LEVELS]
STATE_CHOICES = [(s.value, ORG_STATE_LABELS[s]) for s in (OrgState.ACTIVE, OrgState.PENDING, OrgState.CLOSED)]


class SubUnitView(BaseView):
    route_base = "/org/sub-units"
    default_view = "index"
    class_permission_name = SUB_UNIT_VIEW

    def _actor(self):
        actor = current_actor()
        with denied_as(403):
            flow._manager(actor)
        return actor

    @expose("/")
    @has_access
    def index(self):
        actor = self._actor()
        args = request.args
        q = (args.get("q") or "").strip()[:50]
        industry = args.get("industry") if args.get("industry") in INDUSTRIES else ""
        kind = args.get("kind") if args.get("kind") in flow.LEVELS else ""
        state = args.get("state") if args.get("state") in {s for s, _ in STATE_CHOICES} else OrgState.ACTIVE.value
        after_id = db_id(args.get("after_id"))
        after = (args.get("after_name", "")[:100], after_id) if after_id else None
        rows = flow.sub_orgs(actor, q=q or None, industry=industry or None, kind=kind or None, state=state,
                             after=after, limit=PAGE_SIZE + 1)
        has_more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        filters = {"q": q, "industry": industry, "kind": kind, "state": state}
        next_page = dict(filters, after_name=rows[-1].name, after_id=rows[-1].id) if has_more else None
        return self.render_template(
            "admins/sub_units.html", rows=rows, filters=filters, industries=INDUSTRIES, levels=LEVEL_CHOICES,
            states=STATE_CHOICES, next_page=next_page, first_page=filters if after else None,
            whole_subtree=actor.role.value != "UnitAdmin",
            title=_l("Sub-units"))

    @expose("/<int:org_id>")
    @has_access
    def detail(self, org_id):
        actor = self._actor()
        with denied_as(404):
            org = flow.sub_org(actor, org_id)
        blockers = flow.close_blockers(org) if org.state == OrgState.ACTIVE.value else []
        return self.render_template(
            "admins/sub_unit.html", org=org, admins=flow.admins_of(org), staff=flow.staff_count(org),
            blockers=blockers, mask=mask_id_number, button=ButtonForm(formdata=None), title=org.name)

    @expose("/<int:org_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, org_id):
        """H1 / D: edit the profile of an org below (name and free fields); the workflow re-checks the scope."""
        actor = self._actor()
        with denied_as(404):
            org = profile_flow.editable_org(actor, org_id)
        if org.state != OrgState.ACTIVE.value:
            flash(gettext("The organisation is not active."), "danger")
            return redirect(url_for("SubUnitView.detail", org_id=org.id))
        form = SubOrgProfileForm(formdata=None, obj=org) if request.method == "GET" else SubOrgProfileForm()
        form.set_choices(org)
        if request.method == "POST" and form.validate_on_submit():
            with domain_errors(form, denied=404):
                changed = profile_flow.edit_below(actor, org.id, {name: getattr(form, name).data
                                                                  for name in profile_flow.EDITABLE})
                flash(gettext("The profile of %(name)s has been saved.", name=org.name) if changed
                      else gettext("Nothing was changed."), "success")
                return redirect(url_for("SubUnitView.detail", org_id=org.id))
        return self.render_template("admins/sub_unit_edit.html", org=org, form=form,
                                    title=_l("Edit the profile of %(name)s", name=org.name)), \
            400 if request.method == "POST" else 200

    @expose("/<int:org_id>/close", methods=["POST"])
    @has_access
    def close(self, org_id):
        actor = self._actor()
        if not ButtonForm().validate_on_submit():
            abort(400)
        with domain_errors(denied=404):
            org = flow.close_org(actor, org_id)
            flash(gettext("%(name)s has been deleted; its administrators can no longer log in.", name=org.name),
                  "success")
            return redirect(url_for("SubUnitView.index"))
        return redirect(url_for("SubUnitView.detail", org_id=org_id))

    @expose("/admins/<int:admin_id>/remove", methods=["POST"])
    @has_access
    def remove_admin(self, admin_id):
        actor = self._actor()
        if not ButtonForm().validate_on_submit():
            abort(400)
        target = db.session.get(Membership, admin_id)
        org_id = target.org_id if target is not None else None
        with domain_errors(denied=404):
            flow.remove_sub_admin(actor, admin_id)
            flash(gettext("The administrator's rights have been removed; they can no longer log in with them."),
                  "success")
        return redirect(url_for("SubUnitView.detail", org_id=org_id))
