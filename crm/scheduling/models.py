from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, UTCDateTime


class SchedulerJob(Base):
    """What the scheduler last did with one of its jobs (scheduler/jobs.py), for the admin page."""

    __tablename__ = "scheduler_job"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(120), default="")
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_result: Mapped[str] = mapped_column(String(200), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str] = mapped_column(String(120), default="")  # host:pid of the scheduler that ran it last
