"""Collective groundbreaking events (集中开工): the event, its slate of projects, and the readiness board — every
slated project's gates (decision, land, each permit) green, amber or red, and the totals to announce, summed by the
database. What a viewer may see of the slate is decided by projects' visible_to(): a confidential project is neither
listed nor counted for others."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.i18n import Msg
from crm.organizations.service import PermissionDenied
from crm.projects import gates, pipeline
from crm.projects import service as project_service
from crm.projects.models import PIPELINE, Project, Stage
from crm.versioning import flush_versioned, require_version

FIELDS = ["name", "held_on", "place", "note"]
MAX_SLATE = 500
# Projects that may be slated: signed and not yet broken ground (and those already at 开工, to announce them).
SLATABLE = tuple(s.value for s in PIPELINE[PIPELINE.index(Stage.SIGNED):PIPELINE.index(Stage.OPERATING)])

__all__ = ["PermissionDenied"]


class InvalidEvent(Exception):
    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def can_edit(user: User) -> bool:
    return user.is_manager


def get(session: Session, event_id: int) -> GroundbreakingEvent | None:
    return session.get(GroundbreakingEvent, event_id)


def next_event(session: Session, *, today: date) -> GroundbreakingEvent | None:
    """The next collective groundbreaking, today's included (the dashboard's and the briefing pack's)."""
    return session.scalar(select(GroundbreakingEvent).where(GroundbreakingEvent.held_on >= today)
                          .order_by(GroundbreakingEvent.held_on, GroundbreakingEvent.id).limit(1))


def events(session: Session, *, limit: int = 100) -> list[GroundbreakingEvent]:
    return list(session.scalars(select(GroundbreakingEvent).order_by(GroundbreakingEvent.held_on.desc(),
                                                                     GroundbreakingEvent.id.desc()).limit(limit)))


def slate_counts(session: Session, *, event_ids: list[int], viewer: User) -> dict[int, int]:
    if not event_ids:
        return {}
    stmt = (select(SlatedProject.event_id, func.count()).join(Project, Project.id == SlatedProject.project_id)
            .where(SlatedProject.event_id.in_(event_ids), project_service.visible_to(viewer))
            .group_by(SlatedProject.event_id))
    return dict(session.execute(stmt).all())


def _audit(session: Session, *, event: GroundbreakingEvent, actor: User, action: AuditAction, changes: dict) -> None:
    audit_service.record(session, actor=actor, action=action, entity_type="groundbreaking_event", entity_id=event.id,
                         entity_label=event.name, entity_version=event.version, changes=changes)


def _typed(data: dict[str, Any]) -> dict[str, Any]:
    return {"name": data["name"], "held_on": date.fromisoformat(data["held_on"]), "place": data.get("place") or "",
            "note": data.get("note") or ""}


def create(session: Session, *, data: dict[str, Any], actor: User) -> GroundbreakingEvent:
    if not can_edit(actor):
        raise PermissionDenied()
    event = GroundbreakingEvent(**_typed(data))
    session.add(event)
    session.flush()
    _audit(session, event=event, actor=actor, action=AuditAction.CREATE, changes=audit_service.diff(
        {}, {k: v for k, v in audit_service.snapshot(event, FIELDS).items() if v}))
    session.commit()
    return event


def update(session: Session, *, event: GroundbreakingEvent, data: dict[str, Any], version: int | None,
           actor: User) -> GroundbreakingEvent:
    if not can_edit(actor):
        raise PermissionDenied()
    require_version(session, record=event, entity_type="groundbreaking_event", version=version)
    before = audit_service.snapshot(event, FIELDS)
    for key, value in _typed(data).items():
        setattr(event, key, value)
    changes = audit_service.diff(before, audit_service.snapshot(event, FIELDS))
    if changes:
        flush_versioned(session, record=event, entity_type="groundbreaking_event", version=version, reload=get)
        _audit(session, event=event, actor=actor, action=AuditAction.UPDATE, changes=changes)
    session.commit()
    return event


def add_project(session: Session, *, event: GroundbreakingEvent, project_id: int, actor: User) -> Project:
    """Puts a project on the slate (a manager): it must exist, be signed and not yet in operation or dropped."""
    if not can_edit(actor):
        raise PermissionDenied()
    project = session.get(Project, project_id)
    # An archived project is in no list (restore it first); one the actor may not see is answered as none at all.
    if project is None or project.archived_at is not None or not project_service.is_visible(session, actor, project.id):
        raise InvalidEvent({"project_id": Msg("There is no such project.")})
    if project.stage not in SLATABLE:
        session.rollback()
        raise InvalidEvent({"project_id": Msg("Only a signed project that has not yet gone into operation can be "
                                              "slated for groundbreaking.")})
    if session.get(SlatedProject, (event.id, project.id)) is not None:
        session.rollback()
        raise InvalidEvent({"project_id": Msg("This project is already on the slate.")})
    size = session.scalar(select(func.count()).where(SlatedProject.event_id == event.id)) or 0
    if size >= MAX_SLATE:
        session.rollback()
        raise InvalidEvent({"project_id": Msg("A slate has at most %(max)s projects.", max=MAX_SLATE)})
    last = session.scalar(select(func.max(SlatedProject.position)).where(SlatedProject.event_id == event.id))
    session.add(SlatedProject(event_id=event.id, project_id=project.id, position=(last or 0) + 1))
    _audit(session, event=event, actor=actor, action=AuditAction.UPDATE, changes={"slate": [None, project.name]})
    session.commit()
    return project


