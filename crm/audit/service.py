"""The audit trail: written in the caller's transaction, read by timelines and the audit page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from crm.audit.models import AuditAction, AuditEntry
from crm.auth.models import User


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
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        action=action.value,
        entity_type=entity_type,
        entity_id=entity_id,
        entity_label=entity_label[:200],
        entity_version=entity_version,
        changes=changes,
        organization_id=organization_id,
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
        .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


@dataclass
class AuditFilter:
    entity_type: str = ""
    action: str = ""
    actor_id: int | None = None
    since: datetime | None = None  # aware, inclusive
    until: datetime | None = None  # aware, exclusive


def _filtered(stmt: Select, flt: AuditFilter) -> Select:
    if flt.entity_type:
        stmt = stmt.where(AuditEntry.entity_type == flt.entity_type)
    if flt.action:
        stmt = stmt.where(AuditEntry.action == flt.action)
    if flt.actor_id:
        stmt = stmt.where(AuditEntry.actor_id == flt.actor_id)
    if flt.since:
        stmt = stmt.where(AuditEntry.at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.at < flt.until)
    return stmt


def search(session: Session, *, flt: AuditFilter, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
    total = session.scalar(_filtered(select(func.count(AuditEntry.id)), flt)) or 0
    stmt = _filtered(select(AuditEntry), flt).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return list(session.scalars(stmt.offset(offset).limit(limit))), total


def reference_labels(session: Session, entries: list[AuditEntry], locale: str) -> dict[str, dict[int, str]]:
    """Names for the ids in entries' changes (owner, organization, industry chain), loaded before rendering."""
    from crm.contacts.models import Contact
    from crm.organizations.models import IndustryChain, Organization  # audit is generic; labels are looked up late

    wanted: dict[str, set[int]] = {"owner_id": set(), "assignee_id": set(), "officer_id": set(), "organization_id": set(),
                                   "industry_chain_id": set(), "contact_id": set(), "approval_assistant_id": set()}
    for entry in entries:
        for field, change in (entry.changes or {}).items():
            if field in wanted:
                wanted[field].update(v for v in change if isinstance(v, int))
    refs: dict[str, dict[int, str]] = {}
    user_ids = wanted["owner_id"] | wanted["assignee_id"] | wanted["officer_id"] | wanted["approval_assistant_id"]
    if user_ids:
        names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all())
        refs["owner_id"] = refs["assignee_id"] = refs["officer_id"] = refs["approval_assistant_id"] = names
    if wanted["contact_id"]:
        refs["contact_id"] = dict(session.execute(
            select(Contact.id, Contact.name).where(Contact.id.in_(wanted["contact_id"]))).all())
    if wanted["organization_id"]:
        refs["organization_id"] = dict(session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(wanted["organization_id"]))).all())
    if wanted["industry_chain_id"]:
        name = IndustryChain.name_zh if locale.startswith("zh") else IndustryChain.name_en
        refs["industry_chain_id"] = dict(session.execute(
            select(IndustryChain.id, name).where(IndustryChain.id.in_(wanted["industry_chain_id"]))).all())
    return refs
