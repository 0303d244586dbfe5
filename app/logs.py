"""Logs: one JSON object per line in production, plain text in development and tests; a request id on every
request; no full ID number (证件号) in any line.

- LOG_FORMAT: "json" or "text"; empty = "json" when APP_ENV is production (and not TESTING), else "text".
- Every request gets an id: the incoming X-Request-ID header when it is well-formed (the proxy's, see
  deploy/nginx.conf), else a new one; it is sent back as the X-Request-ID response header and put on every line
  logged while the request runs.
- The access line (logger "app.access", one per request): method, path, status, duration_ms, user_id when logged
  in. On by default with JSON logs (ACCESS_LOG to force it on or off); development keeps the server's own line.
  /healthz and /readyz have one only when they fail.
- `MaskIdNumbers`, a logging filter on every handler this module installs (and on gunicorn's, gunicorn.conf.py),
  masks 15- and 18-character Chinese ID numbers in the message, its arguments, the exception text and the access
  fields, keeping the first 6 and last 4 characters (validators.mask_id_number, the rule of every page).
"""
from __future__ import annotations

import datetime
import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_request_context, request
from sqlalchemy import inspect

from .validators import mask_id_number

ACCESS_LOGGER = "app.access"
# The load balancer's probes, asked every few seconds: their access line only when they fail.
QUIET_ENDPOINTS = frozenset({"health.healthz", "health.readyz"})
# A request id we accept from outside: short, printable, nothing a log reader could mistake for structure.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
# 18 characters (17 digits and a digit or X) or 15 digits, not part of a longer run of digits.
_ID_NUMBER = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9Xx])")
# Fields of a record put there by this module (the access line); masked like the message.
_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id")


def mask_id_numbers(text: str) -> str:
    return _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)


class MaskIdNumbers(logging.Filter):
    """Masks ID numbers in a record before any handler formats it. The message is formatted with its arguments
    first (an argument of any type, a model whose repr shows a number, a database error listing its parameters),
    then masked; the exception text likewise."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_id_numbers_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call: keep what there is, masked piece by piece
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = mask_id_numbers(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_id_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_id_numbers(record.stack_info)
        path = getattr(record, "path", None)  # the access line's request path
        if isinstance(path, str):
            record.path = mask_id_numbers(path)
        record._id_numbers_masked = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id (inside a request),
    the access fields when present, user_id when known, exc_info as text."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_id_numbers(record.getMessage()),  # masked again: a handler without the filter
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = mask_id_numbers(value) if isinstance(value, str) else value
        if "request_id" not in entry:
            context = _request_context()
            entry.update({k: v for k, v in context.items() if k not in entry})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = mask_id_numbers(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The plain format (development, tests), with the request id when there is one."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or _request_context().get("request_id")
        record.request_tag = f" [{request_id}]" if request_id else ""
        return mask_id_numbers(super().format(record))


def _request_context() -> dict:
    """The current request's id and user, read from what this module stored (never a database query)."""
    if not has_request_context():
        return {}
    context = {}
    request_id = g.get("request_id")
    if request_id:
        context["request_id"] = request_id
    user_id = _user_id()
    if user_id is not None:
        context["user_id"] = user_id
    return context


def _user_id():
    """The logged-in account's id if Flask-Login has loaded it in this request (its identity key: no refresh of an
    expired instance, no query)."""
    user = g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        identity = inspect(user).identity
        return identity[0] if identity else None
    except Exception:  # noqa: BLE001 - not a mapped object
        return user.__dict__.get("id")


def log_format(app: Flask) -> str:
    chosen = str(app.config.get("LOG_FORMAT") or "").strip().lower()
    if chosen in ("json", "text"):
        return chosen
    production = str(app.config.get("APP_ENV") or "production").strip().lower() == "production"
    return "json" if production and app.config.get("TESTING") is not True else "text"


def formatter_for(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


def configure_logging(app: Flask) -> None:
    """The root logger's level and handler: ours on stderr when there is none (or only ours), else the handlers
    already there (gunicorn's, see gunicorn.conf.py) get our format (JSON mode) and the masking filter."""
    kind = log_format(app)
    root = logging.getLogger()
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler._jxjy = True
        root.addHandler(handler)
    for handler in root.handlers:
        if getattr(handler, "_jxjy", False) or kind == "json":
            handler.setFormatter(formatter_for(kind))
        if not any(isinstance(f, MaskIdNumbers) for f in handler.filters):
            handler.addFilter(MaskIdNumbers())
    app.config["LOG_FORMAT"] = kind


def _request_id() -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def init_app(app: Flask) -> None:
    """The request id and the access line. The hook goes first of all before_request hooks (create_app calls this
    last), so a request answered early (/healthz) has its id and its line too."""
    access = logging.getLogger(ACCESS_LOGGER)

    def _start():
        g.pop("_login_user", None)  # an outer app context (CLI, tests) keeps g: no user of an earlier request
        g.request_id = _request_id()
        g.request_started = time.perf_counter()

    app.before_request_funcs.setdefault(None, []).insert(0, _start)

    @app.after_request
    def _finish(response):
        request_id = g.get("request_id") or _request_id()
        response.headers["X-Request-ID"] = request_id
        enabled = app.config.get("ACCESS_LOG")
        if enabled is None:
            enabled = app.config.get("LOG_FORMAT") == "json"
        if enabled and not (request.endpoint in QUIET_ENDPOINTS and response.status_code < 400):
            started = g.get("request_started")
            duration = round((time.perf_counter() - started) * 1000, 1) if started else None
            fields = {"request_id": request_id, "method": request.method, "path": request.path,
                      "status": response.status_code, "duration_ms": duration, "user_id": _user_id()}
            access.info("%s %s %s %sms", request.method, request.path, response.status_code, duration, extra=fields)
        return response
