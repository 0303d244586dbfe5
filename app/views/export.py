"""X7: a list's .xlsx file as a download (the sheet itself: app/workflows/export.py)."""
from __future__ import annotations

import tempfile
from typing import Iterator
from urllib.parse import urlencode

from flask import request, send_file

from .. import clock
from ..workflows import export

MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(title: str, labels: list, rows: Iterator):
    """The rows as an .xlsx download named after the list and today. The workbook is written to a temporary file
    (never built in memory), removed when the response closes; the Chinese file name goes out as RFC 5987
    `filename*` (with an ASCII fallback `filename`)."""
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


def is_export() -> bool:
    """Whether the request came by a page's export URL (`…/export` or `…/export/`, exposed on the page's own
    endpoint so that it carries exactly the page's permission)."""
    return request.url_rule is not None and request.url_rule.rule.rstrip("/").endswith("/export")


def export_url(path: str, **args) -> str:
    """The address of an export: `path` under the app's root with the filters that are set."""
    query = urlencode({k: v for k, v in args.items() if v not in (None, "")})
    return f"{request.script_root}{path}" + (f"?{query}" if query else "")
