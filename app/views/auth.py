"""Login (P3), role choice, logout, change / forgot / reset password (P4, P5)."""
from __future__ import annotations

import time

from flask import abort, current_app, flash, g, make_response, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import no_cache
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from ..extensions import db
from ..models import Membership, MembershipState, RoleName
from ..authz import ACCOUNT_VIEW
from ..security import current_actor
from ..workflows import accounts
from .captcha import captcha_passed, new_captcha_png
from .forms import ChangePasswordForm, ForgotPasswordForm, LoginForm, PickRoleForm, ResetPasswordForm
from .util import domain_errors, limit, safe_next

PICK_MAX_AGE = 300


def start_session(account, membership: Membership, auth_at: float | None = None) -> None:
    """Issue a fresh session bound to one membership (the role the person acts in). `auth_at` is when the password
    was given: a role switch keeps it, so switching never pushes the 12-hour absolute limit further."""
    locale = session.get("locale") or current_app.config["BABEL_DEFAULT_LOCALE"]
    session.clear()
    login_user(account, remember=False)
    session.permanent = True
    session["membership_id"] = membership.id
    session["auth_at"] = auth_at or time.time()
    session["locale"] = locale


def forced_password_change_redirect():
    """After an admin reset the owner must set a new password before anything else."""
    allowed = {"AccountView.password", "AuthView.logout", "AuthView.captcha", "static", "appbuilder.static"}
    if request.endpoint in allowed or not current_user.is_authenticated:
        return None
    if getattr(current_user, "must_change_password", False):
        if request.path.startswith("/api/"):  # the REST API answers JSON: the change is made on the web page
            from .errors import error_page

            return error_page(403, gettext("Change your password on the web page before using the platform."))
        return redirect(url_for("AccountView.password"))
    return None


