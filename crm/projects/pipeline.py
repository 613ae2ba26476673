"""The pipeline views' queries: the table (filters, sorting, paging), the totals per stage, the kanban board and
the header search. Every one starts from `service.visible_to(viewer)`; counts and sums are computed by the database.

Stale: a project still moving (not 投产, not 终止) with no stage change, no follow-up created or changed, and no
visit (linked to it, or with one of its investors) in the last N days (CRM_PROJECT_STALE_DAYS, default 30)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, exists, func, or_, select
from sqlalchemy.orm import Session, defer, selectinload

from crm import formatting
from crm.auth.models import User
from crm.charts import FunnelRow, funnel_svg
from crm.db import utcnow
from crm.i18n import N_, gettext
from crm.listing import LOOKAHEAD_PAGES, Page, clamp_page, count_up_to
from crm.organizations.models import IndustryChain, Organization
from crm.parcels.models import LandParcel, ParcelStatus
from crm.plain_query import PlainQuery
from crm.projects import gates
from crm.projects.models import (
    ALL_STAGES,
    CONSTRUCTION_PERMIT,
    DONE_APPROVALS,
    FINISHED,
    PIPELINE,
    ApprovalItem,
    ApprovalStatus,
    Decision,
    DecisionOutcome,
    OrganizationLastVisit,
    Project,
    ProjectOfficer,
    ProjectOrganization,
    ProjectStageTotal,
    ProjectVisit,
)
from crm.projects.schemas import STAGE_LABELS
from crm.projects.service import SEARCH_KIND, may_see, visible_to
from crm.search import service as search_service
from crm.tasks.models import Task
from crm.visits.models import Visit, VisitStatus

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
    archived: bool = False  # the archived projects instead (managers: where they find one to restore)
    sort: str = "-updated"
    q_common: bool = False

    @property
    def active(self) -> bool:
        return bool(self.q or self.stage or self.industry_chain_id or self.officer_id or self.organization_id
                    or self.min_investment is not None or self.max_investment is not None
                    or self.foreign is not None or self.confidential is not None or self.stale is not None
                    or self.archived)


def stale_since(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def is_stale(cutoff: datetime | None) -> ColumnElement[bool]:
    """True for a project with nothing happening since `cutoff` (see the module's docstring). The cutoff is the
    named parameter "stale_cutoff" (a statement built once passes it when run)."""
    cutoff = bindparam("stale_cutoff", cutoff)
    task_lately = exists().where(Task.project_id == Project.id, Task.updated_at >= cutoff)
    visit_lately = exists().where(ProjectVisit.project_id == Project.id, Visit.id == ProjectVisit.visit_id,
                                  Visit.starts_at >= cutoff, Visit.status != VisitStatus.CANCELLED)
    # "a visit (not cancelled) with one of its investors since the cutoff" ⟺ an investor's latest such visit is
    # since the cutoff: one probe per investor (OrganizationLastVisit, kept by triggers), not a visit per link
    investor_visit = exists().where(ProjectOrganization.project_id == Project.id,
                                    OrganizationLastVisit.organization_id == ProjectOrganization.organization_id,
                                    OrganizationLastVisit.starts_at >= cutoff)
    # stage IN (the moving ones), not NOT IN (the finished): an index range per stage on ix_project_stage_since,
    # instead of every finished project entered before the cutoff
    moving = [stage for stage in ALL_STAGES if stage not in FINISHED]
    return and_(Project.stage.in_(moving), Project.stage_entered_at < cutoff,
                Project.archived_at.is_(None), ~task_lately, ~visit_lately, ~investor_visit)


def _filtered(stmt: Select, flt: ProjectFilter, viewer: User, cutoff: datetime) -> Select:
    if flt.archived:
        stmt = stmt.where(Project.archived_at.is_not(None), may_see(viewer))
    else:
        stmt = stmt.where(visible_to(viewer))
    if flt.q:
        stmt = search_service.matching(stmt, Project.id, Project.search_text, SEARCH_KIND, flt.q, common=flt.q_common)
    if flt.stage:
        stmt = stmt.where(Project.stage == bindparam("flt_stage", flt.stage))
    if flt.industry_chain_id:
        stmt = stmt.where(Project.industry_chain_id == bindparam("flt_industry", flt.industry_chain_id))
    if flt.officer_id:  # owned or assigned: a short list of ids from two indexes, which drives the query
        officer = bindparam("flt_officer", flt.officer_id)
        stmt = stmt.where(Project.id.in_(
            select(Project.id).where(Project.owner_id == officer).union(
                select(ProjectOfficer.project_id).where(ProjectOfficer.user_id == officer))))
    if flt.organization_id:
        stmt = stmt.where(exists().where(ProjectOrganization.project_id == Project.id,
                                         ProjectOrganization.organization_id == bindparam("flt_organization",
                                                                                          flt.organization_id)))
    if flt.min_investment is not None:
        stmt = stmt.where(Project.total_investment_wan_cny >= bindparam("flt_min", flt.min_investment))
    if flt.max_investment is not None:
        stmt = stmt.where(Project.total_investment_wan_cny <= bindparam("flt_max", flt.max_investment))
    if flt.foreign is not None:
        stmt = stmt.where(Project.is_foreign_invested.is_(flt.foreign))
    if flt.confidential is not None:
        stmt = stmt.where(Project.is_confidential.is_(flt.confidential))
    if flt.stale is not None:
        stmt = stmt.where(is_stale(cutoff) if flt.stale else ~is_stale(cutoff))
    return stmt


def _filter_params(flt: ProjectFilter, viewer: User, cutoff: datetime) -> dict[str, Any]:
    """The values of _filtered's named parameters (the search's are not named: a search's statement is not kept)."""
    values = {"flt_stage": flt.stage or None, "flt_industry": flt.industry_chain_id, "flt_officer": flt.officer_id,
              "flt_organization": flt.organization_id, "flt_min": flt.min_investment, "flt_max": flt.max_investment,
              "project_viewer": None if viewer.is_manager else viewer.id,
              "stale_cutoff": cutoff if flt.stale is not None else None}
    return {name: value for name, value in values.items() if value is not None}


def _filter_shape(flt: ProjectFilter, viewer: User) -> tuple:
    """What decides _filtered's statement, besides the values of its named parameters."""
    return (flt.archived, viewer.is_manager, bool(flt.stage), bool(flt.industry_chain_id), bool(flt.officer_id),
            bool(flt.organization_id), flt.min_investment is not None, flt.max_investment is not None, flt.foreign,
            flt.confidential, flt.stale, flt.sort)


def _planned(session: Session, flt: ProjectFilter) -> ProjectFilter:
    return replace(flt, q_common=search_service.is_common(session, SEARCH_KIND, flt.q, Project.search_text)) if flt.q else flt


STAGE_ORDER = case({stage.value: i for i, stage in enumerate(ALL_STAGES)}, value=Project.stage, else_=99)
ORDER = {
    "-updated": (Project.updated_at.desc(), Project.id.desc()),
    "name": (Project.name, Project.id),
    "-investment": (Project.total_investment_wan_cny.desc().nulls_last(), Project.id.desc()),
    "stage": (STAGE_ORDER, Project.updated_at.desc(), Project.id.desc()),
    "-days": (Project.stage_entered_at, Project.id),
}


@dataclass
class ParcelView:
    name: str
    status: str

    @property
    def is_supplied(self) -> bool:
        return self.status == ParcelStatus.SUPPLIED


@dataclass
class CardProject:
    """What the lists show of a project, read as plain rows (hundreds of ORM objects with their relations cost more
    than the page's SQL)."""

    id: int
    name: str
    stage: str
    pipeline_stage: str
    version: int
    stage_entered_at: datetime
    updated_at: datetime
    owner_id: int
    owner_name: str
    is_confidential: bool
    is_foreign_invested: bool
    total_investment_wan_cny: Decimal | None
    foreign_capital_wan_usd: Decimal | None
    land_certificate_no: str
    gate_override_reason: str
    lead_investor: str | None
    industry_zh: str | None
    industry_en: str | None
    parcel: ParcelView | None = None
    investors: list[str] = field(default_factory=list)  # all of them, for the table and the export

    def industry(self, locale: str) -> str:
        return (self.industry_zh if locale.startswith("zh") else self.industry_en) or ""


@dataclass
class Item:
    """An approval item as the cards judge it (a row, not an ORM object: a board has thousands)."""

    code: str
    name_zh: str
    name_en: str
    status: str
    submitted_on: date | None
    accepted_on: date | None
    approved_on: date | None
    promised_days: int | None

    @property
    def is_done(self) -> bool:
        return self.status in DONE_APPROVALS


@dataclass
class Judged:
    """A project with the parts of its lists the gates read on a card: the decisions, the construction permit and
    the items whose clock is running (gates.* accept it in place of the project)."""

    project: CardProject
    decisions: list[Any]
    approvals: list[Item]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.project, name)


