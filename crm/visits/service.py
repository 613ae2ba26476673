"""Visit use cases: log or plan a visit with its tour, delegation and follow-ups in one transaction; change the
tour on the visit page; list, calendar and search."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, delete, func, or_, select
from sqlalchemy.orm import Session, defer, selectinload

from crm import search_text
from crm.attachments import service as attachment_service
from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.contacts import service as contact_service
from crm.contacts.models import Contact
from crm.db import utcnow
from crm.i18n import Msg
from crm.listing import LOOKAHEAD_PAGES, Page, clamp_page, count_up_to
from crm.organizations import service as organization_service
from crm.organizations.models import IndustryChain, Organization, OrganizationKind
from crm.organizations.service import PermissionDenied
from crm.plain_query import PlainQuery
from crm.search import service as search_service
from crm.search.models import SearchTerm
from crm.tasks import service as task_service
from crm.tasks.models import Task, TaskPriority
from crm.versioning import flush_versioned, require_version
from crm.visits.models import TourStop, Visit, VisitHost, VisitIndustry, VisitMember, VisitOrganization, VisitStatus
from crm.visits.schemas import INTEREST_LABELS, KIND_LABELS, STATUS_LABELS, to_utc

SEARCH_KIND = "visit"
SCALAR_FIELDS = ["title", "kind", "status", "starts_at", "ends_at", "place", "leaders", "purpose", "summary", "outcome",
                 "interest_level", "estimated_investment", "officer_id"]
LIST_FIELDS = ["organizations", "members", "hosts", "industries"]  # audited as lists of names
MAX_STOPS = 30
ZONE_ENTERPRISE_CHOICES = 500


class InvalidVisit(Exception):
    """What is wrong with the submitted visit, by form field name (rows: `stop-3-organization_id`)."""

    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


@dataclass
class VisitInput:
    """A visit form, parsed: scalar fields (typed), linked ids, and the rows added with it."""

    data: dict[str, Any]
    organization_ids: list[int] = field(default_factory=list)
    member_ids: list[int] = field(default_factory=list)
    host_ids: list[int] = field(default_factory=list)
    industry_ids: list[int] = field(default_factory=list)
    new_members: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (row index, fields)
    stops: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    followups: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, contents), checked by the caller


@dataclass
class FileStore:
    """Where a visit's attached files go, and how large one may be (from the settings)."""

    data_dir: Path
    max_bytes: int


# Reading

def _with_relations(stmt: Select) -> Select:
    return stmt.options(
        selectinload(Visit.organizations).joinedload(VisitOrganization.organization),
        selectinload(Visit.members).joinedload(VisitMember.contact),
        selectinload(Visit.hosts).joinedload(VisitHost.user),
        selectinload(Visit.industries).joinedload(VisitIndustry.industry_chain),
        selectinload(Visit.stops).joinedload(TourStop.organization),
        selectinload(Visit.officer), selectinload(Visit.created_by),
    )


def get(session: Session, visit_id: int) -> Visit | None:
    return session.scalar(_with_relations(select(Visit).where(Visit.id == visit_id)))


def can_change(user: User, visit: Visit) -> bool:
    return user.is_manager or user.id in (visit.officer_id, visit.created_by_id) or any(
        h.user_id == user.id for h in visit.hosts)


def zone_enterprises(session: Session, *, keep_ids: list[int] | None = None) -> list[Organization]:
    """The zone enterprises a tour can stop at (plus any already on the tour, should one have been archived)."""
    stmt = select(Organization).where(
        Organization.kind == OrganizationKind.ZONE_ENTERPRISE, Organization.archived_at.is_(None))
    if keep_ids:
        stmt = select(Organization).where(or_(
            (Organization.kind == OrganizationKind.ZONE_ENTERPRISE) & Organization.archived_at.is_(None),
            Organization.id.in_(keep_ids)))
    stmt = stmt.options(defer(Organization.search_text), defer(Organization.description))
    return list(session.scalars(stmt.order_by(Organization.name_sort, Organization.id).limit(ZONE_ENTERPRISE_CHOICES)))


