"""The errors a use case raises; a module of its own so that the file store (attachments) and the transition
mechanism (base) both raise them without importing each other."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule was broken; `message` is shown to the user as is (translated)."""

    def __init__(self, message: Any, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


class TransitionNotAllowed(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class ConcurrentTransition(DomainError):
    pass