@dataclass
class Card:
    """A project as the lists show it, with its warning signs."""

    project: CardProject
    stale: bool
    overdue_permits: int
    gate_missing: bool
    days_in_stage: int
    lapsed: list[gates.Gate] = field(default_factory=list)  # gates behind it that it no longer meets (gates.lapsed)

    @property
    def lapsed_keys(self) -> tuple[str, ...]:
        return tuple(gate.key for gate in self.lapsed)

    @property
    def lead_investor(self) -> str:
        return self.project.lead_investor or ""


class DecisionRow(NamedTuple):
    project_id: int
    meeting_kind: str
    meeting_on: date
    outcome: str


# The cards' statements, built once (crm.plain_query): the projects' ids an expanding parameter.
_IDS = bindparam("ids", expanding=True)
_DECISIONS = PlainQuery(select(Decision.project_id, Decision.meeting_kind, Decision.meeting_on, Decision.outcome)
                        .where(Decision.project_id.in_(_IDS)).order_by(Decision.meeting_on.desc(), Decision.id.desc()))
_ITEMS = (select(ApprovalItem.project_id, ApprovalItem.code, ApprovalItem.name_zh, ApprovalItem.name_en,
                 ApprovalItem.status, ApprovalItem.submitted_on, ApprovalItem.accepted_on, ApprovalItem.approved_on,
                 ApprovalItem.promised_days).where(ApprovalItem.project_id.in_(_IDS)))
