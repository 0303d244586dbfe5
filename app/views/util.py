"""Small helpers shared by views."""
from __future__ import annotations

from urllib.parse import urlparse

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
