"""Jinja filters for dates and numbers, in the zone's time zone."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import pass_context
from markupsafe import Markup, escape


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


def iso_utc(value: datetime | None) -> str:
    return value.isoformat() if value else ""


FILTERS = {"local_datetime": local_datetime, "local_date": local_date, "iso_utc": iso_utc, "highlight": highlight}


def label_options(labels: dict, gettext) -> list[tuple[str, str]]:
    """(value, translated label) pairs for a select, from a {value: message id} mapping."""
    return [(str(value), gettext(label)) for value, label in labels.items()]


def industry_options(chains, locale: str) -> list[tuple[str, str]]:
    return [(str(chain.id), chain.label(locale)) for chain in chains]


def user_options(users) -> list[tuple[str, str]]:
    return [(str(user.id), user.display_name) for user in users]


GLOBALS = {"label_options": label_options, "industry_options": industry_options, "user_options": user_options}
