"""X2 notifications: the bell (every page), the person's own list with mark read, the e-mail switch; X3 the HR
bureau's reminder settings."""
from __future__ import annotations

import datetime

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user

from ..authz import NOTIFICATION_VIEW, REMINDER_SETTINGS_VIEW
from ..security import current_actor
from ..workflows import notifications as flow
from ..workflows import reminders
from .forms import ButtonForm
from .util import db_id, domain_errors, safe_next


def unread_notifications() -> int:
    """The bell's count for the logged-in person (one indexed COUNT, once per request); 0 when logged out."""
    if not getattr(current_user, "is_authenticated", False):
        return 0
    return flow.unread_count(current_user.id)


def escalated(object_type: str, rows) -> set[int]:
    """Ids of the rows escalated to the org above ("已催办"), for a queue page: one query per page."""
    cache = request.__dict__.setdefault("_escalated", {})
    ids = tuple(getattr(r, "id", r) for r in rows)
    key = (object_type, ids)
    if key not in cache:
        cache[key] = flow.escalated_ids(object_type, ids)
    return cache[key]


class NotificationView(BaseView):
    """/notifications/: the person's own notifications, newest first, mark one / all read, e-mail on / off. (Every
    POST carries the CSRF token CSRFProtect checks before the view runs.)"""

    route_base = "/notifications"
    default_view = "index"
    class_permission_name = NOTIFICATION_VIEW

    @expose("/")
    @has_access
    def index(self):
        page_no = request.args.get("page", "1")
        page_no = int(page_no) if page_no.isascii() and page_no.isdigit() and len(page_no) < 6 else 1
        unread_only = request.args.get("unread") == "1"
        rows, more = flow.page(current_user.id, page_no, unread_only)
        return self.render_template("notifications/index.html", rows=rows, more=more, page_no=page_no,
                                    unread_only=unread_only, email_on=flow.email_on(current_user.id),
                                    button=ButtonForm(formdata=None), title=_l("Notifications"))

    @expose("/open", methods=["POST"])
    @has_access
    def open(self):
        """Mark read and go to the item it tells of (the notification's id is posted: a URL names none)."""
        row = flow.mark_read(current_user.id, db_id(request.form.get("id")) or 0)
        if row is None:
            abort(404)
        return redirect(safe_next(row.link) or url_for("NotificationView.index"))

    @expose("/read", methods=["POST"])
    @has_access
    def read(self):
        if flow.mark_read(current_user.id, db_id(request.form.get("id")) or 0) is None:
            abort(404)
        return redirect(url_for("NotificationView.index"))

    @expose("/read-all", methods=["POST"])
    @has_access
    def read_all(self):
        flow.mark_all_read(current_user.id)
        flash(gettext("All notifications are marked as read."), "success")
        return redirect(url_for("NotificationView.index"))

    @expose("/email", methods=["POST"])
    @has_access
    def email(self):
        on = request.form.get("email_on") == "1"
        flow.set_email(current_user.id, on)
        flash(gettext("You will receive notifications by e-mail.") if on
              else gettext("You will no longer receive notifications by e-mail."), "success")
        return redirect(url_for("NotificationView.index"))


class ReminderSettingsView(BaseView):
    """X3: the city HR bureau sets after how many days waiting items are reminded and escalated, per kind of org,
    and the date professionals whose year is not complete are reminded."""

    route_base = "/reminders"
    default_view = "index"
    class_permission_name = REMINDER_SETTINGS_VIEW

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        actor = current_actor()
        form = ButtonForm()
        editable = reminders.may_edit(actor)
        if request.method == "POST":
            if not form.validate_on_submit():
                abort(400)
            with domain_errors(form, denied=403):
                if request.form.get("part") == "completion":
                    year = request.form.get("year", "")
                    try:
                        day = datetime.date.fromisoformat(request.form.get("remind_on", "").strip())
                    except ValueError:
                        day = None
                    reminders.set_completion_date(
                        actor, int(year) if year.isascii() and year.isdigit() and len(year) == 4 else None, day)
                else:
                    reminders.save_settings(actor, {
                        k.value: (request.form.get(f"remind_{k.value}"), request.form.get(f"escalate_{k.value}"))
                        for k in reminders.KINDS})
                flash(gettext("The reminder settings have been saved."), "success")
                return redirect(url_for("ReminderSettingsView.index"))
        return self.render_template("notifications/settings.html", settings=reminders.settings(),
                                    kinds=[(k.value, k.label) for k in reminders.KINDS],
                                    dates=reminders.completion_dates(), editable=editable, button=form,
                                    this_year=reminders.clock.today().year, title=_l("Reminders"))


def register(appbuilder, app) -> None:
    """The views, their menu item and the template helpers (the bell, "已催办")."""
    app.jinja_env.globals["unread_notifications"] = unread_notifications
    app.jinja_env.globals["escalated"] = escalated
    appbuilder.add_view_no_menu(NotificationView())
    appbuilder.add_view(ReminderSettingsView(), "Reminders", label=_l("Reminders"), icon="fa-bell-o",
                        category="Management")
