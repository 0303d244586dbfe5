"""Statistics pages (U10, D6, H6): completion per org one level below, and the distributions (orgs and staff,
titles, industries, qualifications), each with drill-down inside the actor's subtree, a table, a bar chart
(ECharts, served by the platform itself: no CDN); the distributions export to .xlsx and link every figure to the
staff list of the people behind it; the completion page prints the 年度结业证书 of everyone it counts as passed."""
from __future__ import annotations

import os

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l

from ..extensions import appbuilder
from ..security import current_actor
from ..workflows import certificates as certs
from ..workflows import distribution as dist
from ..workflows import stat_snapshots
from ..workflows import statistics as stats
from .admin import staff_list_url
from .errors import error_page
from .export import export_url, file_response, is_export, xlsx_response

# The chart library from the npm package the setup installs (package-lock.json pins its version).
ECHARTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "node_modules", "echarts", "dist")


def vendor_blueprint() -> Blueprint:
    """/static/vendor/echarts/echarts.min.js: a static file like app/static's (endpoint "vendor.static")."""
    return Blueprint("vendor", __name__, static_folder=ECHARTS_DIR, static_url_path="/static/vendor/echarts")


# ------------------------------------------------------------------ distribution statistics (app/workflows/distribution)

def _tables():
    """The columns of each distribution page: (key, label) in the order of the table and of the export."""
    return {
        "orgs": [("org", _l("Organisation")), ("departments", _l("Competent departments")),
                 ("units", _l("Units")), ("bases", _l("Training bases")), ("staff", _l("Professionals"))],
        "titles": [("value", _l("Title series")), *((key, label) for key, label, _levels in dist.GRADES[:2]),
                   ("senior", _l("Senior")), *(("senior_" + level, level) for level in dist.SENIOR_LEVELS),
                   ("none", _l("Not graded")), ("staff", _l("Overall"))],
        "industries": [("value", _l("Industry")), ("units", _l("Units")), ("staff", _l("Professionals"))],
        "qualifications": [("value", _l("Vocational qualification")), ("staff", _l("Professionals"))],
    }


PAGES = {
    "orgs": (_l("Organisations and staff"), dist.org_counts),
    "titles": (_l("Professional titles"), dist.titles),
    "industries": (_l("Industry distribution"), dist.industries),
    "qualifications": (_l("Vocational qualification distribution"), dist.qualifications),
}


def _cell(item, key):
    if key == "value":
        return item.value or gettext("Not filled in")
    if key in ("staff", "units"):
        return getattr(item, key)
    return item.grades.get(key, 0)


def _export_rows(page: str, result, own_level: str):
    columns = [key for key, _label in _tables()[page]]
    if page == "orgs":
        for row in [*result.rows, result.total]:
            name = own_level if row.org is None else (
                gettext("Sum of the level") if row is result.total else row.org.name)
            yield [name, row.departments, row.units, row.bases, row.staff]
        return
    for item in [*result.items, result.total]:
        values = [_cell(item, key) for key in columns]
        if item is result.total:
            values[0] = gettext("Overall")
        yield values


def _chart(page: str, result, own_level: str) -> dict:
    """What the page's chart draws: categories and one or more series (a JSON-ready dict)."""
    if page == "orgs":
        return {"names": [own_level if r.org is None else r.org.name for r in result.rows],
                "series": [{"name": gettext("Professionals"), "data": [r.staff for r in result.rows]}]}
    names = [item.value or gettext("Not filled in") for item in result.items]
    if page == "titles":
        return {"names": names, "stack": True,
                "series": [{"name": str(label), "data": [item.grades.get(key, 0) for item in result.items]}
                           for key, label, _levels in dist.GRADES]}
    return {"names": names, "series": [{"name": gettext("Professionals"), "data": [i.staff for i in result.items]}]}


def may_list_staff() -> bool:
    """Whether the figures may link to the staff list: an org-defined role without the staff module cannot open it."""
    return bool(appbuilder.sm.has_access("can_list", "StaffModelView"))


