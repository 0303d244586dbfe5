"""The access policy written out by hand (not read back from app.security): every endpoint of the app is public,
self-service (any logged-in role) or restricted to the roles named here. tests/test_access_matrix.py walks it;
tests/test_bad_ids.py and tests/test_bad_input.py request the same endpoints with bad input."""
from __future__ import annotations

from app.models import RoleName

R = RoleName
ANONYMOUS = "anonymous"
ALL_ROLES = [r.value for r in RoleName] + [ANONYMOUS]
REVIEWERS = frozenset({R.UNIT_ADMIN.value, R.DEPT_ADMIN.value, R.HR_ADMIN.value})
NOBODY: frozenset = frozenset()

# ------------------------------------------------------------------ the classification

PUBLIC = {
    "static", "appbuilder.static", "HomeIndexView.index", "LocaleView.index", "UtilView.back",
    "AuthView.login", "AuthView.pick_role", "AuthView.logout", "AuthView.captcha", "AuthView.forgot",
    "AuthView.reset",
    "PublicView.register_person", "PublicView.register_org", "PublicView.progress", "PublicView.withdraw",
    "PublicView.orgs", "PublicView.help",
    "VerifyView.index", "VerifyView.lookup",  # X6 / H6 certificate verification
}
SELF_SERVICE = {"HomeView.index", "AccountView.password", "AccountView.role", "ChangeAttachmentView.download"}


def _fab(view: str, **allowed: frozenset) -> dict[str, frozenset]:
    """The eight routes FAB generates for a ModelView; those not named are allowed to nobody."""
    names = ("list", "show", "add", "edit", "delete", "download", "action", "action_post")
    return {f"{view}.{name}": allowed.get(name, NOBODY) for name in names}


ADMINS_AND_SYSADMIN = REVIEWERS | {R.SYSADMIN.value}
ADMINS_AND_SUPPORT = REVIEWERS | {R.SUPPORT.value}
SUPPORT_STAFF = frozenset({R.SUPPORT.value, R.SYSADMIN.value})
SYSADMIN = frozenset({R.SYSADMIN.value})
AUDITOR = frozenset({R.AUDITOR.value})
PROFESSIONAL = frozenset({R.PROFESSIONAL.value})
HR = frozenset({R.HR_ADMIN.value})
BASE_ADMIN = frozenset({R.BASE_ADMIN.value})

# endpoint -> the roles that may use it (the policy written out by hand, not read back from app.security)
RESTRICTED: dict[str, frozenset] = {
    "RegistrationReviewView.index": REVIEWERS,
    "RegistrationReviewView.decide": REVIEWERS,
    "RegistrationReviewView.detail": REVIEWERS,     # issue 8: a queue row's detail page, its decision, the org's
    "RegistrationReviewView.decide_one": REVIEWERS,  # licence scan (out of scope: tests/test_registration_detail.py)
    "RegistrationReviewView.licence": REVIEWERS,
    **_fab("OrgModelView", list=ADMINS_AND_SYSADMIN, show=ADMINS_AND_SYSADMIN),
    **_fab("StaffModelView", list=ADMINS_AND_SUPPORT, show=ADMINS_AND_SUPPORT, action=ADMINS_AND_SUPPORT,
           action_post=ADMINS_AND_SUPPORT),
    **_fab("RegionModelView", list=SYSADMIN, show=SYSADMIN, add=SYSADMIN, edit=SYSADMIN),
    **_fab("AuditLogModelView", list=AUDITOR, show=AUDITOR),
    "SupportView.lookup": SUPPORT_STAFF,
    "SupportView.account": SUPPORT_STAFF,
    "SupportView.assign": SUPPORT_STAFF,
    "SupportView.revoke": SUPPORT_STAFF,
    "SupportView.reset_password": SUPPORT_STAFF,
    "MenuApi.get_menu_data": NOBODY,  # FAB's menu API: no role is granted it
    # issue 3: the professional's own hours (P8-P11); the routes name no person, the view uses the session's
    **{f"HoursView.{name}": PROFESSIONAL for name in ("index", "declare", "edit", "detail", "act", "annual",
                                                      "annual_detail", "standards", "print_pdf")},
    "AttachmentView.download": PROFESSIONAL | REVIEWERS,
    "DeclarationReviewView.index": REVIEWERS,
    "DeclarationReviewView.detail": REVIEWERS,
    "DeclarationReviewView.decide": REVIEWERS,
    "BaseReportView.index": BASE_ADMIN,
    "BaseReportView.new": BASE_ADMIN,
    "BaseReportView.show": BASE_ADMIN,
    "BaseReportReviewView.index": HR,
    "BaseReportReviewView.show": HR,
    "BaseReportReviewView.decide": HR,
    **_fab("AnnualStandardModelView", list=HR, show=HR, add=HR, edit=HR),
    **_fab("LearningFormModelView", list=HR, show=HR, add=HR, edit=HR),
    # issue 4: profile, title change and identity correction requests (P6, P7): the routes name no person but the
    # professional's own requests; personnel change review (U6, D4, H3); identity corrections by support only (S3)
    **{f"ProfileView.{name}": PROFESSIONAL for name in ("index", "title", "withdraw_title", "identity",
                                                        "withdraw_identity")},
    **{f"PersonnelReviewView.{name}": REVIEWERS for name in ("index", "detail", "decide")},
    **{f"IdentityReviewView.{name}": frozenset({R.SUPPORT.value}) for name in ("index", "detail", "decide")},
    # issue 4: unit transfer; the professional's routes name no person, the reviews only unit admins decide
    "TransferView.index": PROFESSIONAL,
    "TransferView.withdraw": PROFESSIONAL,
    **{f"TransferReviewView.{name}": frozenset({R.UNIT_ADMIN.value})
       for name in ("index", "decide", "start", "staff", "withdraw", "detail")},
}