_EVERY_ITEM = PlainQuery(_ITEMS.order_by(ApprovalItem.project_id, ApprovalItem.position))
_CARD_ITEMS = PlainQuery(_ITEMS.where(or_(ApprovalItem.code == CONSTRUCTION_PERMIT,
                                          ApprovalItem.status.in_([ApprovalStatus.SUBMITTED, ApprovalStatus.ACCEPTED])))
                         .order_by(ApprovalItem.project_id, ApprovalItem.position))


def judged(session: Session, projects: list[CardProject], *, every_item: bool = False) -> dict[int, Judged]:
    """Two light queries for all the projects: their decisions, and their approval items — every one (the readiness
    board shows each permit), or only those that matter on a card: the construction permit, and those submitted or
    accepted (their clock may have run out)."""
    ids = [p.id for p in projects]
    decisions: dict[int, list[Any]] = {i: [] for i in ids}
    items: dict[int, list[Item]] = {i: [] for i in ids}
    if ids:
        for row in _DECISIONS.rows(session, ids=ids):
            decisions[row[0]].append(DecisionRow(*row))
        for row in (_EVERY_ITEM if every_item else _CARD_ITEMS).rows(session, ids=ids):
            items[row[0]].append(Item(*row[1:]))
    return {p.id: Judged(p, decisions[p.id], items[p.id]) for p in projects}


def _card_rows_statement() -> Select:
    lead = (select(Organization.name).join(ProjectOrganization, ProjectOrganization.organization_id == Organization.id)
            .where(ProjectOrganization.project_id == Project.id).order_by(ProjectOrganization.position)
            .limit(1).scalar_subquery())
    return (select(Project.id, Project.name, Project.stage, Project.pipeline_stage, Project.version,
                   Project.stage_entered_at, Project.updated_at, Project.owner_id, User.display_name,
                   Project.is_confidential, Project.is_foreign_invested, Project.total_investment_wan_cny,
                   Project.foreign_capital_wan_usd, Project.land_certificate_no, Project.gate_override_reason,
                   lead, IndustryChain.name_zh, IndustryChain.name_en, LandParcel.name, LandParcel.status,
                   is_stale(None))
            .join(User, User.id == Project.owner_id)
            .outerjoin(IndustryChain, IndustryChain.id == Project.industry_chain_id)
            .outerjoin(LandParcel, LandParcel.id == Project.parcel_id)
            .where(Project.id.in_(_IDS)))


_CARD_ROWS = PlainQuery(_card_rows_statement())
_INVESTORS = PlainQuery(select(ProjectOrganization.project_id, Organization.name)
                        .join(Organization, Organization.id == ProjectOrganization.organization_id)
                        .where(ProjectOrganization.project_id.in_(_IDS))
                        .order_by(ProjectOrganization.project_id, ProjectOrganization.position))