def organizations_by_id(session: Session, ids: list[int]) -> list[Organization]:
    if not ids:
        return []
    found = {o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def member_choices(session: Session, organization_ids: list[int], limit_each: int = 60) -> dict[int, list[Contact]]:
    """Each chosen organization's contacts, for the delegation-member checkboxes."""
    if not organization_ids:
        return {}
    contacts = session.scalars(
        select(Contact).where(Contact.organization_id.in_(organization_ids), Contact.archived_at.is_(None))
        .order_by(Contact.organization_id, Contact.id).limit(limit_each * len(organization_ids)))
    grouped: dict[int, list[Contact]] = {i: [] for i in organization_ids}
    for contact in contacts:
        if len(grouped[contact.organization_id]) < limit_each:
            grouped[contact.organization_id].append(contact)
    return grouped


# Checking a submitted visit

def _check(session: Session, visit_input: VisitInput, *, timezone_starts: datetime, timezone_ends: datetime,
           existing: Visit | None = None) -> dict[str, Msg]:
    errors: dict[str, Msg] = {}
    if timezone_ends < timezone_starts:
        errors["ends_at"] = Msg("The visit cannot end before it starts.")
    if visit_input.data.get("status") == VisitStatus.DONE and timezone_starts > utcnow():
        # a visit still to come cannot have happened: it would count at once in the annual assessment
        errors["status"] = Msg("A visit cannot be marked done before it starts: keep it planned until then.")
    if not visit_input.organization_ids:
        errors["organization_ids"] = Msg("Choose at least one organization: who is visiting, or whom the visit concerns.")
    orgs = {o.id: o for o in organizations_by_id(session, visit_input.organization_ids)}
    kept = {vo.organization_id for vo in existing.organizations} if existing else set()
    for org_id in visit_input.organization_ids:
        org = orgs.get(org_id)
        if org is None or (org.is_archived and org_id not in kept):
            errors["organization_ids"] = Msg("Choose organizations that exist and are not archived.")
    if visit_input.member_ids:
        member_orgs = dict(session.execute(
            select(Contact.id, Contact.organization_id).where(Contact.id.in_(visit_input.member_ids))).all())
        if any(member_orgs.get(c) not in orgs for c in visit_input.member_ids):
            errors["member_ids"] = Msg("Delegation members must be contacts of the chosen organizations.")
    for index, row in visit_input.new_members:
        if row["organization_id"] not in orgs:
            errors[f"newmember-{index}-organization_id"] = Msg("Choose one of the visit's organizations.")
    if visit_input.host_ids:
        active = set(session.scalars(select(User.id).where(User.id.in_(visit_input.host_ids), User.is_active)))
        if set(visit_input.host_ids) - active:
            errors["host_ids"] = Msg("Choose people who are active users.")
    if visit_input.industry_ids:
        known = set(session.scalars(select(IndustryChain.id).where(IndustryChain.id.in_(visit_input.industry_ids))))
        if set(visit_input.industry_ids) - known:
            errors["industry_ids"] = Msg("Choose one of the listed options.")
    errors.update(check_stop_organizations(session, visit_input.stops))
    if len(visit_input.stops) + (len(existing.stops) if existing else 0) > MAX_STOPS:
        errors["stops"] = Msg("A tour has at most %(max)s stops.", max=MAX_STOPS)
    return errors


def check_input(session: Session, *, visit_input: VisitInput, timezone: str,
                existing: Visit | None = None) -> dict[str, Msg]:
    """The form's checks on a visit (times, status, organizations, members, hosts, industries, tour), by form field
    name, without saving anything: what an import's preview shows before any row is written."""
    starts, ends = _times(visit_input.data, timezone)
    return _check(session, visit_input, timezone_starts=starts, timezone_ends=ends, existing=existing)


def check_stop_organizations(session: Session, stops: list[tuple[int, dict[str, Any]]]) -> dict[str, Msg]:
    """A tour stops only at zone enterprises (园区企业)."""
    wanted = {row["organization_id"] for _, row in stops}
    if not wanted:
        return {}
    kinds = dict(session.execute(
        select(Organization.id, Organization.kind).where(Organization.id.in_(wanted), Organization.archived_at.is_(None))
    ).all())
    errors = {}
    for index, row in stops:
        kind = kinds.get(row["organization_id"])
        if kind != OrganizationKind.ZONE_ENTERPRISE:
            errors[f"stop-{index}-organization_id"] = (
                Msg("There is no such organization.") if kind is None
                else Msg("A tour stops only at zone enterprises; this organization is not one."))
    return errors


# Writing

def _snapshot(visit: Visit) -> dict[str, Any]:
    snap = audit_service.snapshot(visit, SCALAR_FIELDS)
    snap["organizations"] = ", ".join(vo.organization.name for vo in visit.organizations)
    snap["members"] = ", ".join(sorted(m.contact.name for m in visit.members))
    snap["hosts"] = ", ".join(sorted(h.user.display_name for h in visit.hosts))
    snap["industries"] = ", ".join(sorted(i.industry_chain.name_zh for i in visit.industries))
    return snap


def _stops_text(visit: Visit) -> str:
    return " → ".join(s.organization.name for s in visit.stops)


def _audit(session: Session, *, visit: Visit, actor: User, action: AuditAction, changes: dict) -> None:
    audit_service.record(session, actor=actor, action=action, entity_type="visit", entity_id=visit.id,
                         entity_label=visit.title, entity_version=visit.version, changes=changes)


def _refresh_search(session: Session, visit: Visit) -> None:
    names = [vo.organization.name for vo in visit.organizations]
    visit.search_text = search_text.build(
        visit.title, *names, extra=(visit.place, visit.purpose, visit.summary, visit.outcome, visit.leaders))
    session.flush()
    search_service.reindex(session, kind=SEARCH_KIND, record_id=visit.id, text=visit.search_text)


def _load_links(session: Session, visit: Visit, visit_input: VisitInput, contacts_added: list[Contact]) -> None:
    """Replaces the visit's organizations, members, hosts and industries with the submitted ones."""
    orgs = organizations_by_id(session, visit_input.organization_ids)
    visit.organizations = [VisitOrganization(organization_id=o.id, organization=o, position=i) for i, o in enumerate(orgs)]
    member_ids = list(dict.fromkeys([*visit_input.member_ids, *(c.id for c in contacts_added)]))
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(member_ids)))} if member_ids else {}
    visit.members = [VisitMember(contact_id=cid, contact=contacts[cid]) for cid in member_ids if cid in contacts]
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(visit_input.host_ids)))} if visit_input.host_ids else {}
    visit.hosts = [VisitHost(user_id=uid, user=users[uid]) for uid in visit_input.host_ids if uid in users]
    chains = ({c.id: c for c in session.scalars(select(IndustryChain).where(IndustryChain.id.in_(visit_input.industry_ids)))}
              if visit_input.industry_ids else {})
    visit.industries = [VisitIndustry(industry_chain_id=cid, industry_chain=chains[cid])
                        for cid in visit_input.industry_ids if cid in chains]