def _links(page: str, result) -> dict:
    """The staff list behind each figure: (row index or "total", column key) -> URL. A past year's figures link to
    nothing: who was counted then is not kept, and today's list would be other people."""
    if result.snapshot is not None:
        return {}
    org_id = result.org.id
    links = {}
    if page == "orgs":
        for i, row in enumerate(result.rows):
            if row.staff:
                links[(i, "staff")] = staff_list_url(org_id, own_only=True) if row.org is None \
                    else staff_list_url(row.org.id)
        if result.total.staff:
            links[("total", "staff")] = staff_list_url(org_id)
        return links
    for i, item in enumerate([*result.items, result.total]):
        index = "total" if item is result.total else i
        value = None if item is result.total else item.value
        if page == "titles":
            for key, _label, _levels in dist.GRADES:
                if item.grades.get(key):
                    links[(index, key)] = staff_list_url(org_id, title_series=value, title_level=key)
            for level in dist.SENIOR_LEVELS:
                if item.grades.get("senior_" + level):
                    links[(index, "senior_" + level)] = staff_list_url(org_id, title_series=value, title_level=level)
            if item.staff:
                links[(index, "staff")] = staff_list_url(org_id, title_series=value)
        elif page == "industries" and item.staff:
            links[(index, "staff")] = staff_list_url(org_id, unit_id=value)
        elif page == "qualifications" and item.staff:
            links[(index, "staff")] = staff_list_url(org_id, vocational_qualifications=value)
    return links


COMPLETION_LABELS = [_l("Organisation"), _l("Headcount"), _l("Took part"), _l("Did not take part"), _l("Passed"),
                     _l("Pass rate")]


def _completion_rows(result, own_level: str):
    """The completion table as the page shows it: one row per org below (本级 first), then the level's sum."""
    for row in result.rows:
        yield [row.org.name if row.org is not None else own_level, row.headcount, row.took_part, row.not_taken,
               row.passed, row.pass_rate]
    total = result.total
    yield [gettext("Sum of the level"), total.headcount, total.took_part, total.not_taken, total.passed,
           total.pass_rate]


def _year_choices() -> list[tuple[int, str]]:
    """The year select of the distribution pages: this year (the live figures), then every earlier year the
    statistics cover, each marked when no snapshot of it was taken."""
    low, high = stats.year_range()
    kept = stat_snapshots.snapshot_years(low, high)
    return [(year, gettext("%(year)s (live)", year=year) if year == high else
             str(year) if year in kept else gettext("%(year)s (no snapshot)", year=year))
            for year in range(high, low - 1, -1)]


def _bad_year():
    low, high = stats.year_range()
    return error_page(400, gettext("Please choose a year from %(low)s to %(high)s.", low=low, high=high))


def _distribution(view: BaseView, page: str):
    actor = current_actor()
    title, compute = PAGES[page]
    try:
        result = compute(actor, request.args.get("org"), year=request.args.get("year"))
    except stats.BadYear:
        return _bad_year()
    except stats.OutOfScope:
        abort(404)
    except dist.NoSnapshot as missing:
        message = gettext("No statistics snapshot was kept for %(year)s, so its figures are not known. A year's "
                          "figures are kept when it ends (on 1 January), from then on.", year=missing.year)
        if is_export():
            return error_page(404, message)
        return view.render_template(
            f"statistics/{page}.html", page=page, result=None, org=missing.org, year=missing.year, missing=message,
            years=_year_choices(), year_arg=missing.year, crumbs=stats.breadcrumbs(actor, missing.org), title=title)
    org = result.org
    year_arg = result.year if result.snapshot is not None else None  # this year's links stay without a year
    own_level = gettext("Own level (%(org)s)", org=org.name)
    name = f"{title}-{result.year}-{org.name}"
    if is_export():
        labels = [label for _key, label in _tables()[page]]
        return xlsx_response(name, labels, _export_rows(page, result, own_level))
    chart = _chart(page, result, own_level)
    chart.update(title=gettext("%(page)s %(year)s: %(org)s", page=title, year=result.year, org=org.name),
                 save_label=gettext("Save as image"), file_name=name)
    return view.render_template(
        f"statistics/{page}.html", page=page, result=result, org=org, year=result.year, missing=None,
        years=_year_choices(), year_arg=year_arg, columns=_tables()[page], cell=_cell,
        crumbs=stats.breadcrumbs(actor, org), own_level=own_level, chart=chart,
        links=_links(page, result) if may_list_staff() else {},
        taken_at=f"{result.snapshot.taken_at:%Y-%m-%d %H:%M}" if result.snapshot is not None else None,
        export_url=export_url(f"/statistics/{page}/export", org=request.args.get("org"), year=year_arg), title=title)


