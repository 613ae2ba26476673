"""An import's records: the saved column mapping per user and kind, the batch (one uploaded file, from its upload
through the wizard's steps to its commit and undo) and each record the batch wrote (for undo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, UTCDateTime, utcnow


class BatchStatus:
    DRAFT = "draft"  # uploaded, going through the wizard; nothing written
    COMMITTING = "committing"  # being written (chunk by chunk)
    COMMITTED = "committed"
    UNDOING = "undoing"  # being undone (one transaction)
    FAILED = "failed"  # the commit stopped; what it had written was taken back
    UNDONE = "undone"


class ImportMapping(Base):
    """The columns a user mapped last time for a kind: {normalized header: field key} and the units asked."""

    __tablename__ = "import_mapping"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    units: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportBatch(Base):
    __tablename__ = "import_batch"
    __table_args__ = (Index("ix_import_batch_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(40))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=BatchStatus.DRAFT, index=True)
    # The sheet as read (zlib-compressed JSON: header rows and data rows with their row numbers), kept while the
    # batch is a draft; dropped at commit. Bounded by the upload limit and the 50,000-row limit.
    sheet_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {column index: field key}, units, actions
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    submission_key: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(500), default="")  # why a commit failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # While committing/undoing (in a background thread of one server process, crm/imports/running.py): rows
    # written so far, which process runs it ("host|pid|start", so a restarted process can tell its dead
    # predecessor's batch from a live sibling's) and when it last wrote a chunk.
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportRecord(Base):
    """One record a batch created or updated; `prior` holds the updated fields' values before the import."""

    __tablename__ = "import_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id", ondelete="CASCADE"), index=True)
    entity_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10))  # "created" | "updated"
    prior: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int | None] = mapped_column(Integer)  # the record's version after the import