def drop_project(session: Session, *, event: GroundbreakingEvent, project_id: int, actor: User) -> None:
    if not can_edit(actor):
        raise PermissionDenied()
    slated = session.get(SlatedProject, (event.id, project_id))
    if slated is None:
        session.rollback()
        return
    name = session.scalar(select(Project.name).where(Project.id == project_id))
    session.delete(slated)
    _audit(session, event=event, actor=actor, action=AuditAction.UPDATE, changes={"slate": [name, None]})
    session.commit()


@dataclass
class BoardRow:
    project: pipeline.CardProject
    readiness: gates.Readiness
    permits: dict[str, gates.Gate]  # by template code
    stale: bool = False
    lapsed: list[gates.Gate] = field(default_factory=list)  # gates behind it that it no longer meets (gates.lapsed)


@dataclass
class SlateTotals:
    count: int
    investment: Decimal
    foreign: Decimal


@dataclass
class ReadinessBoard:
    event: GroundbreakingEvent
    rows: list[BoardRow]
    totals: SlateTotals
    days_left: int
    columns: list[tuple[str, gates.Named]]  # permit columns: (template code, name)

    def count(self, colour: str) -> int:
        return sum(1 for row in self.rows if row.readiness.colour == colour)


def totals(session: Session, *, event_id: int, viewer: User) -> SlateTotals:
    """What will be announced: projects, total investment and foreign capital, summed by the database."""
    count, investment, foreign = session.execute(
        select(func.count(Project.id), func.coalesce(func.sum(Project.total_investment_wan_cny), 0),
               func.coalesce(func.sum(Project.foreign_capital_wan_usd), 0))
        .join(SlatedProject, SlatedProject.project_id == Project.id)
        .where(SlatedProject.event_id == event_id, project_service.visible_to(viewer))).one()
    return SlateTotals(count=count, investment=Decimal(investment), foreign=Decimal(foreign))


def board(session: Session, *, event: GroundbreakingEvent, viewer: User, today: date, threshold: Decimal,
          stale_since: datetime) -> ReadinessBoard:
    """The slate (what the viewer may see) with every project's gates, read as rows like the board's cards
    (crm.projects.pipeline): a fixed number of queries for any slate."""
    ids = list(session.scalars(
        select(Project.id).join(SlatedProject, SlatedProject.project_id == Project.id)
        .where(SlatedProject.event_id == event.id, project_service.visible_to(viewer))
        .order_by(SlatedProject.position, Project.id)))
    found = pipeline.card_rows(session, ids, stale_since, with_investors=False)
    views = pipeline.judged(session, [project for project, _ in found], every_item=True)
    rows = []
    for project, stale in found:
        readiness = gates.readiness(views[project.id], threshold=threshold, today=today)
        permits = {item.code: gate for item, gate in zip(views[project.id].approvals, readiness.permits, strict=True)}
        rows.append(BoardRow(project=project, readiness=readiness, permits=permits, stale=stale,
                             lapsed=gates.lapsed(views[project.id], threshold=threshold, today=today)))
    columns = [(t.code, gates.Named(t.name_zh, t.name_en)) for t in project_service.template(session)]
    return ReadinessBoard(event=event, rows=rows, totals=totals(session, event_id=event.id, viewer=viewer),
                          days_left=(event.held_on - today).days, columns=columns)


def candidates(session: Session, *, event: GroundbreakingEvent, viewer: User, limit: int = 300) -> list[Any]:
    """Projects that could be added to the slate: signed, not yet in operation, not on it already; the most
    recently changed `limit` of them (an index range, not a sort of every signed project), by name."""
    on_slate = select(SlatedProject.project_id).where(SlatedProject.event_id == event.id)
    stmt = (select(Project.id, Project.name, Project.stage).where(
        Project.stage.in_(SLATABLE), Project.id.not_in(on_slate), project_service.visible_to(viewer))
            .order_by(Project.updated_at.desc(), Project.id.desc()).limit(limit))
    return sorted(session.execute(stmt).all(), key=lambda row: row.name)
