"""Attachments: check an upload (size, type by extension and by content), store it by hash with a thumbnail for
images, list and remove. Each addition or removal is audited on the record the file belongs to (a visit, a
project, a project's collective decision)."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import unicodedata
import warnings
import zipfile
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, joinedload

from crm.attachments import storage
from crm.attachments.models import Attachment
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.db import Base
from crm.i18n import Msg
from crm.major_projects.models import MonthlyReport
from crm.projects.models import Decision, Project
from crm.visits.models import Visit

log = logging.getLogger(__name__)

MB = 1024 * 1024
THUMBNAIL_BOX = (320, 320)  # shown at up to 160 CSS pixels: sharp on a phone's screen too

# The record types that carry attachments, by the `entity_type` stored on the attachment: the model of the row a
# file hangs on. Its title (or name) and version label the audit entry. Who may see or change them: access.py.
PARENT_MODELS: dict[str, type[Base]] = {"visit": Visit, "project": Project, "project_decision": Decision,
                                         "major_project_report": MonthlyReport}

_OOXML = "application/vnd.openxmlformats-officedocument."
# extension → (content type served, how its content is recognised)
ALLOWED: dict[str, tuple[str, str]] = {
    "jpg": ("image/jpeg", "jpeg"), "jpeg": ("image/jpeg", "jpeg"), "png": ("image/png", "png"),
    "gif": ("image/gif", "gif"), "webp": ("image/webp", "webp"), "pdf": ("application/pdf", "pdf"),
    "doc": ("application/msword", "ole"), "xls": ("application/vnd.ms-excel", "ole"),
    "ppt": ("application/vnd.ms-powerpoint", "ole"),
    "docx": (_OOXML + "wordprocessingml.document", "ooxml:word/"),
    "xlsx": (_OOXML + "spreadsheetml.sheet", "ooxml:xl/"),
    "pptx": (_OOXML + "presentationml.presentation", "ooxml:ppt/"),
    "txt": ("text/plain", "text"), "csv": ("text/csv", "text"),
}
# What the upload form's help and the refusals list (extensions read the same in every language).
ALLOWED_TEXT = "JPG, PNG, GIF, WebP, PDF, Word (DOC, DOCX), Excel (XLS, XLSX), PowerPoint (PPT, PPTX), TXT, CSV"
ACCEPT = ",".join(f".{ext}" for ext in ALLOWED) + ",image/jpeg,image/png,image/gif,image/webp,application/pdf"


class UploadRejected(Exception):
    """Why an upload was refused, in words for the user."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


class UnknownRecord(Exception):
    """The record an attachment would hang on does not exist (or its type carries no attachments)."""


# Checking an upload

def clean_filename(filename: str) -> str:
    """The name to keep: no folders (some browsers send a path), no control characters, at most 200 characters
    with the extension kept."""
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".") or ""
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 199 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name


def extension(filename: str) -> str:
    stem, dot, ext = filename.rpartition(".")
    return ext.lower() if dot and stem else ""


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves CSV in GBK
        try:
            data.decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


def _is_ooxml(data: bytes, folder: str) -> bool:
    """A zip with [Content_Types].xml and the parts of the right application (reads only the zip's directory)."""
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return False
    return "[Content_Types].xml" in names and any(n.startswith(folder) for n in names)


def content_matches(kind: str, data: bytes) -> bool:
    """Whether the bytes are what the extension says (magic numbers; for Office 2007+ files, the zip's parts)."""
    if kind == "jpeg":
        return data.startswith(b"\xff\xd8\xff")
    if kind == "png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if kind == "gif":
        return data.startswith((b"GIF87a", b"GIF89a"))
    if kind == "webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if kind == "pdf":
        return data.startswith(b"%PDF-")
    if kind == "ole":
        return data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    if kind.startswith("ooxml:"):
        return _is_ooxml(data, kind.removeprefix("ooxml:"))
    if kind == "text":
        return _is_text(data)
    return False