def _add_members(session: Session, visit_input: VisitInput, actor: User) -> list[Contact]:
    return [contact_service.add(session, data={"organization_id": row["organization_id"], "name": row["name"],
                                               "title": row.get("title", "")}, actor=actor)
            for _, row in visit_input.new_members]


def _add_followups(session: Session, visit: Visit, visit_input: VisitInput, actor: User,
                   timezone: str | None = None) -> list[Task]:
    lead_org = visit.organizations[0].organization_id if visit.organizations else None
    return [task_service.add(session, data={**row, "visit_id": visit.id, "organization_id": lead_org,
                                            "priority": TaskPriority.NORMAL, "description": ""}, actor=actor,
                              timezone=timezone)
            for _, row in visit_input.followups]


def _new_stop(row: dict[str, Any], position: int, timezone: str) -> TourStop:
    return TourStop(organization_id=row["organization_id"], position=position,
                    starts_at=to_utc(row["starts_at"], timezone) if row.get("starts_at") else None,
                    host=row.get("host", ""), shown=row.get("shown", ""), note=row.get("note", ""))


def _apply_scalars(visit: Visit, data: dict[str, Any], timezone: str) -> None:
    for key in SCALAR_FIELDS:
        value = data.get(key)
        if key in ("starts_at", "ends_at"):
            value = to_utc(value, timezone)
        elif key == "estimated_investment":
            value = Decimal(value.replace(",", "").replace("，", "")).quantize(Decimal("0.01")) if value else None
        elif value is None:
            value = ""
        setattr(visit, key, value)


def _times(data: dict[str, Any], timezone: str) -> tuple[datetime, datetime]:
    return to_utc(data["starts_at"], timezone), to_utc(data["ends_at"], timezone)


