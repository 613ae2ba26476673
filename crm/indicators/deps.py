from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Request

from crm.db import RecordId, SessionDep
from crm.errors import BadRequest, found
from crm.i18n import Msg
from crm.indicators import service
from crm.indicators.models import Indicator
from crm.indicators.schemas import FIRST_YEAR, Period, parse_period
from crm.web import local_today


def indicator_by_id(indicator_id: RecordId, session: SessionDep) -> Indicator:
    return found(service.get(session, indicator_id))


def period_from_path(period_key: str) -> Period:
    period = parse_period(period_key) if len(period_key) <= 12 else None
    if period is None:
        raise BadRequest(Msg("“%(value)s” is not a period: write 2026-03 for a month or 2026-Q1 for a quarter.",
                             value=period_key[:12]))
    return period


def year_of(raw: str | None, today: date) -> int:
    """A year from a query string or path: FIRST_YEAR … next year, else 400; none given: this year."""
    if raw is None or raw == "":
        return today.year
    if not raw.isdigit() or not FIRST_YEAR <= int(raw) <= today.year + 1:
        raise BadRequest(Msg("Choose a year between %(first)s and %(last)s.", first=FIRST_YEAR, last=today.year + 1))
    return int(raw)


def chosen_year(request: Request) -> int:
    return year_of(request.query_params.get("year"), local_today(request))


IndicatorDep = Annotated[Indicator, Depends(indicator_by_id)]
PeriodDep = Annotated[Period, Depends(period_from_path)]
YearDep = Annotated[int, Depends(chosen_year)]