def check_upload(filename: str, data: bytes, max_bytes: int) -> Msg | None:
    """Why this file cannot be attached, or None: nothing chosen, empty, a type not allowed, too large, or
    contents that are not what the extension says."""
    name = clean_filename(filename)
    if not name and not data:
        return Msg("Choose a file to attach.")
    if not data:
        return Msg("“%(name)s” is empty.", name=name)
    ext = extension(name)
    if ext not in ALLOWED:
        return Msg("“%(name)s” is not a kind of file that can be attached. Allowed: %(types)s.",
                   name=name, types=ALLOWED_TEXT)
    if len(data) > max_bytes:
        limit = f"{max_bytes / MB:g}"
        return Msg("“%(name)s” is larger than %(limit)s MB, the most a file may be.", name=name, limit=limit)
    if not content_matches(ALLOWED[ext][1], data):
        return Msg("The contents of “%(name)s” are not a .%(ext)s file. Allowed: %(types)s.",
                   name=name, ext=ext, types=ALLOWED_TEXT)
    return None


def make_thumbnail(data: bytes) -> bytes | None:
    """A small JPEG of an image, or None when Pillow cannot read it safely (damaged, or a decompression bomb:
    above Pillow's pixel limit the warning is raised as an error, so nothing huge is ever decoded)."""
    from PIL import Image, ImageOps  # imported when first needed: most requests never make a thumbnail

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "GIF", "WEBP"]) as image:
                image.draft("RGB", (THUMBNAIL_BOX[0] * 2, THUMBNAIL_BOX[1] * 2))  # JPEG: decode at a reduced scale
                picture = ImageOps.exif_transpose(image)  # phones store the rotation in EXIF
                picture.thumbnail(THUMBNAIL_BOX)
                if picture.mode in ("RGBA", "LA", "P", "PA"):  # transparent parts on white, as shown on the page
                    rgba = picture.convert("RGBA")
                    picture = Image.new("RGB", rgba.size, "white")
                    picture.paste(rgba, mask=rgba.getchannel("A"))
                out = io.BytesIO()
                picture.convert("RGB").save(out, "JPEG", quality=80, optimize=True)
                return out.getvalue()
    except Exception as exc:  # any image Pillow refuses or fails on simply has no thumbnail
        log.info("no thumbnail: %s: %s", type(exc).__name__, exc)
        return None


# Use cases

def parent_record(session: Session, entity_type: str, entity_id: int) -> Base | None:
    model = PARENT_MODELS.get(entity_type)
    return session.get(model, entity_id) if model is not None else None


def _audit(session: Session, *, parent: Base, entity_type: str, entity_id: int, actor: User | None,
           change: list[str | None]) -> None:
    label = getattr(parent, "title", None) or getattr(parent, "name", None) or f"#{entity_id}"
    audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type=entity_type, entity_id=entity_id,
                         entity_label=label, entity_version=getattr(parent, "version", 0) or 0,
                         changes={"attachments": change})


def add(session: Session, *, entity_type: str, entity_id: int, filename: str, data: bytes, actor: User | None,
        data_dir: Path, max_bytes: int) -> Attachment:
    """Attaches a file in the caller's transaction (no commit): checks it (UploadRejected), stores the bytes and,
    for an image, a thumbnail (idempotent, by hash), adds the row and an audit entry on the parent record.
    The caller has checked the actor's right (access.can_change). A rolled-back transaction leaves the blob
    behind, unreferenced and harmless; the next upload of the same bytes reuses it."""
    parent = parent_record(session, entity_type, entity_id)
    if parent is None:
        raise UnknownRecord(f"{entity_type} {entity_id}")
    problem = check_upload(filename, data, max_bytes)
    if problem is not None:
        raise UploadRejected(problem)
    name = clean_filename(filename)
    content_type = ALLOWED[extension(name)][0]
    sha256 = hashlib.sha256(data).hexdigest()
    storage.write_blob(data_dir, sha256, data)
    has_thumbnail = False
    if content_type.startswith("image/"):
        thumbnail = make_thumbnail(data)
        if thumbnail is not None:
            storage.write_thumbnail(data_dir, sha256, thumbnail)
            has_thumbnail = True
    attachment = Attachment(entity_type=entity_type, entity_id=entity_id, filename=name, content_type=content_type,
                            size=len(data), sha256=sha256, has_thumbnail=has_thumbnail,
                            uploaded_by_id=actor.id if actor else None)
    session.add(attachment)
    session.flush()
    _audit(session, parent=parent, entity_type=entity_type, entity_id=entity_id, actor=actor, change=[None, name])
    return attachment


