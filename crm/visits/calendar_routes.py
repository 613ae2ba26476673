"""The visit calendar (month or week) and the iCalendar export, with the list's filters.

Registered before the visits router so that /visits/calendar and /visits/export.ics are not taken for /visits/{id}.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from crm.auth import service as auth_service
from crm.auth.deps import CurrentUser
from crm.db import SessionDep
from crm.errors import BadRequest
from crm.i18n import DEFAULT_LOCALE, Msg
from crm.listing import BadListQuery, parse_choice
from crm.organizations import service as organization_service
from crm.visits import calendar, filters, service
from crm.visits.schemas import KIND_LABELS, STATUS_LABELS
from crm.web import Router, local_today, render

router = Router(prefix="/visits")

CALENDAR_LIMIT = 1000  # visits on one page of the calendar; more means the filters are too wide
EXPORT_LOOKBACK_DAYS = 90  # with no date filter the export starts this many days ago
FILTER_NAMES = ("q", "kind", "status", "organization", "officer")


def _tz(request: Request) -> str:
    return request.app.state.settings.timezone


@router.get("/calendar")
def calendar_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    params = request.query_params
    timezone, today = _tz(request), local_today(request)
    try:
        view = parse_choice(params, "view", calendar.VIEWS) or "month"
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    if view == "week":
        anchor = calendar.parse_week(params.get("week"), today=today)
        first_day, last_day = anchor, anchor + timedelta(days=6)
    else:
        anchor = calendar.parse_month(params.get("month"), today=today)
        first_day, last_day = calendar.month_span(anchor)
    since, until = calendar.fetch_bounds(first_day, last_day, timezone)
    flt = filters.visit_filter(params, since=since, until=until)
    visits = service.in_range(session, flt=flt, limit=CALENDAR_LIMIT)
    kept = {name: params.get(name, "").strip() for name in FILTER_NAMES if params.get(name, "").strip()}
    context: dict[str, Any] = {
        "view": view, "flt": flt, "params": kept, "today": today, "truncated": len(visits) >= CALENDAR_LIMIT, "limit": CALENDAR_LIMIT,
        "links": calendar.links(view=view, anchor=anchor, today=today, params=kept),
        "grid": calendar.month_grid(anchor, visits, timezone=timezone, today=today) if view == "month" else None,
        "week": calendar.week(anchor, visits, timezone=timezone, today=today) if view == "week" else None,
        "weekday_names": calendar.WEEKDAY_NAMES, "month_names": calendar.MONTH_NAMES,
        "kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS,
        "officers": auth_service.active_users(session),
        "organization": organization_service.get(session, flt.organization_id) if flt.organization_id else None,
    }
    return render(request, "visits/calendar.html", context)


@router.get("/export.ics")
def export_ics(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    params = request.query_params
    timezone, today = _tz(request), local_today(request)
    since, until = filters.date_range(params, timezone, default_from=today - timedelta(days=EXPORT_LOOKBACK_DAYS))
    flt = filters.visit_filter(params, since=since, until=until)
    visits = service.for_export(session, flt=flt)
    settings, locale = request.app.state.settings, getattr(request.state, "locale", DEFAULT_LOCALE)
    zone_name = settings.zone_name_zh if locale.startswith("zh") else settings.zone_name_en
    body = calendar.to_ical(
        visits, host=request.url.hostname or "localhost", timezone=timezone, now=datetime.now(UTC), locale=locale,
        base_url=str(request.base_url), name=Msg("%(zone)s visits", zone=zone_name).translate(locale))
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="visits.ics"', "Cache-Control": "private, no-store"})