def _attach(session: Session, visit: Visit, visit_input: VisitInput, actor: User, files: FileStore | None) -> None:
    for filename, data in visit_input.files:
        if files is None:
            raise ValueError("files posted without a FileStore")
        attachment_service.add(session, entity_type="visit", entity_id=visit.id, filename=filename, data=data,
                               actor=actor, data_dir=files.data_dir, max_bytes=files.max_bytes)


def create(session: Session, *, visit_input: VisitInput, actor: User, timezone: str,
           files: FileStore | None = None) -> Visit:
    """The visit, its tour, new delegation members and follow-ups: all saved, or (InvalidVisit) none."""
    try:
        visit = add(session, visit_input=visit_input, actor=actor, timezone=timezone, files=files)
    except InvalidVisit:
        session.rollback()
        raise
    session.commit()
    return visit


def add(session: Session, *, visit_input: VisitInput, actor: User, timezone: str,
        files: FileStore | None = None) -> Visit:
    """`create` in the caller's transaction (an import writes many rows and commits them together)."""
    starts, ends = _times(visit_input.data, timezone)
    errors = _check(session, visit_input, timezone_starts=starts, timezone_ends=ends)
    if errors:
        raise InvalidVisit(errors)
    visit = Visit(created_by_id=actor.id)
    _apply_scalars(visit, visit_input.data, timezone)
    added = _add_members(session, visit_input, actor)
    _load_links(session, visit, visit_input, added)
    stop_orgs = {o.id: o for o in organizations_by_id(session, [row["organization_id"] for _, row in visit_input.stops])}
    visit.stops = []
    for position, (_, row) in enumerate(visit_input.stops):
        stop = _new_stop(row, position, timezone)
        stop.organization = stop_orgs[row["organization_id"]]
        visit.stops.append(stop)
    session.add(visit)
    session.flush()
    _refresh_search(session, visit)
    after = {k: v for k, v in _snapshot(visit).items() if v not in (None, "")}
    if visit.stops:
        after["stops"] = _stops_text(visit)
    _audit(session, visit=visit, actor=actor, action=AuditAction.CREATE, changes=audit_service.diff({}, after))
    _add_followups(session, visit, visit_input, actor, timezone)
    _attach(session, visit, visit_input, actor, files)
    return visit


def update(session: Session, *, visit: Visit, visit_input: VisitInput, version: int | None, actor: User,
           timezone: str, files: FileStore | None = None) -> Visit:
    try:
        apply_update(session, visit=visit, visit_input=visit_input, version=version, actor=actor, timezone=timezone,
                     files=files)
    except InvalidVisit:
        session.rollback()
        raise
    session.commit()
    return visit


def apply_update(session: Session, *, visit: Visit, visit_input: VisitInput, version: int | None, actor: User,
                 timezone: str, files: FileStore | None = None) -> dict[str, Any]:
    """`update` in the caller's transaction; returns the audited changes."""
    if not can_change(actor, visit):
        raise PermissionDenied()
    require_version(session, record=visit, entity_type="visit", version=version)
    starts, ends = _times(visit_input.data, timezone)
    errors = _check(session, visit_input, timezone_starts=starts, timezone_ends=ends, existing=visit)
    if errors:
        raise InvalidVisit(errors)
    before = _snapshot(visit)
    _apply_scalars(visit, visit_input.data, timezone)
    added = _add_members(session, visit_input, actor)
    _load_links(session, visit, visit_input, added)
    changes = audit_service.diff(before, _snapshot(visit))
    if changes:
        visit.updated_at = utcnow()
        flush_versioned(session, record=visit, entity_type="visit", version=version, reload=get)
        _refresh_search(session, visit)
        _audit(session, visit=visit, actor=actor, action=AuditAction.UPDATE, changes=changes)
    _add_followups(session, visit, visit_input, actor, timezone)
    _attach(session, visit, visit_input, actor, files)
    return changes


def refresh_search(session: Session, *, visit_ids: list[int]) -> None:
    """Rebuilds the search text of these visits from what they hold now (after an import's undo)."""
    for visit in session.scalars(select(Visit).where(Visit.id.in_(visit_ids)).options(
            selectinload(Visit.organizations).joinedload(VisitOrganization.organization))):
        _refresh_search(session, visit)