def card_rows(session: Session, ids: list[int], cutoff: datetime, *, with_investors: bool) -> list[tuple[CardProject, bool]]:
    """The projects `ids` as CardProjects with their stale flag, in that order (two plain queries)."""
    if not ids:
        return []
    found = {}
    for row in _CARD_ROWS.rows(session, ids=ids, stale_cutoff=cutoff):
        *values, parcel_name, parcel_status, stale = row
        project = CardProject(*values)
        if parcel_name is not None:
            project.parcel = ParcelView(parcel_name, parcel_status)
        found[project.id] = (project, bool(stale))
    if with_investors:
        for project_id, name in _INVESTORS.rows(session, ids=ids):
            found[project_id][0].investors.append(name)
    return [found[i] for i in ids if i in found]


def _cards(session: Session, ids: list[int], *, cutoff: datetime, now: datetime, today: date, threshold: Decimal,
           with_investors: bool = False) -> list[Card]:
    """The cards of the projects `ids`, in that order: three queries, whatever their number."""
    if not ids:
        return []
    rows = card_rows(session, ids, cutoff, with_investors=with_investors)
    views = judged(session, [project for project, _ in rows])
    cards = []
    for project, stale in rows:
        view = views[project.id]
        overdue = sum(1 for item in view.approvals if gates.is_overdue(item, today))
        cards.append(Card(project=project, stale=stale, overdue_permits=overdue,
                          gate_missing=gates.next_gate_missing(view, threshold=threshold, today=today),
                          days_in_stage=max(0, (now - project.stage_entered_at).days),
                          lapsed=gates.lapsed(view, threshold=threshold, today=today)))
    return cards


_TABLE_QUERIES: dict[tuple, tuple[PlainQuery, PlainQuery]] = {}  # per filter shape (table_page)


def _table_statements(flt: ProjectFilter, viewer: User, cutoff: datetime) -> tuple[Select, Select]:
    """The table's count (of at most `cap` projects) and its page of ids, in the filter's order."""
    ids = _filtered(select(Project.id), flt, viewer, cutoff)
    return (select(func.count()).select_from(ids.limit(bindparam("cap")).subquery()),
            ids.order_by(*ORDER[flt.sort]).offset(bindparam("offset")).limit(bindparam("limit")))


def table_page(session: Session, *, flt: ProjectFilter, viewer: User, page: int, per_page: int, now: datetime,
               today: date, threshold: Decimal, stale_days: int) -> Page:
    flt = _planned(session, flt)
    cutoff = stale_since(now, stale_days)
    params = _filter_params(flt, viewer, cutoff)
    cap = (page + LOOKAHEAD_PAGES) * per_page
    if flt.q:  # the search's candidates are part of the statement: built for this query
        count_stmt, ids_stmt = _table_statements(flt, viewer, cutoff)
        counted = session.scalar(count_stmt, {**params, "cap": cap + 1}) or 0
    else:
        shape = _filter_shape(flt, viewer)
        queries = _TABLE_QUERIES.get(shape)
        if queries is None:
            if len(_TABLE_QUERIES) >= 256:  # odd filter combinations cannot grow it without bound
                _TABLE_QUERIES.clear()
            queries = _TABLE_QUERIES[shape] = tuple(PlainQuery(s) for s in _table_statements(flt, viewer, cutoff))
        counted = queries[0].scalar(session, **params, cap=cap + 1) or 0
    total, more = (cap, True) if counted > cap else (counted, False)
    page = clamp_page(page, total, per_page)
    paging = {"offset": (page - 1) * per_page, "limit": per_page}
    ids = (list(session.scalars(ids_stmt, {**params, **paging})) if flt.q
           else [row[0] for row in queries[1].rows(session, **params, **paging)])
    items = _cards(session, ids, cutoff=cutoff, now=now, today=today, threshold=threshold, with_investors=True)
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


_KEPT = select(ProjectStageTotal.stage, ProjectStageTotal.projects, ProjectStageTotal.investment_wan_cny_x100,
               ProjectStageTotal.foreign_wan_usd_x100)
_KEPT_ALL = PlainQuery(_KEPT)
_KEPT_OPEN = PlainQuery(_KEPT.where(ProjectStageTotal.is_confidential.is_(False)))
_THEIRS = select(Project.id).where(Project.owner_id == bindparam("viewer")).union(
    select(ProjectOfficer.project_id).where(ProjectOfficer.user_id == bindparam("viewer")))
_THEIR_CONFIDENTIAL = PlainQuery(
    select(Project.stage, func.count(Project.id), func.coalesce(func.sum(Project.total_investment_wan_cny), 0),
           func.coalesce(func.sum(Project.foreign_capital_wan_usd), 0))
    .where(Project.id.in_(_THEIRS), Project.is_confidential.is_(True), Project.archived_at.is_(None))
    .group_by(Project.stage))


