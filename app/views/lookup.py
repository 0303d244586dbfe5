"""查询统计 of the org admins (U10, D6, H6): 人员查询 (staff lookup with learning record and password reset) and
学时查询 (hours lookup, exportable), inside the admin's subtree (the logic: app/workflows/lookup.py)."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l

from ..security import current_actor
from ..workflows import lookup
from .export import export_url, is_export, xlsx_response
from .util import denied_as, domain_errors

LOOKUP_VIEW = "LookupView"  # the permission's view name (granted to the org admins in app/authz.py)


class LookupView(BaseView):
    route_base = "/lookup"
    default_view = "staff"
    class_permission_name = LOOKUP_VIEW

    @expose("/staff")
    @has_access
    def staff(self):
        """Search by a whole 证件号 or the beginning of a name."""
        query = request.args.get("q", "")
        try:
            with denied_as(403):
                found = lookup.find_staff(current_actor(), query)
        except lookup.BadInput as exc:
            return self._staff_page(query, lookup.StaffSearch(), exc.message, 400)
        return self._staff_page(query, found)

    def _staff_page(self, query: str, found, error=None, status: int = 200):
        return self.render_template("lookup/staff.html", query=query, found=found, error=error,
                                    cap=lookup.MATCH_CAP, title=_l("Staff lookup")), status

    @expose("/staff/<int:account_id>")
    @has_access
    def person(self, account_id):
        """A professional of the subtree: unit, learning record, password reset."""
        try:
            with denied_as(403):
                record = lookup.staff_record(current_actor(), account_id)
        except lookup.NotFound:
            abort(404)
        return self.render_template("lookup/person.html", record=record, person=record.person,
                                    query=request.args.get("q", ""), title=_l("Staff lookup"))

    @expose("/staff/<int:account_id>/reset-password", methods=["POST"])
    @has_access
    def reset_password(self, account_id):
        with domain_errors(denied=403):
            try:
                lookup.reset_password(current_actor(), account_id)
            except lookup.NotFound:
                abort(404)
            flash(gettext("The password was reset to the last 6 characters of the ID number; the person must "
                          "change it at the next login."), "success")
        return redirect(url_for("LookupView.person", account_id=account_id, q=request.args.get("q") or None))

    @expose("/hours/export")
    @expose("/hours")
    @has_access
    def hours(self):
        """The hours of a year per person, filtered; at /hours/export the same list as an .xlsx file (one
        endpoint: the export carries exactly the page's permission)."""
        actor = current_actor()
        with denied_as(403):
            regions = lookup.region_choices(actor)
        try:
            flt = lookup.hours_filter(actor, request.args, regions)
            if is_export():
                title = gettext("Hours lookup %(year)s", year=flt.year)
                rows = lookup.export_values(lookup.hours_rows(actor, flt))
                return xlsx_response(title, [str(label) for label in lookup.HOURS_LABELS], rows)
            result = lookup.hours_page(actor, flt, lookup.page_of(request.args.get("page")))
        except lookup.BadInput as exc:
            return self._hours_page(regions, request.args, None, exc.message, 400)
        return self._hours_page(regions, flt.args(), result)

    def _hours_page(self, regions, args, result, error=None, status: int = 200):
        low, high = lookup.year_range()
        args = {key: args.get(key, "") for key in ("year", "region", "unit", "name", "id_number")}
        return self.render_template(
            "lookup/hours.html", regions=regions, args=args, result=result, error=error,
            years=list(range(high, low - 1, -1)), labels=lookup.HOURS_LABELS,
            export_url=export_url(f"{self.route_base}/hours/export", **args) if result else None,
            title=_l("Hours lookup")), status
