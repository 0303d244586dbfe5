"""Small helpers shared by views."""
from __future__ import annotations


def N_(msgid: str) -> str:
    """Mark a msgid for extraction where it is translated later (`flask translate update` knows N_)."""
    return msgid

from urllib.parse import urlparse

MAX_DB_ID = 2 ** 31 - 1  # the largest value of an INTEGER column: larger "ids" name nothing


def db_id(value) -> int | None:
    """A record id from a form or query string: digits only and within an integer column, else None."""
    value = value.strip() if isinstance(value, str) else value
    if isinstance(value, int):
        return value if 0 < value <= MAX_DB_ID else None
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_DB_ID else None

from flask import current_app, flash

from ..extensions import limiter


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


def limit(config_key: str, methods: list[str] | None = None):
    """Rate-limit a view method with a limit read from config at request time (Flask-Limiter, shared storage)."""

    def decorator(func):
        return limiter.limit(lambda: current_app.config[config_key], methods=methods)(func)

    return decorator


def arg_choice(name: str, choices, default: str = "") -> str:
    """A query-string argument that must be one of the (value, label) `choices` (a tab, a filter): anything else
    is the default."""
    from flask import request

    value = request.args.get(name) or default
    return value if value in {v for v, _ in choices} else default


def keyset_page(fetch, size: int = 20) -> tuple[list, int | None]:
    """One page of a queue kept newest first: `fetch(after_id=, limit=)` is asked for one row more than the page
    holds, to know whether a next page exists; returns the page and the id the next page starts after."""
    from flask import request

    rows = fetch(after_id=db_id(request.args.get("after")), limit=size + 1)
    return rows[:size], (rows[size - 1].id if len(rows) > size else None)


def batch_decision(decide_many, *, none_selected: str, handled: str, failed_one: str) -> None:
    """The POST of a review queue: validate the decision form, decide the ticked ids, flash the outcome.

    The messages are msgids with %(n)s (handled) and %(id)s / %(msg)s (failed_one)."""
    from flask import request
    from flask_babel import gettext

    from ..security import current_actor
    from ..workflows.base import DomainError
    from .forms import DecisionForm

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
    try:
        done, failed = decide_many(ids, form.action.data, current_actor(), form.reason.data)
    except DomainError as exc:
        flash(str(exc.message), "danger")
        return
    if done:
        flash(gettext(handled, n=done), "success")
    for item_id, message in failed:
        flash(gettext(failed_one, id=item_id, msg=message), "danger")
