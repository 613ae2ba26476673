"""Indicator labels, periods ("2026-03", "2026-Q1") and the checks a figure must pass, shared by the entry form and
the spreadsheet import so both refuse the same things with the same words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from crm.forms import Field
from crm.i18n import N_, Msg
from crm.indicators.models import Frequency, Indicator, Kind, Unit
from crm.spreadsheets import Column

UNIT_LABELS = {Unit.WAN_CNY: N_("10k CNY"), Unit.CNY: N_("CNY"), Unit.WAN_USD: N_("10k USD")}
FREQUENCY_LABELS = {Frequency.MONTHLY: N_("Monthly"), Frequency.QUARTERLY: N_("Quarterly")}
KIND_LABELS = {Kind.SUM: N_("Period amounts, added up over the year"),
               Kind.YTD: N_("Year-to-date figure as reported")}
MAX_VALUE = Decimal("999999999999.99")  # fits Numeric(16, 2); larger is a typing mistake
FIRST_YEAR = 2000

# The import file (and its template): one row per indicator and period. The unit column is only for the reader.
IMPORT_COLUMNS = (
    Column("indicator", Msg("Indicator"), "text", max_length=100, aliases=("指标名称",)),
    Column("period", Msg("Period"), "text", max_length=20, aliases=("月份", "季度", "期间")),
    Column("value", Msg("Value"), "decimal"),
    Column("unit", Msg("Unit"), "text", required=False, max_length=20),
)


@dataclass(frozen=True, order=True)
class Period:
    """A month (frequency monthly, number 1–12) or a quarter (quarterly, 1–4) of a year."""

    year: int
    frequency: str
    number: int

    @property
    def key(self) -> str:
        if self.frequency == Frequency.QUARTERLY:
            return f"{self.year}-Q{self.number}"
        return f"{self.year}-{self.number:02d}"

    @property
    def first_day(self) -> date:
        month = self.number if self.frequency == Frequency.MONTHLY else 3 * self.number - 2
        return date(self.year, month, 1)

    @property
    def last_day(self) -> date:
        month = self.number if self.frequency == Frequency.MONTHLY else 3 * self.number
        following = date(self.year + 1, 1, 1) if month == 12 else date(self.year, month + 1, 1)
        return date.fromordinal(following.toordinal() - 1)

    def label(self, locale: str) -> str:
        if locale.startswith("zh"):
            if self.frequency == Frequency.QUARTERLY:
                return f"{self.year}年第{self.number}季度"
            return f"{self.year}年{self.number}月"
        if self.frequency == Frequency.QUARTERLY:
            return f"Q{self.number} {self.year}"
        return self.first_day.strftime("%b %Y")

    def short_label(self, locale: str) -> str:
        if self.frequency == Frequency.QUARTERLY:
            return f"{self.number}季度" if locale.startswith("zh") else f"Q{self.number}"
        return f"{self.number}月" if locale.startswith("zh") else self.first_day.strftime("%b")

    def is_future(self, today: date) -> bool:
        """Not begun yet. The running month or quarter may be entered (a preliminary figure)."""
        return self.first_day > today

    def previous(self) -> Period:
        if self.number > 1:
            return Period(self.year, self.frequency, self.number - 1)
        return Period(self.year - 1, self.frequency, 12 if self.frequency == Frequency.MONTHLY else 4)

    def next(self) -> Period:
        last = 12 if self.frequency == Frequency.MONTHLY else 4
        if self.number < last:
            return Period(self.year, self.frequency, self.number + 1)
        return Period(self.year + 1, self.frequency, 1)


def current_period(frequency: str, today: date) -> Period:
    number = today.month if frequency == Frequency.MONTHLY else (today.month - 1) // 3 + 1
    return Period(today.year, frequency, number)


def last_complete_period(frequency: str, today: date) -> Period:
    """The latest month or quarter that has ended by `today`."""
    return current_period(frequency, today).previous()


_MONTH_RE = re.compile(r"^(\d{4})\s*(?:-|/|\.|年)\s*(\d{1,2})\s*(?:月|[-/.]0?1)?$")  # 2026-03-01: a date cell
_QUARTER_RE = re.compile(r"^(\d{4})\s*(?:-|/|\s|年)?\s*(?:Q|第)?\s*([1-4一二三四])\s*(?:季度|季)?$", re.I)
_CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}


def parse_period(text: str) -> Period | None:
    """"2026-03", "2026/3", "2026年3月" → March 2026; "2026-Q1", "2026Q1", "2026年第一季度", "2026年1季度" → Q1."""
    value = text.strip()
    quarter = _QUARTER_RE.match(value)
    if quarter and ("q" in value.lower() or "季" in value):
        number = _CHINESE_DIGITS.get(quarter.group(2)) or int(quarter.group(2))
        return Period(int(quarter.group(1)), Frequency.QUARTERLY, number)
    month = _MONTH_RE.match(value)
    if month and 1 <= int(month.group(2)) <= 12:
        return Period(int(month.group(1)), Frequency.MONTHLY, int(month.group(2)))
    return None


def check_period(period: Period, today: date) -> Msg | None:
    if period.year < FIRST_YEAR:
        return Msg("Figures before %(year)s are not kept.", year=FIRST_YEAR)
    if period.is_future(today):
        return Msg("%(period)s has not begun yet: figures can be entered from its first day.", period=period.key)
    return None


def parse_value(indicator: Indicator, raw: str | Decimal | int | float) -> tuple[Decimal | None, Msg | None]:
    """A figure typed in a form or read from a sheet: a number with at most two decimals, 0 or more unless the
    indicator allows negative figures, and not absurdly large."""
    if isinstance(raw, Decimal | int | float) and not isinstance(raw, bool):
        text = str(raw)
    else:
        text = str(raw).strip().replace(",", "").replace("，", "").replace(" ", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, Msg("“%(value)s” is not a number: use digits, e.g. 5000 or 1200.50.", value=str(raw)[:20])
    if not value.is_finite():
        return None, Msg("“%(value)s” is not a number: use digits, e.g. 5000 or 1200.50.", value=str(raw)[:20])
    if value < 0 and not indicator.allows_negative:
        return None, Msg("Enter a figure of 0 or more.")
    if abs(value) > MAX_VALUE:
        return None, Msg("This figure is too large (at most %(max)s).", max=f"{MAX_VALUE:,.0f}")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        value = value.quantize(Decimal("0.01"))
    return value.quantize(Decimal("0.01")), None


def indicator_fields() -> list[Field]:
    return [
        Field("code", N_("Code"), required=True, max_length=40, checks=[_check_code]),
        Field("name_zh", N_("Chinese name"), required=True, max_length=60),
        Field("name_en", N_("English name"), required=True, max_length=100),
        Field("unit", N_("Unit"), required=True, choices=[u.value for u in Unit]),
        Field("frequency", N_("Frequency"), required=True, choices=[f.value for f in Frequency]),
        Field("kind", N_("How the figures add up"), required=True, choices=[k.value for k in Kind]),
        Field("allows_negative", N_("Figures may be negative"), choices=["1"]),
        Field("position", N_("Order"), max_length=5, checks=[_check_position]),
        Field("is_active", N_("Active"), choices=["1"]),
    ]


_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def _check_code(value: str) -> Msg | None:
    if not _CODE_RE.match(value):
        return Msg("Lower-case letters, digits and _, starting with a letter (e.g. tax_revenue).")
    return None


def _check_position(value: str) -> Msg | None:
    if not value.isdigit() or int(value) > 99999:
        return Msg("Enter a whole number between 0 and %(max)s.", max="99,999")
    return None