# issue 4: org admins and roles (U3 / D3 / H2): every org admin; sub-units and the orgs below (U4 / H1)
ORG_ADMINS = REVIEWERS | BASE_ADMIN
RESTRICTED.update({f"OrgAdminsView.{name}": ORG_ADMINS for name in (
    "index", "add", "add_staff", "add_new", "add_existing", "make_super", "remove", "set_role", "roles", "edit_role",
    "delete_role")})
RESTRICTED.update({f"SubUnitView.{name}": REVIEWERS for name in ("index", "detail", "close", "remove_admin",
                                                                  "edit")})  # issue 8: profile of an org below
# issue 4: the org profile of the session's own org (U2 / D2), state machine 5 decided by the orgs above (reviewers),
# org merge and temporary credit codes by support staff only (S4)
RESTRICTED.update({f"OrgProfileView.{name}": ORG_ADMINS for name in ("index", "edit", "change", "withdraw")})
RESTRICTED.update({f"OrgChangeReviewView.{name}": REVIEWERS for name in ("index", "detail", "decide")})
RESTRICTED.update({f"SupportOrgView.{name}": frozenset({R.SUPPORT.value})
                   for name in ("index", "merge", "temporary_code")})
# issue 10: statistics (U10 / D6 / H6) of the admin's own subtree; the chart library is a public static file
RESTRICTED.update({"StatisticsView.completion": REVIEWERS})
RESTRICTED.update({f"StatisticsView.{name}": REVIEWERS for name in ("orgs", "titles", "industries", "qualifications")})
PUBLIC.add("vendor.static")
PUBLIC.add("manifest.webmanifest")  # issue 12: the web app manifest (home screen), public like static files
PUBLIC.update({"health.healthz", "health.readyz"})  # issue 13: the load balancer's probes (tests/test_ops.py)
# issue 10: staff lookup (learning record, password reset) and hours lookup of the admin's own subtree
RESTRICTED.update({f"LookupView.{name}": REVIEWERS for name in ("staff", "person", "reset_password", "hours")})
# issue 10: batch import of staff (U9 / D6 / H5): the admin's own subtree; records of the orgs below included
RESTRICTED.update({f"ImportView.{name}": REVIEWERS
                   for name in ("index", "template", "upload", "batch", "status", "confirm", "failed")})
# issue 12: the person's own notifications (X2; another's is not found) and the HR bureau's reminder settings (X3)
# (the POST-only routes: every role, never a visitor)
SELF_SERVICE.add("NotificationView.index")
RESTRICTED.update({f"NotificationView.{name}": frozenset(r.value for r in R) for name in ("open", "read", "read_all",
                                                                                            "email")})
