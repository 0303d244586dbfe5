"""The one place where views and menus are registered."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l


def register_views(appbuilder) -> None:
    from .admin import AuditLogModelView, OrgModelView, RegionModelView, StaffModelView
    from .auth import AccountView
    from .home import HomeView
    from .public import PublicView
    from .review import RegistrationReviewView
    from .support import SupportView

    appbuilder.add_view_no_menu(PublicView())
    appbuilder.add_view_no_menu(AccountView())
    appbuilder.add_view(HomeView(), "My home", label=_l("My home"), icon="fa-home")
    appbuilder.add_view(RegistrationReviewView(), "Registrations", label=_l("Registration review"),
                        icon="fa-user-check", category="Review", category_label=_l("Review"),
                        category_icon="fa-check-square-o")
    appbuilder.add_view(StaffModelView(), "Staff", label=_l("Staff"), icon="fa-users",
                        category="Management", category_label=_l("Management"), category_icon="fa-sitemap")
    appbuilder.add_view(OrgModelView(), "Organisations", label=_l("Organisations"), icon="fa-building",
                        category="Management")
    appbuilder.add_view(SupportView(), "Accounts", label=_l("Accounts and roles"), icon="fa-id-card",
                        category="Management")
    appbuilder.add_view(RegionModelView(), "Regions", label=_l("Regions"), icon="fa-map",
                        category="Management")
    appbuilder.add_view(AuditLogModelView(), "Audit log", label=_l("Audit log"), icon="fa-history",
                        category="Audit", category_label=_l("Audit"), category_icon="fa-eye")
