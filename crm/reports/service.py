"""The data of the printable reports: the pipeline for managers (the pipeline table's filters), a collective
groundbreaking's readiness roster, and the export leaders' progress for a month. Each is one function, used by
the HTML preview and the PDF alike; every project query goes through the visibility filter."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.auth.models import User
from crm.exports import service as export_service
from crm.groundbreaking import service as groundbreaking_service
from crm.groundbreaking.models import GroundbreakingEvent
from crm.projects import pipeline
from crm.projects import service as project_service
from crm.projects.models import Project, StageChange

RECENT_DAYS = 30
LIST_LIMIT = 500  # projects listed by stage; the totals count them all


@dataclass
class StageMove:
    at: datetime
    project_name: str
    from_stage: str
    to_stage: str
    note: str


@dataclass
class PipelineReport:
    flt: pipeline.ProjectFilter
    totals: pipeline.Totals
    cards: list[pipeline.Card]  # by stage order, at most LIST_LIMIT
    stale: list[pipeline.Card]
    moves: list[StageMove]
    since: datetime


def pipeline_report(session: Session, *, flt: pipeline.ProjectFilter, viewer: User, now: datetime, today: date,
                    threshold: Decimal, stale_days: int) -> PipelineReport:
    view = {"now": now, "today": today, "threshold": threshold, "stale_days": stale_days}
    totals = pipeline.totals(session, flt=flt, viewer=viewer, now=now, stale_days=stale_days)

    cards = pipeline.table_page(session, flt=replace(flt, sort="stage"), viewer=viewer, page=1, per_page=LIST_LIMIT,
                                **view).items
    stale = pipeline.table_page(session, flt=replace(flt, stale=True, sort="-days"), viewer=viewer, page=1,
                                per_page=100, **view).items
    since = now - timedelta(days=RECENT_DAYS)
    # the table's own filter (with the viewer's visibility), as a subquery of project ids
    filtered = pipeline._filtered(select(Project.id), pipeline._planned(session, flt), viewer,
                                  pipeline.stale_since(now, stale_days))
    rows = session.execute(
        select(StageChange.at, Project.name, StageChange.from_stage, StageChange.to_stage, StageChange.note)
        .join(Project, Project.id == StageChange.project_id)
        .where(StageChange.at >= since, StageChange.from_stage != "", project_service.visible_to(viewer),
               StageChange.project_id.in_(filtered.scalar_subquery()))
        .order_by(StageChange.at.desc(), StageChange.id.desc()).limit(100)).all()
    moves = [StageMove(at=at, project_name=name, from_stage=a, to_stage=b, note=note) for at, name, a, b, note in rows]
    return PipelineReport(flt=flt, totals=totals, cards=cards, stale=stale, moves=moves, since=since)


def roster(session: Session, *, event: GroundbreakingEvent, viewer: User, today: date, threshold: Decimal,
           stale_since: datetime) -> groundbreaking_service.ReadinessBoard:
    """Every slated project the viewer may see, with its gates (the readiness board's own function)."""
    return groundbreaking_service.board(session, event=event, viewer=viewer, today=today, threshold=threshold,
                                        stale_since=stale_since)


def events(session: Session, *, limit: int = 50) -> list[GroundbreakingEvent]:
    return groundbreaking_service.events(session, limit=limit)


@dataclass
class ExportReport:
    year: int
    month: int
    rows: list[export_service.ExportProgress]

    @property
    def total_ytd(self) -> Decimal:
        return sum((r.ytd for r in self.rows), Decimal(0))

    @property
    def total_target(self) -> Decimal:
        return sum((r.target or Decimal(0) for r in self.rows), Decimal(0))

    @property
    def behind(self) -> int:
        return sum(1 for r in self.rows if r.behind)

    @property
    def missing(self) -> int:
        return sum(1 for r in self.rows if not r.has_latest)


def export_report(session: Session, *, year: int, month: int) -> ExportReport:
    """The export pool's progress for `year` through `month` (crm/exports' progress function), by tier."""
    return ExportReport(year=year, month=month, rows=export_service.progress(session, year=year, month=month,
                                                                            sort="tier"))
