from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ARCHIVE = "archive"
    RESTORE = "restore"
    DELETE = "delete"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"  # tried and failed: a wrong password, a wrong second-factor code
    REFUSED = "refused"  # not allowed: a permission refusal (403), a throttled sign-in


class AuditEntry(Base):
    """Append-only: nothing in the application updates or deletes these rows."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_entity", "entity_type", "entity_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)  # None for an event with no record (a failed sign-in)
    entity_label: Mapped[str] = mapped_column(String(200), default="")
    entity_version: Mapped[int] = mapped_column(Integer, default=1)
    # The organization a change belongs to, so an organization's timeline finds its contacts' changes too.
    organization_id: Mapped[int | None] = mapped_column(Integer, index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(20), default=AuditOutcome.SUCCESS, server_default="success")
    client_address: Mapped[str] = mapped_column(String(64), default="", server_default="")
    channel: Mapped[str] = mapped_column(String(10), default="web", server_default="web")  # web, cli, scheduler, api

    actor: Mapped[User | None] = relationship(lazy="joined")
