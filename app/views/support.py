"""Support staff (S1, S2): find an account, grant / revoke roles, reset the password.

Every POST here is guarded by CSRFProtect (registered app-wide)."""
from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..models import Account, Membership, Org, RoleName
from ..authz import SUPPORT_VIEW
from ..security import current_actor
from ..validators import mask_id_number
from ..workflows import accounts
from .forms import AccountLookupForm, AssignRoleForm
from .util import domain_errors


class SupportView(BaseView):
    route_base = "/support"
    default_view = "lookup"
    class_permission_name = SUPPORT_VIEW

    @expose("/accounts", methods=["GET", "POST"])
    @has_access
    def lookup(self):
        """The 证件号 is posted, never put in a URL."""
        form = AccountLookupForm()
        if form.validate_on_submit():
            account = accounts.find_account(form.id_number.data)
            if account is None:
                flash(gettext("No account with this ID number."), "warning")
            else:
                return redirect(url_for("SupportView.account", account_id=account.id))
        return self.render_template("support/lookup.html", form=form, title=_l("Accounts and roles"))

    @expose("/accounts/<int:account_id>")
    @has_access
    def account(self, account_id):
        account = db.session.get(Account, account_id) or abort(404)
        memberships = list(db.session.scalars(
            select(Membership).where(Membership.user_id == account.id).order_by(Membership.id)))
        return self.render_template("support/account.html", account=account, memberships=memberships,
                                    masked=mask_id_number(account.username), form=AssignRoleForm(formdata=None),
                                    plain_form=AccountLookupForm(formdata=None), title=_l("Accounts and roles"))

    @expose("/accounts/<int:account_id>/roles", methods=["POST"])
    @has_access
    def assign(self, account_id):
        account = db.session.get(Account, account_id) or abort(404)
        form = AssignRoleForm()
        if form.validate_on_submit():
            org = db.session.get(Org, form.org_id.data) if form.org_id.data else None
            with domain_errors():
                accounts.assign_role(account, RoleName(form.role.data), org, current_actor())
                flash(gettext("The role has been granted."), "success")
        else:
            flash(gettext("Invalid request."), "danger")
        return redirect(url_for("SupportView.account", account_id=account.id))

    @expose("/memberships/<int:membership_id>/revoke", methods=["POST"])
    @has_access
    def revoke(self, membership_id):
        membership = db.session.get(Membership, membership_id) or abort(404)
        with domain_errors():
            accounts.revoke_role(membership, current_actor())
            flash(gettext("The role has been revoked."), "success")
        return redirect(url_for("SupportView.account", account_id=membership.user_id))

    @expose("/accounts/<int:account_id>/reset-password", methods=["POST"])
    @has_access
    def reset_password(self, account_id):
        account = db.session.get(Account, account_id) or abort(404)
        with domain_errors():
            accounts.admin_reset_password(account, current_actor())
            flash(gettext("The password has been reset to the last 6 characters of the ID number; the owner must "
                          "change it at the next login."), "success")
        return redirect(url_for("SupportView.account", account_id=account.id))
