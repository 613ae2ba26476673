"""Key economic indicators: the admin's list, yearly targets, period figures (form and import), and the figures
every page shows (`overview`, `series`), computed in one place for this domain's pages, the managers' dashboard and
the PDF briefing packs.

Definitions (also on the overview page and in docs/architecture.md):
- year-to-date (累计): for a `sum` indicator the sum of the year's periods up to the latest one entered; for a `ytd`
  indicator the latest period's value itself (it is reported as a year-to-date figure).
- progress (完成全年目标): year-to-date ÷ the year's target.
- time-elapsed progress (序时进度): the share of the year the figures cover — through month m, m/12; through quarter
  q, q/4 — judged at the latest period entered, not at today, because figures arrive after their period ends.
- same period last year (同期): last year's year-to-date through the same period (for `sum`, the same periods added
  up; for `ytd`, last year's value of that period); growth (同比) = this ÷ that − 1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction, AuditEntry
from crm.auth.models import User
from crm.db import utcnow
from crm.i18n import N_, Msg
from crm.indicators.models import Frequency, Indicator, IndicatorTarget, IndicatorValue, Kind, Unit
from crm.indicators.schemas import (
    FREQUENCY_LABELS,
    IMPORT_COLUMNS,
    KIND_LABELS,
    UNIT_LABELS,
    Period,
    check_period,
    last_complete_period,
    parse_period,
    parse_value,
)
from crm.spreadsheets import RowProblem, SheetResult, read_sheet
from crm.versioning import flush_versioned, require_version

INDICATOR_FIELDS = ["code", "name_zh", "name_en", "unit", "frequency", "kind", "allows_negative", "position",
                    "is_active"]
MAX_FIGURE_LENGTH = 40  # characters a typed figure may have

# The nine of issue 5, as the migration seeds them; `ensure_defaults` restores any that are missing (the demo and
# tests start from emptied tables).
DEFAULTS = [
    ("budget_revenue", "一般公共预算收入", "General public budget revenue", Unit.WAN_CNY, Frequency.MONTHLY, Kind.SUM),
    ("tax_revenue", "税收收入", "Tax revenue", Unit.WAN_CNY, Frequency.MONTHLY, Kind.SUM),
    ("gdp", "地区生产总值", "Gross regional product (GDP)", Unit.WAN_CNY, Frequency.QUARTERLY, Kind.SUM),
    ("urban_income", "城镇居民人均可支配收入", "Urban per-capita disposable income", Unit.CNY, Frequency.QUARTERLY,
     Kind.YTD),
    ("rural_income", "农村居民人均可支配收入", "Rural per-capita disposable income", Unit.CNY, Frequency.QUARTERLY,
     Kind.YTD),
    ("foreign_trade", "进出口总额", "Total imports and exports", Unit.WAN_USD, Frequency.MONTHLY, Kind.SUM),
    ("exports", "出口额", "Exports", Unit.WAN_USD, Frequency.MONTHLY, Kind.SUM),
    ("fdi_utilised", "实际使用外资", "Foreign direct investment actually utilised", Unit.WAN_USD, Frequency.MONTHLY,
     Kind.SUM),
    ("fixed_asset_investment", "固定资产投资", "Fixed-asset investment", Unit.WAN_CNY, Frequency.MONTHLY, Kind.SUM),
]


class PermissionDenied(Exception):
    pass


class InvalidInput(Exception):
    """Errors by form field name."""

    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


class StaleSheet(Exception):
    """Someone saved some of these figures after the form was opened: what they changed."""

    def __init__(self, changes: list[AuditEntry]) -> None:
        super().__init__("stale sheet")
        self.changes = changes


def can_enter(user: User) -> bool:
    """Figures and targets are entered by managers and admins."""
    return user.is_manager


def can_configure(user: User) -> bool:
    return user.is_admin


# The indicators

def ensure_defaults(session: Session) -> None:
    """Adds the seeded indicators that are missing (by code); changes none that exist. Does not commit."""
    existing = set(session.scalars(select(Indicator.code)))
    for i, (code, zh, en, unit, frequency, kind) in enumerate(DEFAULTS):
        if code not in existing:
            session.add(Indicator(code=code, name_zh=zh, name_en=en, unit=unit, frequency=frequency, kind=kind,
                                  allows_negative=False, position=(i + 1) * 10, is_active=True))
    session.flush()


def indicators(session: Session, *, include_inactive: bool = False,
               frequency: str | None = None) -> list[Indicator]:
    stmt = select(Indicator).order_by(Indicator.position, Indicator.id)
    if not include_inactive:
        stmt = stmt.where(Indicator.is_active.is_(True))
    if frequency:
        stmt = stmt.where(Indicator.frequency == frequency)
    return list(session.scalars(stmt))


def get(session: Session, indicator_id: int) -> Indicator | None:
    return session.get(Indicator, indicator_id)


def _typed_indicator(data: Mapping[str, Any]) -> dict[str, Any]:
    typed = dict(data)
    typed["allows_negative"] = data.get("allows_negative") == "1"
    typed["is_active"] = data.get("is_active") == "1"
    typed["position"] = int(data["position"]) if data.get("position") else 0
    return typed


def save_indicator(session: Session, *, indicator: Indicator | None, data: Mapping[str, Any], version: int | None,
                   actor: User) -> Indicator:
    if not can_configure(actor):
        raise PermissionDenied()
    if indicator is not None:
        require_version(session, record=indicator, entity_type="economic_indicator", version=version)
    typed = _typed_indicator(data)
    errors: dict[str, Msg] = {}
    clash = select(Indicator.id).where(Indicator.code == typed["code"])
    if indicator is not None:
        clash = clash.where(Indicator.id != indicator.id)
    if session.scalar(clash):
        errors["code"] = Msg("Another indicator already has this code.")
    if indicator is not None and typed["frequency"] != indicator.frequency and session.scalar(
            select(func.count(IndicatorValue.id)).where(IndicatorValue.indicator_id == indicator.id)):
        errors["frequency"] = Msg("Figures have been entered for this indicator: its frequency can no longer change.")
    if errors:
        session.rollback()
        raise InvalidInput(errors)
    before = audit_service.snapshot(indicator, INDICATOR_FIELDS) if indicator is not None else {}
    if indicator is None:
        indicator = Indicator(**{k: typed[k] for k in INDICATOR_FIELDS})
        session.add(indicator)
        session.flush()
        action = AuditAction.CREATE
    else:
        for key in INDICATOR_FIELDS:
            setattr(indicator, key, typed[key])
        action = AuditAction.UPDATE
    changes = audit_service.diff(before, audit_service.snapshot(indicator, INDICATOR_FIELDS))
    if changes and action == AuditAction.UPDATE:
        indicator.updated_at = utcnow()
        flush_versioned(session, record=indicator, entity_type="economic_indicator", version=version, reload=get)
    if changes:
        audit_service.record(session, actor=actor, action=action, entity_type="economic_indicator",
                             entity_id=indicator.id, entity_label=indicator.name_zh,
                             entity_version=indicator.version, changes=changes)
    session.commit()
    return indicator


# Period figures and targets: one form (or one import) writes many rows, each versioned and audited on its own

@dataclass
class SheetRow:
    indicator: Indicator
    record: IndicatorValue | IndicatorTarget | None

    @property
    def version(self) -> int:
        return self.record.version if self.record is not None else 0

    @property
    def amount(self) -> Decimal | None:
        if self.record is None:
            return None
        return self.record.target if isinstance(self.record, IndicatorTarget) else self.record.value


def period_sheet(session: Session, *, period: Period) -> list[SheetRow]:
    """Every active indicator of the period's frequency, with its figure for the period (or none yet)."""
    rows = indicators(session, frequency=period.frequency)
    values = {v.indicator_id: v for v in session.scalars(select(IndicatorValue).where(
        IndicatorValue.year == period.year, IndicatorValue.period == period.number,
        IndicatorValue.indicator_id.in_([i.id for i in rows])))}
    return [SheetRow(i, values.get(i.id)) for i in rows]