class StatisticsView(BaseView):
    route_base = "/statistics"
    default_view = "completion"
    class_permission_name = "StatisticsView"

    @expose("/completion/certificates")
    @expose("/completion/export")
    @expose("/completion")
    @has_access
    def completion(self):
        actor = current_actor()
        if request.url_rule.rule.endswith("/certificates"):
            return self._certificates(actor)
        try:
            result = stats.completion(actor, request.args.get("year"), request.args.get("org"))
        except stats.BadYear:
            return _bad_year()
        except stats.OutOfScope:
            abort(404)
        own_level = gettext("Own level (%(org)s)", org=result.org.name)
        if is_export():
            return xlsx_response(gettext("Completion %(year)s: %(org)s", year=result.year, org=result.org.name),
                                 COMPLETION_LABELS, _completion_rows(result, own_level))
        low, high = stats.year_range()
        return self.render_template(
            "statistics/completion.html", result=result, years=list(range(high, low - 1, -1)),
            crumbs=stats.breadcrumbs(actor, result.org), own_level=own_level,
            chart=stats.chart_data(result, own_level), title=_l("Completion statistics"), may_list_staff=may_list_staff(),
            export_url=export_url("/statistics/completion/export", year=result.year, org=result.org.id),
            certificates_url=export_url("/statistics/completion/certificates", year=result.year, org=result.org.id)
            if certs.may_print_batches(actor) else None)

    def _certificates(self, actor):
        """年度结业证书 of everyone the page counts as passed, as a .zip of PDFs (one per person); a batch of more
        than CERTIFICATE_INLINE goes to the task queue (导出记录), one of more than CERTIFICATE_BATCH_MAX is
        refused: the org's parts are printed one by one."""
        if not certs.may_print_batches(actor):
            abort(403)
        limit = current_app.config["CERTIFICATE_BATCH_MAX"]
        try:
            org, year, people = stats.passed_people(actor, request.args.get("year"), request.args.get("org"), limit)
        except stats.BadYear:
            return _bad_year()
        except stats.OutOfScope:
            abort(404)
        back = url_for("StatisticsView.completion", year=year, org=org.id)
        if not people:
            flash(gettext("Nobody here has passed %(year)s yet: there is no certificate to print.", year=year),
                  "warning")
            return redirect(back)
        if len(people) > limit:
            flash(gettext("More than %(n)s people passed here: print the certificates of each organisation below "
                          "separately.", n="{:,}".format(limit)), "warning")
            return redirect(back)
        inline = current_app.config["CERTIFICATE_INLINE"]
        return file_response(
            gettext("Completion certificates %(year)s: %(org)s", year=year, org=org.name), "zip", people,
            lambda dest, ids: certs.write_batch(dest, ids, year, actor), inline,
            gettext("The certificates are many: they are being made in the background. The file will wait here and "
                    "under the export records."), every=10)

    # One endpoint per page, its export at …/export: the export carries exactly the page's permission.
    @expose("/orgs/export")
    @expose("/orgs")
    @has_access
    def orgs(self):
        return _distribution(self, "orgs")

    @expose("/titles/export")
    @expose("/titles")
    @has_access
    def titles(self):
        return _distribution(self, "titles")

    @expose("/industries/export")
    @expose("/industries")
    @has_access
    def industries(self):
        return _distribution(self, "industries")

    @expose("/qualifications/export")
    @expose("/qualifications")
    @has_access
    def qualifications(self):
        return _distribution(self, "qualifications")
