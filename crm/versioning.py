"""Edit conflicts: a form carries the version it was filled in on; a save on an older copy overwrites nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crm.audit import service as audit_service
from crm.audit.models import AuditEntry


class StaleEdit(Exception):
    """The form was filled in on an older version; `changes` says what others saved since."""

    def __init__(self, current: Any, changes: list[AuditEntry]) -> None:
        super().__init__("stale edit")
        self.current = current
        self.changes = changes


def require_version(session: Session, *, record: Any, entity_type: str, version: int | None) -> None:
    """Refuses an edit made on another version than the record's (or sent without one)."""
    if version is None or version != record.version:
        session.rollback()
        raise StaleEdit(record, audit_service.changes_since(
            session, entity_type=entity_type, entity_id=record.id, version=version or 0))


def flush_versioned(session: Session, *, record: Any, entity_type: str, version: int | None,
                    reload: Callable[[Session, int], Any]) -> None:
    """Flushes the change; if someone saved in between (the versioned UPDATE matched no row), refuses it too."""
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise StaleEdit(reload(session, record.id), audit_service.changes_since(
            session, entity_type=entity_type, entity_id=record.id, version=version or 0)) from None