def target_sheet(session: Session, *, year: int) -> list[SheetRow]:
    rows = indicators(session)
    targets = {t.indicator_id: t for t in session.scalars(select(IndicatorTarget).where(
        IndicatorTarget.year == year, IndicatorTarget.indicator_id.in_([i.id for i in rows])))}
    return [SheetRow(i, targets.get(i.id)) for i in rows]


def _value_label(indicator: Indicator, period: Period | None, year: int) -> str:
    return f"{indicator.name_zh} {period.key if period else year}"


def _write(session: Session, *, kind: str, rows: list[SheetRow], amounts: dict[int, Decimal | None],
           versions: dict[int, int] | None, period: Period | None, year: int, actor: User) -> int:
    """Writes the changed amounts of `rows` (indicator id → new amount, None = clear it); refuses all of it when
    any row's version differs from the one the form showed (`versions`, None for an import, which overwrites).
    Returns how many rows changed. Does not commit."""
    entity_type = "indicator_value" if kind == "value" else "indicator_target"
    if versions is not None:
        stale = [row for row in rows if row.indicator.id in amounts and versions.get(row.indicator.id) != row.version]
        if stale:
            changes: list[AuditEntry] = []
            for row in stale:
                if row.record is not None:
                    changes += audit_service.changes_since(session, entity_type=entity_type, entity_id=row.record.id,
                                                           version=versions.get(row.indicator.id) or 0)
            session.rollback()
            raise StaleSheet(sorted(changes, key=lambda e: (e.at, e.id)))
    changed = 0
    now = utcnow()
    for row in rows:
        if row.indicator.id not in amounts:
            continue
        new, old = amounts[row.indicator.id], row.amount
        if new == old:
            continue
        changed += 1
        label = _value_label(row.indicator, period, year)
        if row.record is None:
            if kind == "value":
                record: Any = IndicatorValue(indicator_id=row.indicator.id, year=year, period=period.number,
                                             value=new, updated_by_id=actor.id, updated_at=now)
            else:
                record = IndicatorTarget(indicator_id=row.indicator.id, year=year, target=new,
                                         updated_by_id=actor.id, updated_at=now)
            session.add(record)
            session.flush()
            audit_service.record(session, actor=actor, action=AuditAction.CREATE, entity_type=entity_type,
                                 entity_id=record.id, entity_label=label, entity_version=record.version,
                                 changes={"value": [None, str(new)]})
        elif new is None:
            record = row.record
            audit_service.record(session, actor=actor, action=AuditAction.DELETE, entity_type=entity_type,
                                 entity_id=record.id, entity_label=label, entity_version=record.version + 1,
                                 changes={"value": [str(old), None]})
            session.delete(record)
        else:
            record = row.record
            if kind == "value":
                record.value = new
            else:
                record.target = new
            record.updated_by_id, record.updated_at = actor.id, now
            try:
                session.flush()
            except StaleDataError as error:  # the versioned UPDATE matched no row: someone saved in between
                session.rollback()
                raise StaleSheet([]) from error
            audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type=entity_type,
                                 entity_id=record.id, entity_label=label, entity_version=record.version,
                                 changes={"value": [str(old), str(new)]})
    return changed


