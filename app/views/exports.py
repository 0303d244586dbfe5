"""导出记录 (X7 through the task queue): the person's big exports, each export's page with its progress, and the
file. The work is in app/workflows/exports.py; app/views/export.py sends a big export here."""
from __future__ import annotations

from flask import abort, current_app, jsonify
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l

from .. import tasks
from ..security import current_membership
from ..workflows import exports as flow
from .export import MIMES
from .util import db_id, send_protected


class ExportView(BaseView):
    route_base = "/exports"
    default_view = "index"
    class_permission_name = "ExportView"

    def _item(self, export_id):
        item = flow.get(current_membership().id, db_id(export_id))
        if item is None:
            abort(404)
        return item

    @expose("/")
    @has_access
    def index(self):
        records = flow.records(current_membership().id)
        for item in records:
            flow.watch(item)
        return self.render_template("exports/index.html", records=records, keep_hours=flow.keep_hours(),
                                    inline_rows=flow.inline_rows(),
                                    inline_certificates=current_app.config["CERTIFICATE_INLINE"], title=_l("Export records"))

    @expose("/<export_id>")
    @has_access
    def show(self, export_id):
        item = self._item(export_id)
        job = flow.watch(item)
        return self.render_template("exports/show.html", item=item, job=job, tasks=tasks,
                                    available=flow.file_path(item) is not None, keep_hours=flow.keep_hours(),
                                    title=_l("Export records"))

    @expose("/<export_id>/status")
    @has_access
    def status(self, export_id):
        """The export page's poll: state and rows written so far (JSON)."""
        item = self._item(export_id)
        job = flow.watch(item)
        return jsonify(state=item.state, label=str(item.state_label), running=item.running,
                       done=job.done if job else item.rows, percent=job.percent if job else 100,
                       queue=job.status if job else None, no_worker=bool(job and job.status == tasks.NO_WORKER))

    @expose("/<export_id>/file")
    @has_access
    def download(self, export_id):
        item = self._item(export_id)
        return send_protected(flow.file_path(item), "UPLOAD_FOLDER", MIMES[item.kind], download_name=item.file_name,
                              as_attachment=True)
