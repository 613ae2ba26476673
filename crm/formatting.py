"""Jinja filters for dates and numbers, in the zone's time zone."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from jinja2 import pass_context
from markupsafe import Markup, escape

from crm.i18n import join_clauses


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


@pass_context
def money_cny(context, value: Decimal | None) -> str:
    """An amount held in 万元, as people read it: 亿元 from 10,000 万 up, two decimals."""
    if value is None:
        return ""
    _ = context["_"]
    if abs(value) >= 10000:
        return _("%(amount)s (100M CNY)", amount=f"{value / 10000:,.2f}")
    return _("%(amount)s (10k CNY)", amount=f"{value:,.2f}")


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
           "join_reasons": join_reasons}


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
