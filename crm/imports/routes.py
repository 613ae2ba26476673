"""The import wizard at /imports: upload → map columns → preview → matching → commit → result; history and undo.
Each step is a page of its own that works without JavaScript. Who: officers, managers and the system
administrator (ImportKind.allowed); a batch is its uploader's (managers see and may undo everyone's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.attachments.deps import UploadDep
from crm.auth.deps import CurrentUser, Forbidden
from crm.auth.models import User
from crm.db import RecordId, SessionDep
from crm.errors import NotFound
from crm.i18n import Msg, bound_gettext
from crm.imports import running, service
from crm.imports.kinds.base import ACTIONS, UNITS, ImportKind
from crm.imports.models import BatchStatus, ImportBatch
from crm.listing import parse_page
from crm.spreadsheets import XLSX_MEDIA_TYPE, Column, SheetProblem, content_disposition, template_xlsx
from crm.submissions import service as submissions
from crm.web import (
    FormDep,
    Router,
    accepts_upload,
    is_htmx,
    local_today,
    redirect,
    render,
    upload_limit_bytes,
    upload_too_large_message,
)

router = Router(prefix="/imports")

IMPORT_TYPES = (".xlsx", ".xls", ".csv", ".txt")
ACTION_LABELS = {"skip": Msg("Skip"), "fill": Msg("Fill empty fields only"), "update": Msg("Update")}
UNIT_LABELS = {"yuan": Msg("yuan (元)"), "wan": Msg("10k yuan (万元)"), "yi": Msg("100m yuan (亿元)")}
STATUS_LABELS = {BatchStatus.DRAFT: Msg("Not committed"), BatchStatus.COMMITTING: Msg("Being written"),
                 BatchStatus.COMMITTED: Msg("Committed"), BatchStatus.UNDOING: Msg("Being undone"), BatchStatus.FAILED: Msg("Failed: nothing written"),
                 BatchStatus.UNDONE: Msg("Undone")}
MATCHES_SHOWN = 150  # rows with their own choice on the matching page (the form's field limit); the rest follow the file's


def _importer(user: CurrentUser) -> User:
    if not any(k.allowed(user) for k in service.kinds().values()):
        raise Forbidden()
    return user


Importer = Annotated[User, Depends(_importer)]


def _batch(batch_id: RecordId, session: SessionDep, user: CurrentUser) -> ImportBatch:
    batch = session.get(ImportBatch, batch_id)
    if batch is None or not service.can_see(user, batch):
        raise NotFound()
    return batch


BatchDep = Annotated[ImportBatch, Depends(_batch)]


def _own_draft(batch: ImportBatch, user: User) -> ImportKind:
    """The wizard's steps are the uploader's; a committed batch's steps lead to its page."""
    if batch.user_id != user.id:
        raise NotFound()
    kind = service.kind_of(batch.kind)
    if kind is None or not kind.allowed(user):
        raise Forbidden()
    return kind


def _kind_from(name: str, user: User) -> ImportKind | None:
    kind = service.kind_of(name)
    return kind if kind is not None and kind.allowed(user) else None


# --- history and upload --------------------------------------------------------------------------------------------

@router.get("")
def index(request: Request, session: SessionDep, user: Importer) -> Response:
    page, users = service.history(session, user=user, page=parse_page(request.query_params),
                                  per_page=request.app.state.settings.page_size)
    return render(request, "imports/index.html", {
        "page": page, "users": users, "drafts": service.drafts(session, user=user),
        "kinds": [k for k in service.kinds().values() if k.allowed(user)], "status_labels": STATUS_LABELS,
        "is_manager": user.is_manager, "user_id": user.id})


