"""Small helpers shared by views."""
from __future__ import annotations

import os
import unicodedata
from contextlib import contextmanager
from urllib.parse import quote, urlparse

from flask import abort, current_app, flash, request, send_file
from flask_babel import gettext

from ..extensions import limiter
from ..security import current_actor
from ..workflows.base import DomainError, PermissionDenied
from .forms import DecisionForm

MAX_DB_ID = 2 ** 31 - 1  # the largest value of an INTEGER column: larger "ids" name nothing


def N_(msgid: str) -> str:
    """Mark a msgid for extraction where it is translated later (`flask translate update` knows N_)."""
    return msgid


def db_id(value) -> int | None:
    """A record id from a form or query string: digits only and within an integer column, else None."""
    value = value.strip() if isinstance(value, str) else value
    if isinstance(value, int):
        return value if 0 < value <= MAX_DB_ID else None
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_DB_ID else None


def safe_next(url: str | None) -> str | None:
    """Only same-site relative paths are followed after login."""
    if not url:
        return None
    parts = urlparse(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return url


def flash_form_errors(form, exc) -> None:
    """Show a DomainError next to its field when the form has it, else as a flash message."""
    field = getattr(form, exc.field, None) if getattr(exc, "field", None) else None
    if field is not None and hasattr(field, "errors"):
        errors = list(field.errors or [])
        errors.append(str(exc.message))
        field.errors = errors
    flash(str(exc.message), "danger")


@contextmanager
def denied_as(status: int):
    """A PermissionDenied raised in the block is the error page `status`: 403, or 404 where the record must not be
    known to exist. Nothing of the request is acted on."""
    try:
        yield
    except PermissionDenied:
        abort(status)


class domain_errors:
    """The one way a view shows a workflow's refusal:

        with domain_errors(form) as refused:
            flow.do_it(...)
            flash(gettext("Done."), "success")
            return redirect(...)
        return self.render_template(...)   # reached when the workflow refused

    A DomainError raised in the block is flashed (and set on the form's field it names, when a form is given) and
    the code after the block runs; `refused.error` holds it (None when the block ran through). With `denied`, a
    PermissionDenied is that error page instead (403, or 404 where the record must not be known to exist)."""

    def __init__(self, form=None, *, denied: int | None = None, quiet: bool = False):
        self.form = form
        self.denied = denied
        self.quiet = quiet  # a script's call (JSON): the caller answers with `error`; nothing is flashed
        self.error: DomainError | None = None

    def __enter__(self) -> "domain_errors":
        return self

    def __exit__(self, kind, exc, traceback) -> bool:
        if not isinstance(exc, DomainError):
            return False
        if self.denied and isinstance(exc, PermissionDenied):
            abort(self.denied)
        self.error = exc
        if self.quiet:
            return True
        if self.form is not None:
            flash_form_errors(self.form, exc)
        else:
            flash(str(exc.message), "danger")
        return True


def may(machine, item, action: str, actor) -> bool:
    """Whether the workflow would let `actor` take `action` on `item` now: what a page offers is asked of the
    machine's transition table, never decided again in a template."""
    try:
        machine.check(item, action, actor)
    except DomainError:
        return False
    return True


# The stores of protected files and the internal location of the proxy that serves each (deploy/nginx.conf).
ACCEL_PREFIXES = {"UPLOAD_FOLDER": "UPLOAD_ACCEL_PREFIX", "LEARNING_FOLDER": "LEARNING_ACCEL_PREFIX"}


def send_protected(path: str, store: str, mimetype: str, *, download_name: str | None = None,
                   as_attachment: bool = False, cache: str = "private, no-store"):
    """A file of a store (UPLOAD_FOLDER, LEARNING_FOLDER) to someone the view's workflow allowed. With SENDFILE
    "nginx" the proxy sends it (X-Accel-Redirect to the store's internal location, ranges included) and no web
    worker is held for the transfer; "apache": X-Sendfile; empty (the embedded server): Flask streams it with range
    requests. Never sniffed into another type."""
    if not path or not os.path.isfile(path):
        abort(404)
    config = current_app.config
    mode = (config.get("SENDFILE") or config.get("LEARNING_SENDFILE") or "").strip().lower()
    if mode in ("nginx", "x-accel", "x-accel-redirect", "apache", "x-sendfile"):
        response = current_app.response_class(mimetype=mimetype)
        if mode.startswith(("apache", "x-sendfile")):
            response.headers["X-Sendfile"] = os.path.abspath(path)
        else:
            relative = os.path.relpath(path, config[store]).replace(os.sep, "/")
            if relative.startswith("../"):
                abort(404)
            response.headers["X-Accel-Redirect"] = f"{config[ACCEL_PREFIXES[store]].rstrip('/')}/{quote(relative)}"
        if download_name or as_attachment:
            _disposition(response, "attachment" if as_attachment else "inline", download_name)
    else:
        response = send_file(path, mimetype=mimetype, as_attachment=as_attachment, download_name=download_name,
                             conditional=True, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = cache
    return response


def _disposition(response, kind: str, name: str | None) -> None:
    """Content-Disposition as Flask's send_file writes it (an ASCII name, and the UTF-8 one for Chinese names)."""
    if not name:
        response.headers["Content-Disposition"] = kind
        return
    try:
        name.encode("ascii")
        response.headers.set("Content-Disposition", kind, filename=name)
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        response.headers.set("Content-Disposition", kind, filename=simple,
                             **{"filename*": f"UTF-8''{quote(name, safe='!#$&+^`|~')}"})


def send_evidence(row, path: str, *, inline: bool = False):
    """An uploaded evidence file (UPLOAD_FOLDER), to someone the workflow allowed: as an attachment unless `inline`
    (an image shown on a page), never cached by a shared cache."""
    return send_protected(path, "UPLOAD_FOLDER", row.content_type, download_name=row.filename,
                          as_attachment=not inline)


def limit(config_key: str, methods: list[str] | None = None):
    """Rate-limit a view method with a limit read from config at request time (Flask-Limiter, shared storage)."""

    def decorator(func):
        return limiter.limit(lambda: current_app.config[config_key], methods=methods)(func)

    return decorator


def arg_choice(name: str, choices, default: str = "") -> str:
    """A query-string argument that must be one of the (value, label) `choices` (a tab, a filter): anything else
    is the default."""
    value = request.args.get(name) or default
    return value if value in {v for v, _ in choices} else default


def keyset_page(fetch, size: int = 20) -> tuple[list, int | None]:
    """One page of a queue kept newest first: `fetch(after_id=, limit=)` is asked for one row more than the page
    holds, to know whether a next page exists; returns the page and the id the next page starts after."""
    rows = fetch(after_id=db_id(request.args.get("after")), limit=size + 1)
    return rows[:size], (rows[size - 1].id if len(rows) > size else None)


def batch_decision(decide_many, *, none_selected: str, handled: str, failed_one: str) -> None:
    """The POST of a review queue: validate the decision form, decide the ticked ids, flash the outcome.

    The messages are msgids with %(n)s (handled) and %(id)s / %(msg)s (failed_one)."""
    form = DecisionForm()
    ids = [i for i in map(db_id, request.form.getlist("ids")) if i is not None][:200]
    if not form.validate_on_submit():
        # a refused reason says why (e.g. a control character, too long)
        why = [f"{form.reason.label.text}: {' '.join(form.reason.errors)}"] if form.reason.errors else []
        flash(" ".join([gettext("Invalid request."), *why]), "danger")
        return
    if not ids:
        flash(gettext(none_selected), "warning")
        return
    with domain_errors() as refused:
        done, failed = decide_many(ids, form.action.data, current_actor(), form.reason.data)
    if refused.error:
        return
    if done:
        flash(gettext(handled, n=done), "success")
    for item_id, message in failed:
        flash(gettext(failed_one, id=item_id, msg=message), "danger")
