from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.contacts.models import Contact
from crm.db import Base, UTCDateTime, utcnow
from crm.organizations.models import IndustryChain, Organization


class VisitKind(StrEnum):
    INBOUND = "inbound"  # 来访考察
    OUTBOUND = "outbound"  # 外出招商
    MEETING = "meeting"  # 洽谈会
    REMOTE = "remote"  # 电话/视频
    SIGNING = "signing"  # 签约仪式
    AFTERCARE = "aftercare"  # 企业走访


class VisitStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


class InterestLevel(StrEnum):
    NONE = "none"
    EXPLORING = "exploring"
    STRONG = "strong"
    READY = "ready"


class Visit(Base):
    """An engagement with investors (来访考察, 外出招商, …): planned first, then filled in with what happened.

    Projects (a later issue) link to visits through their own table (project_visit), so nothing here changes."""

    __tablename__ = "visit"
    __table_args__ = (
        Index("ix_visit_starts", "starts_at", "id"),
        Index("ix_visit_status_starts", "status", "starts_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(12), default=VisitStatus.PLANNED)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(200), default="")
    # Our side who are not users: one per line, "title name" (党工委书记、管委会主任 练建军)
    leaders: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")
    interest_level: Mapped[str] = mapped_column(String(12), default="")
    estimated_investment: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # 万元
    officer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    officer: Mapped[User] = relationship(foreign_keys=[officer_id], lazy="raise")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="raise")
    organizations: Mapped[list[VisitOrganization]] = relationship(
        lazy="raise", order_by="VisitOrganization.position", cascade="all, delete-orphan")
    members: Mapped[list[VisitMember]] = relationship(lazy="raise", cascade="all, delete-orphan")
    hosts: Mapped[list[VisitHost]] = relationship(lazy="raise", cascade="all, delete-orphan")
    industries: Mapped[list[VisitIndustry]] = relationship(lazy="raise", cascade="all, delete-orphan")
    stops: Mapped[list[TourStop]] = relationship(
        lazy="raise", order_by="TourStop.position", cascade="all, delete-orphan", back_populates="visit")

    __mapper_args__ = {"version_id_col": version}

    @property
    def leader_lines(self) -> list[str]:
        return [line.strip() for line in self.leaders.splitlines() if line.strip()]


class VisitOrganization(Base):
    """An organization the visit concerns: the visiting side, in the order given (the first leads)."""

    __tablename__ = "visit_organization"
    __table_args__ = (Index("ix_visit_organization_org", "organization_id", "visit_id"),)

    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    organization: Mapped[Organization] = relationship(lazy="raise")


class VisitMember(Base):
    """A delegation member (a contact on file)."""

    __tablename__ = "visit_member"

    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), primary_key=True, index=True)

    contact: Mapped[Contact] = relationship(lazy="raise")


class VisitHost(Base):
    """One of our side who is a user of the CRM."""

    __tablename__ = "visit_host"

    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True, index=True)

    user: Mapped[User] = relationship(lazy="raise")


class VisitIndustry(Base):
    """An industry chain the investor said it is interested in."""

    __tablename__ = "visit_industry"

    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), primary_key=True)
    industry_chain_id: Mapped[int] = mapped_column(ForeignKey("industry_chain.id"), primary_key=True)

    industry_chain: Mapped[IndustryChain] = relationship(lazy="raise")


class TourStop(Base):
    """A stop of an enterprise tour (考察点): a zone enterprise, in order."""

    __tablename__ = "tour_stop"
    __table_args__ = (
        Index("ix_tour_stop_visit", "visit_id", "position"),
        Index("ix_tour_stop_organization", "organization_id", "starts_at", "visit_id"),  # an enterprise's timeline
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    host: Mapped[str] = mapped_column(String(120), default="")  # who received them at the enterprise
    shown: Mapped[str] = mapped_column(Text, default="")  # what was shown or asked
    note: Mapped[str] = mapped_column(Text, default="")

    organization: Mapped[Organization] = relationship(lazy="raise")
    visit: Mapped[Visit] = relationship(lazy="raise", back_populates="stops")