def delete_visit(session: Session, *, visit: Visit, actor: User, data_dir: Path) -> None:
    """Removes a visit logged by mistake, with its tour, follow-ups and files; the audit trail keeps what it was."""
    if not can_change(actor, visit):
        raise PermissionDenied()
    before = {k: v for k, v in _snapshot(visit).items() if v not in (None, "")}
    for task in session.scalars(select(Task).where(Task.visit_id == visit.id)):
        session.delete(task)
    session.execute(delete(SearchTerm).where(SearchTerm.kind == SEARCH_KIND, SearchTerm.record_id == visit.id))
    hashes = attachment_service.remove_all_for(session, entity_type="visit", entity_id=visit.id)
    _audit(session, visit=visit, actor=actor, action=AuditAction.DELETE, changes=audit_service.diff(before, {}))
    session.delete(visit)
    session.commit()
    attachment_service.discard_unused_blobs(session, hashes=hashes, data_dir=data_dir)


# The tour, changed on the visit page (each change its own small transaction, audited on the visit)

def _audit_stops(session: Session, *, visit: Visit, actor: User, before: str) -> None:
    after = _stops_text(visit)
    if after != before:
        _audit(session, visit=visit, actor=actor, action=AuditAction.UPDATE, changes={"stops": [before, after]})


def add_stop(session: Session, *, visit: Visit, row: dict[str, Any], actor: User, timezone: str) -> TourStop:
    if not can_change(actor, visit):
        raise PermissionDenied()
    errors = check_stop_organizations(session, [(0, row)])
    if len(visit.stops) >= MAX_STOPS:
        errors["stop-new-organization_id"] = Msg("A tour has at most %(max)s stops.", max=MAX_STOPS)
    if errors:
        session.rollback()
        raise InvalidVisit({k.replace("stop-0-", "stop-new-"): v for k, v in errors.items()})
    before = _stops_text(visit)
    stop = _new_stop(row, len(visit.stops), timezone)
    stop.organization = session.get(Organization, row["organization_id"])
    visit.stops.append(stop)
    session.flush()
    _audit_stops(session, visit=visit, actor=actor, before=before)
    session.commit()
    return stop


def update_stop(session: Session, *, visit: Visit, stop: TourStop, row: dict[str, Any], actor: User,
                timezone: str) -> TourStop:
    if not can_change(actor, visit):
        raise PermissionDenied()
    errors = check_stop_organizations(session, [(stop.id, row)])
    if errors:
        session.rollback()
        raise InvalidVisit(errors)
    fresh = _new_stop(row, stop.position, timezone)
    before = audit_service.snapshot(stop, ["organization_id", "starts_at", "host", "shown", "note"])
    for key in ("organization_id", "starts_at", "host", "shown", "note"):
        setattr(stop, key, getattr(fresh, key))
    after = audit_service.snapshot(stop, ["organization_id", "starts_at", "host", "shown", "note"])
    if before != after:
        stop.organization = session.get(Organization, stop.organization_id)
        changes = {f"stop_{k}": v for k, v in audit_service.diff(before, after).items()}
        _audit(session, visit=visit, actor=actor, action=AuditAction.UPDATE, changes=changes)
    session.commit()
    return stop


def remove_stop(session: Session, *, visit: Visit, stop_id: int, actor: User) -> None:
    if not can_change(actor, visit):
        raise PermissionDenied()
    before = _stops_text(visit)
    visit.stops = [s for s in visit.stops if s.id != stop_id]
    for position, stop in enumerate(visit.stops):
        stop.position = position
    session.flush()
    _audit_stops(session, visit=visit, actor=actor, before=before)
    session.commit()


class InvalidOrder(Exception):
    pass


def reorder_stops(session: Session, *, visit: Visit, stop_ids: list[int], actor: User) -> None:
    """Puts the tour in the given order, which must name each of this visit's stops exactly once."""
    if not can_change(actor, visit):
        raise PermissionDenied()
    current = {s.id: s for s in visit.stops}
    if len(stop_ids) != len(current) or set(stop_ids) != set(current):
        session.rollback()
        raise InvalidOrder()
    before = _stops_text(visit)
    for position, stop_id in enumerate(stop_ids):
        current[stop_id].position = position
    visit.stops.sort(key=lambda s: s.position)
    session.flush()
    _audit_stops(session, visit=visit, actor=actor, before=before)
    session.commit()