def create(session: Session, *, entity_type: str, entity_id: int, filename: str, data: bytes, actor: User,
           data_dir: Path, max_bytes: int) -> Attachment:
    """The upload use case: add() and commit."""
    attachment = add(session, entity_type=entity_type, entity_id=entity_id, filename=filename, data=data, actor=actor,
                     data_dir=data_dir, max_bytes=max_bytes)
    session.commit()
    return attachment


def get(session: Session, attachment_id: int) -> Attachment | None:
    return session.scalar(select(Attachment).options(joinedload(Attachment.uploaded_by))
                          .where(Attachment.id == attachment_id))


def list_for(session: Session, entity_type: str, entity_id: int) -> list[Attachment]:
    """A record's attachments, oldest first, with who uploaded them."""
    stmt = (select(Attachment).options(joinedload(Attachment.uploaded_by))
            .where(Attachment.entity_type == entity_type, Attachment.entity_id == entity_id)
            .order_by(Attachment.id))
    return list(session.scalars(stmt))


def list_for_many(session: Session, entity_type: str, entity_ids: list[int]) -> dict[int, list[Attachment]]:
    """The attachments of several records of one type (a project's decisions), in one query."""
    found: dict[int, list[Attachment]] = {i: [] for i in entity_ids}
    if entity_ids:
        stmt = (select(Attachment).options(joinedload(Attachment.uploaded_by))
                .where(Attachment.entity_type == entity_type, Attachment.entity_id.in_(entity_ids))
                .order_by(Attachment.id))
        for attachment in session.scalars(stmt):
            found[attachment.entity_id].append(attachment)
    return found


def _hash_in_use(session: Session, sha256: str) -> bool:
    return bool(session.scalar(select(exists().where(Attachment.sha256 == sha256))))


def discard_unused_blobs(session: Session, *, hashes: set[str], data_dir: Path) -> None:
    """After a commit that deleted attachment rows: remove the files no row refers to any more. (An upload of the
    same bytes committed in the instant between this check and the unlink would lose its file; its download
    then answers 404 and the file can be attached again.)"""
    for sha256 in hashes:
        if not _hash_in_use(session, sha256):
            storage.delete(data_dir, sha256)
    session.rollback()  # end the read transaction this opened


def remove(session: Session, *, attachment: Attachment, actor: User, data_dir: Path) -> None:
    """The delete use case: deletes the row with an audit entry on the parent record, commits, then deletes the
    file unless another attachment shares its bytes. The caller has checked the actor's right."""
    parent = parent_record(session, attachment.entity_type, attachment.entity_id)
    sha256 = attachment.sha256
    if parent is not None:
        _audit(session, parent=parent, entity_type=attachment.entity_type, entity_id=attachment.entity_id,
               actor=actor, change=[attachment.filename, None])
    session.delete(attachment)
    session.commit()
    discard_unused_blobs(session, hashes={sha256}, data_dir=data_dir)


def remove_all_for(session: Session, *, entity_type: str, entity_id: int) -> set[str]:
    """For a record being deleted, in its transaction (no commit, no audit: the record's own deletion is audited):
    deletes its attachment rows and returns their hashes, for discard_unused_blobs() after the commit."""
    rows = list(session.scalars(select(Attachment).where(Attachment.entity_type == entity_type,
                                                         Attachment.entity_id == entity_id)))
    for row in rows:
        session.delete(row)
    session.flush()
    return {row.sha256 for row in rows}