def _commit(session: Session) -> None:
    try:
        session.commit()
    except IntegrityError as error:  # a row for the same indicator and period was inserted in between
        session.rollback()
        raise StaleSheet([]) from error


def _parse_amounts(rows: list[SheetRow], raw: Mapping[str, str], prefix: str) -> tuple[dict[int, Decimal | None],
                                                                                        dict[str, Msg]]:
    amounts: dict[int, Decimal | None] = {}
    errors: dict[str, Msg] = {}
    for row in rows:
        name = f"{prefix}-{row.indicator.id}"
        if name not in raw:  # not on the form (an indicator added since it was opened): left as it is
            continue
        text = (raw.get(name) or "").strip()
        if not text:
            amounts[row.indicator.id] = None
            continue
        if len(text) > MAX_FIGURE_LENGTH:  # refused, never cut: a cut figure would be another number
            errors[name] = Msg("At most %(max)s characters (you entered %(n)s).", max=MAX_FIGURE_LENGTH, n=len(text))
            continue
        value, error = parse_value(row.indicator, text)
        if error:
            errors[name] = error
        else:
            amounts[row.indicator.id] = value
    return amounts, errors


def save_period(session: Session, *, period: Period, raw: Mapping[str, str], versions: dict[int, int],
                actor: User, today: date) -> int:
    """The period form: every indicator's figure for one month or quarter (blank clears it). All or nothing."""
    if not can_enter(actor):
        raise PermissionDenied()
    rows = period_sheet(session, period=period)
    amounts, errors = _parse_amounts(rows, raw, "value")
    problem = check_period(period, today)
    if problem:
        errors["period"] = problem
    if errors:
        session.rollback()
        raise InvalidInput(errors)
    changed = _write(session, kind="value", rows=rows, amounts=amounts, versions=versions, period=period,
                     year=period.year, actor=actor)
    _commit(session)
    return changed


