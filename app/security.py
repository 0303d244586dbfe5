"""Security manager: roles as code, the active role of a session, org scope, session validity.

Roles are FAB "builtin roles" (FAB_ROLES): their permissions are regular expressions checked in memory, so a
logged-in page costs one query for the account and one for the active membership, never a permission query.
"""
from __future__ import annotations

import datetime
from types import SimpleNamespace

from flask import current_app, g, request, session
from flask_appbuilder.models.sqla.filters import BaseFilter
from flask_appbuilder.security.sqla.manager import SecurityManager
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .authz import Actor, module_allows
from .authz import ROLE_PERMISSIONS, fab_roles, modules_for_role  # noqa: F401  (read from here by older callers)
from .extensions import limiter
from .models import Account, Membership, MembershipState, Org
from .workflows import delegation
from .workflows.accounts import actor_of, authenticate


class AppSecurityManager(SecurityManager):
    user_model = Account

    def create_limiter(self, app):
        limiter.init_app(app)
        return limiter

    # ------------------------------------------------------------ views
    def register_views(self):
        """None of FAB's: its user/role screens and its token login API are not exposed. Our login view is
        registered with the other views (app.views.register_views), which sets `auth_view`."""
        self.user_view = None

    def create_db(self):
        """Nothing to write: the schema comes from Alembic migrations and roles live in code (FAB_ROLES),
        so no role, permission or view-menu rows are needed."""

    # ------------------------------------------------------------ identity of a request
    def load_user(self, pk):
        """The account of a session, if the session is still valid; otherwise anonymous."""
        membership_id = session.get("membership_id")
        auth_at = session.get("auth_at")
        if not membership_id or not auth_at:
            return None
        membership = self.session.scalar(
            select(Membership).options(joinedload(Membership.user), joinedload(Membership.org),
                                       joinedload(Membership.org_role))
            .where(Membership.id == membership_id)
        )
        if membership is None or membership.user_id != int(pk) or membership.state != MembershipState.ACTIVE.value:
            return None
        account = membership.user
        issued = datetime.datetime.fromtimestamp(auth_at)
        limit = datetime.timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"])
        if not account.active or issued + limit < datetime.datetime.now():
            return None
        if account.sessions_valid_after and issued < account.sessions_valid_after:
            return None
        g.membership = membership
        g.delegation = delegation.acting(membership, session)  # X9: the delegation the deputy acts under, if any
        return account

    def _has_view_access(self, user, permission_name, view_name):
        return (super()._has_view_access(user, permission_name, view_name)
                and module_allows(rights_membership(), view_name))

    def _get_user_permission_view_menus(self, user, permission_name, view_menus_name):
        names = super()._get_user_permission_view_menus(user, permission_name, view_menus_name)
        membership = rights_membership() if user is not None else None
        return {name for name in names if module_allows(membership, name)}

    def get_user_roles(self, user):
        if not user.is_authenticated:
            return [SimpleNamespace(name=self.auth_role_public, id=None)]
        membership = getattr(g, "membership", None)
        if membership is None or membership.user_id != user.id:
            return []
        return [SimpleNamespace(name=membership.role, id=None)]

    def is_item_public(self, permission_name, view_name):
        role = SimpleNamespace(name=self.auth_role_public)
        return self._has_access_builtin_roles(role, permission_name, view_name)

    def get_public_role(self):
        return SimpleNamespace(name=self.auth_role_public, id=None)

    def auth_user_db(self, username, password):
        """Every password check goes through the lockout of workflows.accounts.authenticate."""
        result = authenticate(username, password, None, ip=request.remote_addr if request else None)
        return result.account if result.account and not result.error else None


def current_membership() -> Membership | None:
    return getattr(g, "membership", None)


def rights_membership() -> Membership | None:
    """The membership whose modules the request may use: the delegator's while a deputy acts for them (X9)."""
    acting = getattr(g, "delegation", None)
    return acting.delegator if acting is not None else current_membership()


def current_actor() -> Actor:
    """The acting person for workflow calls, built from the session's active membership (and, for a deputy acting
    under a delegation, the delegator it acts for)."""
    membership = current_membership()
    ip = request.remote_addr if request else None
    if membership is None:
        return Actor(None, "", ip=ip)
    acting = getattr(g, "delegation", None)
    if acting is not None:
        return delegation.deputy_actor(acting, ip)
    return actor_of(membership, ip)


def scope_path() -> str | None:
    """Root path of the current admin's org subtree; None for platform-wide roles; '' when nothing."""
    actor = current_actor()
    if actor.is_global:
        return None
    return actor.scope_path or "\x00"


class OrgScopeFilter(BaseFilter):
    """Restrict a query to rows whose org (reached through `self.column_name`) lies in the caller's subtree.

    column_name names the model's relationship to Org ("id" for the Org model itself).
    """

    name = "org scope"
    arg_name = None

    def apply(self, query, value):
        root = scope_path()
        if root is None:
            return query
        if self.column_name and self.column_name != "id":
            query = query.join(getattr(self.model, self.column_name))
        return query.filter(Org.path.startswith(root, autoescape=True))
