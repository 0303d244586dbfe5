"""Refresh tokens of the REST API (issue 12): kept as a SHA-256 hash only, revocable one by one; every token of an
account also dies with the account's `sessions_valid_after` stamp, like a web session."""
from __future__ import annotations

import datetime

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column


class ApiRefreshToken(Model):
    __tablename__ = "api_refresh_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), nullable=False)
    auth_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)  # when the password was given
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    def __repr__(self) -> str:
        return f"<ApiRefreshToken {self.id} of account {self.user_id}>"
