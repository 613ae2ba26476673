"""The briefing tab of a visit (生成简报): talking points, the generate screen (variant, preview, PDF), and the
generated files with their progress while they render in the background."""

from __future__ import annotations

import contextlib
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from crm.audit import web as audit_web
from crm.auth.deps import CurrentUser, Forbidden
from crm.briefings import documents, generation, service
from crm.briefings.models import FileStatus, Variant
from crm.db import RecordId, SessionDep
from crm.errors import BadRequest, NotFound
from crm.forms import FormResult, unchecked
from crm.i18n import N_, Msg
from crm.security_headers import policy_allowing_styles
from crm.visits import service as visit_service
from crm.visits.deps import VisitDep
from crm.web import FormDep, Router, is_htmx, local_today, redirect, render

router = Router(prefix="/visits/{visit_id}/briefing")

VARIANT_LABELS = {Variant.INTERNAL: N_("Internal (everything)"),
                  Variant.EXTERNAL: N_("External-safe (for the guests: no mobiles, internal notes, confidential projects or talking points)")}
STATUS_LABELS = {FileStatus.PENDING: N_("Waiting"), FileStatus.RUNNING: N_("Generating…"),
                 FileStatus.DONE: N_("Ready"), FileStatus.FAILED: N_("Failed")}


def _settings(request: Request):
    return request.app.state.settings


def _files(request: Request, session, visit_id: int) -> list:
    settings = _settings(request)
    service.expire_stuck(session, visit_id=visit_id, older_than=generation.stuck_after(settings),
                         running_ids=generation.shared(settings).running_ids())
    return service.files_for(session, visit_id)


def _context(request: Request, session, visit, user, *, form: FormResult | None = None, **extra: Any) -> dict[str, Any]:
    note = service.current_note(session, visit.id)
    if form is None:
        form = FormResult(values={"talking_points": note.body if note else "",
                                  "revision": str(note.revision if note else 0)})
    return {"visit": visit, "note": note, "history": service.note_history(session, visit.id),
            "files": _files(request, session, visit.id), "can_change": visit_service.can_change(user, visit),
            "form": form, "variant_labels": VARIANT_LABELS, "status_labels": STATUS_LABELS,
            "may_read": lambda f: service.may_read_file(user, f), "max_chars": service.MAX_TALKING_POINTS,
            "stale": None, **extra}


@router.get("")
def show(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep) -> Response:
    return render(request, "briefings/show.html", _context(request, session, visit, user), block="files")


@router.post("/notes")
def save_notes(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, raw: FormDep) -> Response:
    if not visit_service.can_change(user, visit):
        raise Forbidden()
    body = unchecked(raw, "talking_points")  # control characters are refused beside the field (service.save_note)
    body = body if isinstance(body, str) else ""
    revision_raw = str(raw.get("revision", ""))
    if not revision_raw.isdigit():
        raise BadRequest(Msg("The request had a value the page cannot use. Go back and check what you entered."))
    form = FormResult(values={"talking_points": body, "revision": revision_raw})
    try:
        service.save_note(session, visit=visit, body=body, based_on=int(revision_raw), actor=user)
    except service.PermissionDenied:
        raise Forbidden() from None
    except service.InvalidNote as bad:
        form.add_error("talking_points", bad.message)
        return render(request, "briefings/show.html", _context(request, session, visit, user, form=form),
                      block="notes", status_code=422)
    except service.StaleNote:
        current = service.current_note(session, visit.id)
        form.values["revision"] = str(current.revision if current else 0)
        form.add_error("talking_points", Msg("Someone saved the talking points while you were editing. Their text "
                                             "is shown below yours; merge them and save again."))
        return render(request, "briefings/show.html",
                      _context(request, session, visit, user, form=form, stale=current), block="notes", status_code=409)
    return redirect(request, f"/visits/{visit.id}/briefing", flash=Msg("Talking points saved."))


def _variant(value: str | None) -> str:
    if value not in (Variant.INTERNAL, Variant.EXTERNAL):
        raise BadRequest(Msg("Choose which version to generate."))
    return value


@router.get("/preview")
def preview(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, variant: str = "") -> Response:
    """The pack as HTML: the same data function and template as the PDF."""
    variant = _variant(variant)
    settings, locale = _settings(request), request.state.locale
    pack = service.pack(session, visit=visit, viewer=user, variant=variant, timezone=settings.timezone,
                        today=local_today(request), locale=locale)
    html = documents.pack_html(pack, locale=locale, timezone=settings.timezone,
                               zone_name=generation.zone_name(settings, locale), preview=True,
                               back_url=f"/visits/{visit.id}/briefing")
    return HTMLResponse(html, headers={"Cache-Control": "private, no-store", "Vary": "HX-Request",
                                       "Content-Security-Policy": policy_allowing_styles(html)})  # the print CSS


@router.post("/files")
def generate(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, raw: FormDep) -> Response:
    variant = str(raw.get("variant", ""))
    if variant not in (Variant.INTERNAL, Variant.EXTERNAL):
        context = _context(request, session, visit, user, variant_error=Msg("Choose which version to generate."))
        return render(request, "briefings/show.html", context, block="generate", status_code=422)
    row = service.start_file(session, visit=visit, variant=variant, locale=request.state.locale, actor=user)
    audit_web.record_pdf(request, document="briefing_pack", name=row.filename, entity_type="visit",
                         entity_id=visit.id, entity_label=visit.title, extra={"file_id": row.id, "variant": variant})
    settings = _settings(request)
    future = generation.shared(settings).submit(database=request.app.state.database, settings=settings, file_id=row.id)
    with contextlib.suppress(FutureTimeout):  # still rendering after that: the file's page shows progress
        future.result(timeout=generation.QUICK_WAIT_SECONDS)
    return redirect(request, f"/visits/{visit.id}/briefing/files/{row.id}")


def _file(session, visit_id: int, file_id: int, user):
    found = service.get_file(session, visit_id, file_id)
    if found is None:
        raise NotFound()
    return found


@router.get("/files/{file_id}")
def file_status(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, file_id: RecordId) -> Response:
    _files(request, session, visit.id)  # marks an interrupted one as failed
    briefing_file = _file(session, visit.id, file_id, user)
    return render(request, "briefings/file.html",
                  {"visit": visit, "file": briefing_file, "variant_labels": VARIANT_LABELS,
                   "status_labels": STATUS_LABELS, "may_read": service.may_read_file(user, briefing_file),
                   "working": briefing_file.status in (FileStatus.PENDING, FileStatus.RUNNING)}, block="status")


@router.get("/files/{file_id}/download")
def download(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, file_id: RecordId) -> Response:
    briefing_file = _file(session, visit.id, file_id, user)
    if not service.may_read_file(user, briefing_file):
        raise Forbidden()
    data = service.read_file(briefing_file, _settings(request).data_dir)
    if data is None:
        raise NotFound()
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": request.url.path})
    audit_web.record_pdf(request, document="briefing_pack", name=briefing_file.filename, generated=False,
                         entity_type="visit", entity_id=visit.id, entity_label=visit.title,
                         extra={"file_id": briefing_file.id, "variant": briefing_file.variant})
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{briefing_file.filename}"',
        "Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff",
        "ETag": f'"{briefing_file.sha256}"', "Vary": "HX-Request"})
