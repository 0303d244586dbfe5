"""The one place where views and menus are registered."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..authz import STATISTICS_LINKS


def register_views(appbuilder) -> None:
    from .admin import AuditLogModelView, OrgModelView, RegionModelView, RowInterface, StaffModelView
    from .auth import AccountView, AuthView
    from .base_reports import BaseReportReviewView, BaseReportView
    from .catalogue import AnnualStandardModelView, LearningFormModelView
    from .hours import AttachmentView, DeclarationReviewView, HoursView
    from .home import HomeView
    from .exports import ExportView
    from .imports import ImportView
    from .lookup import LookupView
    from .org_admins import OrgAdminsView, SubUnitView
    from .org_profile import OrgChangeReviewView, OrgProfileView, SupportOrgView
    from .profile import ChangeAttachmentView, IdentityReviewView, PersonnelReviewView, ProfileView
    from .public import PublicView
    from .review import RegistrationReviewView
    from .statistics import StatisticsView, vendor_blueprint
    from .support import SupportView
    from .transfer import TransferReviewView, TransferView
    from .verify import VerifyView

    from flask import current_app

    from .labels import register_template_helpers

    register_template_helpers(current_app)
    appbuilder.sm.auth_view = AuthView()  # FAB's login and logout URLs name it
    appbuilder.add_view_no_menu(appbuilder.sm.auth_view)
    current_app.jinja_env.globals["list_count_cap"] = RowInterface.COUNT_CAP
    appbuilder.add_view_no_menu(PublicView())
    appbuilder.add_view_no_menu(VerifyView())
    appbuilder.add_view_no_menu(AccountView())
    appbuilder.add_view_no_menu(ExportView())  # 导出记录: in the user menu of every role
    appbuilder.add_view(HomeView(), "My home", label=_l("My home"), icon="fa-home")
    appbuilder.add_view(HoursView(), "My declarations", label=_l("My declarations"), icon="fa-list",
                        category="Hours", category_label=_l("Hours"), category_icon="fa-clock-o")
    appbuilder.add_link("Declare hours", label=_l("Declare hours"), href="/hours/declare", icon="fa-plus",
                        category="Hours")
    appbuilder.add_link("Annual completion", label=_l("Annual completion"), href="/hours/annual",
                        icon="fa-check-circle", category="Hours")
    appbuilder.add_view_no_menu(AttachmentView())
    appbuilder.add_view(BaseReportView(), "Reported hours", label=_l("Reported hours"), icon="fa-users",
                        category="Training", category_label=_l("Continuing education base"),
                        category_icon="fa-graduation-cap")
    appbuilder.add_view(RegistrationReviewView(), "Registrations", label=_l("Registration review"),
                        icon="fa-user-check", category="Review", category_label=_l("Review"),
                        category_icon="fa-check-square-o")
    appbuilder.add_view(DeclarationReviewView(), "Declarations", label=_l("Hour declaration review"),
                        icon="fa-clock-o", category="Review")
    appbuilder.add_view(BaseReportReviewView(), "Base reports", label=_l("Base report review"),
                        icon="fa-graduation-cap", category="Review")
    appbuilder.add_view(StaffModelView(), "Staff", label=_l("Staff"), icon="fa-users",
                        category="Management", category_label=_l("Management"), category_icon="fa-sitemap")
    appbuilder.add_view(OrgModelView(), "Organisations", label=_l("Organisations"), icon="fa-building",
                        category="Management")
    appbuilder.add_view(SupportView(), "Accounts", label=_l("Accounts and roles"), icon="fa-id-card",
                        category="Management")
    appbuilder.add_view(AnnualStandardModelView(), "Yearly standards", label=_l("Yearly standards"),
                        icon="fa-flag", category="Management")
    appbuilder.add_view(LearningFormModelView(), "Learning forms", label=_l("Learning forms"), icon="fa-book",
                        category="Management")
    appbuilder.add_view(RegionModelView(), "Regions", label=_l("Regions"), icon="fa-map",
                        category="Management")
    appbuilder.add_view(AuditLogModelView(), "Audit log", label=_l("Audit log"), icon="fa-history",
                        category="Audit", category_label=_l("Audit"), category_icon="fa-eye")
    # issue 4: profile and title change (P6), identity corrections (P7, S3), personnel change review (U6, D4, H3)
    appbuilder.add_view(ProfileView(), "My profile", label=_l("My profile"), icon="fa-user")
    appbuilder.add_view_no_menu(ChangeAttachmentView())
    appbuilder.add_view(PersonnelReviewView(), "Personnel changes", label=_l("Personnel change review"),
                        icon="fa-id-badge", category="Review")
    appbuilder.add_view(IdentityReviewView(), "Identity corrections", label=_l("Identity corrections"),
                        icon="fa-id-card-o", category="Review")
    # issue 4: unit transfer (P7, U7)
    appbuilder.add_view(TransferView(), "Unit transfer", label=_l("Unit transfer"), icon="fa-exchange")
    appbuilder.add_view(TransferReviewView(), "Transfers", label=_l("Unit transfers"), icon="fa-exchange",
                        category="Review")
    # issue 4: org admins and roles (U3, D3, H2), sub-units and the orgs below (U4, H1)
    appbuilder.add_view(OrgAdminsView(), "Administrators", label=_l("Administrators"), icon="fa-user-secret",
                        category="Management")
    appbuilder.add_view(SubUnitView(), "Sub-units", label=_l("Sub-units"), icon="fa-sitemap",
                        category="Management")
    # issue 4: org profile, credit code / parent change (U2, D2, state machine 5), org merge, temporary codes (S4)
    appbuilder.add_view(OrgProfileView(), "Org profile", label=_l("Org profile"), icon="fa-building-o",
                        category="Management")
    appbuilder.add_view(OrgChangeReviewView(), "Org changes", label=_l("Organisation changes"),
                        icon="fa-random", category="Review")
    appbuilder.add_view(SupportOrgView(), "Org merge", label=_l("Org merge and temporary codes"),
                        icon="fa-compress", category="Management")
    # issue 10: statistics (U10, D6, H6); the chart library is served by the platform itself (no CDN)
    current_app.register_blueprint(vendor_blueprint())
    from .manifest import blueprint as manifest_blueprint  # issue 12: home-screen web app manifest

    current_app.register_blueprint(manifest_blueprint)
    appbuilder.add_view(StatisticsView(), "Completion statistics", label=_l("Completion statistics"),
                        icon="fa-bar-chart", category="Statistics", category_label=_l("Queries and statistics"),
                        category_icon="fa-bar-chart")
    for (menu, href), label, icon in zip(STATISTICS_LINKS, (_l("Org and staff statistics"), _l("Title statistics"),
                                                          _l("Industry statistics"), _l("Qualification statistics")),
                                         ("fa-sitemap", "fa-graduation-cap", "fa-industry", "fa-certificate")):
        appbuilder.add_link(menu, label=label, href=href, icon=icon, category="Statistics")
    # issue 10: staff lookup with learning record and password reset, hours lookup (U10, D6, H6)
    appbuilder.add_view(LookupView(), "Staff lookup", label=_l("Staff lookup"), href="/lookup/staff",
                        icon="fa-search", category="Statistics")
    appbuilder.add_link("Hours lookup", label=_l("Hours lookup"), href="/lookup/hours", icon="fa-clock-o",
                        category="Statistics")
    # issue 10: batch import of staff (U9, D6, H5)
    appbuilder.add_view(ImportView(), "Batch import", label=_l("Batch import"), icon="fa-upload",
                        category="Management")
    # issue 12: notifications (X2: the bell, the list) and the HR bureau's reminder settings (X3)
    from .notifications import register as register_notifications

    register_notifications(appbuilder, current_app)
    # issue 12: delegation of review rights (X9, 代理审核)
    from .delegation import register as register_delegation

    register_delegation(appbuilder, current_app)
    # issue 11: class centre (P12 班级中心, a class's page, preview and 报名), 学习中心 and 我的考试
    from .learning_centre import ClassCentreView

    appbuilder.add_view(ClassCentreView(), "Class centre", label=_l("Class centre"), href="/learning/classes",
                        icon="fa-th-large", category="Online learning", category_label=_l("Online study"),
                        category_icon="fa-play-circle")
    appbuilder.add_link("Learning centre", label=_l("Learning centre"), href="/learning/centre",
                        icon="fa-tachometer", category="Online learning")
    appbuilder.add_link("My exams", label=_l("My exams"), href="/learning/exams", icon="fa-pencil-square-o",
                        category="Online learning")
    # issue 11: base plans and annual reports (B1, state machine 6)
    from .base_plans import BasePlanReviewView, BasePlanView

    appbuilder.add_view(BasePlanView(), "Plans and reports", label=_l("Plans and reports"), icon="fa-file-text-o",
                        category="Training")
    appbuilder.add_view(BasePlanReviewView(), "Base plans", label=_l("Base plans and annual reports"),
                        icon="fa-file-text-o", category="Review")
    # issue 11: orders and payment (P12 我的订单; the payment provider's public pages and callback)
    from .orders import ClassOrdersReviewView, ClassOrdersView, OrderView, PaymentView

    appbuilder.add_view(OrderView(), "My orders", label=_l("My orders"), href="/learning/orders",
                        icon="fa-shopping-cart", category="Online learning", category_label=_l("Online learning"),
                        category_icon="fa-play-circle")
    appbuilder.add_view_no_menu(PaymentView())
    appbuilder.add_view_no_menu(ClassOrdersView())  # a class's orders and refunds: its base, the HR bureau above
    appbuilder.add_view_no_menu(ClassOrdersReviewView())
    # issue 11: learning
    from .learning import LearningView

    appbuilder.add_view_no_menu(LearningView())
    # issue 11: a training base's online classes (B3), their review by the HR bureau (state machine 6), the lesson
    # videos and class covers; a lesson upload may be as large as VIDEO_MAX_BYTES (that route only, set before the
    # CSRF check and the input filter read the body)
    from .classes import ClassAdminView, ClassReviewView, video_upload_limit
    from .media import LessonMediaView

    current_app.before_request_funcs.setdefault(None, []).insert(0, video_upload_limit)
    appbuilder.add_view(ClassAdminView(), "My classes", label=_l("My classes"), icon="fa-play-circle",
                        category="Training")
    appbuilder.add_view(ClassReviewView(), "Class review", label=_l("Class review"), icon="fa-play-circle",
                        category="Review")
    appbuilder.add_view_no_menu(LessonMediaView())
    # issue 12: the REST API under /api/v1 with its OpenAPI document and Swagger UI (app/api)
    from ..api import register_api

    register_api(appbuilder, current_app)
