from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow


class Variant(StrEnum):
    INTERNAL = "internal"  # everything
    EXTERNAL = "external"  # safe to share with the guest side


class FileStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BriefingNote(Base):
    """One revision of a visit's talking points and asks (the briefing tab). Revisions are only added, never
    changed: the newest is the current text, the others are its history; (visit, revision) is unique, so of two
    people saving on the same revision the second is refused instead of overwriting the first."""

    __tablename__ = "briefing_note"
    __table_args__ = (UniqueConstraint("visit_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship(lazy="raise")


class BriefingFile(Base):
    """A generated briefing PDF: who asked for it, when, which variant and language, and (once done) its SHA-256,
    size and where it is stored. Each generation is a new row and a new file; none is ever overwritten."""

    __tablename__ = "briefing_file"
    __table_args__ = (Index("ix_briefing_file_visit", "visit_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(10))
    locale: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(10), default=FileStatus.PENDING)
    error: Mapped[str] = mapped_column(Text, default="")
    note_revision: Mapped[int | None] = mapped_column(Integer)  # the talking points it printed
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str | None] = mapped_column(String(200))  # under the data directory

    created_by: Mapped[User] = relationship(lazy="raise")

    @property
    def filename(self) -> str:
        return f"briefing-{self.visit_id}-{self.id}-{self.variant}.pdf"
