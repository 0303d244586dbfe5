"""U2 / D2 org profile and change requests, the state machine 5 review queue, S4 org merge and temporary codes.

Every POST is guarded by CSRFProtect (registered app-wide); the workflows re-check role and scope."""
from __future__ import annotations

import re

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError as WTFValidationError

from ..extensions import db
from ..models import Account, AuditLog, Org, OrgChange, OrgKind
from ..models.org import ALLOWED_PARENTS, ORG_KIND_LABELS, ORG_STATE_LABELS
from ..authz import ORG_CHANGE_REVIEW_VIEW, ORG_PROFILE_VIEW, SUPPORT_ORG_VIEW
from ..security import current_actor
from ..validators import ValidationError, validate_credit_code
from ..workflows import org_change as flow
from ..workflows import org_support, orgs
from ..workflows.pending import blocked_message
from .forms import INDUSTRIES, ORG_NATURES, REQUIRED, ButtonForm, DecisionForm
from .util import N_, arg_choice, batch_decision, db_id, domain_errors, keyset_page

PAGE_SIZE = 20
MARKUP = re.compile(r"[<>\x00-\x08\x0b\x0c\x0e-\x1f]")


def _no_markup(form, field):
    if field.data and MARKUP.search(field.data):
        raise WTFValidationError(str(_l("Must not contain < > or control characters.")))


def _phone(form, field):
    if field.data and not re.fullmatch(r"[0-9+\-() ]{5,30}", field.data.strip()):
        raise WTFValidationError(str(_l("Enter a phone number of digits, spaces, + - and brackets.")))


def _one_of(values):
    def check(form, field):
        if field.data and field.data not in values:
            raise WTFValidationError(str(_l("Choose a value from the list.")))
    return check




def _with_current(values: list[str], current: str | None) -> list[tuple[str, str]]:
    choices = [("", _l("Please choose"))] + [(x, x) for x in values]
    if current and current not in values:
        choices.append((current, current))
    return choices


class OrgProfileForm(FlaskForm):
    phone = StringField(_l("Phone"), validators=[DataRequired(REQUIRED), Length(max=30), _phone])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=200), _no_markup])
    contact = StringField(_l("Contact"), validators=[Optional(), Length(max=30), _no_markup])
    nature = SelectField(_l("Nature"), validate_choice=False, validators=[Optional()])
    industry = SelectField(_l("Industry"), validate_choice=False, validators=[Optional()])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=1000), _no_markup])

    def set_choices(self, org: Org) -> None:
        self.nature.choices = _with_current(ORG_NATURES, org.nature)
        self.industry.choices = _with_current(INDUSTRIES, org.industry)
        self.nature.validators = [Optional(), _one_of([v for v, _ in self.nature.choices if v])]
        self.industry.validators = [Optional(), _one_of([v for v, _ in self.industry.choices if v])]


class SubOrgProfileForm(OrgProfileForm):
    """H1 / D: the profile of an org below, edited by the org above: its name too, never its credit code or parent."""

    name = StringField(_l("Organisation name"), validators=[DataRequired(REQUIRED), Length(max=100)])


class OrgChangeForm(FlaskForm):
    credit_code = StringField(_l("New unified social credit code"), validators=[Optional(), Length(max=30)])
    parent_id = StringField(_l("New organisation above"), validators=[Optional(), Length(max=12)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200), _no_markup])

    def validate_credit_code(self, field):
        if field.data and field.data.strip():
            try:
                field.data = validate_credit_code(field.data)
            except ValidationError as exc:
                raise WTFValidationError(str(exc.message)) from exc

    def validate_parent_id(self, field):
        if field.data and db_id(field.data) is None:
            raise WTFValidationError(str(_l("Choose the new organisation above from the list.")))


def _blocked(org: Org) -> str | None:
    reasons = flow.pending_for_org(org)
    return blocked_message(reasons, _l("Changing the credit code or the organisation above")) if reasons else None


def _own_org() -> Org:
    actor = current_actor()
    org = db.session.get(Org, actor.org_id) if actor.org_id else None
    if org is None:
        abort(404)
    return org


