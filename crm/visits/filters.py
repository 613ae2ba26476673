"""The visits list's filters from a query string: one reading for the list, the calendar and the export."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from crm.errors import BadRequest
from crm.i18n import Msg
from crm.listing import BadListQuery, parse_choice, parse_id
from crm.visits.calendar import local_midnight_utc, parse_day
from crm.visits.models import VisitKind, VisitStatus
from crm.visits.service import VisitFilter


def visit_filter(params: Mapping[str, str], *, since: datetime | None = None,
                 until: datetime | None = None) -> VisitFilter:
    """Search, kind, status, organization and officer from the query string; the time range as given."""
    try:
        return VisitFilter(
            q=params.get("q", "").strip()[:100],
            kind=parse_choice(params, "kind", [k.value for k in VisitKind]),
            status=parse_choice(params, "status", [s.value for s in VisitStatus]),
            organization_id=parse_id(params, "organization"),
            officer_id=parse_id(params, "officer"),
            since=since,
            until=until,
        )
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None


def date_range(params: Mapping[str, str], timezone: str, *,
               default_from: date | None = None) -> tuple[datetime | None, datetime | None]:
    """`from` and `to` (local days, both included) as [since, until) in UTC; a clear 400 for a bad date."""
    first, last = parse_day(params.get("from")), parse_day(params.get("to"))
    if first and last and first > last:
        raise BadRequest(Msg("The “from” date is after the “to” date."))
    if first is None and last is None:
        first = default_from
    return (local_midnight_utc(first, timezone) if first else None,
            local_midnight_utc(last + timedelta(days=1), timezone) if last else None)


def from_query(params: Mapping[str, str], timezone: str) -> VisitFilter:
    since, until = date_range(params, timezone)
    return visit_filter(params, since=since, until=until)