class AuthView(BaseView):
    """Public by nature (like FAB's own AuthDBView): every handler here works without a session."""

    route_base = ""
    default_view = "login"

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    @limit("LOGIN_RATE_LIMIT", methods=["POST"])
    def login(self):
        if current_user.is_authenticated:
            return redirect(url_for("HomeView.index"))
        form = LoginForm()
        if request.method == "GET" and request.args.get("role") in {r.value for r in RoleName}:
            form.role.data = request.args["role"]
        if form.validate_on_submit():
            if captcha_passed(form):
                result = accounts.authenticate(form.id_number.data, form.password.data, form.role.data,
                                               ip=request.remote_addr)
                if result.error:
                    flash(str(result.error), "danger")
                elif len(result.memberships) == 1:
                    start_session(result.account, result.memberships[0])
                    return redirect(safe_next(request.args.get("next")) or url_for("HomeView.index"))
                else:
                    session["pick"] = {"u": result.account.id, "m": [m.id for m in result.memberships],
                                       "t": time.time()}
                    return redirect(url_for("AuthView.pick_role", next=request.args.get("next")))
        form.password.data = ""
        form.captcha.data = ""
        return self.render_template("auth/login.html", form=form, title=_l("Log in"))

    @expose("/login/role", methods=["GET", "POST"])
    @no_cache
    def pick_role(self):
        """A person holding the chosen role in several orgs picks the one to act in."""
        pick = session.get("pick")
        if not pick or time.time() - pick.get("t", 0) > PICK_MAX_AGE:
            session.pop("pick", None)
            return redirect(url_for("AuthView.login"))
        memberships = list(db.session.scalars(select(Membership).where(
            Membership.id.in_(pick["m"]), Membership.user_id == pick["u"],
            Membership.state == MembershipState.ACTIVE.value)))
        form = PickRoleForm()
        if form.validate_on_submit():
            chosen = next((m for m in memberships if m.id == form.membership_id.data), None)
            if chosen is None:
                abort(400)
            start_session(chosen.user, chosen)
            return redirect(safe_next(request.args.get("next")) or url_for("HomeView.index"))
        return self.render_template("auth/pick_role.html", form=form, memberships=memberships,
                                    title=_l("Choose the organisation to act for"))

    @expose("/logout/", methods=["GET", "POST"])
    def logout(self):
        """POST logs out (and voids every session of the account); GET only shows the button."""
        if request.method == "GET":
            if not current_user.is_authenticated:
                return redirect(url_for("AuthView.login"))
            return self.render_template("auth/logout.html", title=_l("Log out"))
        from flask_wtf.csrf import validate_csrf

        validate_csrf(request.form.get("csrf_token"))
        if current_user.is_authenticated:
            accounts.record_logout(current_user._get_current_object(), current_actor())
        logout_user()
        session.clear()
        flash(gettext("You have logged out."), "info")
        return redirect(url_for("AuthView.login"))

    @expose("/captcha.png")
    @limit("PUBLIC_POST_RATE_LIMIT")
    def captcha(self):
        response = make_response(new_captcha_png())
        response.headers["Content-Type"] = "image/png"
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/password/forgot", methods=["GET", "POST"])
    @limit("PUBLIC_POST_RATE_LIMIT", methods=["POST"])
    def forgot(self):
        form = ForgotPasswordForm()
        if form.validate_on_submit():
            if captcha_passed(form):
                accounts.request_password_reset(form.id_number.data, form.contact.data, form.channel.data,
                                                request.remote_addr)
                flash(gettext("If the ID number and contact match our records, a reset link has been sent. "
                              "It is valid for 30 minutes and works once."), "info")
                return redirect(url_for("AuthView.login"))
        form.captcha.data = ""
        return self.render_template("auth/forgot.html", form=form, title=_l("Forgot password"))

    @expose("/password/reset/<token>", methods=["GET", "POST"])
    @limit("PUBLIC_POST_RATE_LIMIT", methods=["POST"])
    def reset(self, token):
        with domain_errors() as refused:
            accounts.account_for_reset_token(token)
        if refused.error:
            return redirect(url_for("AuthView.forgot"))
        form = ResetPasswordForm()
        if form.validate_on_submit():
            with domain_errors(form):
                accounts.reset_password_with_token(token, form.password.data, form.confirm.data, request.remote_addr)
                flash(gettext("Your password has been reset. Please log in."), "success")
                return redirect(url_for("AuthView.login"))
        return self.render_template("auth/reset.html", form=form, title=_l("Set a new password"))


class AccountView(BaseView):
    """Self-service for every logged-in role: change password, switch role."""

    route_base = "/account"
    default_view = "password"
    class_permission_name = ACCOUNT_VIEW

    @expose("/password", methods=["GET", "POST"])
    @has_access
    def password(self):
        form = ChangePasswordForm()
        account = current_user._get_current_object()
        if form.validate_on_submit():
            with domain_errors(form):
                accounts.change_password(account, form.old_password.data, form.password.data, form.confirm.data,
                                         current_actor())
                start_session(account, g.membership)
                flash(gettext("Your password has been changed. Other sessions have been logged out."), "success")
                return redirect(url_for("HomeView.index"))
        return self.render_template("auth/change_password.html", form=form, title=_l("Change password"),
                                    forced=bool(account.must_change_password))

    @expose("/role", methods=["GET", "POST"])
    @has_access
    def role(self):
        memberships = list(db.session.scalars(select(Membership).where(
            Membership.user_id == current_user.id, Membership.state == MembershipState.ACTIVE.value
        ).order_by(Membership.role, Membership.id)))
        form = PickRoleForm()
        if form.validate_on_submit():
            chosen = next((m for m in memberships if m.id == form.membership_id.data), None)
            if chosen is None:
                abort(400)
            start_session(current_user._get_current_object(), chosen, auth_at=session.get("auth_at"))
            flash(gettext("You now act as %(role)s.", role=chosen), "success")
            return redirect(url_for("HomeView.index"))
        return self.render_template("auth/pick_role.html", form=form, memberships=memberships,
                                    title=_l("Switch role"), switching=True)
