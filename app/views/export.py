"""X7: a list's .xlsx file as a download (the sheet itself: app/workflows/export.py); a big one through the task
queue (app/workflows/exports.py, 导出记录)."""
from __future__ import annotations

import itertools
import tempfile
from typing import Iterator
from urllib.parse import urlencode

from flask import flash, redirect, request, send_file, session, url_for
from flask_babel import get_locale, gettext

from .. import clock, tasks
from ..security import current_actor, current_membership
from ..workflows import export, exports

MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(title: str, labels: list, rows: Iterator):
    """The rows as an .xlsx download named after the list and today. The workbook is written to a temporary file
    (never built in memory), removed when the response closes; the Chinese file name goes out as RFC 5987
    `filename*` (with an ASCII fallback `filename`).

    Every export passes here, so this is where a big one leaves the request: past EXPORT_INLINE_ROWS rows (read
    ahead, one more than the limit) the export is queued and the person sent to its page; in the worker's replay of
    the same address the rows go to the file store."""
    if exports.replaying():
        exports.write_replayed(title, labels, rows)
        return "", 204
    if exports.queued():
        rows = iter(rows)
        head = list(itertools.islice(rows, exports.inline_rows() + 1))
        if len(head) > exports.inline_rows() and tasks.reachable():  # (the queue away: written here, as before)
            getattr(rows, "close", lambda: None)()  # the rows' reader (a server-side cursor) ends before the commit
            return _queue(title)
        rows = itertools.chain(head, rows)
    spool = tempfile.TemporaryFile(suffix=".xlsx")
    try:
        export.write(spool, title, labels, rows)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    name = f"{title}-{clock.today():%Y%m%d}.xlsx"
    response = send_file(spool, mimetype=MIME, as_attachment=True, download_name=name, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


def _queue(title: str):
    item = exports.start(current_actor(), current_membership().id, session.get("auth_at") or 0,
                         str(get_locale() or "zh"), title, request.full_path)
    flash(gettext("The list has more than %(n)s rows: it is being written in the background. The file will wait "
                  "here and under the export records.", n="{:,}".format(exports.inline_rows())), "info")
    return redirect(url_for("ExportView.show", export_id=item.id))


def is_export() -> bool:
    """Whether the request came by a page's export URL (`…/export` or `…/export/`, exposed on the page's own
    endpoint so that it carries exactly the page's permission)."""
    return request.url_rule is not None and request.url_rule.rule.rstrip("/").endswith("/export")


def export_url(path: str, **args) -> str:
    """The address of an export: `path` under the app's root with the filters that are set."""
    query = urlencode({k: v for k, v in args.items() if v not in (None, "")})
    return f"{request.script_root}{path}" + (f"?{query}" if query else "")
