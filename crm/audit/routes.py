"""The audit page (admins only): every recorded change, filtered. Read-only by design."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.audit import service
from crm.audit.models import AuditAction
from crm.auth import service as auth_service
from crm.auth.deps import RequireAdmin, require_admin
from crm.db import SessionDep
from crm.errors import BadRequest
from crm.i18n import Msg
from crm.listing import BadListQuery, Page, clamp_page, parse_choice, parse_id, parse_page
from crm.web import Router, render

router = Router(prefix="/admin/audit", dependencies=[Depends(require_admin)])

ENTITY_TYPES = ("organization", "contact", "visit", "task", "user")


def _parse_date(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(Msg("“%(value)s” is not a date: use the form 2026-12-02.", value=raw[:20])) from None


@router.get("")
def index(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    params = request.query_params
    tz = ZoneInfo(request.app.state.settings.timezone)
    try:
        page_number = parse_page(params)
        flt = service.AuditFilter(
            entity_type=parse_choice(params, "entity", ENTITY_TYPES),
            action=parse_choice(params, "action", [a.value for a in AuditAction]),
            actor_id=parse_id(params, "actor"),
        )
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    date_from, date_to = _parse_date(params.get("from", "")), _parse_date(params.get("to", ""))
    if date_from:
        flt.since = datetime.combine(date_from, time.min, tzinfo=tz)
    if date_to:
        flt.until = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz)
    per_page = request.app.state.settings.page_size
    entries, total = service.search(session, flt=flt, offset=(page_number - 1) * per_page, limit=per_page)
    if not entries and total:
        page_number = clamp_page(page_number, total, per_page)
        entries, total = service.search(session, flt=flt, offset=(page_number - 1) * per_page, limit=per_page)
    context = {
        "page": Page(items=entries, total=total, page=page_number, per_page=per_page),
        "params": {k: v for k, v in params.items() if k != "page"},
        "entity_types": ENTITY_TYPES,
        "actions": [a.value for a in AuditAction],
        "users": auth_service.list_users(session),
        "refs": service.reference_labels(session, entries, request.state.locale),
    }
    return render(request, "admin/audit.html", context, block="results")