RESTRICTED.update({"ReminderSettingsView.index": HR})
# issue 13: 导出记录, the person's own background exports (another's is not found)
SELF_SERVICE.add("ExportView.index")
RESTRICTED.update({f"ExportView.{name}": frozenset(r.value for r in R) for name in ("show", "status", "download")})
# issue 11: 班级中心, a class's page, its preview and 报名, 学习中心, 我的考试 (P12): the professional's own pages (a
# class id names a published class, open to every professional; nothing names another person)
RESTRICTED.update({f"ClassCentreView.{name}": PROFESSIONAL
                   for name in ("index", "detail", "enrol", "preview", "cover", "centre", "exams")})
# issue 11: a base's annual training plan and annual report (B1), reviewed by the HR bureau above (state machine 6);
# B2 by an uploaded .xlsx with its template
RESTRICTED.update({f"BasePlanView.{name}": BASE_ADMIN for name in ("index", "new", "show", "file")})
RESTRICTED.update({f"BasePlanReviewView.{name}": HR for name in ("index", "show", "file", "decide")})
RESTRICTED.update({f"BaseReportView.{name}": BASE_ADMIN for name in ("upload", "template")})
# issue 11: orders of paid classes (P12 我的订单): the professional's own orders only (another's is not found); the
# payment provider's pages and callback are public (the callback is authenticated by its signature, not a session)
RESTRICTED.update({f"OrderView.{name}": PROFESSIONAL for name in ("index", "place", "pay", "status", "cancel")})
PUBLIC.update({"PaymentView.sim_page", "PaymentView.notify"})
# a class's orders and their refund: the admin of the class's base, an HR admin covering the base (scope in the view)
RESTRICTED.update({f"ClassOrdersView.{name}": BASE_ADMIN for name in ("index", "refund")})
RESTRICTED.update({f"ClassOrdersReviewView.{name}": HR for name in ("index", "refund")})
# issue 11: learning (state machine 7): my class, the player and its heartbeats and pop-ups, the section quizzes; the
# professional's own enrolments only (another's is not found)
RESTRICTED.update({f"LearningView.{name}": PROFESSIONAL for name in ("my_class", "study", "beat", "popup", "quiz")})
# issue 11: a training base's classes (B3): its own base's only (another's is not found); their review by the HR
# bureau above the base (state machine 6) and the region's list; lesson videos and covers to the base, the HR admins
# covering it and the learners enrolled (tests/test_classes.py walks that rule)
RESTRICTED.update({f"ClassAdminView.{name}": BASE_ADMIN for name in (
    "index", "new", "edit", "show", "act", "add_course", "add_section", "add_lesson", "add_question", "add_popup",
    "remove", "rename", "enrolments")})
RESTRICTED.update({f"ClassReviewView.{name}": HR for name in ("index", "decide", "show", "decide_one", "region")})
RESTRICTED.update({f"LessonMediaView.{name}": BASE_ADMIN | HR | PROFESSIONAL for name in ("video", "cover")})
# a class's orders and their refund: the admin of the class's base, an HR admin covering the base (scope in the view)
RESTRICTED.update({f"ClassOrdersView.{name}": BASE_ADMIN for name in ("index", "refund")})
RESTRICTED.update({f"ClassOrdersReviewView.{name}": HR for name in ("index", "refund")})
# issue 12: delegation of review rights (X9, 代理审核): every reviewing admin; a delegation of another is not found
RESTRICTED.update({f"DelegationView.{name}": REVIEWERS for name in ("index", "create", "revoke", "act")})
# issue 12: the REST API (/api/v1, app/api). Log in, refresh and the OpenAPI document with its Swagger UI are public;
# logout and "who am I" need any login (a token or a session); /me is the professional's own (nothing names another
# person); the review endpoints are the reviewers' (each queue kind asks its web page's permission too: transfers
# are the unit admins', tests/test_api.py checks the scope of each kind)
PUBLIC.update({"ApiAuth.login", "ApiAuth.refresh", "ApiDocs.openapi", "ApiDocs.ui", "swagger_ui.static"})
RESTRICTED.update({f"ApiAuth.{name}": frozenset(r.value for r in R) for name in ("logout", "whoami")})
RESTRICTED.update({f"ApiMe.{name}": PROFESSIONAL for name in (
    "profile", "title_changes", "title_change", "registrations", "declarations", "declare", "declaration", "submit",
    "withdraw", "attachments", "attachment", "annual", "certificate", "classes", "orders")})
RESTRICTED.update({f"ApiReview.{name}": REVIEWERS for name in ("queue", "detail", "evidence", "decide", "batch")})
RESTRICTED["ApiDelegations.received"] = REVIEWERS  # a deputy's delegations (X-On-Behalf-Of ids)
