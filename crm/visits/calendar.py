"""The visit calendar and the iCalendar export, as pure functions (no database, no request).

Month grids and weeks run Monday to Sunday. A visit is placed on every local day it covers (an outbound trip of
three days shows on all three), in the zone's time zone; times are stored in UTC.
`to_ical` writes RFC 5545 text with the icalendar package (escaping, folding, CRLF, the zone as a VTIMEZONE).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vText, vUri

from crm.errors import BadRequest
from crm.i18n import DEFAULT_LOCALE, N_, Msg, gettext
from crm.visits.models import Visit, VisitStatus
from crm.visits.schemas import KIND_LABELS

MONTH_NAMES = ("", N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"), N_("July"),
               N_("August"), N_("September"), N_("October"), N_("November"), N_("December"))
WEEKDAY_NAMES = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))  # date.weekday() order
VIEWS = ("month", "week")
MIN_YEAR, MAX_YEAR = 2000, 2100
# A visit shows on at most this many days, and the calendar looks this far back for visits still under way.
MAX_SPAN_DAYS = 31
ICAL_STATUS = {VisitStatus.PLANNED: "TENTATIVE", VisitStatus.DONE: "CONFIRMED", VisitStatus.CANCELLED: "CANCELLED"}

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# Parsing the query string

def parse_month(raw: str | None, *, today: date) -> date:
    """`?month=2026-12` → the first of that month; empty → this month."""
    raw = (raw or "").strip()
    if not raw:
        return today.replace(day=1)
    match = _MONTH.match(raw)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BadRequest(Msg("“%(value)s” is not a month: use the form 2026-12.", value=raw[:20]))
    year = int(match.group(1))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadRequest(Msg("Choose a date between 2000 and 2100."))
    return date(year, int(match.group(2)), 1)


def parse_day(raw: str | None) -> date | None:
    """`2026-12-07` → that date; empty → None."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        if not _DAY.match(raw):
            raise ValueError(raw)
        parsed = date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(Msg("“%(value)s” is not a date: use the form 2026-12-02.", value=raw[:20])) from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise BadRequest(Msg("Choose a date between 2000 and 2100."))
    return parsed


def parse_week(raw: str | None, *, today: date) -> date:
    """`?week=2026-12-09` (any day of the week) → that week's Monday; empty → this week's Monday."""
    return week_start(parse_day(raw) or today)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_end(first: date) -> date:
    """The last day of `first`'s month."""
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return following - timedelta(days=1)


# Time zone arithmetic

def local_midnight_utc(day: date, timezone: str) -> datetime:
    """The instant `day` begins in `timezone`, in UTC."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def fetch_bounds(first_day: date, last_day: date, timezone: str) -> tuple[datetime, datetime]:
    """[since, until) in UTC for the visits to show on days first_day..last_day (local), including visits that
    started up to MAX_SPAN_DAYS earlier and are still under way."""
    return (local_midnight_utc(first_day - timedelta(days=MAX_SPAN_DAYS), timezone),
            local_midnight_utc(last_day + timedelta(days=1), timezone))


# The grid

@dataclass
class Entry:
    """A visit as it shows on one day: `start`/`end` are local HH:MM when it starts/ends that day, else ""."""

    visit: Visit
    start: str
    end: str

    @property
    def continued(self) -> bool:
        return not self.start


@dataclass
class Day:
    date: date
    in_month: bool = True
    is_today: bool = False
    entries: list[Entry] = field(default_factory=list)

    @property
    def weekday_name(self) -> str:
        return WEEKDAY_NAMES[self.date.weekday()]

    @property
    def month_name(self) -> str:
        return MONTH_NAMES[self.date.month]


@dataclass
class MonthGrid:
    first: date  # the first of the month shown
    weeks: list[list[Day]]

    @property
    def month_name(self) -> str:
        return MONTH_NAMES[self.first.month]

    @property
    def days(self) -> list[Day]:
        return [day for week in self.weeks for day in week]


@dataclass
class Week:
    start: date  # Monday
    days: list[Day]

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)


def month_span(first: date) -> tuple[date, date]:
    """The Monday before (or on) the first of the month and the Sunday after (or on) its last day."""
    last = month_end(first)
    return week_start(first), last + timedelta(days=6 - last.weekday())


def _place(days: dict[date, Day], visits: Iterable[Visit], timezone: str) -> None:
    zone = ZoneInfo(timezone)
    for visit in visits:
        starts = visit.starts_at.astimezone(zone)
        ends = max(visit.ends_at.astimezone(zone), starts)
        # A visit ending exactly at midnight does not show on the day that midnight begins.
        last = (ends - timedelta(microseconds=1)).date() if ends > starts else starts.date()
        last = min(last, starts.date() + timedelta(days=MAX_SPAN_DAYS - 1))
        day = starts.date()
        while day <= last:
            if day in days:
                days[day].entries.append(Entry(
                    visit=visit, start=starts.strftime("%H:%M") if day == starts.date() else "",
                    end=ends.strftime("%H:%M") if day == ends.date() and ends > starts else ""))
            day += timedelta(days=1)
    for cell in days.values():
        # Visits under way since an earlier day first, then by start time (the input is in time order).
        cell.entries.sort(key=lambda e: (not e.continued, e.start))


def month_grid(first: date, visits: Iterable[Visit], *, timezone: str, today: date) -> MonthGrid:
    """Weeks (Monday first) covering `first`'s month, each day with the visits on it."""
    start, end = month_span(first)
    days = {start + timedelta(days=i): Day(date=start + timedelta(days=i)) for i in range((end - start).days + 1)}
    for day in days.values():
        day.in_month = day.date.month == first.month
        day.is_today = day.date == today
    _place(days, visits, timezone)
    ordered = list(days.values())
    return MonthGrid(first=first, weeks=[ordered[i:i + 7] for i in range(0, len(ordered), 7)])


