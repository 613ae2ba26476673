from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.contacts.models import Contact
from crm.db import Base, UTCDateTime, utcnow
from crm.organizations.models import Organization
from crm.projects.models import Project
from crm.visits.models import Visit


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskPriority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Task(Base):
    """A follow-up (跟进事项): what, who, by when, and the record it concerns."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_assignee_status_due", "assignee_id", "status", "due_on", "id"),
        Index("ix_task_status_due", "status", "due_on", "id"),  # the reminder rules: open tasks by due date
        # A record's open follow-ups (its page): without these, SQLite walks every open task through the index above
        Index("ix_task_organization_status_due", "organization_id", "status", "due_on", "id"),
        Index("ix_task_contact_status_due", "contact_id", "status", "due_on", "id"),
        Index("ix_task_project_updated", "project_id", "updated_at"),  # a project's follow-ups; is it stale?
        # My tasks' recently done (tasks.service._RECENTLY_DONE): per closed status, a range on completed_at (done),
        # and one on updated_at where completed_at is null (cancelled): not the whole of an officer's history
        Index("ix_task_assignee_status_closed", "assignee_id", "status", "completed_at", "updated_at"),
        Index("ix_task_due", "due_on", "id"),  # the managers' team view: everyone's tasks by due date, paged
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    due_on: Mapped[date] = mapped_column(Date)
    due_time: Mapped[time | None] = mapped_column(Time)
    priority: Mapped[str] = mapped_column(String(10), default=TaskPriority.NORMAL)
    status: Mapped[str] = mapped_column(String(12), default=TaskStatus.OPEN)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    assignee: Mapped[User] = relationship(foreign_keys=[assignee_id], lazy="raise")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="raise")
    organization: Mapped[Organization | None] = relationship(lazy="raise")
    contact: Mapped[Contact | None] = relationship(lazy="raise")
    visit: Mapped[Visit | None] = relationship(lazy="raise")
    project: Mapped[Project | None] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.status == TaskStatus.OPEN
