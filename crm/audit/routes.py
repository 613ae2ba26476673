"""The audit page: the trail filtered, and its .xlsx download. Read-only by design.

Who reads what is crm/audit/access.py: the audit administrator everything, a manager the changes of the records
they may see and their own events; the system administrator and officers are refused (separation of duties)."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.audit import access, chain, labels, service
from crm.audit.models import AuditAction, AuditOutcome
from crm.auth import service as auth_service
from crm.auth.deps import Forbidden, current_user
from crm.auth.models import User
from crm.db import SessionDep
from crm.errors import BadRequest
from crm.i18n import Msg, gettext
from crm.listing import BadListQuery, Page, clamp_page, parse_choice, parse_id, parse_page
from crm.spreadsheets import Column, xlsx_download
from crm.web import Router, render


async def require_audit_reader(user: Annotated[User, Depends(current_user)]) -> User:
    if not access.may_read(user):
        raise Forbidden()
    return user


AuditReader = Annotated[User, Depends(require_audit_reader)]

router = Router(prefix="/admin/audit", dependencies=[Depends(require_audit_reader)])

_ADDRESS_LENGTH = 64


def entity_types() -> list[str]:
    """Every kind of record a domain registered with crm.audit.labels (projects included)."""
    return sorted(labels.ENTITY_LABELS)


def _parse_date(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(Msg("“%(value)s” is not a date: use the form 2026-12-02.", value=raw[:20])) from None


def _filter(request: Request, reader: User) -> service.AuditFilter:
    params = request.query_params
    tz = ZoneInfo(request.app.state.settings.timezone)
    try:
        flt = service.AuditFilter(
            entity_type=parse_choice(params, "entity", entity_types()),
            entity_id=parse_id(params, "record"),
            action=parse_choice(params, "action", [a.value for a in AuditAction]),
            actor_id=parse_id(params, "actor"),
            outcome=parse_choice(params, "outcome", [o.value for o in AuditOutcome]),
            client_address=params.get("address", "").strip()[:_ADDRESS_LENGTH],
            reader=reader,
        )
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    date_from, date_to = _parse_date(params.get("from", "")), _parse_date(params.get("to", ""))
    if date_from:
        flt.since = datetime.combine(date_from, time.min, tzinfo=tz)
    if date_to:
        flt.until = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz)
    return flt


@router.get("")
def index(request: Request, session: SessionDep, reader: AuditReader) -> Response:
    params = request.query_params
    try:
        page_number = parse_page(params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    flt = _filter(request, reader)
    per_page = request.app.state.settings.page_size
    entries, total = service.search(session, flt=flt, offset=(page_number - 1) * per_page, limit=per_page)
    if not entries and total:
        page_number = clamp_page(page_number, total, per_page)
        entries, total = service.search(session, flt=flt, offset=(page_number - 1) * per_page, limit=per_page)
    context = {
        "page": Page(items=entries, total=total, page=page_number, per_page=per_page),
        "params": {k: v for k, v in params.items() if k != "page"},
        "entity_types": entity_types(),
        "actions": [a.value for a in AuditAction],
        "outcomes": [o.value for o in AuditOutcome],
        "outcome_labels": labels.OUTCOME_LABELS,
        "data_actions": {a.value for a in service.DATA_ACTIONS},
        "users": auth_service.list_users(session),
        "refs": service.reference_labels(session, entries, request.state.locale),
        "is_audit_admin": reader.is_audit_admin,
    }
    return render(request, "admin/audit.html", context, block="results")


EXPORT_COLUMNS = (
    Column("id", Msg("Entry"), "int"),
    Column("at", Msg("Time"), "text", width=20),
    Column("user", Msg("User"), "text"),
    Column("event", Msg("Kind of event"), "text"),
    Column("outcome", Msg("Result"), "text"),
    Column("address", Msg("Client address"), "text"),
    Column("channel", Msg("Channel"), "text", width=8),
    Column("entity_type", Msg("Record type"), "text"),
    Column("entity_id", Msg("Record"), "int"),
    Column("entity_label", Msg("Record name"), "text", width=30),
    Column("details", Msg("What was recorded"), "text", width=60),
    Column("chain_seq", Msg("Chain position"), "int"),
    Column("chain_hash", Msg("Chain hash (SHA-256)"), "text", width=66),
)


@router.get("/export.xlsx")
def export(request: Request, session: SessionDep, reader: AuditReader) -> Response:
    """The filtered trail as .xlsx (streamed; the download itself is audited by xlsx_download). Entries are sealed
    first, so each row carries its place in the hash chain."""
    flt = _filter(request, reader)
    chain.seal(request.app.state.database.write_session, delay=timedelta(0))
    locale, zone = request.state.locale, ZoneInfo(request.app.state.settings.timezone)

    def _(message) -> str:
        return gettext(locale, message)

    def rows():
        for entry in service.export_rows(session, flt=flt):
            yield (entry.id, entry.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                   entry.actor.display_name if entry.actor else _(Msg("System")),
                   _(labels.ACTION_LABELS.get(entry.action, entry.action)),
                   _(labels.OUTCOME_LABELS.get(entry.outcome, entry.outcome)), entry.client_address, entry.channel,
                   _(labels.ENTITY_LABELS.get(entry.entity_type, entry.entity_type)) if entry.entity_type else "",
                   entry.entity_id, entry.entity_label,
                   json.dumps(entry.changes, ensure_ascii=False, sort_keys=True, default=str) if entry.changes else "",
                   entry.chain_seq, entry.chain_hash or "")

    return xlsx_download(request, Msg("Audit trail"), EXPORT_COLUMNS, rows())
