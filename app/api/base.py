"""What every endpoint of the REST API shares: the token or session identity of a request, CSRF for cookie
sessions, the JSON error body, the OpenAPI description of each operation.

Built on Flask-AppBuilder's own `BaseApi` (its blueprint under /api/v1, its `expose`, its path helper for the
OpenAPI document) with marshmallow schemas and apispec; FAB's `@protect` is not used, because its JWT identity is
FAB's user without our active membership (the role and org a person acts in). `authenticated` does that part."""
from __future__ import annotations

import functools
from types import SimpleNamespace

from babel import Locale
from flask import current_app, g, json, make_response, request
from flask_appbuilder.api import BaseApi
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from marshmallow import INCLUDE, Schema, ValidationError, fields

from ..extensions import csrf, db
from ..views.util import db_id
from ..workflows import api_tokens, deputies
from ..workflows.errors import ConcurrentTransition, DomainError, PermissionDenied, TransitionNotAllowed
from . import field_errors

API_PREFIX = "/api/v1"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNAUTHORIZED = _l("Please log in: the access token is missing, expired or revoked.")
FORBIDDEN = _l("You do not have permission to do this.")
NOT_FOUND = _l("Record not found.")
INVALID = _l("The request could not be understood.")
NOT_ACTING = _l("You cannot act on behalf of anyone through this delegation: it is not yours or not in force.")
ON_BEHALF_HEADER = "X-On-Behalf-Of"  # a delegation's id: the deputy acts for its delegator (GET /api/v1/delegations)


class ApiError(Exception):
    """An error answer: HTTP status, a translated message, a short stable code, the fields at fault."""

    def __init__(self, status: int, message, code: str, errors: dict | None = None):
        super().__init__(str(message))
        self.status, self.message, self.code, self.errors = status, message, code, errors


def not_found() -> ApiError:
    return ApiError(404, NOT_FOUND, "not_found")


class ErrorSchema(Schema):
    class Meta:
        unknown = INCLUDE  # an error may say more (the roles to choose from)

    error = fields.String(required=True, metadata={"description": "The reason, in the request's language (Chinese "
                                                                  "by default)", "example": "账号或密码错误"})
    code = fields.String(required=True, metadata={"example": "login_failed"})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "Messages per request field"})


ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 429: "rate_limited", 500: "server_error"}
ERROR_TEXT = {400: "Bad request or refused input", 401: "Not logged in, or the token is expired or revoked",
              403: "Not allowed to this role, or to this record", 404: "No such record (or not one of yours)",
              409: "The item's state does not allow it", 413: "Upload too large", 429: "Too many requests"}


def before_api_request():
    """App-level hook for every /api/ request, after the request's identity is reset: the language (Chinese
    unless Accept-Language asks for English; never stored in a session), CSRF when a session cookie comes with a
    state-changing request, and the identity of a bearer token."""
    if not request.path.startswith("/api/"):
        return None
    best = request.accept_languages.best_match(["zh", "en"]) if request.headers.get("Accept-Language") else None
    g._flask_babel = SimpleNamespace(babel_locale=Locale.parse(best or current_app.config["BABEL_DEFAULT_LOCALE"]))
    if request.method not in SAFE_METHODS and current_app.config.get("SESSION_COOKIE_NAME", "session") in \
            request.cookies:
        csrf.protect()  # a cookie is ambient authority: a cross-site form could send it (CSRFError -> 400)
    g.api_delegation_refused = False
    header = request.headers.get("Authorization")
    if header is None:
        return None
    g.api_token = True
    scheme, _, token = header.partition(" ")
    membership = api_tokens.membership_of_access_token(token.strip()) if scheme.lower() == "bearer" else None
    if membership is None:
        g.api_token_refused = True
        return None
    g._login_user = membership.user
    g.user = membership.user
    g.membership = membership
    g.delegation = None
    on_behalf = request.headers.get(ON_BEHALF_HEADER)
    if on_behalf is not None:  # X9: a deputy acts for the delegator in this request (as the web's switch does)
        item = deputies.acting_by_id(membership, db_id(on_behalf))
        if item is None:
            g.api_delegation_refused = True
        else:
            g.delegation = item
    return None


def reply(status: int, data: dict | list):
    """A JSON answer (an object or an array)."""
    response = make_response(json.dumps(data, ensure_ascii=False), status)
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response


def error_response(exc: ApiError):
    body = {"error": str(exc.message), "code": exc.code}
    if exc.errors:
        body["errors"] = exc.errors
    return reply(exc.status, body)


def endpoint(*, auth: bool = True):
    """Wrap an API handler: identity required (unless `auth=False`), domain errors and ApiError as JSON."""

    def decorator(func):
        @functools.wraps(func)
        def wrapper(self, *args, **kwargs):
            try:
                if auth and (g.get("api_token_refused") or not current_user.is_authenticated
                             or g.get("membership") is None):
                    raise ApiError(401, UNAUTHORIZED, "unauthorized")
                if g.get("api_delegation_refused"):
                    raise ApiError(403, NOT_ACTING, "forbidden")
                return func(self, *args, **kwargs)
            except ApiError as exc:
                db.session.rollback()
                return error_response(exc)
            except PermissionDenied as exc:
                db.session.rollback()
                return error_response(ApiError(403, exc.message, "forbidden"))
            except (TransitionNotAllowed, ConcurrentTransition) as exc:
                db.session.rollback()
                return error_response(ApiError(409, exc.message, "conflict"))
            except DomainError as exc:
                db.session.rollback()
                return error_response(ApiError(400, exc.message, "invalid",
                                               {exc.field: [str(exc.message)]} if exc.field else None))

        wrapper._api_auth = auth
        return wrapper

    return decorator


def doc(summary: str, *, response=None, status: int = 200, body=None, multipart: dict | None = None,
        query: list[dict] | None = None, errors=(400, 401, 403, 404), example=None, files: tuple = (),
        description: str | None = None):
    """The OpenAPI operation of a handler (read by app.api.spec): schemas are marshmallow classes; `files` names the
    media types of a file answer (a PDF, an evidence file)."""

    def decorator(func):
        func._api_doc = dict(summary=summary, response=response, status=status, body=body, multipart=multipart,
                             query=query or [], errors=errors, example=example, files=files, description=description)
        return func

    return decorator


def load(schema_class: type[Schema]) -> dict:
    """The JSON body checked by its schema (types, lengths, choices); refusals per field in the error body."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, _l("Send a JSON object in the request body."), "bad_request")
    try:
        return schema_class().load(data)
    except ValidationError as exc:
        raise ApiError(400, INVALID, "invalid", field_errors.per_field(exc.normalized_messages()))


def require_view(view_name: str, permission: str = "can_index") -> None:
    """The web page's own permission (role permissions and an org-defined role's modules): the API grants
    nothing the page would not."""
    if not current_app.appbuilder.sm.has_access(permission, view_name):
        raise ApiError(403, FORBIDDEN, "forbidden")


class ApiBase(BaseApi):
    """Our API views: version v1, under /api/v1/<resource_name>; CSRF is checked by `before_api_request` for
    cookie sessions only (a bearer token is not ambient), so FAB's blanket exemption of the blueprint stays."""

    version = "v1"
    csrf_exempt = True
    allow_browser_login = True
