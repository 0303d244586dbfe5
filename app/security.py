"""Security manager: roles as code, the active role of a session, org scope, session validity.

Roles are FAB "builtin roles" (FAB_ROLES): their permissions are regular expressions checked in memory, so a
logged-in page costs one query for the account and one for the active membership, never a permission query.
"""
from __future__ import annotations

import datetime
from types import SimpleNamespace

from flask import current_app, g, request, session
from flask_babel import lazy_gettext as _l
from flask_appbuilder.models.sqla.filters import BaseFilter
from flask_appbuilder.security.sqla.manager import SecurityManager
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .models import Account, Membership, MembershipState, Org, RoleName
from .models.account import GLOBAL_ROLES
from .workflows.base import Actor

# Resource (view) names: stable English, never translated.
PUBLIC_VIEW = "PublicView"
HOME_VIEW = "HomeView"
ACCOUNT_VIEW = "AccountView"
REVIEW_VIEW = "RegistrationReviewView"
ORG_VIEW = "OrgModelView"
STAFF_VIEW = "StaffModelView"
SUPPORT_VIEW = "SupportView"
AUDIT_VIEW = "AuditLogModelView"
REGION_VIEW = "RegionModelView"
# issue 4: personnel and organisation changes
PROFILE_VIEW = "ProfileView"                    # P6 profile, title change request, P7 identity correction request
TRANSFER_VIEW = "TransferView"                  # P7 the professional's unit transfer
CHANGE_FILE_VIEW = "ChangeAttachmentView"       # evidence files of change requests
PERSONNEL_REVIEW_VIEW = "PersonnelReviewView"   # U6 / D4 / H3 title change review
TRANSFER_REVIEW_VIEW = "TransferReviewView"     # U7 outgoing / incoming transfers, transfer-out for an employee
IDENTITY_REVIEW_VIEW = "IdentityReviewView"     # S3 identity corrections
ORG_PROFILE_VIEW = "OrgProfileView"             # U2 / D2 org profile, credit code and parent change requests
ORG_CHANGE_REVIEW_VIEW = "OrgChangeReviewView"  # state machine 5: old and new parent approve
ORG_ADMINS_VIEW = "OrgAdminsView"               # U3 / D3 / H2 admins and org-defined roles
SUB_UNIT_VIEW = "SubUnitView"                   # U4 sub-units, H1 the orgs below an HR bureau
SUPPORT_ORG_VIEW = "SupportOrgView"             # S4 merge orgs, temporary credit codes

SELF_SERVICE = [(CHANGE_FILE_VIEW, "can_.*"), (HOME_VIEW, "can_.*"), (ACCOUNT_VIEW, "can_.*"), (PUBLIC_VIEW, "can_.*"), ("LocaleView", "can_.*"),
                ("VerifyView", "can_.*"), ("My home", "menu_access")]
HOURS_SELF = [("HoursView", "can_.*"), ("AttachmentView", "can_.*"), ("Hours", "menu_access"),
              ("My declarations", "menu_access"), ("Declare hours", "menu_access"),
              ("Annual completion", "menu_access"),
              (PROFILE_VIEW, "can_.*"), ("My profile", "menu_access"), (TRANSFER_VIEW, "can_.*"),
              ("Unit transfer", "menu_access")]
DECLARATION_REVIEW = [("DeclarationReviewView", "can_.*"), ("AttachmentView", "can_.*"),
                      ("Declarations", "menu_access")]
HR_ONLY = [("BaseReportReviewView", "can_.*"), ("Base reports", "menu_access"),
           ("AnnualStandardModelView", "can_(list|show|add|edit)"), ("Yearly standards", "menu_access"),
           ("LearningFormModelView", "can_(list|show|add|edit)"), ("Learning forms", "menu_access")]
READ = "can_(list|show|api_read|api_get)"
ADMIN_BASE = SELF_SERVICE + [
    (REVIEW_VIEW, "can_.*"), ("Review", "menu_access"), ("Registrations", "menu_access"),
    (ORG_VIEW, READ), ("Organisations", "menu_access"), ("Management", "menu_access"),
    (STAFF_VIEW, "can_(list|show|reset_password)"), ("Staff", "menu_access"),
    (PERSONNEL_REVIEW_VIEW, "can_.*"), ("Personnel changes", "menu_access"),
    (ORG_PROFILE_VIEW, "can_.*"), ("Org profile", "menu_access"),
    (ORG_CHANGE_REVIEW_VIEW, "can_.*"), ("Org changes", "menu_access"),
    (ORG_ADMINS_VIEW, "can_.*"), ("Administrators", "menu_access"),
    (SUB_UNIT_VIEW, "can_.*"), ("Sub-units", "menu_access"),
]
UNIT_ONLY = [(TRANSFER_REVIEW_VIEW, "can_.*"), ("Transfers", "menu_access")]

