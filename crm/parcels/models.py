from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Date, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, UTCDateTime, utcnow

SQUARE_METRES_PER_MU = Decimal("666.67")  # 1 亩 = 10,000 / 15 m²


class ParcelStatus(StrEnum):
    EXPROPRIATING = "expropriating"  # 征收中
    CLEARED = "cleared"  # 净地
    SUPPLIED = "supplied"  # 已供地


class LandParcel(Base):
    """A land parcel (地块): where it is, how large, how far its expropriation (征收) has come, and whether it has
    been supplied (供地) to a project. Projects point at it (project.parcel_id)."""

    __tablename__ = "land_parcel"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(200), default="")
    bounds: Mapped[str] = mapped_column(Text, default="")  # 四至: 康庄东路以南，桂陵路以西，…
    land_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    building_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    planned_use: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default=ParcelStatus.EXPROPRIATING)
    households_total: Mapped[int | None] = mapped_column(Integer)
    households_signed: Mapped[int] = mapped_column(Integer, default=0)
    signing_starts_on: Mapped[date | None] = mapped_column(Date)
    signing_ends_on: Mapped[date | None] = mapped_column(Date)
    compensation_cash: Mapped[bool] = mapped_column(default=False)  # 货币补偿
    compensation_swap: Mapped[bool] = mapped_column(default=False)  # 房屋产权调换
    public_facilities: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_supplied(self) -> bool:
        return self.status == ParcelStatus.SUPPLIED

    @property
    def land_area_mu(self) -> Decimal | None:
        return (self.land_area_m2 / SQUARE_METRES_PER_MU).quantize(Decimal("0.01")) if self.land_area_m2 else None

    @property
    def signed_share(self) -> float | None:
        if not self.households_total:
            return None
        return self.households_signed / self.households_total
