"""Jinja filters for dates and numbers, in the zone's time zone."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from jinja2 import pass_context
from markupsafe import Markup, escape

from crm.i18n import N_, join_clauses


@pass_context
def local_datetime(context, value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(context["timezone"])).strftime("%Y-%m-%d %H:%M")


@pass_context
def local_date(context, value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(context["timezone"])).strftime("%Y-%m-%d")


@pass_context
def prose_date(context, value: datetime | None) -> str:
    """A date as it reads in a sentence: 12月2日 in Chinese, 2 Dec in English."""
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(context["timezone"]))
    if str(context.get("locale", "")).startswith("zh"):
        return f"{local.month}月{local.day}日"
    return f"{local.day} {local.strftime('%b')}"


def highlight(text: str | None, query: str) -> Markup:
    """`text` escaped, with each case-insensitive occurrence of `query` wrapped in <mark>."""
    text = text or ""
    if not query:
        return escape(text)
    pattern = re.compile(re.escape(query), re.IGNORECASE)
    parts, last = [], 0
    for match in pattern.finditer(text):
        parts.append(escape(text[last:match.start()]))
        parts.append(Markup("<mark>%s</mark>") % match.group(0))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def snippet(text: str | None, query: str, width: int = 40) -> Markup:
    """The part of a long text around the first match of `query`, highlighted; empty when it does not match."""
    text = text or ""
    at = text.lower().find(query.lower()) if query else -1
    if at < 0:
        return Markup("")
    start, end = max(0, at - width), min(len(text), at + len(query) + width)
    return (Markup("…") if start else Markup("")) + highlight(text[start:end], query) + (Markup("…") if end < len(text) else Markup(""))


# Amounts held in 万元 read in 亿元 from 1 亿 up. Figures shown together (a table's column, a chart's bars and the
# total beside them) share one unit, chosen by cny_unit from all of them: the column's header names it and its cells
# are bare numbers (`{{ value|cny(unit) }}`), or every figure carries it (`{{ value|money_cny(unit) }}`).
WAN_PER_YI = Decimal(10000)
CNY_UNITS = {"wan": N_("10k CNY"), "yi": N_("100M CNY")}
_CNY_AMOUNTS = {"wan": N_("%(amount)s (10k CNY)"), "yi": N_("%(amount)s (100M CNY)")}


def cny_unit(values) -> str:
    """The one unit for amounts (in 万元) shown together: "yi" (亿元) when the largest reaches 1 亿, else "wan"."""
    largest = max((abs(Decimal(v)) for v in values if v is not None), default=Decimal(0))
    return "yi" if largest >= WAN_PER_YI else "wan"


def cny(value: Decimal | int | None, unit: str) -> str:
    """An amount held in 万元 as a bare number in `unit` ("wan" or "yi"), two decimals: for a column whose header
    names the unit."""
    if value is None:
        return ""
    amount = Decimal(value)
    return f"{amount / WAN_PER_YI if unit == 'yi' else amount:,.2f}"


def cny_text(value: Decimal | int | None, unit: str, gettext) -> str:
    """An amount with its unit in the reader's language; `gettext(msgid, **params)`."""
    return "" if value is None else gettext(_CNY_AMOUNTS[unit], amount=cny(value, unit))


@pass_context
def money_cny(context, value: Decimal | None, unit: str | None = None) -> str:
    """An amount held in 万元 with its unit, as people read it: in `unit`, or for a figure on its own 亿元 from
    1 亿 up, two decimals."""
    if value is None:
        return ""
    return cny_text(value, unit or cny_unit([value]), context["_"])


@pass_context
def with_cny_unit(context, label: str, unit: str) -> str:
    """A column header that names the column's unit: `{{ _("Total investment")|with_cny_unit(unit) }}`."""
    _ = context["_"]
    return _("%(label)s (%(unit)s)", label=label, unit=_(CNY_UNITS[unit]))


@pass_context
def money_usd(context, value: Decimal | None) -> str:
    if value is None:
        return ""
    _ = context["_"]
    return _("%(amount)s (10k USD)", amount=f"{value:,.2f}")


def number(value: Decimal | int | float | None, places: int = 2) -> str:
    return "" if value is None else f"{value:,.{places}f}"


@pass_context
def join_reasons(context, parts) -> str:
    """`{{ reasons|join_reasons }}`: crm.i18n.join_clauses in the page's language (parts already translated)."""
    return join_clauses(parts, str(context.get("locale", "")))


def iso_utc(value: datetime | None) -> str:
    return value.isoformat() if value else ""


FILTERS = {"local_datetime": local_datetime, "prose_date": prose_date, "local_date": local_date, "iso_utc": iso_utc,
           "highlight": highlight, "snippet": snippet, "money_cny": money_cny, "money_usd": money_usd, "number": number,
           "join_reasons": join_reasons, "cny_unit": cny_unit, "cny": cny, "with_cny_unit": with_cny_unit}


def label_options(labels: dict, gettext) -> list[tuple[str, str]]:
    """(value, translated label) pairs for a select, from a {value: message id} mapping."""
    return [(str(value), gettext(label)) for value, label in labels.items()]


def industry_options(chains, locale: str) -> list[tuple[str, str]]:
    return [(str(chain.id), chain.label(locale)) for chain in chains]


def user_options(users) -> list[tuple[str, str]]:
    return [(str(user.id), user.display_name) for user in users]


def name_options(records) -> list[tuple[str, str]]:
    """(id, name) pairs for a select of records that have a name (organizations, contacts)."""
    return [(str(record.id), record.name) for record in records]


GLOBALS = {"label_options": label_options, "industry_options": industry_options, "user_options": user_options,
           "name_options": name_options}
