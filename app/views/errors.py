"""The site's error answer: a page in the site's layout, with a way back and the typed text to copy (JSON for an
XHR or API client). Used by the app's error handlers and by the request filter."""
from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from flask import current_app, g, json, render_template, request
from flask_login import current_user
from markupsafe import escape

from ..extensions import appbuilder

_UNSHOWN_FIELDS = ("password", "confirm", "captcha", "csrf", "token", "id_number", "secret")
_CODE = re.compile(r"[a-z_]+")
_JSON_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               413: "too_large", 429: "rate_limited", 500: "server_error"}


def _wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    if request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _same_site_referrer() -> str | None:
    """The page the request came from, when it is a page of this site (never a link to elsewhere)."""
    referrer = request.referrer
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.scheme not in ("http", "https") or parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _posted_text() -> list[str]:
    """The text a person typed into the form that was refused, to copy into the form again. Only for a form
    posted from a page of this site (an attacker's page cannot make us show text of its choosing), never secrets,
    and bounded."""
    if request.method != "POST" or _same_site_referrer() is None:
        return []
    try:
        form = request.form
    except Exception:  # the body itself was refused (too large, malformed)
        return []
    kept = []
    for name, value in form.items(multi=True):
        lowered = name.lower()
        if any(word in lowered for word in _UNSHOWN_FIELDS) or not value.strip():
            continue
        if lowered in ("action", "next", "ids") or value.strip().isdigit() or _CODE.fullmatch(value.strip()):
            continue  # buttons, picked rows, chosen options ("professional", "resident_id", "y"): nothing typed
        kept.append(value.strip()[:2000])
        if len(kept) == 30:
            break
    return kept


def error_page(code: int, message: str, *, hint: str | None = None, keep_input: bool = False):
    """Every error answer: a page in the site's layout (JSON for XHR / API clients). It must render whatever part
    of the request handling ran before the refusal: CSRFProtect and the request size check refuse a request in
    a before_request hook that runs before FAB's, so `g.user` may not be set yet."""
    if _wants_json():
        body = {"error": " ".join(part for part in (message, hint) if part), "code": _JSON_CODES.get(code, str(code))}
        return current_app.response_class(json.dumps(body, ensure_ascii=False), mimetype="application/json"), code
    if "user" not in g:
        g.user = current_user
    back = _same_site_referrer()
    try:
        return render_template("error.html", code=code, message=message, hint=hint, back_url=back,
                               kept=_posted_text() if keep_input else [], appbuilder=appbuilder), code
    except Exception:  # the page must not fail in its turn (e.g. the database is gone): plain text then
        logging.getLogger(__name__).exception("error page failed to render")
        body = (f'<!doctype html><html lang="zh"><meta charset="utf-8"><title>{code}</title>'
                f"<h1>{code}</h1><p>{escape(message)}</p>"
                + (f"<p>{escape(hint)}</p>" if hint else "") + f'<p><a href="{escape(back or "/")}">&larr;</a></p>')
        return body, code, {"Content-Type": "text/html; charset=utf-8"}
