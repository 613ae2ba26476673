from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ARCHIVE = "archive"
    RESTORE = "restore"
    DELETE = "delete"
    # Security and access events (written by crm.audit.service.record_event)
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_THROTTLED = "sign_in_throttled"
    SIGN_OUT = "sign_out"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    SESSION_END = "session_end"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an event name)
    SECOND_FACTOR_ENROLLED = "second_factor_enrolled"
    SECOND_FACTOR_DISABLED = "second_factor_disabled"
    SECOND_FACTOR_FAILED = "second_factor_failed"
    SECOND_FACTOR_RESET = "second_factor_reset"
    RECOVERY_CODE_USED = "recovery_code_used"
    PERMISSION_REFUSED = "permission_refused"
    DOWNLOAD = "download"  # a list downloaded (CSV, .xlsx): which list, which filters, how many rows
    PDF = "pdf"  # a PDF generated or downloaded (briefing pack, report, roster)


DATA_ACTIONS = frozenset({AuditAction.CREATE, AuditAction.UPDATE, AuditAction.ARCHIVE, AuditAction.RESTORE,
                          AuditAction.DELETE})
# Events about a person's own sign-in and access: a manager reading the trail sees only their own.
SECURITY_EVENTS = frozenset(a.value for a in AuditAction if a not in DATA_ACTIONS)


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"  # tried and failed: a wrong password, a wrong second-factor code
    REFUSED = "refused"  # not allowed: a permission refusal (403), a throttled sign-in


class AuditEntry(Base):
    """Append-only: nothing in the application updates or deletes these rows, except the sealer, which fills in
    chain_seq and chain_hash once (crm/audit/chain.py), and the archiver, which moves entries past the retention
    into a file. On PostgreSQL a trigger refuses anything else (migration 20261206_c_audit_trail)."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_entity", "entity_type", "entity_id", "at"),
                      UniqueConstraint("chain_seq"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
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
    # The hash chain (crm/audit/chain.py): the entry's place in the chain and sha256(canonical fields + the previous
    # entry's hash), both set once by the sealer, in the order it seals; None until then (a few seconds).
    chain_seq: Mapped[int | None] = mapped_column(Integer)
    chain_hash: Mapped[str | None] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship(lazy="joined")


class AuditArchive(Base):
    """One archive file: the entries of the chain up to `through_seq` moved there, and the chain's hash at the cut,
    so `crm audit verify` continues from it (crm/audit/chain.py)."""

    __tablename__ = "audit_archive"

    id: Mapped[int] = mapped_column(primary_key=True)
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_seq: Mapped[int] = mapped_column(Integer)
    through_seq: Mapped[int] = mapped_column(Integer, unique=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    older_than: Mapped[datetime] = mapped_column(UTCDateTime)  # the cut-off: every archived entry is older
    file_name: Mapped[str] = mapped_column(String(200))
    file_sha256: Mapped[str] = mapped_column(String(64))