def _kept_totals(session: Session, viewer: User) -> Totals:
    """The unfiltered totals without reading the projects: ProjectStageTotal (kept by triggers) holds them per stage
    and confidentiality; a manager counts both kinds, anyone else the projects that are not confidential, plus the
    confidential ones they own or are assigned to, summed live (a few, found through the officer indexes)."""
    found = {stage.value: StageTotal(stage.value) for stage in ALL_STAGES}

    def add(stage: str, count: int, investment: Decimal, foreign: Decimal) -> None:
        total = found.setdefault(stage, StageTotal(stage))
        total.count += count
        total.investment += investment
        total.foreign += foreign

    for stage, count, investment, foreign in (_KEPT_ALL if viewer.is_manager else _KEPT_OPEN).rows(session):
        add(stage, count, Decimal(investment or 0) / 100, Decimal(foreign or 0) / 100)
    if not viewer.is_manager:
        for stage, count, investment, foreign in _THEIR_CONFIDENTIAL.rows(session, viewer=viewer.id):
            add(stage, count, Decimal(investment), Decimal(foreign))
    return Totals(by_stage=[found[stage.value] for stage in ALL_STAGES])


def totals(session: Session, *, flt: ProjectFilter, viewer: User, now: datetime, stale_days: int) -> Totals:
    """Count, total investment and foreign capital per stage, for the filter: computed by the database — kept per
    stage for the unfiltered pipeline (_kept_totals), one GROUP BY over the filtered projects otherwise."""
    if not flt.active:
        return _kept_totals(session, viewer)
    flt = _planned(session, flt)
    stmt = _filtered(select(Project.stage, func.count(Project.id),
                            func.coalesce(func.sum(Project.total_investment_wan_cny), 0),
                            func.coalesce(func.sum(Project.foreign_capital_wan_usd), 0)),
                     replace(flt, sort="-updated"), viewer, stale_since(now, stale_days)).group_by(Project.stage)
    found = {stage: StageTotal(stage, count, Decimal(investment), Decimal(foreign))
             for stage, count, investment, foreign in session.execute(stmt)}
    return Totals(by_stage=[found.get(stage.value, StageTotal(stage.value)) for stage in ALL_STAGES])


def funnel_chart(totals: Totals, *, locale: str) -> Any:
    """The pipeline as a funnel (the stages 线索 … 投产) with each stage's count and money: the same SVG on the
    projects table, the dashboard and the printed pipeline report."""
    rows = []
    unit = formatting.cny_unit([totals.investment])  # every bar's money in the unit of the total shown beside it

    def _(message: str, **params: Any) -> str:
        return gettext(locale, message, **params)

    for stage in PIPELINE:
        total = totals.of(stage.value)
        rows.append(FunnelRow(label=gettext(locale, STAGE_LABELS[stage]), value=total.count,
                              note=f"{total.count} · {formatting.cny_text(total.investment, unit, _)}"))
    return funnel_svg(rows, title=gettext(locale, N_("Projects by stage")))


@dataclass
class Board:
    columns: dict[str, list[Card]]
    totals: Totals


def board(session: Session, *, flt: ProjectFilter, viewer: User, now: datetime, today: date, threshold: Decimal,
          stale_days: int, limit: int = BOARD_COLUMN_LIMIT) -> Board:
    """The kanban: each stage's cards (the most recently changed `limit`) and the column totals (totals()). When
    the filter leaves few projects (an officer's), one query takes all their ids; otherwise one query per column,
    each an index range on (stage, updated_at), so an unfiltered board never reads the whole table. Then one query
    for all the cards."""
    flt = _planned(session, replace(flt, stage=""))
    cutoff = stale_since(now, stale_days)
    counted = totals(session, flt=flt, viewer=viewer, now=now, stale_days=stale_days)
    ordered = (Project.updated_at.desc(), Project.id.desc())
    if all(t.count <= limit for t in counted.by_stage):
        ids = list(session.scalars(_filtered(select(Project.id), flt, viewer, cutoff).order_by(*ordered)))
    else:
        ids = []
        for stage in ALL_STAGES:
            column = (_filtered(select(Project.id), flt, viewer, cutoff).where(Project.stage == stage)
                      .order_by(*ordered).limit(limit))
            ids.extend(session.scalars(column))
    cards = _cards(session, ids, cutoff=cutoff, now=now, today=today, threshold=threshold)
    columns: dict[str, list[Card]] = {stage.value: [] for stage in ALL_STAGES}
    for card in cards:
        columns[card.project.stage].append(card)
    return Board(columns=columns, totals=counted)


