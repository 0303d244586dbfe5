"""Append-only audit trail (X1): logins, registrations, reviews, role and password changes, sensitive reads."""
from __future__ import annotations

import datetime

from flask_appbuilder import Model
from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column


class AuditLog(Model):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(100))  # masked ID + name, never the full number
    role: Mapped[str | None] = mapped_column(String(20))
    # X9: a deputy's act records the delegator it acted for ("A 代 B"): their account and display (masked ID + name)
    on_behalf_of_id: Mapped[int | None] = mapped_column(Integer)
    on_behalf_of: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(30))
    object_id: Mapped[int | None] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    result: Mapped[str] = mapped_column(String(10), nullable=False, default="ok")
    comment: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(45))

    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_object", "object_type", "object_id"),
        Index("ix_audit_actor", "actor_id"),
    )

    def __repr__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action}"
