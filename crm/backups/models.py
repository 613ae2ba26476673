"""The backup schedule (one row, absent until an administrator first saves it) and the log of backups taken."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class VerifyStatus(StrEnum):
    NONE = ""
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


class BackupSetting(Base):
    """The schedule: a daily backup at `hour` (the zone's local time), the last `keep` successful ones kept."""

    __tablename__ = "backup_setting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one row
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    hour: Mapped[int] = mapped_column(Integer, default=2)
    keep: Mapped[int] = mapped_column(Integer, default=7)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class BackupRun(Base):
    """One backup: scheduled or started by an administrator. `slot` is 1 while it runs and NULL after: unique, so
    two schedulers, or a double click, never run two backups at once (NULLs do not collide)."""

    __tablename__ = "backup_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # scheduled | manual
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.RUNNING, index=True)
    slot: Mapped[int | None] = mapped_column(Integer, unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runner: Mapped[str] = mapped_column(String(120), default="")  # host:pid of the process running it
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id], lazy="raise")
    file_name: Mapped[str] = mapped_column(String(255), default="")  # in the backup directory
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), default="")  # of the archive file
    row_count: Mapped[int | None] = mapped_column(BigInteger)  # rows in all tables, as the manifest counts them
    file_count: Mapped[int | None] = mapped_column(Integer)
    missing_count: Mapped[int | None] = mapped_column(Integer)  # files rows name that were not on the disk
    error: Mapped[str] = mapped_column(Text, default="")  # crm/backups/messages.py
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its file deleted (keep the last N)
    verify_status: Mapped[str] = mapped_column(String(20), default=VerifyStatus.NONE)
    verify_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verify_error: Mapped[str] = mapped_column(Text, default="")  # crm/backups/messages.py
