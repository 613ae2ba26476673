"""Attachments: upload to a record, download (original name), thumbnails, delete. The list with its upload form
is the partial templates/attachments/_list.html, which a record's page includes with panel_context()."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from crm.attachments import access, service, storage
from crm.attachments.deps import AttachmentDep, UploadDep
from crm.attachments.models import Attachment
from crm.audit.labels import ENTITY_URLS
from crm.auth.deps import CurrentUser, Forbidden
from crm.auth.models import User
from crm.db import SessionDep
from crm.errors import BadRequest, NotFound
from crm.i18n import Msg
from crm.validators import as_id
from crm.web import (
    FormDep,
    Router,
    accepts_upload,
    is_htmx,
    redirect,
    render,
    replay_or_claim,
    safe_next,
    upload_limit_bytes,
    upload_too_large_message,
)

log = logging.getLogger(__name__)

router = Router(prefix="/attachments")

PARTIAL = "attachments/_list.html"


def panel_context(request: Request, session: Session, user: User, *, entity_type: str, entity_id: int,
                  next_url: str, error: Msg | None = None, can_change: bool | None = None) -> dict[str, Any]:
    """What templates/attachments/_list.html needs, for a record's page to merge into its context
    (`can_change` may be passed when the page knows it already)."""
    if can_change is None:
        can_change = access.can_change(session, user, entity_type, entity_id)
    return {
        "attachments": service.list_for(session, entity_type, entity_id), "entity_type": entity_type,
        "entity_id": entity_id, "can_change": can_change, "attachment_error": error, "next_url": next_url,
        "upload_limit_mb": request.app.state.settings.max_upload_mb, "upload_accept": service.ACCEPT,
        "upload_types": service.ALLOWED_TEXT,
    }


def _data_dir(request: Request) -> Path:
    return request.app.state.settings.data_dir


def _record_url(entity_type: str, entity_id: int) -> str:
    pattern = ENTITY_URLS.get(entity_type)
    return pattern.format(id=entity_id) if pattern else "/"


def _next_url(raw: object, entity_type: str, entity_id: int) -> str:
    return safe_next(raw) if isinstance(raw, str) and raw else _record_url(entity_type, entity_id)


def _require_change(session: Session, user: User, entity_type: str, entity_id: int) -> None:
    if not access.can_see(session, user, entity_type, entity_id):
        raise NotFound()
    if not access.ACCESS[entity_type].can_change(session, user, entity_id):
        raise Forbidden()


def _panel(request: Request, session: Session, user: User, *, entity_type: str, entity_id: int, next_url: str,
           error: Msg | None = None, status_code: int = 200) -> Response:
    context = panel_context(request, session, user, entity_type=entity_type, entity_id=entity_id, next_url=next_url,
                            error=error)
    return render(request, PARTIAL, context, status_code=status_code,
                  headers=None if error else {"HX-Trigger": "attachments-changed"})


@router.post("")
@accepts_upload
def upload(request: Request, session: SessionDep, user: CurrentUser, posted: UploadDep) -> Response:
    if posted.too_large:  # refused unread; htmx shows the reason under the file field
        message = upload_too_large_message(request)
        if is_htmx(request):
            return render(request, PARTIAL, {"attachment_error": message}, block="attachment_error", status_code=413,
                          headers={"HX-Retarget": "#attachment-error", "HX-Reswap": "outerHTML"})
        raise BadRequest(message)
    entity_type = posted.fields.get("entity_type", "")
    entity_id = as_id(posted.fields.get("entity_id", ""))
    if entity_id is None or entity_type not in access.ACCESS:
        raise NotFound()
    _require_change(session, user, entity_type, entity_id)
    next_url = _next_url(posted.fields.get("next"), entity_type, entity_id)
    if (earlier := replay_or_claim(request, session, posted.fields, creates=Attachment,
                                   url=lambda _attachment: next_url)) is not None:
        return earlier
    try:
        attachment = service.create(session, entity_type=entity_type, entity_id=entity_id, filename=posted.filename,
                                    data=posted.data, actor=user, data_dir=_data_dir(request),
                                    max_bytes=upload_limit_bytes(request))
    except service.UploadRejected as rejected:
        session.rollback()
        if is_htmx(request):
            return _panel(request, session, user, entity_type=entity_type, entity_id=entity_id, next_url=next_url,
                          error=rejected.message, status_code=422)
        return redirect(request, next_url, flash=rejected.message)
    except service.UnknownRecord:
        raise NotFound() from None
    if is_htmx(request):
        return _panel(request, session, user, entity_type=entity_type, entity_id=entity_id, next_url=next_url)
    return redirect(request, next_url, flash=Msg("“%(name)s” attached.", name=attachment.filename))


def content_disposition(disposition: str, filename: str) -> str:
    """RFC 6266: an ASCII `filename` for old clients and the real name, UTF-8 and percent-encoded, in `filename*`
    (RFC 5987), which every current browser prefers: 考察照片.jpg arrives as 考察照片.jpg."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in filename) or "file"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _etag(attachment: Attachment, variant: str) -> str:
    """Names the bytes and the headers sent with them (the name), whatever id they are served under."""
    return '"' + hashlib.sha256(f"{variant}:{attachment.sha256}:{attachment.filename}".encode()).hexdigest()[:32] + '"'


