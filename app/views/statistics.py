"""Statistics pages (U10, D6, H6): completion per org one level below, with drill-down inside the actor's
subtree, a table and a bar chart (ECharts, served by the platform itself: no CDN)."""
from __future__ import annotations

import os

from flask import Blueprint, abort, request
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l

from ..security import current_actor
from ..workflows import statistics as stats
from .errors import error_page

# The chart library from the npm package the setup installs (package-lock.json pins its version).
ECHARTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "node_modules", "echarts", "dist")


def vendor_blueprint() -> Blueprint:
    """/static/vendor/echarts/echarts.min.js: a static file like app/static's (endpoint "vendor.static")."""
    return Blueprint("vendor", __name__, static_folder=ECHARTS_DIR, static_url_path="/static/vendor/echarts")


class StatisticsView(BaseView):
    route_base = "/statistics"
    default_view = "completion"
    class_permission_name = "StatisticsView"

    @expose("/completion")
    @has_access
    def completion(self):
        actor = current_actor()
        try:
            result = stats.completion(actor, request.args.get("year"), request.args.get("org"))
        except stats.BadYear:
            low, high = stats.year_range()
            return error_page(400, gettext("Please choose a year from %(low)s to %(high)s.", low=low, high=high))
        except stats.OutOfScope:
            abort(404)
        own_level = gettext("Own level (%(org)s)", org=result.org.name)
        low, high = stats.year_range()
        return self.render_template(
            "statistics/completion.html", result=result, years=list(range(high, low - 1, -1)),
            crumbs=stats.breadcrumbs(actor, result.org), own_level=own_level,
            chart=stats.chart_data(result, own_level), title=_l("Completion statistics"))
