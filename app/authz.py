"""Who may do what: the acting person (`Actor`), the view and menu names of the permissions, the permissions of
each role, the modules an org-defined role may open and the check of them.

The bottom floor of the import layout: it imports nothing of app/ but the models, so that the security manager,
the workflows and the views all import it and none of them has to import another to learn a name.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from .models.account import GLOBAL_ROLES, RoleName


@dataclass(frozen=True)
class Actor:
    """Who acts: the account, the role they logged in with and the root of their org scope."""

    user_id: int | None
    display: str
    role: RoleName | None = None
    org_id: int | None = None
    scope_path: str | None = None
    ip: str | None = None
    # X9: a deputy acting for a delegator: the delegator as an Actor (their role, org and scope) and the delegation.
    # Every workflow check then asks both (app/workflows/base.py StateMachine.check); audit rows record both.
    on_behalf_of: "Actor | None" = None
    delegation_id: int | None = None

    @property
    def is_global(self) -> bool:
        return self.role in GLOBAL_ROLES

    def covers(self, org_path: str | None) -> bool:
        """True if an org with this path lies inside the actor's scope."""
        if self.is_global:
            return True
        if not self.scope_path or not org_path:
            return False
        return org_path.startswith(self.scope_path)


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
STATISTICS_VIEW = "StatisticsView"              # U10 / D6 / H6 statistics (issue 10)
# the distribution pages' menu items (menu name, URL): issue 10
STATISTICS_LINKS = (("Org and staff statistics", "/statistics/orgs"), ("Title statistics", "/statistics/titles"),
                    ("Industry statistics", "/statistics/industries"),
                    ("Qualification statistics", "/statistics/qualifications"))
STATISTICS_MENUS = tuple(menu for menu, _url in STATISTICS_LINKS)
LOOKUP_VIEW = "LookupView"                      # U10 / D6 / H6 staff lookup (with password reset), hours lookup
IMPORT_VIEW = "ImportView"                      # U9 / D6 / H5 batch import of staff (issue 10)
EXPORT_VIEW = "ExportView"                      # X7 导出记录: one's exports written by the task queue (issue 13)
NOTIFICATION_VIEW = "NotificationView"          # X2 the person's own notifications, the e-mail switch (issue 12)
REMINDER_SETTINGS_VIEW = "ReminderSettingsView"  # X3 reminder and escalation settings of the HR bureau (issue 12)
DELEGATION_VIEW = "DelegationView"              # X9 an admin's delegations of review rights, the deputy's switch
# issue 11: online learning (P12, B1, B3, state machines 6 and 7)
LEARNING_VIEW = "LearningView"                  # P12 class centre, class page, player, quizzes, learning centre
ORDER_VIEW = "OrderView"                        # P12 orders of paid classes, 我的订单
PAYMENT_VIEW = "PaymentView"                    # the payment provider's pages and its signed callback (public)
LESSON_MEDIA_VIEW = "LessonMediaView"           # lesson videos and class covers (scope checked per file)
CLASS_CENTRE_VIEW = "ClassCentreView"           # P12 班级中心, a class's page and preview, 学习中心, 我的考试
CLASS_ADMIN_VIEW = "ClassAdminView"             # B3 a base builds its classes; enrolments and progress
CLASS_REVIEW_VIEW = "ClassReviewView"           # HR reviews classes (state machine 6), sees its region's classes
BASE_PLAN_VIEW = "BasePlanView"                 # B1 a base's annual training plan and annual report
BASE_PLAN_REVIEW_VIEW = "BasePlanReviewView"    # HR reviews plans and annual reports (state machine 6)
# issue 12: the REST API (/api/v1/me); its review endpoints ask each review page's own permission instead
API_PROFESSIONAL_VIEW = "ApiProfessional"
LEARNING_SELF = [(LEARNING_VIEW, "can_.*"), (ORDER_VIEW, "can_.*"), (LESSON_MEDIA_VIEW, "can_.*"),
                 (CLASS_CENTRE_VIEW, "can_.*"),
                 ("Online learning", "menu_access"), ("Class centre", "menu_access"),
                 ("Learning centre", "menu_access"), ("My orders", "menu_access"), ("My exams", "menu_access")]

SELF_SERVICE = [(CHANGE_FILE_VIEW, "can_.*"), (HOME_VIEW, "can_.*"), (ACCOUNT_VIEW, "can_.*"), (PUBLIC_VIEW, "can_.*"), ("LocaleView", "can_.*"),
                ("VerifyView", "can_.*"), (PAYMENT_VIEW, "can_.*"), ("My home", "menu_access"),
                (NOTIFICATION_VIEW, "can_.*"), (EXPORT_VIEW, "can_.*")]
HOURS_SELF = [("HoursView", "can_.*"), ("AttachmentView", "can_.*"), ("Hours", "menu_access"),
              ("My declarations", "menu_access"), ("Declare hours", "menu_access"),
              ("Annual completion", "menu_access"),
              (PROFILE_VIEW, "can_.*"), ("My profile", "menu_access"), (TRANSFER_VIEW, "can_.*"),
              ("Unit transfer", "menu_access")]