def card(session: Session, *, project_id: int, viewer: User, now: datetime, today: date, threshold: Decimal,
         stale_days: int) -> Card | None:
    if not session.scalar(select(Project.id).where(Project.id == project_id, may_see(viewer))):
        return None
    cards = _cards(session, [project_id], cutoff=stale_since(now, stale_days), now=now, today=today,
                   threshold=threshold)
    return cards[0] if cards else None


def for_export(session: Session, *, flt: ProjectFilter, viewer: User, now: datetime, today: date, threshold: Decimal,
               stale_days: int, limit: int = 10_000) -> list[Card]:
    flt = _planned(session, flt)
    cutoff = stale_since(now, stale_days)
    ids = list(session.scalars(_filtered(select(Project.id), flt, viewer, cutoff).order_by(*ORDER[flt.sort])
                               .limit(limit)))
    return _cards(session, ids, cutoff=cutoff, now=now, today=today, threshold=threshold, with_investors=True)


EXPORT_BATCH = 500  # projects read per query by the Excel download


def export_rows(session: Session, *, flt: ProjectFilter, viewer: User, now: datetime,
                stale_days: int) -> Iterator[tuple[CardProject, bool]]:
    """(project, stale) for every project the table shows for `flt` — its filters and order, only what the viewer
    may see — not only one page: the ids from the table's own query, the rows from card_rows a batch at a time."""
    flt = _planned(session, flt)
    cutoff = stale_since(now, stale_days)
    ids = list(session.scalars(_filtered(select(Project.id), flt, viewer, cutoff).order_by(*ORDER[flt.sort])))
    for start in range(0, len(ids), EXPORT_BATCH):
        yield from card_rows(session, ids[start:start + EXPORT_BATCH], cutoff, with_investors=True)


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


def lapsed_condition(threshold: Decimal) -> ColumnElement[bool]:
    """SQL for "stands past a gate it may no longer meet" (gates.lapsed says for sure, on the rows it finds): at or
    past 签约 and still in the pipeline, and either needing a collective decision (at or above the threshold, or
    its size unknown) whose newest decision is not an approval; or at or past 开工, not overridden there, with
    neither a supplied parcel nor a land certificate, or a construction permit not done."""
    newest = (select(Decision.outcome).where(Decision.project_id == Project.id)
              .order_by(Decision.meeting_on.desc(), Decision.id.desc()).limit(1).scalar_subquery())
    decision = and_(or_(Project.total_investment_wan_cny.is_(None), Project.total_investment_wan_cny >= threshold),
                    func.coalesce(newest, "") != DecisionOutcome.APPROVED.value)
    supplied = exists().where(LandParcel.id == Project.parcel_id, LandParcel.status == ParcelStatus.SUPPLIED)
    permit_done = exists().where(ApprovalItem.project_id == Project.id, ApprovalItem.code == CONSTRUCTION_PERMIT,
                                 ApprovalItem.status.in_(DONE_APPROVALS))
    ground = and_(Project.pipeline_stage.in_(PIPELINE[gates.GROUNDBREAKING_AT:]), Project.gate_override_reason == "",
                  or_(and_(~supplied, func.coalesce(Project.land_certificate_no, "") == ""), ~permit_done))
    return and_(Project.stage.in_(PIPELINE), Project.pipeline_stage.in_(PIPELINE[gates.SIGNED_AT:]),
                or_(decision, ground))


def lapsed_cards(session: Session, *, viewer: User, now: datetime, today: date, threshold: Decimal, stale_days: int,
                 officer_id: int | None = None, limit: int = 20) -> list[Card]:
    """The projects the viewer may see (with `officer_id`: that officer's own or assigned ones) that stand past a
    gate they no longer meet, most recently changed first: the dashboard's warning."""
    cutoff = stale_since(now, stale_days)
    stmt = _filtered(select(Project.id), ProjectFilter(officer_id=officer_id), viewer, cutoff)
    ids = list(session.scalars(stmt.where(lapsed_condition(threshold))
                               .order_by(Project.updated_at.desc(), Project.id.desc()).limit(limit)))
    return [card for card in _cards(session, ids, cutoff=cutoff, now=now, today=today, threshold=threshold)
            if card.lapsed]
