"""Archive instead of delete: one way to flag a record and write its audit entry, for every domain."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.db import utcnow


def set_archived(
    session: Session, *, record: Any, archived: bool, actor: User, entity_type: str, entity_label: str,
    organization_id: int | None,
) -> bool:
    """Sets `record.archived_at` and records the archive or restore, in the caller's transaction.
    Returns False (and changes nothing) when the record already was in that state."""
    if (record.archived_at is not None) == archived:
        return False
    before = audit_service.snapshot(record, ["archived_at"])
    record.archived_at = utcnow() if archived else None
    record.updated_at = utcnow()
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action=AuditAction.ARCHIVE if archived else AuditAction.RESTORE,
        entity_type=entity_type,
        entity_id=record.id,
        entity_label=entity_label,
        entity_version=record.version,
        changes=audit_service.diff(before, audit_service.snapshot(record, ["archived_at"])),
        organization_id=organization_id,
    )
    return True