DECLARATION_REVIEW = [("DeclarationReviewView", "can_.*"), ("AttachmentView", "can_.*"),
                      ("Declarations", "menu_access")]
HR_ONLY = [("BaseReportReviewView", "can_.*"), ("Base reports", "menu_access"),
           ("AnnualStandardModelView", "can_(list|show|add|edit)"), ("Yearly standards", "menu_access"),
           ("LearningFormModelView", "can_(list|show|add|edit)"), ("Learning forms", "menu_access"),
           (CLASS_REVIEW_VIEW, "can_.*"), ("Class review", "menu_access"), (LESSON_MEDIA_VIEW, "can_.*"),
           (BASE_PLAN_REVIEW_VIEW, "can_.*"), ("Base plans", "menu_access"),
           (REMINDER_SETTINGS_VIEW, "can_.*"), ("Reminders", "menu_access")]
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
    (STATISTICS_VIEW, "can_.*"), ("Statistics", "menu_access"), ("Completion statistics", "menu_access"),
    *((menu, "menu_access") for menu in STATISTICS_MENUS),
    (LOOKUP_VIEW, "can_.*"), ("Staff lookup", "menu_access"), ("Hours lookup", "menu_access"),
    (IMPORT_VIEW, "can_.*"), ("Batch import", "menu_access"),
    (DELEGATION_VIEW, "can_.*"), ("Delegations", "menu_access"),
]
UNIT_ONLY = [(TRANSFER_REVIEW_VIEW, "can_.*"), ("Transfers", "menu_access")]

# Permissions per role as (view regex, permission regex); anchored on both ends.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    "Public": [(PUBLIC_VIEW, "can_.*"), ("LocaleView", "can_.*"), ("VerifyView", "can_.*"),
               (PAYMENT_VIEW, "can_.*")],
    RoleName.PROFESSIONAL.value: SELF_SERVICE + HOURS_SELF + LEARNING_SELF + [(API_PROFESSIONAL_VIEW, "can_.*")],
    RoleName.UNIT_ADMIN.value: ADMIN_BASE + DECLARATION_REVIEW + UNIT_ONLY,
    RoleName.DEPT_ADMIN.value: ADMIN_BASE + DECLARATION_REVIEW,
    RoleName.HR_ADMIN.value: ADMIN_BASE + DECLARATION_REVIEW + HR_ONLY,
    RoleName.BASE_ADMIN.value: SELF_SERVICE + [("BaseReportView", "can_.*"), ("Reported hours", "menu_access"),
                                               ("Training", "menu_access"),
                                               (CLASS_ADMIN_VIEW, "can_.*"), ("My classes", "menu_access"),
                                               (LESSON_MEDIA_VIEW, "can_.*"),
                                               (BASE_PLAN_VIEW, "can_.*"), ("Plans and reports", "menu_access"),
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
    "import": (_l("Batch import of staff"), {IMPORT_VIEW, "Batch import", "Management"}),
    "orgs": (_l("Organisation information"), {ORG_VIEW, ORG_PROFILE_VIEW, ORG_CHANGE_REVIEW_VIEW, SUB_UNIT_VIEW,
                                               "Organisations", "Org profile", "Org changes", "Sub-units",
                                               "Management", "Review"}),
    "hr": (_l("Base reports, standards and learning forms"),
           {"BaseReportReviewView", "AnnualStandardModelView", "LearningFormModelView", "Base reports",
            "Yearly standards", "Learning forms", REMINDER_SETTINGS_VIEW, "Reminders", "Management", "Review"}),
    "class_review": (_l("Online class review"), {CLASS_REVIEW_VIEW, LESSON_MEDIA_VIEW, "Class review", "Review"}),
    "base_plans_review": (_l("Base plan and annual report review"),
                          {BASE_PLAN_REVIEW_VIEW, "Base plans", "Review"}),
    "base_reports": (_l("Reported hours"), {"BaseReportView", "Reported hours", "Training"}),
    "classes": (_l("Online classes"), {CLASS_ADMIN_VIEW, LESSON_MEDIA_VIEW, "My classes", "Training"}),
    "base_plans": (_l("Plans and reports"), {BASE_PLAN_VIEW, "Plans and reports", "Training"}),
    "statistics": (_l("Queries and statistics"), {STATISTICS_VIEW, "Statistics", "Completion statistics",
                                                  *STATISTICS_MENUS, LOOKUP_VIEW, "Staff lookup", "Hours lookup"}),
}
# (an admin with an org-defined role still delegates what it has and acts as a deputy: X9)
SELF_SERVICE_NAMES = {view for view, _ in SELF_SERVICE} | {DELEGATION_VIEW, "Delegations"}


# Names several modules open (menu categories, the lesson files): they tell nothing of which modules a role has.
SHARED_NAMES = {"Review", "Management", "Training", LESSON_MEDIA_VIEW}


def modules_for_role(role: str) -> list[str]:
    """The modules that exist for an admin role: those whose views the role's own permissions reach."""
    names = {view for view, _ in ROLE_PERMISSIONS.get(role, [])}
    return [key for key, (_label, views) in MODULES.items()
            if any(v in names for v in views if v not in SHARED_NAMES)]


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