class OrgProfileView(BaseView):
    """U2 / D2: the admin of an org (that of the session's membership) edits its profile and requests changes."""

    route_base = "/org/profile"
    default_view = "index"
    class_permission_name = ORG_PROFILE_VIEW

    def _page(self, org: Org, form=None, change_form=None):
        if form is None:
            form = OrgProfileForm(formdata=None, obj=org)
        form.set_choices(org)
        change_form = change_form or OrgChangeForm(formdata=None)
        changes = flow.changes_of(org)
        pending = next((c for c in changes if c.state in flow.PENDING_ORG_CHANGE_STATES), None)
        picked = orgs.picked(db_id(change_form.parent_id.data))
        kinds = ALLOWED_PARENTS[OrgKind(org.kind)]
        return self.render_template(
            "org/profile.html", org=org, form=form, change_form=change_form, changes=changes, pending=pending,
            picked=picked, parent_kinds=",".join(k.value for k in kinds),
            parent_kind_labels="、".join(str(ORG_KIND_LABELS[k]) for k in kinds),
            blocked=_blocked(org) if pending is None and org.parent_id else None,
            describe=flow.describe, button=ButtonForm(formdata=None), title=_l("Organisation profile"))

    @expose("/")
    @has_access
    def index(self):
        return self._page(_own_org())

    @expose("/edit", methods=["POST"])
    @has_access
    def edit(self):
        org = _own_org()
        form = OrgProfileForm()
        form.set_choices(org)
        if form.validate_on_submit():
            with domain_errors(form):
                flow.edit_profile(current_actor(), {name: getattr(form, name).data for name in flow.PROFILE_FIELDS})
                flash(gettext("The organisation profile has been saved."), "success")
                return redirect(url_for("OrgProfileView.index"))
        else:
            flash(gettext("Please correct the marked fields."), "danger")
        return self._page(org, form=form)

    @expose("/change", methods=["POST"])
    @has_access
    def change(self):
        org = _own_org()
        form = OrgChangeForm()
        if form.validate_on_submit():
            data = flow.ChangeRequest(credit_code=form.credit_code.data, parent_id=db_id(form.parent_id.data),
                                      note=form.note.data)
            with domain_errors(form):
                flow.request_change(current_actor(), data)
                flash(gettext("The change has been submitted. It takes effect once the organisations above have "
                              "approved it."), "success")
                return redirect(url_for("OrgProfileView.index"))
        else:
            flash(gettext("Please correct the marked fields."), "danger")
        return self._page(org, change_form=form)

    @expose("/change/<int:org_change_id>/withdraw", methods=["POST"])
    @has_access
    def withdraw(self, org_change_id):
        org = _own_org()
        item = db.session.get(OrgChange, org_change_id)
        if item is None or item.org_id != org.id or not ButtonForm().validate_on_submit():
            abort(404)
        with domain_errors():
            flow.withdraw(item, current_actor())
            flash(gettext("The change request has been withdrawn."), "success")
        return redirect(url_for("OrgProfileView.index"))


TABS = [(flow.TODO, _l("To decide")), (flow.WAITING, _l("Awaiting the other organisation")),
        (flow.DECIDED, _l("Decided"))]


class OrgChangeReviewView(BaseView):
    """State machine 5: the admins above the current and the new parent decide a change of credit code / parent."""

    route_base = "/review/org-changes"
    default_view = "index"
    class_permission_name = ORG_CHANGE_REVIEW_VIEW

    @expose("/")
    @has_access
    def index(self):
        actor = current_actor()
        tab = arg_choice("tab", TABS, flow.TODO)
        rows, next_after = keyset_page(lambda **page: flow.queue(actor, tab, **page), PAGE_SIZE)
        return self.render_template(
            "org/changes.html", rows=rows, tab=tab, tabs=TABS, next_after=next_after,
            pending=flow.todo_count(actor), side=lambda item: flow.side_for(item, actor),
            form=DecisionForm(formdata=None), title=_l("Organisation changes"))

    @expose("/<int:org_change_id>")
    @has_access
    def detail(self, org_change_id):
        actor = current_actor()
        item = db.session.get(OrgChange, org_change_id)
        if item is None or not flow.visible(item, actor):
            abort(404)
        timeline = list(db.session.scalars(select(AuditLog).where(
            AuditLog.object_type == "org_change", AuditLog.object_id == item.id).order_by(AuditLog.id)))
        deciders = {k: db.session.get(Account, v) for k, v in (("old", item.old_decided_by_id),
                                                                ("new", item.new_decided_by_id)) if v}
        return self.render_template(
            "org/change_detail.html", item=item, timeline=timeline, can_decide=flow.can_decide(item, actor),
            side=flow.side_for(item, actor),
            deciders=deciders,
            requester=db.session.get(Account, item.requested_by_id) if item.requested_by_id else None,
            form=DecisionForm(formdata=None), title=_l("Organisation change"))

    @expose("/decide", methods=["POST"])
    @has_access
    def decide(self):
        batch_decision(flow.decide_many, none_selected=N_("Select at least one request."),
                       handled=N_("%(n)s request(s) handled."), failed_one=N_("Request %(id)s: %(msg)s"))
        back = db_id(request.args.get("back"))
        if back:
            return redirect(url_for("OrgChangeReviewView.detail", org_change_id=back))
        return redirect(url_for("OrgChangeReviewView.index"))


