from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import UploadFile

from crm.attachments import access, service
from crm.attachments.models import Attachment
from crm.auth.deps import CurrentUser
from crm.db import RecordId, SessionDep
from crm.errors import NotFound, found
from crm.web import form_data, upload_body_too_large, upload_limit_bytes


def attachment_by_id(attachment_id: RecordId, session: SessionDep, user: CurrentUser) -> Attachment:
    """The attachment, or 404 when there is none or the user may not see its record."""
    attachment = found(service.get(session, attachment_id))
    if not access.can_see(session, user, attachment.entity_type, attachment.entity_id):
        raise NotFound()
    return attachment


AttachmentDep = Annotated[Attachment, Depends(attachment_by_id)]


@dataclass
class Upload:
    """An upload form, read: its text fields and its one file (at most the limit and one byte, so a larger file
    is known to be too large without keeping it)."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str = ""
    data: bytes = b""
    too_large: bool = False  # the declared body was over the limit: it was refused unread, fields are unknown


async def read_upload(request: Request) -> Upload:
    if upload_body_too_large(request):
        return Upload(too_large=True)
    form = await form_data(request)  # the CSRF check may have parsed it already, with the same limits
    upload = Upload(fields={k: v for k, v in form.multi_items() if isinstance(v, str)})
    file = form.get("file")
    if isinstance(file, UploadFile):
        upload.filename = file.filename or ""
        upload.data = await file.read(upload_limit_bytes(request) + 1)
        await file.close()
    return upload


UploadDep = Annotated[Upload, Depends(read_upload)]