def _file(request: Request, path: Path, *, etag: str, media_type: str, disposition: str) -> Response:
    if not path.is_file():
        log.warning("attachment file missing: %s", path)
        raise NotFound()
    headers = {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",  # served as the type we checked, never as what a browser guesses
        "Content-Security-Policy": "sandbox",  # opened directly, a file runs no script and reaches nothing
        # Revalidated on every use, answered 304 while unchanged: SQLite may give a deleted attachment's id to
        # the next one, so a URL alone does not name the same bytes for ever. Shared caches keep nothing.
        "Cache-Control": "private, no-cache",
        "ETag": etag,
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={k: v for k, v in headers.items() if k in ("Cache-Control", "ETag")})
    return FileResponse(path, media_type=media_type, headers=headers)


@router.get("/{attachment_id}")
def download(request: Request, attachment: AttachmentDep) -> Response:
    """The file with its original name: images open in the browser, anything else downloads."""
    disposition = "inline" if attachment.is_image else "attachment"
    return _file(request, storage.blob_path(_data_dir(request), attachment.sha256), etag=_etag(attachment, "file"),
                 media_type=attachment.content_type, disposition=content_disposition(disposition, attachment.filename))


@router.get("/{attachment_id}/thumbnail")
def thumbnail(request: Request, attachment: AttachmentDep) -> Response:
    if not attachment.has_thumbnail:
        raise NotFound()
    return _file(request, storage.thumbnail_path(_data_dir(request), attachment.sha256),
                 etag=_etag(attachment, "thumbnail"), media_type="image/jpeg", disposition="inline")


@router.get("/{attachment_id}/delete")
def confirm_delete(request: Request, session: SessionDep, user: CurrentUser, attachment: AttachmentDep) -> Response:
    """Without JavaScript, the delete link comes here to confirm (with it, htmx asks with hx-confirm)."""
    _require_change(session, user, attachment.entity_type, attachment.entity_id)
    next_url = _next_url(request.query_params.get("next"), attachment.entity_type, attachment.entity_id)
    return render(request, "attachments/delete.html", {"attachment": attachment, "next_url": next_url})


@router.post("/{attachment_id}/delete")
def delete(request: Request, session: SessionDep, user: CurrentUser, attachment: AttachmentDep,
           raw: FormDep) -> Response:
    entity_type, entity_id, filename = attachment.entity_type, attachment.entity_id, attachment.filename
    _require_change(session, user, entity_type, entity_id)
    next_url = _next_url(raw.get("next"), entity_type, entity_id)
    service.remove(session, attachment=attachment, actor=user, data_dir=_data_dir(request))
    if is_htmx(request):
        return _panel(request, session, user, entity_type=entity_type, entity_id=entity_id, next_url=next_url)
    return redirect(request, next_url, flash=Msg("“%(name)s” deleted.", name=filename))