# ---------------------------------------------------------------- S4

KIND_CHOICES = [("", _l("All"))] + [(k.value, label) for k, label in ORG_KIND_LABELS.items()]
STATE_CHOICES = [("", _l("All"))] + [(s.value, label) for s, label in ORG_STATE_LABELS.items()]


class MergeForm(FlaskForm):
    source_id = StringField(_l("Organisation to merge (closed afterwards)"),
                            validators=[DataRequired(_l("Choose the organisation to merge from the list.")),
                                        Length(max=12)])
    target_id = StringField(_l("Merge into"),
                            validators=[DataRequired(_l("Choose the organisation to merge into from the list.")),
                                        Length(max=12)])
    confirm = BooleanField(_l("I have checked that both are the same organisation; this cannot be undone"),
                           validators=[DataRequired(_l("Please confirm the merge."))])

    def validate_source_id(self, field):
        if db_id(field.data) is None:
            raise WTFValidationError(str(_l("Choose the organisation to merge from the list.")))

    def validate_target_id(self, field):
        if db_id(field.data) is None:
            raise WTFValidationError(str(_l("Choose the organisation to merge into from the list.")))


class SupportOrgView(BaseView):
    """S4: support staff search orgs, merge one into another, issue temporary credit codes."""

    route_base = "/support/orgs"
    default_view = "index"
    class_permission_name = SUPPORT_ORG_VIEW

    def _page(self, form=None):
        q = (request.args.get("q") or "").strip()[:50]
        kind = arg_choice("kind", KIND_CHOICES)
        state = arg_choice("state", STATE_CHOICES)
        rows = org_support.search(q, kind or None, state or None) if (q or kind or state) else []
        form = form or MergeForm(formdata=None)
        source = db.session.get(Org, db_id(form.source_id.data)) if db_id(form.source_id.data) else None
        target = db.session.get(Org, db_id(form.target_id.data)) if db_id(form.target_id.data) else None
        return self.render_template(
            "org/support.html", rows=rows, q=q, kind=kind, state=state, kinds=KIND_CHOICES, states=STATE_CHOICES,
            form=form, source=source, target=target, button=ButtonForm(formdata=None),
            title=_l("Org merge and temporary codes"))

    @expose("/")
    @has_access
    def index(self):
        return self._page()

    @expose("/merge", methods=["POST"])
    @has_access
    def merge(self):
        form = MergeForm()
        if form.validate_on_submit():
            source = db.session.get(Org, db_id(form.source_id.data))
            target = db.session.get(Org, db_id(form.target_id.data))
            with domain_errors(form):
                org_support.merge(source, target, current_actor())
                flash(gettext("%(a)s has been merged into %(b)s.", a=source.name, b=target.name), "success")
                return redirect(url_for("SupportOrgView.index", q=target.name))
        else:
            flash(gettext("Please correct the marked fields."), "danger")
        return self._page(form)

    @expose("/<int:org_id>/temporary-code", methods=["POST"])
    @has_access
    def temporary_code(self, org_id):
        org = db.session.get(Org, org_id)
        if org is None or not ButtonForm().validate_on_submit():
            abort(404)
        with domain_errors():
            code = org_support.issue_temporary_code(org, current_actor())
            flash(gettext("Temporary credit code %(code)s issued to %(org)s.", code=code, org=org.name), "success")
        return redirect(url_for("SupportOrgView.index", q=org.name))