def find_stop(visit: Visit, stop_id: int) -> TourStop | None:
    return next((s for s in visit.stops if s.id == stop_id), None)


# Lists, calendar, search

@dataclass
class VisitFilter:
    q: str = ""
    kind: str = ""
    status: str = ""
    organization_id: int | None = None
    officer_id: int | None = None
    since: datetime | None = None  # aware, inclusive
    until: datetime | None = None  # aware, exclusive
    q_common: bool = False  # set by the list functions: see search_service.is_common


def _filtered(stmt: Select, flt: VisitFilter) -> Select:
    """`stmt` narrowed to the filter. Each value but the search is a named bind parameter (FILTER_PARAMS), so one
    statement per filter shape serves the list page at the driver's cost (list_lines)."""
    if flt.q:
        stmt = search_service.matching(stmt, Visit.id, Visit.search_text, SEARCH_KIND, flt.q, common=flt.q_common)
    if flt.kind:
        stmt = stmt.where(Visit.kind == bindparam("flt_kind", flt.kind))
    if flt.status:
        stmt = stmt.where(Visit.status == bindparam("flt_status", flt.status))
    if flt.organization_id:
        stmt = stmt.where(Visit.id.in_(select(VisitOrganization.visit_id).where(
            VisitOrganization.organization_id == bindparam("flt_organization", flt.organization_id))))
    if flt.officer_id:
        officer = bindparam("flt_officer", flt.officer_id)
        stmt = stmt.where(or_(Visit.officer_id == officer, Visit.id.in_(
            select(VisitHost.visit_id).where(VisitHost.user_id == officer))))
    if flt.since:
        stmt = stmt.where(Visit.starts_at >= bindparam("flt_since", flt.since))
    if flt.until:
        stmt = stmt.where(Visit.starts_at < bindparam("flt_until", flt.until))
    return stmt


def _filter_params(flt: VisitFilter) -> dict[str, Any]:
    """The values of _filtered's bind parameters, by name: those of the filters set."""
    values = {"flt_kind": flt.kind, "flt_status": flt.status, "flt_organization": flt.organization_id,
              "flt_officer": flt.officer_id, "flt_since": flt.since, "flt_until": flt.until}
    return {name: value for name, value in values.items() if value}


def _list_options(stmt: Select) -> Select:
    return stmt.options(
        selectinload(Visit.organizations).joinedload(VisitOrganization.organization).load_only(
            Organization.id, Organization.name),
        selectinload(Visit.officer),
        defer(Visit.summary, raiseload=True), defer(Visit.search_text, raiseload=True),
        defer(Visit.purpose, raiseload=True), defer(Visit.leaders, raiseload=True),
    )


def _planned(session: Session, flt: VisitFilter) -> VisitFilter:
    return replace(flt, q_common=search_service.is_common(session, SEARCH_KIND, flt.q, Visit.search_text)) if flt.q else flt


