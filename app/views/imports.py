"""批量导入 (U9 / D6 / H5): template, upload, preview, import, failed rows, 导入记录. The work is in
app/workflows/staff_import.py; big files go through the task queue and the batch page polls `status`."""
from __future__ import annotations

import io

from flask import abort, flash, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import get_locale, gettext, lazy_gettext as _l

from .. import clock, tasks
from ..models import ImportMode
from ..security import current_actor, current_membership
from ..workflows import staff_import as flow
from .export import MIME
from .forms import ButtonForm
from .util import db_id, denied_as, domain_errors


def _download(content: bytes, name: str):
    return send_file(io.BytesIO(content), mimetype=MIME, as_attachment=True, download_name=name, max_age=0)


class ImportView(BaseView):
    route_base = "/import"
    default_view = "index"
    class_permission_name = "ImportView"

    def _batch(self, batch_id):
        with denied_as(403):
            batch = flow.get_batch(current_actor(), db_id(batch_id))
        if batch is None:
            abort(404)
        return batch

    @expose("/")
    @has_access
    def index(self):
        with denied_as(403):
            records = flow.batches(current_actor())
        return self.render_template("imports/index.html", records=records, form=ButtonForm(),
                                    modes=list(ImportMode), max_rows=flow.max_rows(),
                                    title=_l("Batch import"))

    @expose("/template.xlsx")
    @has_access
    def template(self):
        return _download(flow.template_workbook(), f"{gettext('staff-import-template')}.xlsx")

    @expose("/upload", methods=["POST"])
    @has_access
    def upload(self):
        form = ButtonForm()
        if not form.validate_on_submit():
            flash(gettext("The form has expired. Please try again."), "danger")
            return redirect(url_for("ImportView.index"))
        upload = request.files.get("file")
        with domain_errors(denied=403):
            batch = flow.start(current_actor(), current_membership().id, upload.filename if upload else "",
                               upload.read() if upload else b"", request.form.get("mode", ""), str(get_locale()))
            return redirect(url_for("ImportView.batch", batch_id=batch.id))
        return redirect(url_for("ImportView.index"))

    @expose("/batch/<batch_id>")
    @has_access
    def batch(self, batch_id):
        batch = self._batch(batch_id)
        job = flow.watch(batch, current_actor())
        failures = flow.preview(batch)  # the first rows only; all of them are in the failed-rows file
        return self.render_template("imports/batch.html", batch=batch, job=job,
                                    failures=failures, more=max(0, batch.failed_rows - len(failures)),
                                    columns=flow.COLUMNS, form=ButtonForm(), modes=list(ImportMode),
                                    tasks=tasks, title=_l("Batch import"))

    @expose("/batch/<batch_id>/status")
    @has_access
    def status(self, batch_id):
        """The batch page's poll: state and progress (JSON)."""
        batch = self._batch(batch_id)
        job = flow.watch(batch, current_actor())
        return jsonify(state=batch.state, label=str(batch.state_label), running=batch.running,
                       done=job.done if job else 0, total=job.total if job else batch.total_rows,
                       percent=job.percent if job else 100, queue=job.status if job else None,
                       no_worker=bool(job and job.status == tasks.NO_WORKER))

    @expose("/batch/<batch_id>/confirm", methods=["POST"])
    @has_access
    def confirm(self, batch_id):
        batch = self._batch(batch_id)
        form = ButtonForm()
        if not form.validate_on_submit():
            flash(gettext("The form has expired. Please try again."), "danger")
        else:
            with domain_errors(denied=403):
                flow.confirm(current_actor(), batch.id, request.form.get("mode"))
        return redirect(url_for("ImportView.batch", batch_id=batch.id))

    @expose("/batch/<batch_id>/failed.xlsx")
    @has_access
    def failed(self, batch_id):
        batch = self._batch(batch_id)
        return _download(flow.failed_rows_workbook(batch),
                         f"{gettext('failed-rows')}-{batch.id}-{clock.today():%Y%m%d}.xlsx")