def save_targets(session: Session, *, year: int, raw: Mapping[str, str], versions: dict[int, int],
                 actor: User) -> int:
    """The year's targets of every active indicator (blank: no target). All or nothing."""
    if not can_enter(actor):
        raise PermissionDenied()
    rows = target_sheet(session, year=year)
    amounts, errors = _parse_amounts(rows, raw, "target")
    if errors:
        session.rollback()
        raise InvalidInput(errors)
    changed = _write(session, kind="target", rows=rows, amounts=amounts, versions=versions, period=None, year=year,
                     actor=actor)
    _commit(session)
    return changed


# Import: a sheet read by crm.spreadsheets (indicator, period, value), checked as a whole, then written together

@dataclass
class ImportResult:
    problems: list[RowProblem] = field(default_factory=list)
    rows: int = 0
    changed: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _period_text(value: Any) -> str:
    return value.strftime("%Y-%m") if isinstance(value, date) else str(value or "")


def check_import(session: Session, *, sheet: SheetResult, today: date) -> dict[tuple[int, Period], Decimal]:
    """Adds every domain problem of every row to the sheet's own (unknown indicator, unreadable or future period, a
    month for a quarterly indicator or the reverse, the same indicator and period twice, a negative or too large
    figure); returns the figures, which are only to be written when the sheet has no problem at all."""
    by_name: dict[str, Indicator] = {}
    for indicator in indicators(session):
        for name in (indicator.name_zh, indicator.name_en, indicator.code):
            by_name[name.strip().casefold()] = indicator
    figures: dict[tuple[int, Period], Decimal] = {}
    first_row: dict[tuple[int, Period], int] = {}
    for row in sheet.rows:
        number = row["row_number"]
        indicator = None
        if row.get("indicator"):
            indicator = by_name.get(str(row["indicator"]).strip().casefold())
            if indicator is None:
                sheet.add(number, IMPORT_COLUMNS[0], Msg("No active indicator is called “%(name)s”.",
                                                         name=str(row["indicator"])[:60]))
        period = None
        if row.get("period"):
            period = parse_period(_period_text(row["period"]))
            if period is None:
                sheet.add(number, IMPORT_COLUMNS[1], Msg(
                    "“%(value)s” is not a period: write 2026-03 for a month or 2026-Q1 for a quarter.",
                    value=_period_text(row["period"])[:20]))
            elif problem := check_period(period, today):
                sheet.add(number, IMPORT_COLUMNS[1], problem)
                period = None
            elif indicator is not None and period.frequency != indicator.frequency:
                if indicator.frequency == Frequency.QUARTERLY:
                    wrong = Msg("%(indicator)s is reported quarterly: write the quarter, e.g. 2026-Q1.",
                                indicator=indicator.name_zh)
                else:
                    wrong = Msg("%(indicator)s is reported monthly: write the month, e.g. 2026-03.",
                                indicator=indicator.name_zh)
                sheet.add(number, IMPORT_COLUMNS[1], wrong)
                period = None
        value = None
        if indicator is not None and row.get("value") is not None:
            value, error = parse_value(indicator, row["value"])
            if error:
                sheet.add(number, IMPORT_COLUMNS[2], error)
        if indicator is not None and period is not None:
            key = (indicator.id, period)
            if key in first_row:
                sheet.add(number, IMPORT_COLUMNS[1], Msg(
                    "%(indicator)s %(period)s appears twice: in rows %(first)s and %(second)s.",
                    indicator=indicator.name_zh, period=period.key, first=first_row[key], second=number))
            else:
                first_row[key] = number
                if value is not None:
                    figures[key] = value
    return figures


