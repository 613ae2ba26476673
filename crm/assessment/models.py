"""Annual target assessment (年度目标考核): the targets set for an officer or a department for a year. The actuals
are never stored: `crm.assessment.service` computes them from projects and visits whenever they are shown."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, UTCDateTime, utcnow

METRICS = ("projects_signed", "investment_signed_wan_cny", "foreign_capital_signed_wan_usd", "visits_received",
           "projects_started")
COUNT_METRICS = ("projects_signed", "visits_received", "projects_started")


class _Figures:
    """The five targets; a blank one means no target was set for it."""

    projects_signed: Mapped[int | None] = mapped_column(Integer)
    investment_signed_wan_cny: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    foreign_capital_signed_wan_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    visits_received: Mapped[int | None] = mapped_column(Integer)
    projects_started: Mapped[int | None] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OfficerTarget(_Figures, Base):
    __tablename__ = "officer_target"
    __table_args__ = (UniqueConstraint("year", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class DepartmentTarget(_Figures, Base):
    """A department (科室) as written on its members' user records (`user_account.department`)."""

    __tablename__ = "department_target"
    __table_args__ = (UniqueConstraint("year", "department"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
