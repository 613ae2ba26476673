from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, UTCDateTime, utcnow
from crm.projects.models import Project


class GroundbreakingEvent(Base):
    """A collective groundbreaking (集中开工 / 奠基): a dated event where the projects on its slate break ground."""

    __tablename__ = "groundbreaking_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[date] = mapped_column(Date, index=True)
    place: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    slate: Mapped[list[SlatedProject]] = relationship(
        lazy="raise", order_by="SlatedProject.position", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class SlatedProject(Base):
    """A project on an event's slate, in the order announced."""

    __tablename__ = "groundbreaking_slate"
    __table_args__ = (Index("ix_groundbreaking_slate_project", "project_id", "event_id"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("groundbreaking_event.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(lazy="raise")