def import_file(session: Session, *, data: bytes, filename: str, actor: User, today: date) -> ImportResult:
    """All or nothing: with any problem in any row nothing is written, and every problem is listed. A file that is
    not a usable sheet at all raises SheetProblem. Importing the same file again changes nothing."""
    if not can_enter(actor):
        raise PermissionDenied()
    sheet = read_sheet(data, filename, IMPORT_COLUMNS)
    figures = check_import(session, sheet=sheet, today=today)
    result = ImportResult(problems=sheet.sorted_problems(), rows=len(sheet.rows))
    if result.problems:
        session.rollback()
        return result
    by_period: dict[Period, dict[int, Decimal | None]] = defaultdict(dict)
    for (indicator_id, period), value in figures.items():
        by_period[period][indicator_id] = value
    for period in sorted(by_period):
        rows = period_sheet(session, period=period)
        result.changed += _write(session, kind="value", rows=rows, amounts=by_period[period], versions=None,
                                 period=period, year=period.year, actor=actor)
    _commit(session)
    return result


# What the pages show

@dataclass
class Figures:
    """One indicator's standing in a year (see the module's docstring for the definitions)."""

    indicator: Indicator
    year: int
    target: Decimal | None
    values: dict[int, Decimal]  # period number → value, this year
    last_year: dict[int, Decimal]  # the same, last year
    latest: int | None  # the last period of the year with a figure
    expected: Period | None  # the last period that has ended by today (None for a year not yet begun)

    @property
    def periods(self) -> int:
        return self.indicator.periods_per_year

    @property
    def latest_period(self) -> Period | None:
        return Period(self.year, self.indicator.frequency, self.latest) if self.latest else None

    @property
    def latest_value(self) -> Decimal | None:
        return self.values.get(self.latest) if self.latest else None

    def _to_date(self, values: dict[int, Decimal], through: int) -> Decimal | None:
        if self.indicator.kind == Kind.YTD:
            return values.get(through)
        wanted = [values[p] for p in range(1, through + 1) if p in values]
        return sum(wanted, Decimal(0)) if wanted else None

    @property
    def year_to_date(self) -> Decimal | None:
        return self._to_date(self.values, self.latest) if self.latest else None

    @property
    def missing(self) -> list[int]:
        """Periods before the latest without a figure (a `sum` indicator's year-to-date leaves them out)."""
        if not self.latest or self.indicator.kind == Kind.YTD:
            return []
        return [p for p in range(1, self.latest) if p not in self.values]

    @property
    def overdue(self) -> bool:
        """The last period that has ended has no figure yet."""
        return (self.expected is not None and self.expected.year == self.year
                and self.expected.number not in self.values)

    @property
    def progress(self) -> float | None:
        ytd = self.year_to_date
        return float(ytd / self.target) if ytd is not None and self.target else None

    @property
    def time_progress(self) -> float | None:
        return self.latest / self.periods if self.latest else None

    @property
    def gap(self) -> float | None:
        """Progress minus time-elapsed progress, as a fraction (× 100: percentage points)."""
        if self.progress is None or self.time_progress is None:
            return None
        return self.progress - self.time_progress

    @property
    def behind(self) -> bool:
        return self.gap is not None and self.gap < 0

    @property
    def last_year_to_date(self) -> Decimal | None:
        """Last year through the same period; for `sum`, only when last year has every period this year has."""
        if not self.latest:
            return None
        if self.indicator.kind == Kind.SUM:
            periods = [p for p in range(1, self.latest + 1) if p in self.values]
            if any(p not in self.last_year for p in periods):
                return None
            return sum((self.last_year[p] for p in periods), Decimal(0))
        return self.last_year.get(self.latest)

    @property
    def growth(self) -> float | None:
        this, last = self.year_to_date, self.last_year_to_date
        if this is None or not last:
            return None
        return float(this / last) - 1

    def table(self) -> list[tuple[Period, Decimal | None, Decimal | None, Decimal | None, Decimal | None]]:
        """Per period: the period, this year's and last year's figure, and both years' year-to-date."""
        this, last = self.cumulative(self.values), self.cumulative(self.last_year)
        return [(Period(self.year, self.indicator.frequency, n), self.values.get(n), self.last_year.get(n),
                 this[n - 1], last[n - 1]) for n in range(1, self.periods + 1)]

    def cumulative(self, values: dict[int, Decimal]) -> list[Decimal | None]:
        """Year-to-date at each period, None after the last figure."""
        last = max(values, default=0)
        return [self._to_date(values, p) if p <= last else None for p in range(1, self.periods + 1)]


