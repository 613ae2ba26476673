"""Major-project scheduling, the administrator's forms: the settings and the responsible departments."""

from __future__ import annotations

import re
from decimal import Decimal

from crm.forms import Field
from crm.i18n import N_, Msg

_POINTS = re.compile(r"^\d{1,3}(\.\d{1,2})?$")


def check_close_day(value: str) -> Msg | None:
    if not value.isdigit() or not 1 <= int(value) <= 28:
        return Msg("Enter a day from 1 to 28.")
    return None


def check_margin(value: str) -> Msg | None:
    if not _POINTS.match(value) or not Decimal(0) < Decimal(value) <= Decimal(100):
        return Msg("Enter a number of points above 0 and at most 100, with at most two decimals.")
    return None


def check_position(value: str) -> Msg | None:
    if not value.isdigit() or int(value) > 9999:
        return Msg("Enter a whole number from 0 to 9999.")
    return None


def setting_fields() -> list[Field]:
    return [
        Field("close_day", N_("Reporting close day"), required=True, max_length=2, checks=[check_close_day]),
        Field("margin_points", N_("Amber margin (points)"), required=True, max_length=6, checks=[check_margin]),
    ]


def department_fields() -> list[Field]:
    return [
        Field("name_zh", N_("Chinese name"), required=True, max_length=100),
        Field("name_en", N_("English name"), max_length=100),
        Field("position", N_("Order in lists"), required=True, max_length=4, checks=[check_position]),
    ]
