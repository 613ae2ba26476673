"""Key economic indicators (主要经济指标): what is tracked, the year's target for each, and the value of each period.

How a value is read depends on the indicator's kind (see docs/architecture.md, "Key economic indicators"):
- `sum`: the value entered for a period is that month's or quarter's own amount (revenue, GDP, trade, FDI,
  fixed-asset investment); the year-to-date figure is the sum of the year's periods so far.
- `ytd`: the value entered is the year-to-date figure as the statistics bureau reports it (per-capita disposable
  income: 前三季度 X 元); the year-to-date figure is the latest period's value, never a sum.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow


class Frequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class Kind(StrEnum):
    SUM = "sum"  # period amounts, added up over the year
    YTD = "ytd"  # each value is already the year-to-date figure


class Unit(StrEnum):
    WAN_CNY = "wan_cny"  # 万元
    CNY = "cny"  # 元
    WAN_USD = "wan_usd"  # 万美元


PERIODS_PER_YEAR = {Frequency.MONTHLY: 12, Frequency.QUARTERLY: 4}


class Indicator(Base):
    """One tracked figure (一般公共预算收入, 地区生产总值, …). Admins add, rename, reorder and retire them."""

    __tablename__ = "economic_indicator"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(12), default=Unit.WAN_CNY)
    frequency: Mapped[str] = mapped_column(String(12), default=Frequency.MONTHLY)
    kind: Mapped[str] = mapped_column(String(12), default=Kind.SUM)
    allows_negative: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    def label(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

    @property
    def periods_per_year(self) -> int:
        return PERIODS_PER_YEAR[Frequency(self.frequency)]


class IndicatorTarget(Base):
    """The year's target for one indicator (全年目标), in the indicator's unit."""

    __tablename__ = "indicator_target"
    __table_args__ = (UniqueConstraint("indicator_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("economic_indicator.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    target: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    updated_by: Mapped[User | None] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}


class IndicatorValue(Base):
    """One indicator's figure for one period: `period` is the month (1–12) or the quarter (1–4) of `year`,
    by the indicator's frequency."""

    __tablename__ = "indicator_value"
    __table_args__ = (
        UniqueConstraint("indicator_id", "year", "period"),
        Index("ix_indicator_value_year", "year", "period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("economic_indicator.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    period: Mapped[int] = mapped_column(Integer)
    value: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