def week(monday: date, visits: Iterable[Visit], *, timezone: str, today: date) -> Week:
    days = {monday + timedelta(days=i): Day(date=monday + timedelta(days=i)) for i in range(7)}
    for day in days.values():
        day.is_today = day.date == today
    _place(days, visits, timezone)
    return Week(start=monday, days=list(days.values()))


# Links

@dataclass
class Links:
    prev: str
    next: str
    today: str
    month_view: str
    week_view: str


def _url(path: str, params: Mapping[str, Any], **overrides: Any) -> str:
    merged = {**params, **overrides}
    query = urlencode({k: v for k, v in merged.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


def links(*, view: str, anchor: date, today: date, params: Mapping[str, Any], path: str = "/visits/calendar") -> Links:
    """Previous/next/today, and the other view, keeping the filters in `params` (kind, status, ...).
    `anchor` is the first of the month shown (month view) or the Monday of the week shown (week view)."""
    if view == "week":
        return Links(
            prev=_url(path, params, view="week", week=(anchor - timedelta(days=7)).isoformat()),
            next=_url(path, params, view="week", week=(anchor + timedelta(days=7)).isoformat()),
            today=_url(path, params, view="week"),
            month_view=_url(path, params, month=f"{anchor.year:04d}-{anchor.month:02d}"),
            week_view=_url(path, params, view="week", week=anchor.isoformat()),
        )
    before = anchor - timedelta(days=1)
    after = month_end(anchor) + timedelta(days=1)
    in_month = today.year == anchor.year and today.month == anchor.month
    return Links(
        prev=_url(path, params, month=f"{before.year:04d}-{before.month:02d}"),
        next=_url(path, params, month=f"{after.year:04d}-{after.month:02d}"),
        today=_url(path, params),
        month_view=_url(path, params, month=f"{anchor.year:04d}-{anchor.month:02d}"),
        week_view=_url(path, params, view="week", week=None if in_month else week_start(anchor).isoformat()),
    )


# iCalendar (RFC 5545), built with the icalendar package: it escapes text, folds lines at 75 octets and writes the
# zone as a VTIMEZONE. Text is cleaned first (any line break as \n, other controls dropped).

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(value: str) -> str:
    """A TEXT value's content: line breaks as LF, other control characters dropped (icalendar escapes the rest)."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def escape_text(value: str) -> str:
    """A TEXT value as written to the file: backslash, semicolon and comma escaped, any line break as \\n."""
    return vText(clean_text(value)).to_ical().decode()


def fold(line: str, limit: int = 75) -> str:
    """One content line folded into lines of at most `limit` octets (CRLF then a space), never splitting a
    UTF-8 character; continuation lines count their leading space. (The feeds are folded by icalendar.)"""
    parts: list[str] = []
    current, size, room = [], 0, limit
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > room:
            parts.append("".join(current))
            current, size, room = [], 0, limit - 1
        current.append(char)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts)


def ical_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _description(visit: Visit, *, timezone: str, locale: str) -> str:
    def _(message: str, **params: Any) -> str:
        return gettext(locale, message, **params)

    def line(label: str, value: str) -> str:
        return _("%(label)s: %(value)s", label=_(label), value=value)

    lines = [line(N_("Kind"), _(KIND_LABELS.get(visit.kind, visit.kind)))]
    names = [vo.organization.name for vo in visit.organizations]
    if names:
        lines.append(line(N_("Organizations"), ("、" if locale.startswith("zh") else ", ").join(names)))
    if visit.stops:
        zone = ZoneInfo(timezone)
        lines.append(_("%(label)s:", label=_("Tour")))
        for number, stop in enumerate(visit.stops, start=1):
            when = f" {stop.starts_at.astimezone(zone):%H:%M}" if stop.starts_at else ""
            lines.append(f"{number}. {stop.organization.name}{when}")
    if visit.outcome.strip():
        lines.append(line(N_("Outcome"), visit.outcome.strip()))
    return "\n".join(lines)


def new_calendar(*, name: str, timezone: str) -> Calendar:
    """An empty calendar named `name`, in `timezone` (X-WR-TIMEZONE; serialize adds the VTIMEZONE of any zone that
    an event's times are given in)."""
    cal = Calendar()
    cal.add("prodid", "-//Investment CRM//Visits//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", clean_text(name))
    cal.add("x-wr-timezone", timezone)
    return cal


def visit_event(visit: Visit, *, host: str, base: str, now: datetime, timezone: str, locale: str) -> Event:
    """One visit as a VEVENT (times in UTC). `visit` needs organizations and stops (with their organizations)."""
    event = Event()
    event.add("uid", f"visit-{visit.id}@{host}")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", visit.starts_at.astimezone(UTC))
    event.add("dtend", max(visit.ends_at, visit.starts_at).astimezone(UTC))
    event.add("summary", clean_text(visit.title))
    if visit.place.strip():
        event.add("location", clean_text(visit.place.strip()))
    event.add("description", clean_text(_description(visit, timezone=timezone, locale=locale)))
    event.add("status", ICAL_STATUS.get(visit.status, "TENTATIVE"))
    event.add("sequence", max(0, (visit.version or 1) - 1))
    if visit.updated_at:
        event.add("last-modified", visit.updated_at.astimezone(UTC))
    event.add("url", vUri(f"{base}/visits/{visit.id}"))
    return event


def serialize(cal: Calendar) -> str:
    """The calendar as RFC 5545 text (CRLF, folded), its properties in the order they were added, with a
    VTIMEZONE for each zone its events' times are given in (TZID=...)."""
    cal.add_missing_timezones()
    return cal.to_ical(sorted=False).decode("utf-8")


def to_calendar(visits: Iterable[Visit], *, host: str, timezone: str, now: datetime, locale: str = DEFAULT_LOCALE,
                base_url: str | None = None, name: str | None = None) -> Calendar:
    """A calendar with one VEVENT per visit. `visits` need organizations and stops (with their organizations)
    loaded; `base_url` (default https://host) makes each event's URL to the visit page."""
    base = (base_url or f"https://{host}").rstrip("/")
    cal = new_calendar(name=name if name is not None else Msg("Visits").translate(locale), timezone=timezone)
    for visit in visits:
        cal.add_component(visit_event(visit, host=host, base=base, now=now, timezone=timezone, locale=locale))
    return cal


def to_ical(visits: Iterable[Visit], *, host: str, timezone: str, now: datetime, locale: str = DEFAULT_LOCALE,
            base_url: str | None = None, name: str | None = None) -> str:
    """to_calendar(...) as RFC 5545 text."""
    return serialize(to_calendar(visits, host=host, timezone=timezone, now=now, locale=locale, base_url=base_url,
                                 name=name))
