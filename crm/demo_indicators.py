"""The demo's key economic indicators and annual targets.

Everything here is INVENTED: plausible figures for a development zone of this size, never to be presented as fact.
The seed only says which indicators the zone's joint meeting reviewed (财税, GDP, 城乡居民收入, 外贸外资). Loaded:
- for the anchor's year and the year before, each indicator's figures up to the last month or quarter complete at
  the anchor (the whole previous year), with a seasonal pattern and a deterministic wobble;
- each indicator's annual target for both years (last year's met, this year's a growth target; some indicators run
  ahead of 序时进度 and some behind, so the overview has both);
- assessment targets for the demo's officer and manager and for the officer's department (招商一科, INVENTED).
Deterministic: the same anchor gives the same figures.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.assessment.models import DepartmentTarget, OfficerTarget
from crm.auth.models import User
from crm.indicators import service as indicator_service
from crm.indicators.models import Frequency, Indicator, IndicatorTarget, IndicatorValue, Kind
from crm.indicators.schemas import last_complete_period

MONTH_WEIGHTS = (1.1, 0.8, 1.0, 1.0, 1.0, 1.05, 0.95, 0.95, 1.0, 1.0, 1.0, 1.15)
QUARTER_WEIGHTS = (0.22, 0.25, 0.25, 0.28)
# INVENTED. code: (last year's whole-year figure, growth this year, this year's target growth,
#                  cumulative shares by quarter for year-to-date indicators)
FIGURES = {
    "budget_revenue": (385000, 0.062, 0.08, None),
    "tax_revenue": (301000, 0.055, 0.07, None),
    "gdp": (2860000, 0.065, 0.07, None),
    "urban_income": (47200, 0.055, 0.06, (0.27, 0.51, 0.76, 1.0)),
    "rural_income": (22300, 0.072, 0.07, (0.31, 0.52, 0.74, 1.0)),
    "foreign_trade": (98000, 0.12, 0.10, None),
    "exports": (71000, 0.15, 0.12, None),
    "fdi_utilised": (6800, -0.05, 0.05, None),
    "fixed_asset_investment": (1650000, 0.04, 0.08, None),
}
CENT = Decimal("0.01")


def _wobble(i: int, period: int, year: int) -> float:
    return 1 + (((i * 7 + period * 13 + year) % 9) - 4) / 100


def _period_values(i: int, indicator: Indicator, year: int, whole_year: float) -> dict[int, Decimal]:
    shares = FIGURES[indicator.code][3]
    if indicator.kind == Kind.YTD and shares:
        return {q: Decimal(round(whole_year * share * _wobble(i, q, year) ** 0.2)).quantize(CENT)
                for q, share in enumerate(shares, start=1)}
    weights = MONTH_WEIGHTS if indicator.frequency == Frequency.MONTHLY else QUARTER_WEIGHTS
    total = sum(weights)
    return {p: Decimal(whole_year * w / total * _wobble(i, p, year)).quantize(CENT)
            for p, w in enumerate(weights, start=1)}


def load(session: Session, *, anchor: date, users: dict[str, User]) -> None:
    indicator_service.ensure_defaults(session)
    manager = users["manager"]
    year = anchor.year
    for i, indicator in enumerate(session.scalars(select(Indicator).order_by(Indicator.position, Indicator.id))):
        if indicator.code not in FIGURES:
            continue
        last_whole, growth, target_growth, _shares = FIGURES[indicator.code]
        through = last_complete_period(indicator.frequency, anchor)
        for value_year, whole in ((year - 1, last_whole), (year, last_whole * (1 + growth))):
            values = _period_values(i, indicator, value_year, whole)
            for period, value in values.items():
                if value_year == year and (through.year < year or period > through.number):
                    continue
                session.add(IndicatorValue(indicator_id=indicator.id, year=value_year, period=period, value=value,
                                           updated_by_id=manager.id))
        session.add(IndicatorTarget(indicator_id=indicator.id, year=year - 1, updated_by_id=manager.id,
                                    target=Decimal(last_whole * 0.98).quantize(CENT)))
        session.add(IndicatorTarget(indicator_id=indicator.id, year=year, updated_by_id=manager.id,
                                    target=Decimal(last_whole * (1 + target_growth)).quantize(CENT)))
    # Assessment targets (INVENTED): the officer, the manager, and the officer's department
    officer = users["officer"]
    if not officer.department:
        session.execute(update(User).where(User.id == officer.id).values(department="招商一科"))
    for target_year in (year - 1, year):
        session.add(OfficerTarget(year=target_year, user_id=officer.id, projects_signed=4,
                                  investment_signed_wan_cny=Decimal("200000"), foreign_capital_signed_wan_usd=Decimal("5000"),
                                  visits_received=12, projects_started=2, updated_by_id=manager.id))
        session.add(OfficerTarget(year=target_year, user_id=manager.id, projects_signed=3,
                                  investment_signed_wan_cny=Decimal("300000"), foreign_capital_signed_wan_usd=Decimal("3000"),
                                  visits_received=8, projects_started=2, updated_by_id=manager.id))
        session.add(DepartmentTarget(year=target_year, department="招商一科", projects_signed=6,
                                     investment_signed_wan_cny=Decimal("350000"),
                                     foreign_capital_signed_wan_usd=Decimal("8000"), visits_received=20,
                                     projects_started=3, updated_by_id=manager.id))
    session.commit()