def _figures(session: Session, *, year: int, today: date, chosen: list[Indicator]) -> list[Figures]:
    ids = [i.id for i in chosen]
    targets = dict(session.execute(select(IndicatorTarget.indicator_id, IndicatorTarget.target).where(
        IndicatorTarget.year == year, IndicatorTarget.indicator_id.in_(ids))).all())
    values: dict[tuple[int, int], dict[int, Decimal]] = defaultdict(dict)
    for indicator_id, value_year, period, value in session.execute(
            select(IndicatorValue.indicator_id, IndicatorValue.year, IndicatorValue.period, IndicatorValue.value)
            .where(IndicatorValue.year.in_((year - 1, year)), IndicatorValue.indicator_id.in_(ids))):
        values[(indicator_id, value_year)][period] = value
    result = []
    for indicator in chosen:
        this = values.get((indicator.id, year), {})
        expected = last_complete_period(indicator.frequency, today)
        result.append(Figures(indicator=indicator, year=year, target=targets.get(indicator.id), values=this,
                              last_year=values.get((indicator.id, year - 1), {}), latest=max(this, default=None),
                              expected=expected if expected.year <= year else None))
    return result


def overview(session: Session, *, year: int, today: date) -> list[Figures]:
    """Every active indicator's standing in `year`, in the admin's order: latest figure, year-to-date, target,
    progress against the target and against time-elapsed progress, the same period last year and the growth.
    Two queries whatever the number of indicators. For the overview page, the dashboard and the briefing packs."""
    return _figures(session, year=year, today=today, chosen=indicators(session))


def figures_for(session: Session, *, indicator: Indicator, year: int, today: date) -> Figures:
    return _figures(session, year=year, today=today, chosen=[indicator])[0]


def years_with_figures(session: Session, *, today: date) -> list[int]:
    years = set(session.scalars(select(IndicatorValue.year).distinct()))
    years |= set(session.scalars(select(IndicatorTarget.year).distinct()))
    years.add(today.year)
    return sorted(years, reverse=True)


# How the history reads: an indicator's unit, frequency and kind; its name, stored with its entries and its figures'
# ("地区生产总值" or "地区生产总值 2026-03"), in the reader's language.
def indicator_names(session: Session, stored: set, locale: str) -> dict[str, str]:
    if locale.startswith("zh"):
        return {}
    names = dict(session.execute(select(Indicator.name_zh, Indicator.name_en)).all())
    found = {}
    for label in stored:
        zh, _, period = label.partition(" ")
        if zh in names:
            found[label] = f"{names[zh]} {period}" if period else names[zh]
    return found


audit_labels.register("economic_indicator", label=N_("economic indicator"), url="/indicators/{id}",
                      values={"unit": UNIT_LABELS, "frequency": FREQUENCY_LABELS, "kind": KIND_LABELS},
                      names=audit_labels.Reference(indicator_names))
audit_labels.register("indicator_value", label=N_("indicator figure"), names=audit_labels.Reference(indicator_names))
audit_labels.register("indicator_target", label=N_("indicator target"), names=audit_labels.Reference(indicator_names))