# Permissions per role as (view regex, permission regex); anchored on both ends.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    "Public": [(PUBLIC_VIEW, "can_.*"), ("LocaleView", "can_.*"), ("VerifyView", "can_.*")],
    RoleName.PROFESSIONAL.value: SELF_SERVICE + HOURS_SELF,
    RoleName.UNIT_ADMIN.value: ADMIN_BASE + DECLARATION_REVIEW + UNIT_ONLY,
    RoleName.DEPT_ADMIN.value: ADMIN_BASE + DECLARATION_REVIEW,
    RoleName.HR_ADMIN.value: ADMIN_BASE + DECLARATION_REVIEW + HR_ONLY,
    RoleName.BASE_ADMIN.value: SELF_SERVICE + [("BaseReportView", "can_.*"), ("Reported hours", "menu_access"),
                                               ("Training", "menu_access"),
                                               (ORG_PROFILE_VIEW, "can_.*"), ("Org profile", "menu_access"),
                                               (ORG_ADMINS_VIEW, "can_.*"), ("Administrators", "menu_access"),
                                               ("Management", "menu_access")],
    RoleName.SUPPORT.value: SELF_SERVICE + [
        (SUPPORT_VIEW, "can_.*"), ("Accounts", "menu_access"), ("Management", "menu_access"),
        (STAFF_VIEW, "can_(list|show|reset_password)"), ("Staff", "menu_access"),
        (IDENTITY_REVIEW_VIEW, "can_.*"), ("Identity corrections", "menu_access"),
        (SUPPORT_ORG_VIEW, "can_.*"), ("Org merge", "menu_access"), ("Review", "menu_access"),
    ],
    RoleName.SYSADMIN.value: SELF_SERVICE + [
        (SUPPORT_VIEW, "can_.*"), ("Accounts", "menu_access"), ("Management", "menu_access"),
        (ORG_VIEW, READ), ("Organisations", "menu_access"),
        (REGION_VIEW, "can_.*"), ("Regions", "menu_access"),
    ],
    RoleName.AUDITOR.value: SELF_SERVICE + [(AUDIT_VIEW, READ), ("Audit log", "menu_access"),
                                            ("Audit", "menu_access")],
}


# Permission modules an org's super admin ticks when defining a role for its admins (U3 / D3 / H2): each opens
# these views and menus; an admin whose membership carries an org-defined role reaches self-service and those only.
MODULES: dict[str, tuple] = {
    "registrations": (_l("Registration review"), {REVIEW_VIEW, "Registrations", "Review"}),
    "declarations": (_l("Hour declaration review"), {"DeclarationReviewView", "AttachmentView", "Declarations",
                                                      "Review"}),
    "personnel": (_l("Personnel change review"), {PERSONNEL_REVIEW_VIEW, "Personnel changes", "Review"}),
    "transfers": (_l("Unit transfers"), {TRANSFER_REVIEW_VIEW, "Transfers", "Review"}),
    "staff": (_l("Staff lookup and password reset"), {STAFF_VIEW, "Staff", "Management"}),
    "orgs": (_l("Organisation information"), {ORG_VIEW, ORG_PROFILE_VIEW, ORG_CHANGE_REVIEW_VIEW, SUB_UNIT_VIEW,
                                               "Organisations", "Org profile", "Org changes", "Sub-units",
                                               "Management", "Review"}),
    "hr": (_l("Base reports, standards and learning forms"),
           {"BaseReportReviewView", "AnnualStandardModelView", "LearningFormModelView", "Base reports",
            "Yearly standards", "Learning forms", "Management", "Review"}),
    "base_reports": (_l("Reported hours"), {"BaseReportView", "Reported hours", "Training"}),
}
SELF_SERVICE_NAMES = {view for view, _ in SELF_SERVICE}


def modules_for_role(role: str) -> list[str]:
    """The modules that exist for an admin role: those whose views the role's own permissions reach."""
    names = {view for view, _ in ROLE_PERMISSIONS.get(role, [])}
    return [key for key, (_label, views) in MODULES.items()
            if any(v in names for v in views if v not in ("Review", "Management", "Training"))]


def module_allows(membership, view_name: str) -> bool:
    """An org-defined role restricts its holder to self-service and the views of its ticked modules."""
    org_role = getattr(membership, "org_role", None) if membership is not None else None
    if org_role is None:
        return True
    if not org_role.active or org_role.org_id != membership.org_id:
        # a deleted role, or one of another org (never assignable; defence in depth): self-service only
        return view_name in SELF_SERVICE_NAMES
    allowed = set(SELF_SERVICE_NAMES)
    for key in org_role.modules:
        allowed |= MODULES.get(key, ("", set()))[1]
    return view_name in allowed


def fab_roles() -> dict[str, list[list[str]]]:
    return {role: [[f"^{v}$", f"^{p}$"] for v, p in perms] for role, perms in ROLE_PERMISSIONS.items()}


class AppSecurityManager(SecurityManager):
    user_model = Account

    def create_limiter(self, app):
        from .extensions import limiter

        limiter.init_app(app)
        return limiter

    # ------------------------------------------------------------ views
    def register_views(self):
        """Only our own login view: FAB's user/role screens and its token login API are not exposed."""
        from .views.auth import AuthView

        self.auth_view = AuthView()
        self.appbuilder.add_view_no_menu(self.auth_view)
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
        return account

    def _has_view_access(self, user, permission_name, view_name):
        return (super()._has_view_access(user, permission_name, view_name)
                and module_allows(getattr(g, "membership", None), view_name))

    def _get_user_permission_view_menus(self, user, permission_name, view_menus_name):
        names = super()._get_user_permission_view_menus(user, permission_name, view_menus_name)
        membership = getattr(g, "membership", None) if user is not None else None
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
        from .workflows.accounts import authenticate

        result = authenticate(username, password, None, ip=request.remote_addr if request else None)
        return result.account if result.account and not result.error else None


def current_membership() -> Membership | None:
    return getattr(g, "membership", None)


def current_actor() -> Actor:
    """The acting person for workflow calls, built from the session's active membership."""
    from .workflows.accounts import display_name

    membership = current_membership()
    ip = request.remote_addr if request else None
    if membership is None:
        return Actor(None, "", ip=ip)
    role = RoleName(membership.role)
    org = membership.org
    return Actor(
        user_id=membership.user_id,
        display=display_name(membership.user),
        role=role,
        org_id=org.id if org else None,
        scope_path=None if role in GLOBAL_ROLES else (org.path if org else None),
        ip=ip,
    )


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