def _upload_context(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    return {"kinds": [k for k in service.kinds().values() if k.allowed(user)],
            "limit_mb": request.app.state.settings.max_upload_mb, "message": None, "filename": "",
            "kind_name": request.query_params.get("kind", "organizations"), **extra}


@router.get("/new")
def new(request: Request, session: SessionDep, user: Importer) -> Response:
    return render(request, "imports/new.html", _upload_context(request, user))


@router.post("/new")
@accepts_upload
def upload(request: Request, session: SessionDep, user: Importer, posted: UploadDep) -> Response:
    if posted.too_large:
        return render(request, "imports/new.html", _upload_context(
            request, user, message=upload_too_large_message(request)), status_code=413)
    kind = _kind_from(posted.fields.get("kind", ""), user)
    context = _upload_context(request, user, kind_name=posted.fields.get("kind", ""), filename=posted.filename)
    if kind is None:
        return render(request, "imports/new.html", {**context, "message": Msg("Choose what to import.")},
                      status_code=422)
    name = posted.filename
    if not name:
        return render(request, "imports/new.html", {**context, "message": Msg("Choose a file to import.")},
                      status_code=422)
    if not posted.data:
        return render(request, "imports/new.html", {**context, "message": Msg("The file is empty.")}, status_code=422)
    if not name.lower().endswith(IMPORT_TYPES):
        return render(request, "imports/new.html", {**context, "message": Msg(
            "“%(name)s” is not an Excel workbook (.xlsx, .xls) or a CSV file.", name=name)}, status_code=422)
    if len(posted.data) > upload_limit_bytes(request):
        return render(request, "imports/new.html", {**context, "message": upload_too_large_message(request)},
                      status_code=413)
    sheet = posted.fields.get("sheet", "1").strip() or "1"
    if not sheet.isdigit() or not 1 <= int(sheet) <= 50:
        return render(request, "imports/new.html", {**context, "message": Msg(
            "Give the sheet's number: 1 for the first sheet, 2 for the second …")}, status_code=422)
    try:
        batch = service.start(session, user=user, kind=kind, file_name=name, data=posted.data, sheet=int(sheet) - 1)
    except SheetProblem as problem:
        return render(request, "imports/new.html", {**context, "message": problem.message}, status_code=422)
    return redirect(request, f"/imports/{batch.id}/map")


@router.get("/template/{kind_name}")
def template(request: Request, kind_name: str, user: Importer) -> Response:
    kind = _kind_from(kind_name, user)
    if kind is None:
        raise NotFound()
    _ = bound_gettext(request.state.locale)[0]
    columns = [Column(f.key, f.label, "text", required=f.required) for f in kind.fields]
    example = [kind.example.get(f.key, "") for f in kind.fields]
    data = template_xlsx(columns, translate=_, example_rows=[example] if kind.example else [])
    return Response(data, media_type=XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": content_disposition(_("Import template") + f" {_(kind.label)}.xlsx"),
        "X-Content-Type-Options": "nosniff"})


# --- a batch -------------------------------------------------------------------------------------------------------

