"""/admin/export (the system administrator): what the full export holds, and its download, /admin/export.zip —
built into a temporary file (the workbook and the zip on disk, never in memory), audited with its counts, then
streamed and deleted."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import Depends, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from crm.audit import web as audit_web
from crm.audit.models import AuditAction
from crm.auth.deps import RequireAdmin, require_admin
from crm.data_export import columns, service
from crm.db import SessionDep
from crm.i18n import Msg
from crm.spreadsheets import content_disposition
from crm.web import Router, local_today, render

# What each sheet holds, in the reader's language (the sheet's own name in the file is Chinese, as a zone writes it).
SHEET_LABELS = {
    "organizations": Msg("Sheet: Organizations"),
    "contacts": Msg("Sheet: Contacts"),
    "projects": Msg("Sheet: Projects"),
    "project_investors": Msg("Sheet: Project investors"),
    "stage_changes": Msg("Sheet: Stage changes"),
    "decisions": Msg("Sheet: Collective decisions"),
    "approval_items": Msg("Sheet: Approval items"),
    "parcels": Msg("Sheet: Land parcels"),
    "groundbreaking_events": Msg("Sheet: Groundbreaking events"),
    "groundbreaking_slates": Msg("Sheet: Groundbreaking slates"),
    "visits": Msg("Sheet: Visits"),
    "visit_members": Msg("Sheet: Visitors"),
    "visit_hosts": Msg("Sheet: Our hosts"),
    "tour_stops": Msg("Sheet: Tour stops"),
    "follow_ups": Msg("Sheet: Follow-ups"),
    "export_pool": Msg("Sheet: Export pool"),
    "export_figures": Msg("Sheet: Export figures"),
    "export_targets": Msg("Sheet: Export targets"),
    "export_support": Msg("Sheet: Export support"),
    "indicators": Msg("Sheet: Economic indicators"),
    "indicator_values": Msg("Sheet: Indicator values"),
    "indicator_targets": Msg("Sheet: Indicator targets"),
    "department_targets": Msg("Sheet: Department targets"),
    "officer_targets": Msg("Sheet: Officer targets"),
    "industry_chains": Msg("Sheet: Industry chains"),
    "users": Msg("Sheet: Users"),
    "attachments": Msg("Sheet: Attachments"),
    "briefing_files": Msg("Sheet: Briefing files"),
}

router = Router(prefix="/admin/export", dependencies=[Depends(require_admin)])


@router.get("")
def index(request: Request, admin: RequireAdmin) -> Response:
    return render(request, "admin/export.html", {"sheets": columns.SHEETS, "import_sheets": columns.IMPORT_SHEETS,
                                                 "labels": SHEET_LABELS})


@router.get(".zip")
def download(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    settings = request.app.state.settings
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=settings.data_dir))
    try:
        zip_path = work / "export.zip"
        build = work / "build"
        build.mkdir()
        with zip_path.open("wb") as target:
            result = service.write_export(session, target, data_dir=settings.data_dir, timezone=settings.timezone,
                                          work_dir=build, exported_by=admin.username)
        session.rollback()  # the read transaction ends before the audit entry's own
        audit_web.record(request, event=AuditAction.DOWNLOAD, details={
            "list": request.url.path, "name": "Full export", "format": "zip", "rows": result.rows,
            "files": result.files, "missing_files": result.missing, "counts": result.counts, "filters": {}})
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    name = f"全部数据-{local_today(request).isoformat()}.zip"
    return FileResponse(zip_path, media_type="application/zip", headers={
        "Content-Disposition": content_disposition(name), "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"}, background=BackgroundTask(shutil.rmtree, work, ignore_errors=True))