def list_page(session: Session, *, flt: VisitFilter, page: int, per_page: int) -> Page:
    flt = _planned(session, flt)
    total, more = count_up_to(session, _filtered(select(Visit.id), flt), page=page, per_page=per_page)
    page = clamp_page(page, total, per_page)
    stmt = (_list_options(_filtered(select(Visit), flt))
            .order_by(Visit.starts_at.desc(), Visit.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return Page(items=list(session.scalars(stmt)), total=total, page=page, per_page=per_page, more=more)


@dataclass(slots=True)
class VisitLine:
    """A visit as the list shows it, read as plain rows (no ORM objects): the list page's query."""
    id: int
    when_iso: str
    when: str  # local "YYYY-MM-DD HH:MM"
    title: str
    kind: str
    status: str
    badge: str  # the status badge's kind
    officer: str
    organizations: list[tuple[int, str]]


_STATUS_BADGE = {VisitStatus.DONE.value: "ok", VisitStatus.CANCELLED.value: "muted"}


_LINE_QUERIES: dict[tuple, tuple[PlainQuery, PlainQuery]] = {}  # per filter shape (list_lines)
_LINE_ORGANIZATIONS = PlainQuery(
    select(VisitOrganization.visit_id, Organization.id, Organization.name)
    .join(Organization, Organization.id == VisitOrganization.organization_id)
    .where(VisitOrganization.visit_id.in_(bindparam("ids", expanding=True)))
    .order_by(VisitOrganization.visit_id, VisitOrganization.position))


def _line_statements(flt: VisitFilter) -> tuple[Select, Select]:
    """The list page's count (of at most `cap` visits) and its page of rows with the officer's name."""
    count = select(func.count()).select_from(_filtered(select(Visit.id), flt).limit(bindparam("cap")).subquery())
    rows = (_filtered(select(Visit.id, Visit.starts_at, Visit.title, Visit.kind, Visit.status, User.display_name)
                      .join(User, User.id == Visit.officer_id), flt)
            .order_by(Visit.starts_at.desc(), Visit.id.desc()).offset(bindparam("offset")).limit(bindparam("limit")))
    return count, rows


def list_lines(session: Session, *, flt: VisitFilter, page: int, per_page: int, timezone: str) -> Page:
    """The visit list's page (`/visits`): the same filter, order, count and paging as list_page, its items
    VisitLines built from plain rows (the page's visits with their officers; their organizations). Without a search,
    the statements are built and compiled once per filter shape and run at the driver's cost (crm.plain_query)."""
    flt = _planned(session, flt)
    params = _filter_params(flt)
    cap = (page + LOOKAHEAD_PAGES) * per_page
    if flt.q:  # the search's candidates are part of the statement: built for this query
        count_stmt, rows_stmt = _line_statements(flt)
        counted = session.scalar(count_stmt, {**params, "cap": cap + 1}) or 0
    else:
        shape = tuple(sorted(params))
        queries = _LINE_QUERIES.get(shape)
        if queries is None:
            queries = _LINE_QUERIES[shape] = tuple(PlainQuery(stmt) for stmt in _line_statements(flt))
        counted = queries[0].scalar(session, **params, cap=cap + 1) or 0
    total, more = (cap, True) if counted > cap else (counted, False)
    page = clamp_page(page, total, per_page)
    paging = {"offset": (page - 1) * per_page, "limit": per_page}
    rows = (session.execute(rows_stmt, {**params, **paging}).all() if flt.q
            else queries[1].rows(session, **params, **paging))
    names: dict[int, list[tuple[int, str]]] = {}
    if rows:
        for visit_id, organization_id, name in _LINE_ORGANIZATIONS.rows(session, ids=[r[0] for r in rows]):
            names.setdefault(visit_id, []).append((organization_id, name))
    zone = ZoneInfo(timezone)
    items = [VisitLine(id=r[0], when_iso=r[1].isoformat(), when=r[1].astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                       title=r[2], kind=r[3], status=r[4], badge=_STATUS_BADGE.get(r[4], "info"), officer=r[5],
                       organizations=names.get(r[0], [])) for r in rows]
    return Page(items=items, total=total, page=page, per_page=per_page, more=more)


class Upcoming(NamedTuple):
    id: int
    title: str
    starts_at: datetime


_UPCOMING: dict[int, PlainQuery] = {}  # per limit


def upcoming_for(session: Session, *, organization_id: int, limit: int = 5) -> list[Any]:
    """An organization's next planned visits (its page): rows of (id, title, starts_at), soonest first. The
    statement is built once (its filter's values are named parameters) and run as plain rows (issue 17)."""
    flt = VisitFilter(organization_id=organization_id, status=VisitStatus.PLANNED.value, since=utcnow())
    query = _UPCOMING.get(limit)
    if query is None:
        query = _UPCOMING[limit] = PlainQuery(_filtered(select(Visit.id, Visit.title, Visit.starts_at), flt)
                                              .order_by(Visit.starts_at, Visit.id).limit(limit))
    return [Upcoming(*r) for r in query.rows(session, **_filter_params(flt))]


def in_range(session: Session, *, flt: VisitFilter, limit: int = 1000) -> list[Visit]:
    """Visits starting in [flt.since, flt.until), in time order: the calendar and the iCalendar export."""
    flt = _planned(session, flt)
    stmt = _list_options(_filtered(select(Visit), flt)).order_by(Visit.starts_at, Visit.id).limit(limit)
    return list(session.scalars(stmt))


def for_export(session: Session, *, flt: VisitFilter, limit: int = 5000) -> list[Visit]:
    flt = _planned(session, flt)
    stmt = (_filtered(select(Visit), flt)
            .options(selectinload(Visit.organizations).joinedload(VisitOrganization.organization).load_only(
                Organization.id, Organization.name), selectinload(Visit.stops).joinedload(TourStop.organization)
                .load_only(Organization.id, Organization.name), defer(Visit.search_text, raiseload=True))
            .order_by(Visit.starts_at.desc(), Visit.id.desc()).limit(limit))
    return list(session.scalars(stmt))


EXPORT_BATCH = 500  # visits read per query by the export


def export_rows(session: Session, *, flt: VisitFilter) -> Iterator[tuple[Any, ...]]:
    """Every visit the list shows for `flt`, newest first (not only one page), as schemas.EXPORT_COLUMNS: the
    list's own filter gives the ids, their rows and organizations are read a batch at a time."""
    flt = _planned(session, flt)
    ids = list(session.scalars(_filtered(select(Visit.id), flt).order_by(Visit.starts_at.desc(), Visit.id.desc())))
    for start in range(0, len(ids), EXPORT_BATCH):
        batch = ids[start:start + EXPORT_BATCH]
        rows = {row.id: row for row in session.execute(
            select(Visit.id, Visit.starts_at, Visit.ends_at, Visit.title, Visit.kind, Visit.status, Visit.place,
                   User.display_name, Visit.interest_level, Visit.estimated_investment, Visit.outcome)
            .join(User, User.id == Visit.officer_id).where(Visit.id.in_(batch)))}
        names: dict[int, list[str]] = {}
        for visit_id, name in session.execute(
                select(VisitOrganization.visit_id, Organization.name)
                .join(Organization, Organization.id == VisitOrganization.organization_id)
                .where(VisitOrganization.visit_id.in_(batch))
                .order_by(VisitOrganization.visit_id, VisitOrganization.position)):
            names.setdefault(visit_id, []).append(name)
        for visit_id in batch:
            r = rows[visit_id]
            yield (r.starts_at, r.ends_at, r.title, _label(KIND_LABELS, r.kind), _label(STATUS_LABELS, r.status),
                   "，".join(names.get(visit_id, [])), r.place, r.display_name,
                   _label(INTEREST_LABELS, r.interest_level), r.estimated_investment, r.outcome)


def _label(labels: dict, value: str) -> Msg | str:
    return Msg(labels[value]) if value in labels else value


def upcoming(session: Session, *, now: datetime, days: int = 14, limit: int = 8) -> list[Visit]:
    """Planned visits in the coming days: the home page's "upcoming delegations"."""
    flt = VisitFilter(status=VisitStatus.PLANNED, since=now - timedelta(hours=12), until=now + timedelta(days=days))
    return in_range(session, flt=flt, limit=limit)


def search_page(session: Session, *, q: str, per_page: int, lookahead_pages: int = LOOKAHEAD_PAGES) -> Page:
    """The header search's visits: like the list, with the summary and outcome for a snippet of the match."""
    flt = _planned(session, VisitFilter(q=q))
    total, more = count_up_to(session, _filtered(select(Visit.id), flt), page=1, per_page=per_page,
                              lookahead_pages=lookahead_pages)
    stmt = (_filtered(select(Visit), flt)
            .options(selectinload(Visit.organizations).joinedload(VisitOrganization.organization).load_only(
                Organization.id, Organization.name), defer(Visit.search_text, raiseload=True),
                defer(Visit.leaders, raiseload=True))
            .order_by(Visit.starts_at.desc(), Visit.id.desc()).limit(per_page))
    return Page(items=list(session.scalars(stmt)), total=total, page=1, per_page=per_page, more=more)


def count_in(session: Session, *, flt: VisitFilter) -> int:
    flt = _planned(session, flt)
    return session.scalar(_filtered(select(func.count(Visit.id)), flt)) or 0


# How the history reads: a visit's kind, status and interest; its industry chains (stored by Chinese name) in the
# reader's language.
audit_labels.register("visit", values={"kind": KIND_LABELS, "status": STATUS_LABELS, "interest_level": INTEREST_LABELS},
                      reference={"industries": audit_labels.Reference(organization_service.industry_chain_names_by_zh,
                                                                      separator=", ")})
