"""The pipeline views' queries: the table (filters, sorting, paging), the totals per stage, the kanban board and
the header search. Every one starts from `service.visible_to(viewer)`; counts and sums are computed by the database.

Stale: a project still moving (not 投产, not 终止) with no stage change, no follow-up created or changed, and no
visit (linked to it, or with one of its investors) in the last N days (CRM_PROJECT_STALE_DAYS, default 30)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, defer, joinedload, selectinload

from crm import search_text
from crm.auth.models import User
from crm.db import utcnow
from crm.listing import Page, clamp_page, count_up_to
from crm.organizations.models import Organization
from crm.projects import gates
from crm.projects.models import (
    ALL_STAGES,
    FINISHED,
    Project,
    ProjectOfficer,
    ProjectOrganization,
    ProjectVisit,
)
from crm.projects.service import SEARCH_KIND, visible_to
from crm.search import service as search_service
from crm.tasks.models import Task
from crm.visits.models import Visit, VisitOrganization, VisitStatus

SORTS = ["-updated", "name", "-investment", "stage", "-days"]
BOARD_COLUMN_LIMIT = 100  # cards per column; the column's count says how many there are in all


@dataclass
class ProjectFilter:
    q: str = ""
    stage: str = ""
    industry_chain_id: int | None = None
    officer_id: int | None = None  # owning or assigned
    organization_id: int | None = None
    min_investment: Decimal | None = None  # 万元
    max_investment: Decimal | None = None
    foreign: bool | None = None
    confidential: bool | None = None
    stale: bool | None = None
    sort: str = "-updated"
    q_common: bool = False

    @property
    def active(self) -> bool:
        return bool(self.q or self.stage or self.industry_chain_id or self.officer_id or self.organization_id
                    or self.min_investment is not None or self.max_investment is not None
                    or self.foreign is not None or self.confidential is not None or self.stale is not None)


def stale_since(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def is_stale(cutoff: datetime) -> ColumnElement[bool]:
    """True for a project with nothing happening since `cutoff` (see the module's docstring)."""
    task_lately = exists().where(Task.project_id == Project.id, Task.updated_at >= cutoff)
    visit_lately = exists().where(ProjectVisit.project_id == Project.id, Visit.id == ProjectVisit.visit_id,
                                  Visit.starts_at >= cutoff, Visit.status != VisitStatus.CANCELLED)
    investor_visit = exists().where(ProjectOrganization.project_id == Project.id,
                                    VisitOrganization.organization_id == ProjectOrganization.organization_id,
                                    Visit.id == VisitOrganization.visit_id, Visit.starts_at >= cutoff,
                                    Visit.status != VisitStatus.CANCELLED)
    return and_(Project.stage.not_in(list(FINISHED)), Project.stage_entered_at < cutoff,
                ~task_lately, ~visit_lately, ~investor_visit)


def _filtered(stmt: Select, flt: ProjectFilter, viewer: User, cutoff: datetime) -> Select:
    stmt = stmt.where(visible_to(viewer))
    if flt.q:
        stmt = search_service.narrow(stmt, Project.id, SEARCH_KIND, flt.q, common=flt.q_common)
        stmt = stmt.where(Project.search_text.contains(search_text.query_text(flt.q), autoescape=True))
    if flt.stage:
        stmt = stmt.where(Project.stage == flt.stage)
    if flt.industry_chain_id:
        stmt = stmt.where(Project.industry_chain_id == flt.industry_chain_id)
    if flt.officer_id:
        stmt = stmt.where(or_(Project.owner_id == flt.officer_id, exists().where(
            ProjectOfficer.project_id == Project.id, ProjectOfficer.user_id == flt.officer_id)))
    if flt.organization_id:
        stmt = stmt.where(exists().where(ProjectOrganization.project_id == Project.id,
                                         ProjectOrganization.organization_id == flt.organization_id))
    if flt.min_investment is not None:
        stmt = stmt.where(Project.total_investment_wan_cny >= flt.min_investment)
    if flt.max_investment is not None:
        stmt = stmt.where(Project.total_investment_wan_cny <= flt.max_investment)
    if flt.foreign is not None:
        stmt = stmt.where(Project.is_foreign_invested.is_(flt.foreign))
    if flt.confidential is not None:
        stmt = stmt.where(Project.is_confidential.is_(flt.confidential))
    if flt.stale is not None:
        stmt = stmt.where(is_stale(cutoff) if flt.stale else ~is_stale(cutoff))
    return stmt


def _planned(session: Session, flt: ProjectFilter) -> ProjectFilter:
    return replace(flt, q_common=search_service.is_common(session, SEARCH_KIND, flt.q)) if flt.q else flt


STAGE_ORDER = case({stage.value: i for i, stage in enumerate(ALL_STAGES)}, value=Project.stage, else_=99)
ORDER = {
    "-updated": (Project.updated_at.desc(), Project.id.desc()),
    "name": (Project.name, Project.id),
    "-investment": (Project.total_investment_wan_cny.desc().nulls_last(), Project.id.desc()),
    "stage": (STAGE_ORDER, Project.updated_at.desc(), Project.id.desc()),
    "-days": (Project.stage_entered_at, Project.id),
}


def _card_options(stmt: Select) -> Select:
    return stmt.options(
        joinedload(Project.owner), joinedload(Project.parcel), joinedload(Project.industry_chain),
        selectinload(Project.investors).joinedload(ProjectOrganization.organization).load_only(
            Organization.id, Organization.name),
        selectinload(Project.approvals), selectinload(Project.decisions),
        defer(Project.description, raiseload=True), defer(Project.search_text, raiseload=True),
    )


@dataclass
class Card:
    """A project as the lists show it: the record and its warning signs."""

    project: Project
    stale: bool
    overdue_permits: int
    gate_missing: bool
    days_in_stage: int

    @property
    def lead_investor(self) -> str:
        return self.project.investors[0].organization.name if self.project.investors else ""


def _cards(session: Session, stmt: Select, *, cutoff: datetime, now: datetime, today: date,
           threshold: Decimal) -> list[Card]:
    rows = session.execute(_card_options(stmt.add_columns(is_stale(cutoff).label("stale")))).unique().all()
    cards = []
    for project, stale in rows:
        overdue = sum(1 for item in project.approvals if gates.is_overdue(item, today))
        cards.append(Card(project=project, stale=bool(stale), overdue_permits=overdue,
                          gate_missing=gates.next_gate_missing(project, threshold=threshold, today=today),
                          days_in_stage=max(0, (now - project.stage_entered_at).days)))
    return cards


def table_page(session: Session, *, flt: ProjectFilter, viewer: User, page: int, per_page: int, now: datetime,
               today: date, threshold: Decimal, stale_days: int) -> Page:
    flt = _planned(session, flt)
    cutoff = stale_since(now, stale_days)
    total, more = count_up_to(session, _filtered(select(Project.id), flt, viewer, cutoff), page=page, per_page=per_page)
    page = clamp_page(page, total, per_page)
    stmt = (_filtered(select(Project), flt, viewer, cutoff).order_by(*ORDER[flt.sort])
            .offset((page - 1) * per_page).limit(per_page))
    items = _cards(session, stmt, cutoff=cutoff, now=now, today=today, threshold=threshold)
    return Page(items=items, total=total, page=page, per_page=per_page, more=more)


@dataclass
class StageTotal:
    stage: str
    count: int = 0
    investment: Decimal = Decimal(0)  # 万元
    foreign: Decimal = Decimal(0)  # 万美元


@dataclass
class Totals:
    by_stage: list[StageTotal] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(t.count for t in self.by_stage)

    @property
    def investment(self) -> Decimal:
        return sum((t.investment for t in self.by_stage), Decimal(0))

    @property
    def foreign(self) -> Decimal:
        return sum((t.foreign for t in self.by_stage), Decimal(0))

    def of(self, stage: str) -> StageTotal:
        return next((t for t in self.by_stage if t.stage == stage), StageTotal(stage))


def totals(session: Session, *, flt: ProjectFilter, viewer: User, now: datetime, stale_days: int) -> Totals:
    """Count, total investment and foreign capital per stage, for the filter: one GROUP BY in the database."""
    flt = _planned(session, flt)
    stmt = _filtered(select(Project.stage, func.count(Project.id),
                            func.coalesce(func.sum(Project.total_investment_wan_cny), 0),
                            func.coalesce(func.sum(Project.foreign_capital_wan_usd), 0)),
                     replace(flt, sort="-updated"), viewer, stale_since(now, stale_days)).group_by(Project.stage)
    found = {stage: StageTotal(stage, count, Decimal(investment), Decimal(foreign))
             for stage, count, investment, foreign in session.execute(stmt)}
    return Totals(by_stage=[found.get(stage.value, StageTotal(stage.value)) for stage in ALL_STAGES])


@dataclass
class Board:
    columns: dict[str, list[Card]]
    totals: Totals


def board(session: Session, *, flt: ProjectFilter, viewer: User, now: datetime, today: date, threshold: Decimal,
          stale_days: int, limit: int = BOARD_COLUMN_LIMIT) -> Board:
    """The kanban: each stage's cards (the most recently changed `limit`), from one id query per column (an index
    range on (stage, updated_at)) and one query for all their cards; the column totals from totals()."""
    flt = _planned(session, replace(flt, stage=""))
    cutoff = stale_since(now, stale_days)
    ids: list[int] = []
    for stage in ALL_STAGES:
        column = (_filtered(select(Project.id), flt, viewer, cutoff).where(Project.stage == stage)
                  .order_by(Project.updated_at.desc(), Project.id.desc()).limit(limit))
        ids.extend(session.scalars(column))
    cards = _cards(session, select(Project).where(Project.id.in_(ids)).order_by(
        Project.updated_at.desc(), Project.id.desc()), cutoff=cutoff, now=now, today=today, threshold=threshold) if ids else []
    columns: dict[str, list[Card]] = {stage.value: [] for stage in ALL_STAGES}
    for card in cards:
        columns[card.project.stage].append(card)
    return Board(columns=columns, totals=totals(session, flt=flt, viewer=viewer, now=now, stale_days=stale_days))


def card(session: Session, *, project_id: int, viewer: User, now: datetime, today: date, threshold: Decimal,
         stale_days: int) -> Card | None:
    cards = _cards(session, select(Project).where(Project.id == project_id, visible_to(viewer)),
                   cutoff=stale_since(now, stale_days), now=now, today=today, threshold=threshold)
    return cards[0] if cards else None


def for_export(session: Session, *, flt: ProjectFilter, viewer: User, now: datetime, today: date, threshold: Decimal,
               stale_days: int, limit: int = 10_000) -> list[Card]:
    flt = _planned(session, flt)
    cutoff = stale_since(now, stale_days)
    stmt = _filtered(select(Project), flt, viewer, cutoff).order_by(*ORDER[flt.sort]).limit(limit)
    return _cards(session, stmt, cutoff=cutoff, now=now, today=today, threshold=threshold)


def search_page(session: Session, *, q: str, viewer: User, per_page: int) -> Page:
    """The header search's projects: those the viewer may see whose name, investors or description match."""
    flt = _planned(session, ProjectFilter(q=q))
    cutoff = utcnow()  # the stale filter is not used here
    total, more = count_up_to(session, _filtered(select(Project.id), flt, viewer, cutoff), page=1, per_page=per_page)
    stmt = (_filtered(select(Project), flt, viewer, cutoff)
            .options(selectinload(Project.investors).joinedload(ProjectOrganization.organization).load_only(
                Organization.id, Organization.name), defer(Project.search_text, raiseload=True))
            .order_by(Project.updated_at.desc(), Project.id.desc()).limit(per_page))
    return Page(items=list(session.scalars(stmt)), total=total, page=1, per_page=per_page, more=more)
