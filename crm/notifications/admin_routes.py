"""Reminder administration: rules on or off with their N days, time and default channels; the scheduler's jobs;
the outbox (pending, sent, failed) with a retry button."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.auth.deps import RequireAdmin, require_admin
from crm.db import RecordId, SessionDep
from crm.errors import BadRequest, NotFound
from crm.forms import FormResult
from crm.i18n import Msg
from crm.listing import BadListQuery, parse_choice, parse_page
from crm.notifications import schemas, service
from crm.notifications.models import DeliveryStatus
from crm.notifications.rules import ALL, BY_CODE
from crm.scheduling import service as scheduling_service
from crm.web import FormDep, Router, redirect, render

router = Router(prefix="/admin/reminders", dependencies=[Depends(require_admin)])
PER_PAGE = 50


def _context(session, *, forms: dict[str, FormResult] | None = None) -> dict[str, Any]:
    settings = service.rule_settings(session)
    forms = forms or {}
    for code, s in settings.items():
        forms.setdefault(code, FormResult(values={
            "enabled": "1" if s.enabled else "", "days": str(s.days or ""), "at_time": s.at_time.strftime("%H:%M"),
            "in_app": "1" if s.in_app else "", "email": "1" if s.email else "", "webhook": "1" if s.webhook else ""}))
    return {"rules": ALL, "forms": forms, "jobs": scheduling_service.jobs(session),
            "counts": service.outbox_counts(session), "status_labels": schemas.STATUS_LABELS,
            "channel_labels": schemas.CHANNEL_LABELS}


@router.get("")
def index(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return render(request, "admin/reminders.html", _context(session))


@router.post("/rules/{code}")
def update_rule(request: Request, session: SessionDep, admin: RequireAdmin, code: str, raw: FormDep) -> Response:
    rule = BY_CODE.get(code)
    if rule is None:
        raise NotFound()
    form = schemas.parse_rule(raw, has_days=bool(rule.days_label))
    if form.ok:
        service.update_rule(session, code=code, data=form.data, actor=admin)
        return redirect(request, "/admin/reminders", flash=Msg("Reminder settings saved."))
    return render(request, "admin/reminders.html", _context(session, forms={code: form}), status_code=422)


@router.get("/outbox")
def outbox(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    params = request.query_params
    try:
        status = parse_choice(params, "status", [s.value for s in DeliveryStatus])
        page = parse_page(params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    context = {"page": service.outbox_page(session, status=status, page=page, per_page=PER_PAGE), "status": status,
               "params": {"status": status} if status else {}, "counts": service.outbox_counts(session),
               "status_labels": schemas.STATUS_LABELS, "channel_labels": schemas.CHANNEL_LABELS, "rules": BY_CODE}
    return render(request, "admin/outbox.html", context, block="rows")


@router.post("/outbox/{outbox_id}/retry")
def retry(request: Request, session: SessionDep, admin: RequireAdmin, outbox_id: RecordId) -> Response:
    try:
        service.retry(session, outbox_id=outbox_id, actor=admin)
    except service.NotRetryable:
        raise BadRequest(Msg("Only a failed delivery can be retried.")) from None
    return redirect(request, "/admin/reminders/outbox?status=failed",
                    flash=Msg("The delivery will be tried again at the scheduler's next pass."))