@router.get("/{batch_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep) -> Response:
    """The batch's result — or, while it is being written or undone, its progress: the page polls itself
    (htmx, every second) and is replaced by the result when done; without JavaScript, a "Refresh" link."""
    working = batch.status in (BatchStatus.COMMITTING, BatchStatus.UNDOING)
    if is_htmx(request) and not working:
        return Response(status_code=204, headers={"HX-Redirect": f"/imports/{batch.id}"})
    if batch.status == BatchStatus.DRAFT and batch.user_id == user.id:
        return redirect(request, f"/imports/{batch.id}/map")
    kind = service.kind_of(batch.kind)
    return render(request, "imports/show.html", {
        "batch": batch, "kind": kind, "status_labels": STATUS_LABELS, "working": working,
        "records": service.written_records(session, batch=batch),
        "can_undo": batch.status == BatchStatus.COMMITTED and service.can_see(user, batch)})


def _map_context(kind: ImportKind, batch: ImportBatch, **extra: Any) -> dict[str, Any]:
    table = service.table_of(batch)
    return {"batch": batch, "kind": kind, "columns": service.columns_of(kind, batch, table), "table": table,
            "unit_labels": UNIT_LABELS, "errors": {}, **extra}


@router.get("/{batch_id}/map")
def map_page(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep) -> Response:
    kind = _own_draft(batch, user)
    if batch.status != BatchStatus.DRAFT:
        return redirect(request, f"/imports/{batch.id}")
    try:
        return render(request, "imports/map.html", _map_context(kind, batch))
    except SheetProblem:
        return redirect(request, "/imports/new", flash=Msg("This import's file is no longer kept. Upload it again."))


@router.post("/{batch_id}/map")
def map_save(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep, form: FormDep) -> Response:
    kind = _own_draft(batch, user)
    if batch.status != BatchStatus.DRAFT:
        return redirect(request, f"/imports/{batch.id}")
    chosen: dict[int, str] = {}
    units: dict[int, str] = {}
    for name, value in form.multi_items():
        if name.startswith("col_") and name[4:].isdigit():
            chosen[int(name[4:])] = str(value)
        elif name.startswith("unit_") and name[5:].isdigit() and value in UNITS:
            units[int(name[5:])] = str(value)
    errors = service.save_mapping(session, batch=batch, kind=kind, user=user, chosen=chosen, units=units)
    if errors:  # shown with the choices as posted; nothing saved
        session.rollback()
        table = service.table_of(batch)
        context = _map_context(kind, batch, errors=errors, columns=service.columns_of(
            kind, batch, table, chosen={str(i): k for i, k in chosen.items() if k},
            units={str(i): u for i, u in units.items()}))
        return render(request, "imports/map.html", context, status_code=422)
    return redirect(request, f"/imports/{batch.id}/preview")


def _preview(request: Request, session, user: User, batch: ImportBatch, kind: ImportKind) -> service.Preview:
    return service.build_preview(session, batch=batch, kind=kind, user=user, locale=request.state.locale,
                                 today=local_today(request))


@router.get("/{batch_id}/preview")
def preview(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep) -> Response:
    kind = _own_draft(batch, user)
    if batch.status != BatchStatus.DRAFT:
        return redirect(request, f"/imports/{batch.id}")
    if not batch.mapping.get("mapped"):
        return redirect(request, f"/imports/{batch.id}/map")
    result = _preview(request, session, user, batch, kind)
    return render(request, "imports/preview.html", {
        "batch": batch, "kind": kind, "preview": result, "shown_rows": result.rows[:service.PREVIEW_ROWS],
        "problems": result.problems[:service.SHOWN_PROBLEMS]},
        status_code=200)


@router.get("/{batch_id}/matching")
def matching(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep) -> Response:
    kind = _own_draft(batch, user)
    if batch.status != BatchStatus.DRAFT:
        return redirect(request, f"/imports/{batch.id}")
    result = _preview(request, session, user, batch, kind)
    if result.problems:
        return redirect(request, f"/imports/{batch.id}/preview")
    return render(request, "imports/matching.html", _matching_context(batch, kind, result))


def _matching_context(batch: ImportBatch, kind: ImportKind, result: service.Preview) -> dict[str, Any]:
    matched = [r for r in result.rows if r.number in result.matches]
    return {"batch": batch, "kind": kind, "matched": matched[:MATCHES_SHOWN], "matched_total": len(matched),
            "matches": result.matches, "action_labels": ACTION_LABELS, "actions": ACTIONS,
            "default_action": batch.mapping.get("default_action", "skip"),
            "row_action": lambda n: service.action_for(batch, n),
            "counts": service.plan_counts(batch, result)}


@router.post("/{batch_id}/matching")
def matching_save(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep, form: FormDep) -> Response:
    _own_draft(batch, user)
    if batch.status != BatchStatus.DRAFT:
        return redirect(request, f"/imports/{batch.id}")
    default_action = str(form.get("default_action", "skip"))
    rows = {int(k[4:]): str(v) for k, v in form.multi_items() if k.startswith("row_") and k[4:].isdigit()}
    service.save_actions(session, batch=batch, default_action=default_action, row_actions=rows)
    return redirect(request, f"/imports/{batch.id}/confirm")


@router.get("/{batch_id}/confirm")
def confirm(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep) -> Response:
    kind = _own_draft(batch, user)
    if batch.status != BatchStatus.DRAFT:
        return redirect(request, f"/imports/{batch.id}")
    result = _preview(request, session, user, batch, kind)
    if result.problems:
        return redirect(request, f"/imports/{batch.id}/preview")
    return render(request, "imports/confirm.html", {"batch": batch, "kind": kind, "message": None,
                                                    "counts": service.plan_counts(batch, result),
                                                    "matched": len(result.matches)})


@router.post("/{batch_id}/commit")
def commit(request: Request, session: SessionDep, user: CurrentUser, batch_id: RecordId, form: FormDep) -> Response:
    """Claims the batch, checks it again and starts writing it in a thread of this process (crm/imports/running.py);
    answers at once with the batch's page, which shows the progress. A second click or tab is shown that page."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.user_id != user.id:
        raise NotFound()
    kind = _own_draft(batch, user)
    key = submissions.key_from(form.get(submissions.FIELD))
    session.commit()
    try:
        batch, claimed = service.claim_commit(session, batch_id=batch_id, user=user, key=key)
        if not claimed:
            return redirect(request, f"/imports/{batch_id}")
        preview = service.prepare_commit(session, batch=batch, user=user, locale=request.state.locale,
                                         today=local_today(request))
    except service.BatchConflict as conflict:
        return render(request, "errors/error.html", {"status": 409, "message": conflict.message}, status_code=409)
    except service.CommitFailed as failed:
        batch = session.get(ImportBatch, batch_id)
        session.refresh(batch)
        return render(request, "imports/confirm.html", {"batch": batch, "kind": kind, "message": failed.message,
                                                        "counts": None, "matched": 0}, status_code=422)
    running.shared().commit(database=request.app.state.database, batch_id=batch_id, user_id=user.id,
                            preview=preview, locale=request.state.locale, today=local_today(request))
    return redirect(request, f"/imports/{batch_id}")


@router.post("/{batch_id}/discard")
def discard(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep) -> Response:
    _own_draft(batch, user)
    service.discard(session, batch=batch)
    return redirect(request, "/imports", flash=Msg("The upload was discarded; nothing was imported."))


@router.get("/{batch_id}/undo")
def undo_page(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep) -> Response:
    if batch.status != BatchStatus.COMMITTED:
        return redirect(request, f"/imports/{batch.id}")
    return render(request, "imports/undo.html", {"batch": batch, "kind": service.kind_of(batch.kind),
                                                 "blockers": [], "total": 0})


@router.post("/{batch_id}/undo")
def undo(request: Request, session: SessionDep, user: CurrentUser, batch: BatchDep) -> Response:
    """Claims the batch, checks nothing is in the way (reads) and undoes it in a thread of this process; answers
    at once with the batch's page. Refused (409) with the records in the way."""
    if batch.status == BatchStatus.UNDOING:
        return redirect(request, f"/imports/{batch.id}")
    batch_id = batch.id
    try:
        service.claim_undo(session, batch=batch)
        service.check_undo(session, batch_id=batch_id)
    except service.BatchConflict as conflict:
        session.expire_all()
        if session.get(ImportBatch, batch_id).status == BatchStatus.UNDOING:
            return redirect(request, f"/imports/{batch_id}")
        return render(request, "errors/error.html", {"status": 409, "message": conflict.message}, status_code=409)
    except service.UndoRefused as refused:
        batch = session.get(ImportBatch, batch_id)
        session.refresh(batch)
        return render(request, "imports/undo.html", {"batch": batch, "kind": service.kind_of(batch.kind),
                                                     "blockers": refused.blockers, "total": refused.total},
                      status_code=409)
    running.shared().undo(database=request.app.state.database, batch_id=batch_id, user_id=user.id,
                          locale=request.state.locale)
    return redirect(request, f"/imports/{batch_id}")
