"""What the dashboard shows, gathered from the domains' own services (no figures of its own)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from crm import generation
from crm.assessment import service as assessment_service
from crm.auth.models import User
from crm.charts import ProgressRow, progress_svg
from crm.exports import service as export_service
from crm.groundbreaking import service as groundbreaking_service
from crm.groundbreaking.models import GroundbreakingEvent
from crm.i18n import N_, gettext
from crm.indicators import service as indicator_service
from crm.major_projects import service as major_project_service
from crm.projects import pipeline
from crm.tasks import service as task_service
from crm.visits import service as visit_service
from crm.visits.calendar import local_midnight_utc
from crm.visits.models import Visit

UPCOMING_DAYS = 14


@dataclass
class Clock:
    now: datetime  # aware, UTC
    today: date  # in the zone
    timezone: str

    @property
    def week(self) -> tuple[date, date]:
        """This week, Monday to Sunday, in the zone."""
        monday = self.today - timedelta(days=self.today.weekday())
        return monday, monday + timedelta(days=6)


@dataclass
class Readiness:
    event: GroundbreakingEvent
    days_left: int
    green: int
    amber: int
    red: int
    totals: groundbreaking_service.SlateTotals
    red_projects: list[Any] = field(default_factory=list)  # (project, reasons) of those not ready, the first few


@dataclass
class Overdue:
    total: int
    by_assignee: list[tuple[int, str, int]]


@dataclass
class ExportsBehind:
    year: int
    month: int
    count: int
    rows: list[export_service.ExportProgress]  # the furthest behind first
    chart: Any


@dataclass
class Indicators:
    year: int
    figures: list[indicator_service.Figures]
    chart: Any

    @property
    def behind(self) -> int:
        return sum(1 for f in self.figures if f.behind)


@dataclass
class ManagerView:
    indicators: Indicators
    totals: pipeline.Totals
    funnel: Any
    readiness: Readiness | None
    overdue: Overdue
    exports: ExportsBehind
    lapsed: list[Any] = field(default_factory=list)  # pipeline.Card of projects past a gate they no longer meet
    # the month's 调度表 counts (major_projects.service.dashboard_counts): green, amber, red, missing, overdue, total
    scheduling: dict[str, int] = field(default_factory=dict)


@dataclass
class Due:
    overdue: int
    today: int


@dataclass
class OfficerView:
    targets: assessment_service.Row  # this year's targets and actuals
    tasks: list[Any]  # the officer's open follow-ups due soonest
    week_visits: list[Visit]
    projects: list[Any]  # pipeline.Card of the officer's projects, most recently changed first
    project_count: int
    lapsed: list[Any] = field(default_factory=list)  # pipeline.Card of their projects past a gate they no longer meet


def readiness(session: Session, *, viewer: User, clock: Clock, threshold: Decimal, stale_days: int,
              show: int = 5) -> Readiness | None:
    event = groundbreaking_service.next_event(session, today=clock.today)
    if event is None:
        return None
    board = groundbreaking_service.board(session, event=event, viewer=viewer, today=clock.today, threshold=threshold,
                                         stale_since=pipeline.stale_since(clock.now, stale_days))
    red = [row for row in board.rows if row.readiness.colour == "red"][:show]
    return Readiness(event=event, days_left=board.days_left, green=board.count("green"), amber=board.count("amber"),
                     red=board.count("red"), totals=board.totals, red_projects=red)


def overdue(session: Session, *, today: date) -> Overdue:
    rows = task_service.overdue_by_assignee(session, today=today, limit=1000)
    return Overdue(total=sum(n for _, _, n in rows), by_assignee=rows[:8])


def exports_behind(session: Session, *, clock: Clock, locale: str, margin_points: Decimal,
                   show: int = 6) -> ExportsBehind:
    year, month = export_service.last_complete_month(clock.today)
    behind = export_service.behind_target(session, year=year, month=month, today=clock.today,
                                          margin_points=margin_points)
    shown = behind[:show]
    expected = gettext(locale, N_("Time-elapsed progress"))
    chart = progress_svg([ProgressRow(label=row.name, done_pct=float(row.target_pct or 0),
                                      expected_pct=float(row.time_pct),
                                      note=f"{row.target_pct or 0}% / {expected} {row.time_pct}%") for row in shown],
                         title=gettext(locale, N_("Export leaders behind target")), expected_label=expected,
                         chart_id="dashboard-exports")
    return ExportsBehind(year=year, month=month, count=len(behind), rows=shown, chart=chart)


def indicators(session: Session, *, clock: Clock, locale: str) -> Indicators:
    year = clock.today.year
    figures = indicator_service.overview(session, year=year, today=clock.today)
    expected = gettext(locale, N_("Time-elapsed progress"))
    rows = [ProgressRow(label=f.indicator.label(locale),
                        done_pct=f.progress * 100 if f.progress is not None else None,
                        expected_pct=(f.time_progress or 0) * 100,
                        note=(f"{f.progress * 100:.1f}% / {expected} {(f.time_progress or 0) * 100:.1f}%"
                              if f.progress is not None else gettext(locale, N_("No target or no figures"))))
            for f in figures]
    chart = progress_svg(rows, title=gettext(locale, N_("Key economic indicators against target")),
                         expected_label=expected, chart_id="dashboard-indicators")
    return Indicators(year=year, figures=figures, chart=chart)


def manager_view(session: Session, *, viewer: User, clock: Clock, locale: str, threshold: Decimal,
                 stale_days: int, export_margin_points: Decimal) -> ManagerView:
    totals = pipeline.totals(session, flt=pipeline.ProjectFilter(), viewer=viewer, now=clock.now,
                             stale_days=stale_days)
    return ManagerView(
        indicators=indicators(session, clock=clock, locale=locale),
        totals=totals,
        funnel=pipeline.funnel_chart(totals, locale=locale),
        readiness=readiness(session, viewer=viewer, clock=clock, threshold=threshold, stale_days=stale_days),
        overdue=overdue(session, today=clock.today),
        exports=exports_behind(session, clock=clock, locale=locale, margin_points=export_margin_points),
        lapsed=pipeline.lapsed_cards(session, viewer=viewer, now=clock.now, today=clock.today, threshold=threshold,
                                     stale_days=stale_days),
        scheduling=major_project_service.dashboard_counts(session, viewer=viewer, today=clock.today),
    )


# The managers' figures and the coming visits, kept per data generation (crm/generation.py). A manager sees every
# project (projects.service.visible_to), so the managers' view is the same for every manager: it is kept per
# language (its charts' words), the zone's date and the settings it judges by, not per manager.
manager_kept = generation.Kept("dashboard.manager", size=32)
upcoming_kept = generation.Kept("dashboard.upcoming", size=8)


def _detached(session: Session, objects: list[Any]) -> None:
    """Takes the ORM objects a kept value holds out of the session that loaded them: another request reads them
    (all their columns are loaded), and nothing this session does later (a rollback expiring its objects) may
    touch them."""
    for obj in objects:
        if obj in session:
            session.expunge(obj)


def kept_manager_view(session: Session, *, viewer: User, clock: Clock, locale: str, threshold: Decimal,
                      stale_days: int, export_margin_points: Decimal,
                      sections: Callable[[ManagerView], Any]) -> tuple[ManagerView, Any]:
    """manager_view() and `sections(view)` (its sections' HTML), kept: see manager_kept."""
    if not viewer.is_manager:
        raise ValueError("the managers' view is kept for managers only")

    def compute() -> tuple[ManagerView, Any]:
        view = manager_view(session, viewer=viewer, clock=clock, locale=locale, threshold=threshold,
                            stale_days=stale_days, export_margin_points=export_margin_points)
        _detached(session, [f.indicator for f in view.indicators.figures]
                  + ([view.readiness.event] if view.readiness else []))
        return view, sections(view)

    key = (generation.visibility(viewer), locale, clock.today, clock.timezone, threshold, stale_days,
           export_margin_points)
    return manager_kept.get(session, key, compute)


def kept_upcoming(session: Session, *, clock: Clock) -> list[Visit]:
    """upcoming(), the same for every reader (no visibility rule applies to visits)."""

    def compute() -> list[Visit]:
        visits = upcoming(session, clock=clock)
        _detached(session, visits)
        return visits

    return upcoming_kept.get(session, (clock.today, clock.timezone), compute)


def upcoming(session: Session, *, clock: Clock) -> list[Visit]:
    return visit_service.upcoming(session, now=clock.now, days=UPCOMING_DAYS, limit=8)


due_kept = generation.Kept("dashboard.due", size=1024)


def due(session: Session, *, viewer: User, clock: Clock) -> Due:
    """The signed-in user's own follow-ups: overdue and due today (every dashboard's first line), kept per user."""
    return due_kept.get(session, (viewer.id, clock.today),
                        lambda: Due(*task_service.due_counts(session, assignee_id=viewer.id, today=clock.today)))


def officer_view(session: Session, *, viewer: User, clock: Clock, threshold: Decimal, stale_days: int) -> OfficerView:
    monday, sunday = clock.week
    week = visit_service.VisitFilter(officer_id=viewer.id, since=local_midnight_utc(monday, clock.timezone),
                                     until=local_midnight_utc(sunday + timedelta(days=1), clock.timezone))
    projects = pipeline.table_page(session, flt=pipeline.ProjectFilter(officer_id=viewer.id), viewer=viewer, page=1,
                                   per_page=8, now=clock.now, today=clock.today, threshold=threshold,
                                   stale_days=stale_days)
    return OfficerView(targets=assessment_service.for_user(session, user=viewer, year=clock.today.year,
                                                           timezone=clock.timezone),
                       tasks=task_service.soonest_open(session, assignee_id=viewer.id, limit=8),
                       week_visits=visit_service.in_range(session, flt=week, limit=50),
                       projects=projects.items, project_count=projects.total,
                       lapsed=pipeline.lapsed_cards(session, viewer=viewer, now=clock.now, today=clock.today,
                                                    threshold=threshold, stale_days=stale_days, officer_id=viewer.id))
