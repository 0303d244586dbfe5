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
MIMES = {"xlsx": MIME, "zip": "application/zip"}


def xlsx_response(title: str, labels: list, rows: Iterator):
    """The rows as an .xlsx download named after the list and today (the sheet: app/workflows/export.py)."""
    inline = exports.inline_rows()
    queued = gettext("The list has more than %(n)s rows: it is being written in the background. The file will wait "
                     "here and under the export records.", n="{:,}".format(inline))
    return file_response(title, "xlsx", rows, lambda dest, items: export.write(dest, title, labels, items), inline,
                         queued)


def file_response(title: str, suffix: str, items: Iterator, write, inline: int, queued_message: str,
                  every: int = exports.PROGRESS_EVERY):
    """A file made of `items` by `write(dest, items)` (which returns how many it wrote), as a download named after
    the title and today. The file is written to a temporary file (never built in memory), removed when the response
    closes; the Chinese file name goes out as RFC 5987 `filename*` (with an ASCII fallback `filename`).

    Every export passes here, so this is where a big one leaves the request: past `inline` items (read ahead, one
    more than the limit) the export is queued and the person sent to its page; in the worker's replay of the same
    address the file goes to the store."""
    name = f"{title}-{clock.today():%Y%m%d}.{suffix}"
    if exports.replaying():
        exports.write_replayed(name, items, write, every)
        return "", 204
    if exports.queued():
        items = iter(items)
        head = list(itertools.islice(items, inline + 1))
        if len(head) > inline and tasks.reachable():  # (the queue away: written here, as before)
            getattr(items, "close", lambda: None)()  # the rows' reader (a server-side cursor) ends before the commit
            item = exports.start(current_actor(), current_membership().id, session.get("auth_at") or 0,
                                 str(get_locale() or "zh"), title, request.full_path, kind=suffix)
            flash(queued_message, "info")
            return redirect(url_for("ExportView.show", export_id=item.id))
        items = itertools.chain(head, items)
    spool = tempfile.TemporaryFile(suffix=f".{suffix}")
    try:
        write(spool, items)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    response = send_file(spool, mimetype=MIMES[suffix], as_attachment=True, download_name=name, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


def is_export() -> bool:
    """Whether the request came by a page's export URL (`…/export` or `…/export/`, exposed on the page's own
    endpoint so that it carries exactly the page's permission)."""
    return request.url_rule is not None and request.url_rule.rule.rstrip("/").endswith("/export")


def export_url(path: str, **args) -> str:
    """The address of an export: `path` under the app's root with the filters that are set."""
    query = urlencode({k: v for k, v in args.items() if v not in (None, "")})
    return f"{request.script_root}{path}" + (f"?{query}" if query else "")
