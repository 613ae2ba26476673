"""/admin/backups (the system administrator): the backups taken, the schedule, "back up now", a backup's check and
its download (audited: a backup holds every record and file)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import FileResponse, Response

from crm.audit import web as audit_web
from crm.audit.models import AuditAction
from crm.auth.deps import RequireAdmin, require_admin
from crm.backups import messages, schemas, service
from crm.backups.models import RunStatus, VerifyStatus
from crm.db import RecordId, SessionDep
from crm.errors import BadRequest, NotFound
from crm.forms import FormResult, parse_version
from crm.i18n import Msg
from crm.listing import BadListQuery, parse_page
from crm.web import FormDep, Router, client_address, redirect, render

router = Router(prefix="/admin/backups", dependencies=[Depends(require_admin)])
PER_PAGE = 30


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _context(request: Request, session, *, page: int = 1, form: FormResult | None = None,
             stale: bool = False) -> dict[str, Any]:
    settings = request.app.state.settings
    stored = service.current_settings(session)
    if form is None:
        form = FormResult(values={"hour": str(stored.hour), "keep": str(stored.keep),
                                  "enabled": "1" if stored.enabled else ""})
    runs = service.runs_page(session, page=page, per_page=PER_PAGE)
    busy = service.running(session) is not None or any(r.verify_status == VerifyStatus.RUNNING for r in runs.items)
    return {"page": runs, "form": form, "schedule": stored, "stale": stale, "busy": busy, "size": _size,
            "directory": str(settings.resolved_backup_dir), "last_success": service.last_success(session),
            "hours": [(str(h), f"{h:02d}:00") for h in range(24)], "RunStatus": RunStatus,
            "VerifyStatus": VerifyStatus, "keep_min": schemas.KEEP_MIN, "keep_max": schemas.KEEP_MAX,
            "readable": lambda text: messages.readable(text, getattr(request.state, "locale", "zh_CN"))}


@router.get("")
def index(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    try:
        page = parse_page(request.query_params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    return render(request, "admin/backups.html", _context(request, session, page=page), block="runs")


@router.post("/settings")
def save_settings(request: Request, session: SessionDep, admin: RequireAdmin, raw: FormDep) -> Response:
    form = schemas.parse_settings(raw)
    if not form.ok:
        session.rollback()
        return render(request, "admin/backups.html", _context(request, session, form=form), status_code=422)
    try:
        service.save_settings(session, data=form.data, version=parse_version(raw), actor=admin,
                              client_address=client_address(request))
    except service.StaleSettings:
        return render(request, "admin/backups.html", _context(request, session, form=form, stale=True),
                      status_code=409)
    return redirect(request, "/admin/backups", flash=Msg("Backup schedule saved."))


@router.post("/run")
def run_now(request: Request, session: SessionDep, admin: RequireAdmin, raw: FormDep) -> Response:
    if raw.get("confirm") != "1":
        raise BadRequest(Msg("Use the Back up now button."))
    run = service.start(session, kind="manual", actor=admin, client_address=client_address(request))
    if run is None:
        return redirect(request, "/admin/backups", flash=Msg("A backup is already running: it is shown below."))
    service.in_background(service.execute, database=request.app.state.database, settings=request.app.state.settings,
                          run_id=run.id)
    return redirect(request, "/admin/backups", flash=Msg("The backup has started; this page shows when it is done."))


@router.post("/{run_id}/verify")
def verify(request: Request, session: SessionDep, admin: RequireAdmin, run_id: RecordId) -> Response:
    settings = request.app.state.settings
    run = service.get_run(session, run_id)
    if run is None:
        raise NotFound()
    try:
        started = service.start_verify(session, run=run, settings=settings, actor=admin,
                                       client_address=client_address(request))
    except service.NotAvailable:
        session.rollback()
        raise NotFound() from None
    if started:
        service.in_background(service.verify_run, database=request.app.state.database, settings=settings,
                              run_id=run.id)
        return redirect(request, "/admin/backups", flash=Msg("The backup is being checked."))
    return redirect(request, "/admin/backups", flash=Msg("The backup is already being checked."))


@router.get("/{run_id}/download")
def download(request: Request, session: SessionDep, admin: RequireAdmin, run_id: RecordId) -> Response:
    run = service.get_run(session, run_id)
    if run is None:
        raise NotFound()
    try:
        path = service.backup_path(request.app.state.settings, run)
    except service.NotAvailable:
        raise NotFound() from None
    session.rollback()
    audit_web.record(request, event=AuditAction.DOWNLOAD, entity_type=service.AUDIT_ENTITY, entity_id=run.id,
                     entity_label=run.file_name,
                     details={"list": request.url.path, "name": run.file_name, "format": "tar.gz",
                              "size": run.size_bytes, "sha256": run.sha256})
    return FileResponse(path, media_type="application/gzip", filename=run.file_name,
                        headers={"Cache-Control": "no-store"})
