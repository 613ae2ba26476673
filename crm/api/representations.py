"""The records as the API shows them (and the event webhooks send them): plain JSON-ready dicts.

One function per kind, given the loaded record (and, where a nested field could name a project, the viewer's
visible project ids): every nested project goes through `crm.projects.service.may_see`/`visible_to`, so a
confidential project never shows to whom may not see it. `load(session, kind, record_id, viewer)` loads a record
the viewer may see and represents it (None: none, or not theirs to see): the webhooks' one entry point.

Conventions: ids are integers; dates are "YYYY-MM-DD"; times ISO 8601 with their UTC offset; money and other
decimals are strings ("1234.50", exact) with their unit in the field name; `version` is the record's version
(its ETag is `"<version>"`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DateTime, Numeric, select
from sqlalchemy.orm import Session

from crm.auth.models import User
from crm.contacts.models import Contact
from crm.exports.models import ExportEnterprise
from crm.groundbreaking.models import GroundbreakingEvent
from crm.i18n import gettext
from crm.indicators.models import Indicator
from crm.organizations.models import Organization
from crm.parcels.models import LandParcel
from crm.projects.models import Project
from crm.tasks.models import Task
from crm.visits.models import Visit

API_PREFIX = "/api/v1"


def plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="minutes")
    return str(value)


def etag(version: int) -> str:
    return f'"{version}"'


def user_ref(user: User | None) -> dict[str, Any] | None:
    return {"id": user.id, "display_name": user.display_name} if user is not None else None


def me(user: User, *, token_scopes: list[str]) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
            "locale": user.locale, "department": user.department, "email": user.email, "scopes": token_scopes}


def visible_project_ids(session: Session, viewer: User, ids: Iterable[int | None]) -> set[int]:
    """Which of these projects the viewer may see (crm.projects.service.may_see: the one rule)."""
    from crm.projects import service as project_service

    wanted = {i for i in ids if i}
    if not wanted:
        return set()
    return set(session.scalars(select(Project.id).where(Project.id.in_(wanted), project_service.may_see(viewer))))


# Organizations and contacts

def organization(org: Organization, *, projects: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data = {
        "id": org.id, "name": org.name, "name_en": org.name_en, "credit_code": org.credit_code, "kind": org.kind,
        "industry_chain_id": org.industry_chain_id, "ownership": org.ownership, "country_region": org.country_region,
        "city": org.city, "address": org.address, "website": org.website, "tags": org.tags_list,
        "description": org.description, "owner_id": org.owner_id, "archived": org.archived_at is not None,
        "created_at": plain(org.created_at), "updated_at": plain(org.updated_at), "version": org.version,
    }
    if projects is not None:
        data["projects"] = projects
    return data


def project_ref(project: Project) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "stage": project.stage}


def contact(c: Contact) -> dict[str, Any]:
    return {
        "id": c.id, "organization_id": c.organization_id, "name": c.name, "title": c.title, "mobile": c.mobile,
        "phone": c.phone, "email": c.email, "wechat": c.wechat, "notes": c.notes, "archived": c.archived_at is not None,
        "created_at": plain(c.created_at), "updated_at": plain(c.updated_at), "version": c.version,
    }


# Visits and follow-ups

def visit(v: Visit) -> dict[str, Any]:
    """A visit with its organizations, members (contacts), hosts (officers), industries and tour stops (loaded
    by crm.visits.service.get)."""
    return {
        "id": v.id, "title": v.title, "kind": v.kind, "status": v.status, "starts_at": plain(v.starts_at),
        "ends_at": plain(v.ends_at), "place": v.place, "leaders": v.leaders, "purpose": v.purpose,
        "summary": v.summary, "outcome": v.outcome, "interest_level": v.interest_level,
        "estimated_investment_wan_cny": plain(v.estimated_investment), "officer_id": v.officer_id,
        "organization_ids": [link.organization_id for link in v.organizations],
        "members": [{"contact_id": m.contact_id, "name": m.contact.name} for m in v.members],
        "hosts": [{"user_id": h.user_id, "display_name": h.user.display_name} for h in v.hosts],
        "industry_chain_ids": [i.industry_chain_id for i in v.industries],
        "tour_stops": [{"id": s.id, "position": s.position, "organization_id": s.organization_id,
                        "starts_at": plain(s.starts_at), "host": s.host, "shown": s.shown, "note": s.note}
                       for s in v.stops],
        "created_at": plain(v.created_at), "updated_at": plain(v.updated_at), "version": v.version,
    }


def visit_row(v: Visit) -> dict[str, Any]:
    """A visit in a list: its own fields and its organizations (as loaded by the visit list)."""
    return {
        "id": v.id, "title": v.title, "kind": v.kind, "status": v.status, "starts_at": plain(v.starts_at),
        "ends_at": plain(v.ends_at), "place": v.place, "officer_id": v.officer_id,
        "updated_at": plain(v.updated_at), "version": v.version,
    }


def follow_up(t: Task, *, visible_projects: set[int]) -> dict[str, Any]:
    """A follow-up (task). Its project is named only when the viewer may see it."""
    return {
        "id": t.id, "title": t.title, "description": t.description, "assignee_id": t.assignee_id,
        "due_on": plain(t.due_on), "due_time": plain(t.due_time), "priority": t.priority, "status": t.status,
        "organization_id": t.organization_id, "contact_id": t.contact_id, "visit_id": t.visit_id,
        "project_id": t.project_id if t.project_id in visible_projects else None,
        "completed_at": plain(t.completed_at), "created_at": plain(t.created_at),
        "updated_at": plain(t.updated_at), "version": t.version,
    }


# Projects

PROJECT_SCALARS = (
    "name", "industry_chain_id", "description", "total_investment_wan_cny", "fixed_investment_wan_cny",
    "is_foreign_invested", "foreign_capital_wan_usd", "registered_capital_wan_cny", "land_need_mu",
    "annual_output_wan_cny", "annual_tax_wan_cny", "jobs", "source", "source_note", "owner_id",
    "is_confidential", "stage", "stage_entered_at", "pipeline_stage", "stage_reason", "target_signing_on",
    "target_groundbreaking_on", "target_operation_on", "signed_on", "groundbreaking_on", "operation_on",
    "parcel_id", "land_certificate_no", "created_at", "updated_at",
)


def _decimal(value: Any) -> Any:
    return None if value is None else format(value, "f")


def _isoformat(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _converter(name: str) -> Any:
    """How a project column becomes JSON: decided once per column, not per value (a list renders 200 rows)."""
    kind = Project.__table__.c[name].type
    kind = getattr(kind, "impl", kind)  # UTCDateTime: a DateTime
    if isinstance(kind, Numeric):
        return _decimal
    if isinstance(kind, (Date, DateTime)):
        return _isoformat
    return None


_PROJECT_COLUMNS = tuple((name, _converter(name)) for name in PROJECT_SCALARS)


def project_row(row: Any) -> dict[str, Any]:
    """A project in a list: a plain row of its own columns (no relations loaded)."""
    data: dict[str, Any] = {"id": row.id}
    for name, convert in _PROJECT_COLUMNS:
        value = getattr(row, name)
        data[name] = convert(value) if convert is not None else value
    data["archived"] = row.archived_at is not None
    data["version"] = row.version
    return data


# A list's rows: these columns, in this order (crm.api.resources.list_projects), rendered by position.
PROJECT_LIST_COLUMNS = (Project.id, *(Project.__table__.c[name] for name in PROJECT_SCALARS), Project.archived_at,
                        Project.version)
_LIST_KEYS = ("id", *PROJECT_SCALARS, "archived", "version")
_LIST_CONVERSIONS = tuple((position, convert) for position, (_name, convert) in enumerate(_PROJECT_COLUMNS, start=1)
                          if convert is not None)
_ARCHIVED = len(_LIST_KEYS) - 2


def project_list_row(row: Any) -> dict[str, Any]:
    """project_row() of a PROJECT_LIST_COLUMNS row, by position: a page of 200 in a third of the time."""
    values = list(row)
    for position, convert in _LIST_CONVERSIONS:
        values[position] = convert(values[position])
    values[_ARCHIVED] = values[_ARCHIVED] is not None
    return dict(zip(_LIST_KEYS, values, strict=True))


def decision(d: Any) -> dict[str, Any]:
    return {"id": d.id, "meeting_kind": d.meeting_kind, "meeting_on": plain(d.meeting_on), "outcome": d.outcome,
            "resolution": d.resolution, "recorded_by_id": d.recorded_by_id, "created_at": plain(d.created_at)}


def approval_item(a: Any) -> dict[str, Any]:
    return {"id": a.id, "code": a.code, "name_zh": a.name_zh, "name_en": a.name_en, "position": a.position,
            "status": a.status, "submitted_on": plain(a.submitted_on), "accepted_on": plain(a.accepted_on),
            "approved_on": plain(a.approved_on), "promised_days": a.promised_days, "overdue_on": plain(a.overdue_on),
            "assistant_id": a.assistant_id, "assistant": a.assistant, "note": a.note,
            "updated_at": plain(a.updated_at)}


def project(p: Project) -> dict[str, Any]:
    """A project with its investors, officers, stage history, decisions and approval items (loaded by
    crm.projects.service.get_visible: call it only for a project the viewer may see)."""
    data = project_row(p)
    data.update({
        "investors": [{"organization_id": link.organization_id, "name": link.organization.name,
                       "position": link.position} for link in p.investors],
        "officer_ids": [o.user_id for o in p.officers],
        "stage_history": [{"id": c.id, "from_stage": c.from_stage or None, "to_stage": c.to_stage,
                           "at": plain(c.at), "actor_id": c.actor_id, "note": c.note,
                           "gate_override": c.gate_override} for c in p.stage_changes],
        "decisions": [decision(d) for d in p.decisions],
        "approval_items": [approval_item(a) for a in p.approvals],
        "gate_override_reason": p.gate_override_reason,
    })
    return data


# Land, groundbreaking, exports, indicators

def parcel(p: LandParcel) -> dict[str, Any]:
    return {
        "id": p.id, "code": p.code, "name": p.name, "location": p.location, "bounds": p.bounds,
        "land_area_m2": plain(p.land_area_m2), "building_area_m2": plain(p.building_area_m2),
        "planned_use": p.planned_use, "status": p.status, "households_total": p.households_total,
        "households_signed": p.households_signed, "signing_starts_on": plain(p.signing_starts_on),
        "signing_ends_on": plain(p.signing_ends_on), "compensation_cash": p.compensation_cash,
        "compensation_swap": p.compensation_swap, "public_facilities": p.public_facilities, "notes": p.notes,
        "created_at": plain(p.created_at), "updated_at": plain(p.updated_at), "version": p.version,
    }


def groundbreaking_event(e: GroundbreakingEvent, *, slate: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data = {"id": e.id, "name": e.name, "held_on": plain(e.held_on), "place": e.place, "note": e.note,
            "created_at": plain(e.created_at), "version": e.version}
    if slate is not None:
        data["slate"] = slate
    return data


def readiness_row(row: Any, *, locale: str) -> dict[str, Any]:
    """One slated project on the readiness board (crm.groundbreaking.service.board: visible projects only), each
    gate with its colour and, when it is not passed, what is missing (in the reader's language)."""
    def gate(g: Any) -> dict[str, Any]:
        return {"key": g.key, "label": gettext(locale, g.label), "colour": g.colour,
                "message": gettext(locale, g.message) if g.message is not None else None}

    return {"project_id": row.project.id, "name": row.project.name, "stage": row.project.stage,
            "stale": row.stale, "gates": [gate(g) for g in row.readiness.gates],
            "ready": all(g.passed for g in row.readiness.gates)}


def export_member(m: ExportEnterprise, *, organization_name: str) -> dict[str, Any]:
    return {
        "id": m.id, "organization_id": m.organization_id, "organization_name": organization_name, "tier": m.tier,
        "officer_id": m.officer_id, "main_products": m.main_products, "markets": m.markets,
        "support_planned": m.support_planned, "created_at": plain(m.created_at), "updated_at": plain(m.updated_at),
        "version": m.version,
    }


def indicator(i: Indicator) -> dict[str, Any]:
    return {"id": i.id, "code": i.code, "name_zh": i.name_zh, "name_en": i.name_en, "unit": i.unit,
            "frequency": i.frequency, "kind": i.kind, "allows_negative": i.allows_negative, "position": i.position,
            "is_active": i.is_active, "updated_at": plain(i.updated_at), "version": i.version}


# Loading a record the viewer may see (the event webhooks' entry point)

KINDS = ("organization", "contact", "visit", "follow_up", "project", "parcel", "groundbreaking_event")


def load(session: Session, kind: str, record_id: int, viewer: User) -> dict[str, Any] | None:
    """The record of `kind` as the API shows it to `viewer`, or None when there is none or they may not see it."""
    if kind == "organization":
        from crm.organizations import service as organization_service

        org = organization_service.get(session, record_id)
        return organization(org, projects=organization_projects(session, org.id, viewer)) if org else None
    if kind == "contact":
        from crm.contacts import service as contact_service

        found = contact_service.get(session, record_id)
        return contact(found) if found else None
    if kind == "visit":
        from crm.visits import service as visit_service

        found = visit_service.get(session, record_id)
        return visit(found) if found else None
    if kind == "follow_up":
        from crm.tasks import service as task_service

        found = task_service.get(session, record_id)
        if found is None:
            return None
        return follow_up(found, visible_projects=visible_project_ids(session, viewer, [found.project_id]))
    if kind == "project":
        from crm.projects import service as project_service

        found = project_service.get_visible(session, record_id, viewer)
        return project(found) if found else None
    if kind == "parcel":
        from crm.parcels import service as parcel_service

        found = parcel_service.get(session, record_id)
        return parcel(found) if found else None
    if kind == "groundbreaking_event":
        from crm.groundbreaking import service as groundbreaking_service

        found = groundbreaking_service.get(session, record_id)
        return groundbreaking_event(found) if found else None
    raise ValueError(f"unknown kind {kind!r}")


def organization_projects(session: Session, organization_id: int, viewer: User) -> list[dict[str, Any]]:
    """The organization's projects the viewer may see (the organization page's list, same rule)."""
    from crm.projects import service as project_service

    return [project_ref(p) for p in project_service.for_organization(session, organization_id=organization_id,
                                                                      viewer=viewer, limit=200)]
