"""The audit trail: written in the caller's transaction, read by timelines and the audit page."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from crm.audit import labels
from crm.audit.access import readable_by
from crm.audit.labels import Reference
from crm.audit.models import DATA_ACTIONS, AuditAction, AuditEntry, AuditOutcome
from crm.auth.models import User

# Where the current request came in ("web", or "api" for a request under /api/v1, set by crm.api): every entry
# written while handling it carries it, whichever service writes the entry.
current_channel: ContextVar[str] = ContextVar("audit_channel", default="web")


def _plain(value: Any) -> Any:
    if isinstance(value, time):
        return value.isoformat(timespec="minutes")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot(obj: Any, fields: list[str]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in fields}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for every field whose value changed."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def record(
    session: Session,
    *,
    actor: User | None,
    action: AuditAction,
    entity_type: str,
    entity_id: int,
    entity_label: str,
    entity_version: int,
    changes: dict[str, list[Any]],
    organization_id: int | None = None,
) -> AuditEntry:
    entry = AuditEntry(**_values(actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
                                 entity_label=entity_label, entity_version=entity_version, changes=changes,
                                 organization_id=organization_id))
    session.add(entry)
    return entry


def _values(*, actor: User | None, action: AuditAction, entity_type: str, entity_id: int, entity_label: str,
            entity_version: int, changes: dict[str, list[Any]], organization_id: int | None = None) -> dict[str, Any]:
    return {"actor_id": actor.id if actor else None, "action": action.value, "entity_type": entity_type,
            "entity_id": entity_id, "entity_label": entity_label[:200], "entity_version": entity_version,
            "changes": changes, "organization_id": organization_id, "channel": current_channel.get()}


def record_many(session: Session, entries: list[dict[str, Any]]) -> None:
    """record() for many entries at once (an import's chunk of records): each item holds record()'s keyword
    arguments; the same values, written with one INSERT for all (no ORM object each)."""
    if entries:
        session.execute(insert(AuditEntry.__table__), [_values(**e) for e in entries])


def record_event(
    session: Session,
    *,
    event: str,
    actor: User | None,
    outcome: AuditOutcome | str = AuditOutcome.SUCCESS,
    client_address: str = "",
    channel: str | None = None,
    entity_type: str = "",
    entity_id: int | None = None,
    entity_label: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """A security or access event (sign-in, sign-out, a refusal, a download …) in the caller's transaction.
    `event` is the entry's action (see AuditAction); `details` are stored where a data change keeps its changes."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        action=str(event),
        entity_type=entity_type,
        entity_id=entity_id,
        entity_label=entity_label[:200],
        entity_version=0,
        changes=details or {},
        outcome=str(outcome),
        client_address=client_address[:64],
        channel=channel or current_channel.get(),
    )
    session.add(entry)
    return entry


def changes_since(session: Session, *, entity_type: str, entity_id: int, version: int) -> list[AuditEntry]:
    """What others saved after the given version: shown when an edit on a stale copy is refused."""
    stmt = (
        select(AuditEntry)
        .where(
            AuditEntry.entity_type == entity_type,
            AuditEntry.entity_id == entity_id,
            AuditEntry.entity_version > version,
        )
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return list(session.scalars(stmt))


def entity_history(session: Session, *, entity_type: str, entity_id: int, limit: int = 100) -> list[AuditEntry]:
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == entity_id,
               AuditEntry.action.in_([a.value for a in DATA_ACTIONS]))  # a record's history: its changes, not its PDFs
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


@dataclass
class AuditFilter:
    entity_type: str = ""
    entity_id: int | None = None
    action: str = ""
    actor_id: int | None = None
    outcome: str = ""
    client_address: str = ""  # the start of the address: "10.2." matches 10.2.0.0/16
    since: datetime | None = None  # aware, inclusive
    until: datetime | None = None  # aware, exclusive
    reader: User | None = None  # whose view (crm/audit/access.py); None: everything (the CLI)


def _filtered(stmt: Select, flt: AuditFilter) -> Select:
    if flt.reader is not None:
        stmt = stmt.where(readable_by(flt.reader))
    if flt.entity_type:
        stmt = stmt.where(AuditEntry.entity_type == flt.entity_type)
    if flt.entity_id:
        stmt = stmt.where(AuditEntry.entity_id == flt.entity_id)
    if flt.action:
        stmt = stmt.where(AuditEntry.action == flt.action)
    if flt.actor_id:
        stmt = stmt.where(AuditEntry.actor_id == flt.actor_id)
    if flt.outcome:
        stmt = stmt.where(AuditEntry.outcome == flt.outcome)
    if flt.client_address:
        pattern = flt.client_address.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(AuditEntry.client_address.like(pattern, escape="\\"))
    if flt.since:
        stmt = stmt.where(AuditEntry.at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.at < flt.until)
    return stmt


def search(session: Session, *, flt: AuditFilter, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
    total = session.scalar(_filtered(select(func.count(AuditEntry.id)), flt)) or 0
    stmt = _filtered(select(AuditEntry), flt).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return list(session.scalars(stmt.offset(offset).limit(limit))), total


def export_rows(session: Session, *, flt: AuditFilter, batch: int = 2000):
    """Every entry the filter (and the reader) selects, newest first, streamed in batches: for the .xlsx download."""
    stmt = (_filtered(select(AuditEntry), flt).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .execution_options(yield_per=batch))
    yield from session.scalars(stmt)


def reference_labels(session: Session, entries: list[AuditEntry], locale: str) -> dict[Any, dict[Any, str]]:
    """Names in the reader's language for the ids and stored reference names in entries' changes (owner,
    organization, industry chain, approval item, ...), loaded before rendering: one query per lookup that the
    domains registered with crm.audit.labels."""
    wanted: dict[Any, set[Any]] = {}  # lookup function → the values to look up
    fields: dict[Any, set[str]] = {}  # lookup function → the fields whose values it names
    for entry in entries:
        for field, change in (entry.changes or {}).items():
            ref = labels.reference(entry.entity_type, field)
            if ref is None:
                continue
            fields.setdefault(ref.load, set()).add(field)
            found = wanted.setdefault(ref.load, set())
            for value in change if isinstance(change, list) else []:
                found.update(labels.split(ref, value))
    titles: dict[Reference, set[str]] = {}  # how records' names read: lookup → the names stored with entries
    for entry in entries:
        ref = labels.entity_names(entry.entity_type)
        if ref is not None:
            titles.setdefault(ref, set()).add(entry.entity_label)
    refs: dict[Any, dict[Any, str]] = {}
    for ref, stored in titles.items():
        names = dict(ref.load(session, stored, locale))
        refs.setdefault(labels.ENTITY_NAMES, {}).update(
            {(entry.entity_type, entry.entity_label): names[entry.entity_label] for entry in entries
             if labels.entity_names(entry.entity_type) == ref and entry.entity_label in names})
    for load, values in wanted.items():
        if not values:
            continue
        names = dict(load(session, values, locale))
        for field in fields[load]:
            refs.setdefault(field, {}).update(names)
    return refs
