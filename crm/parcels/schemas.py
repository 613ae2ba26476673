"""Land parcel form fields and labels."""

from __future__ import annotations

from decimal import Decimal

from crm.forms import Field
from crm.i18n import N_, Msg
from crm.parcels.models import ParcelStatus
from crm.projects.schemas import amount_check
from crm.tasks.schemas import check_date

STATUS_LABELS = {
    ParcelStatus.EXPROPRIATING: N_("Expropriation under way"),
    ParcelStatus.CLEARED: N_("Cleared"),
    ParcelStatus.SUPPLIED: N_("Supplied"),
}
MAX_AREA_M2 = Decimal("100000000")  # 100 km²: larger is a typing mistake
MAX_HOUSEHOLDS = 100_000


def check_count(value: str) -> Msg | None:
    if not value.isdigit() or int(value) > MAX_HOUSEHOLDS:
        return Msg("Enter a whole number between 0 and %(max)s.", max=f"{MAX_HOUSEHOLDS:,}")
    return None


def parcel_fields() -> list[Field]:
    return [
        Field("code", N_("Parcel code"), required=True, max_length=40),
        Field("name", N_("Name"), required=True, max_length=200),
        Field("location", N_("Location"), max_length=200),
        Field("bounds", N_("Bounds"), max_length=2000, multiline=True),
        Field("land_area_m2", N_("Land area (m²)"), max_length=20, checks=[amount_check(MAX_AREA_M2)]),
        Field("building_area_m2", N_("Building area (m²)"), max_length=20, checks=[amount_check(MAX_AREA_M2)]),
        Field("planned_use", N_("Planned use"), max_length=100),
        Field("status", N_("Status"), required=True, choices=[s.value for s in ParcelStatus]),
        Field("households_total", N_("Households to resettle"), max_length=7, checks=[check_count]),
        Field("households_signed", N_("Households signed"), max_length=7, checks=[check_count]),
        Field("signing_starts_on", N_("Signing window opens"), max_length=10, checks=[check_date]),
        Field("signing_ends_on", N_("Signing window closes"), max_length=10, checks=[check_date]),
        Field("compensation_cash", N_("Cash compensation"), choices=["1"]),
        Field("compensation_swap", N_("Property swap"), choices=["1"]),
        Field("public_facilities", N_("Public facilities planned"), max_length=4000, multiline=True),
        Field("notes", N_("Notes"), max_length=4000, multiline=True),
    ]
