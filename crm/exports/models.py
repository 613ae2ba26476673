"""The export-leader cultivation pool (出口龙头企业培育库): which zone enterprises are cultivated, at what tier and by
whom; their yearly export targets, monthly export figures and the support given to them (service log).

Targets, figures and the service log are kept per organization, not per pool membership: an enterprise taken out of
the pool and put back finds its history where it left it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow
from crm.organizations.models import Organization


class Tier(StrEnum):
    LEADER = "leader"  # 龙头
    KEY = "key"  # 重点培育
    POTENTIAL = "potential"  # 潜力


class SupportKind(StrEnum):
    POLICY = "policy"  # 政策宣讲
    FINANCING = "financing"  # 融资支持
    EXHIBITION = "exhibition"  # 展会
    CUSTOMS = "customs"  # 通关与物流
    OTHER = "other"


class ExportEnterprise(Base):
    """A zone enterprise in the cultivation pool."""

    __tablename__ = "export_enterprise"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), unique=True)
    tier: Mapped[str] = mapped_column(String(20), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    main_products: Mapped[str] = mapped_column(Text, default="")
    markets: Mapped[str] = mapped_column(Text, default="")
    support_planned: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    organization: Mapped[Organization] = relationship(lazy="raise")
    officer: Mapped[User] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}


class ExportTarget(Base):
    """An enterprise's export target for one year (万美元)."""

    __tablename__ = "export_target"
    __table_args__ = (UniqueConstraint("organization_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    year: Mapped[int] = mapped_column(Integer)
    target_wan_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExportFigure(Base):
    """An enterprise's exports in one month (万美元)."""

    __tablename__ = "export_figure"
    __table_args__ = (
        UniqueConstraint("organization_id", "year", "month"),
        # Progress sums a period across the pool: read from this index alone (year, months up to M, enterprise, value).
        Index("ix_export_figure_period", "year", "month", "organization_id", "value_wan_usd"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    value_wan_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class ExportSupport(Base):
    """One entry of an enterprise's service log: support given, when, by whom, with what outcome."""

    __tablename__ = "export_support"
    __table_args__ = (Index("ix_export_support_organization_at", "organization_id", "given_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    kind: Mapped[str] = mapped_column(String(20))
    given_on: Mapped[date] = mapped_column(Date)
    # given_on at noon in the zone's time: where the entry sits on the organization's timeline among timed records
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    officer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    officer: Mapped[User] = relationship(lazy="raise", foreign_keys=[officer_id])
