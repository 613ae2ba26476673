"""Major-project scheduling use cases: marking projects major with their leader and annual plan, filing and
correcting monthly reports, raising and working coordination items, meetings and their decisions; the 调度表 and
its 红黄绿 judgement.

The judgement of a major project for month M of year Y (`judge`):
  cumulative   = Σ 本月完成投资 of months 1..M of Y (the reports as they stand: a correction replaces the figure)
  完成比例      = cumulative / 年度计划投资                          (percent)
  序时进度      = M / 12                                            (percent)
  green        at or above 序时进度, and no open coordination item past its deadline
  amber        behind 序时进度 by at most the margin (settings), or an item overdue (up to 30 days)
  red          further behind, an item overdue more than 30 days, or no report for a month whose reporting closed
Every colour comes with its reasons (Msg), never alone.

Visibility: a major project is seen by whoever may see its project (`project_service.visible_to`); every list,
count, agenda and download here applies it."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from crm.audit import access as audit_access
from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.db import utcnow
from crm.i18n import N_, Msg
from crm.major_projects.models import (
    OPEN_STATUSES,
    CoordinationItem,
    CoordinationLog,
    InvestmentPlan,
    ItemStatus,
    Level,
    MajorProject,
    MeetingAttendee,
    MeetingDecision,
    MonthlyReport,
    ReportRevision,
    ResponsibleDepartment,
    SchedulingMeeting,
    SchedulingSetting,
)
from crm.major_projects.schemas import COLOUR_LABELS, LEVEL_SHORT, STATUS_LABELS
from crm.organizations.service import PermissionDenied
from crm.projects import service as project_service
from crm.projects.models import Project, ProjectOfficer
from crm.projects.schemas import parse_amount
from crm.versioning import flush_versioned, require_version

__all__ = ["PermissionDenied"]

CENT = Decimal("0.01")
RED_OVERDUE_DAYS = 30
ENTITY_MAJOR, ENTITY_REPORT, ENTITY_ITEM, ENTITY_MEETING = (
    "major_project", "major_project_report", "coordination_item", "scheduling_meeting")


class InvalidInput(Exception):
    """What is wrong with the submitted form, by field name."""

    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


# --- settings and periods --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    close_day: int = 5
    margin_points: Decimal = Decimal("10")


def rules(session: Session) -> Rules:
    row = session.get(SchedulingSetting, 1)
    return Rules(row.close_day, row.margin_points) if row is not None else Rules()


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def close_date(year: int, month: int, close_day: int) -> date:
    """The last day month (year, month) may be reported on time: `close_day` of the next month."""
    y, m = next_month(year, month)
    return date(y, m, min(close_day, calendar.monthrange(y, m)[1]))


def is_closed(year: int, month: int, today: date, close_day: int) -> bool:
    return today > close_date(year, month, close_day)


def report_month(today: date) -> tuple[int, int]:
    """The month being reported now: last month."""
    return previous_month(today.year, today.month)


def is_not_over(year: int, month: int, today: date) -> bool:
    return (year, month) >= (today.year, today.month)


# --- who may do what -------------------------------------------------------------------------------------------

def can_manage(user: User) -> bool:
    """Mark projects major, set plans, hold meetings and record decisions: managers and admins."""
    return user.is_manager


def can_report(user: User, project: Project) -> bool:
    """File and correct a project's monthly report, raise and work its items: whoever may edit the project."""
    return project_service.can_edit(user, project)


# --- the major-project list ------------------------------------------------------------------------------------

def get_major(session: Session, project_id: int) -> MajorProject | None:
    return session.scalar(select(MajorProject).where(MajorProject.project_id == project_id)
                          .options(joinedload(MajorProject.leader)))


def plans(session: Session, project_id: int) -> list[InvestmentPlan]:
    return list(session.scalars(select(InvestmentPlan).where(InvestmentPlan.project_id == project_id)
                                .order_by(InvestmentPlan.year.desc())))


def leader_choices(session: Session) -> list[User]:
    from crm.auth import service as auth_service

    return [u for u in auth_service.active_users(session) if u.is_manager]


def _audit(session: Session, *, actor: User | None, action: AuditAction, entity_type: str, entity_id: int,
           label: str, version: int, changes: dict) -> None:
    audit_service.record(session, actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
                         entity_label=label, entity_version=version, changes=changes)


def mark(session: Session, *, project: Project, data: dict[str, Any], version: int | None,
         actor: User) -> MajorProject:
    """Puts a project on the major-project list, or changes its levels, year and leader."""
    if not can_manage(actor):
        raise PermissionDenied()
    levels = {k: bool(data.get(k)) for k in ("is_province", "is_city", "is_district")}
    errors: dict[str, Msg] = {}
    if not any(levels.values()):
        errors["is_province"] = Msg("Choose at least one level: provincial, city or district.")
    leader_id = data.get("leader_id")
    leader_name = (data.get("leader_name") or "").strip()
    if leader_id is not None:
        leader = session.get(User, leader_id)
        if leader is None or not leader.is_active:
            errors["leader_id"] = Msg("Choose one of the listed options.")
        leader_name = ""
    elif not leader_name:
        errors["leader_id"] = Msg("Choose the leader in charge, or type their name.")
    if errors:
        raise InvalidInput(errors)
    major = get_major(session, project.id)
    after = {**levels, "listed_year": int(data["listed_year"]), "leader_id": leader_id, "leader_name": leader_name}
    if major is None:
        major = MajorProject(project_id=project.id, **after)
        session.add(major)
        session.flush()
        _audit(session, actor=actor, action=AuditAction.CREATE, entity_type=ENTITY_MAJOR, entity_id=project.id,
               label=project.name, version=major.version, changes={k: [None, v] for k, v in after.items()})
    else:
        require_version(session, record=major, entity_type=ENTITY_MAJOR, version=version)
        changes = {k: [getattr(major, k), v] for k, v in after.items() if getattr(major, k) != v}
        if changes:
            for k, v in after.items():
                setattr(major, k, v)
            major.updated_at = utcnow()
            flush_versioned(session, record=major, entity_type=ENTITY_MAJOR, version=version,
                            reload=lambda s, pid: get_major(s, pid))
            _audit(session, actor=actor, action=AuditAction.UPDATE, entity_type=ENTITY_MAJOR, entity_id=project.id,
                   label=project.name, version=major.version, changes=changes)
    session.commit()
    return major


def set_plan(session: Session, *, project: Project, year: int, planned: Decimal, actor: User) -> bool:
    """Sets a major project's planned investment for a year; False when it was already that."""
    if not can_manage(actor):
        raise PermissionDenied()
    if get_major(session, project.id) is None:
        raise InvalidInput({"year": Msg("Mark the project as a major project first.")})
    planned = planned.quantize(CENT)
    row = session.scalar(select(InvestmentPlan).where(InvestmentPlan.project_id == project.id,
                                                      InvestmentPlan.year == year))
    before = str(row.planned_wan_cny.quantize(CENT)) if row else None
    if before == str(planned):
        return False
    if row is None:
        session.add(InvestmentPlan(project_id=project.id, year=year, planned_wan_cny=planned))
    else:
        row.planned_wan_cny = planned
        row.updated_at = utcnow()
    _audit(session, actor=actor, action=AuditAction.UPDATE, entity_type=ENTITY_MAJOR, entity_id=project.id,
           label=project.name, version=1, changes={f"plan_{year}": [before, str(planned)]})
    session.commit()
    return True


# --- monthly reports -------------------------------------------------------------------------------------------

def get_report(session: Session, report_id: int) -> MonthlyReport | None:
    return session.get(MonthlyReport, report_id)


def report_for(session: Session, project_id: int, year: int, month: int) -> MonthlyReport | None:
    return session.scalar(select(MonthlyReport).where(MonthlyReport.project_id == project_id,
                                                      MonthlyReport.year == year, MonthlyReport.month == month))


def reports(session: Session, project_id: int, year: int) -> list[MonthlyReport]:
    return list(session.scalars(select(MonthlyReport).where(MonthlyReport.project_id == project_id,
                                                            MonthlyReport.year == year)
                                .order_by(MonthlyReport.month)))


def revisions(session: Session, report_id: int) -> list[ReportRevision]:
    return list(session.scalars(select(ReportRevision).where(ReportRevision.report_id == report_id)
                                .options(joinedload(ReportRevision.saved_by))
                                .order_by(ReportRevision.revision.desc())))


def _typed_report(data: dict[str, Any]) -> dict[str, Any]:
    amount = parse_amount(data["completed_wan_cny"])
    errors = {}
    if amount < 0:
        errors["completed_wan_cny"] = Msg("Enter an amount of 0 or more.")
    if errors:
        raise InvalidInput(errors)
    return {"completed_wan_cny": amount.quantize(CENT), "progress": data.get("progress") or "",
            "problems": data.get("problems") or ""}


def file_report(session: Session, *, project: Project, year: int, month: int, data: dict[str, Any], actor: User,
                today: date) -> MonthlyReport:
    """A month's first report. Refused for a month not over, or a month that has one (correct it instead);
    accepted after the month closed, marked late."""
    if not can_report(actor, project):
        raise PermissionDenied()
    errors: dict[str, Msg] = {}
    if get_major(session, project.id) is None:
        errors["month"] = Msg("Only a major project files monthly reports.")
    elif is_not_over(year, month, today):
        errors["month"] = Msg("%(month)s is not over yet: report a month once it has ended.",
                              month=f"{year}-{month:02d}")
    elif report_for(session, project.id, year, month) is not None:
        errors["month"] = Msg("%(month)s already has a report: correct that one instead.",
                              month=f"{year}-{month:02d}")
    try:
        typed = _typed_report(data)
    except InvalidInput as bad:
        errors.update(bad.errors)
    if errors:
        raise InvalidInput(errors)
    late = is_closed(year, month, today, rules(session).close_day)
    report = MonthlyReport(project_id=project.id, year=year, month=month, is_late=late, revision=1,
                           filed_by_id=actor.id, updated_by_id=actor.id, **typed)
    session.add(report)
    session.flush()
    session.add(ReportRevision(report_id=report.id, revision=1, saved_by_id=actor.id, **typed))
    _audit(session, actor=actor, action=AuditAction.CREATE, entity_type=ENTITY_REPORT, entity_id=report.id,
           label=f"{project.name} {year}-{month:02d}", version=report.version,
           changes={k: [None, str(v)] for k, v in {**typed, "is_late": late}.items()})
    session.commit()
    return report


def correct_report(session: Session, *, project: Project, report: MonthlyReport, data: dict[str, Any],
                   version: int | None, actor: User) -> bool:
    """A correction: the report takes the new values, the old ones stay as a revision. False when nothing changed."""
    if not can_report(actor, project):
        raise PermissionDenied()
    require_version(session, record=report, entity_type=ENTITY_REPORT, version=version)
    typed = _typed_report(data)
    changes = {k: [str(getattr(report, k)), str(v)] for k, v in typed.items() if getattr(report, k) != v}
    if not changes:
        return False
    for k, v in typed.items():
        setattr(report, k, v)
    report.revision += 1
    report.updated_at = utcnow()
    report.updated_by_id = actor.id
    flush_versioned(session, record=report, entity_type=ENTITY_REPORT, version=version, reload=get_report)
    session.add(ReportRevision(report_id=report.id, revision=report.revision, saved_by_id=actor.id, **typed))
    _audit(session, actor=actor, action=AuditAction.UPDATE, entity_type=ENTITY_REPORT, entity_id=report.id,
           label=f"{project.name} {report.year}-{report.month:02d}", version=report.version, changes=changes)
    session.commit()
    return True


# --- the judgement ---------------------------------------------------------------------------------------------

@dataclass
class Judgement:
    colour: str
    reasons: list[Msg]

    @property
    def label(self) -> str:
        return COLOUR_LABELS[self.colour]


def judge(*, planned: Decimal | None, cumulative: Decimal, month: int, margin_points: Decimal,
          overdue_days: list[int], report_missing: bool, month_label: str) -> Judgement:
    """The colour of a major project for month `month` and why (see the module's docstring)."""
    time_pct = Decimal(month * 100) / 12
    reasons: list[Msg] = []
    colour = "green"

    def worse(to: str) -> None:
        nonlocal colour
        if ("green", "amber", "red").index(to) > ("green", "amber", "red").index(colour):
            colour = to

    if report_missing:
        worse("red")
        reasons.append(Msg("No report for %(month)s.", month=month_label))
    if planned is None or planned == 0:
        worse("amber")
        reasons.append(Msg("No planned investment for the year."))
    else:
        done_pct = cumulative * 100 / planned
        behind = time_pct - done_pct
        if behind > margin_points:
            worse("red")
            reasons.append(Msg("%(done)s%% of the year's plan done, %(behind)s points behind time-elapsed "
                               "progress (%(time)s%%).", done=f"{done_pct:.1f}", behind=f"{behind:.1f}",
                               time=f"{time_pct:.1f}"))
        elif behind > 0:
            worse("amber")
            reasons.append(Msg("%(done)s%% of the year's plan done, %(behind)s points behind time-elapsed "
                               "progress (%(time)s%%).", done=f"{done_pct:.1f}", behind=f"{behind:.1f}",
                               time=f"{time_pct:.1f}"))
        else:
            reasons.append(Msg("%(done)s%% of the year's plan done, at or above time-elapsed progress "
                               "(%(time)s%%).", done=f"{done_pct:.1f}", time=f"{time_pct:.1f}"))
    if overdue_days:
        worst = max(overdue_days)
        worse("red" if worst > RED_OVERDUE_DAYS else "amber")
        reasons.append(Msg("%(n)s coordination items overdue, the oldest by %(days)s days.",
                           n=len(overdue_days), days=worst))
    return Judgement(colour, reasons)


# --- the 调度表 -------------------------------------------------------------------------------------------------

@dataclass
class BoardRow:
    project: Project
    major: MajorProject
    planned: Decimal | None
    monthly: dict[int, Decimal]  # month → completed that month (months 1..M with a report)
    cumulative: Decimal
    done_pct: Decimal | None
    report: MonthlyReport | None  # month M's
    departments: list[str]
    judgement: Judgement
    report_missing: bool
    open_items: int = 0

    @property
    def levels(self) -> list[str]:
        return [LEVEL_SHORT[lv] for lv in self.major.levels]


@dataclass
class Board:
    year: int
    month: int
    time_pct: Decimal
    closed: bool
    close_on: date
    rows: list[BoardRow] = field(default_factory=list)

    def count(self, colour: str) -> int:
        return sum(1 for r in self.rows if r.judgement.colour == colour)

    @property
    def missing(self) -> int:
        return sum(1 for r in self.rows if r.report is None)


def board(session: Session, *, viewer: User, year: int, month: int, today: date, level: str | None = None,
          colour: str | None = None, officer_id: int | None = None, leader_id: int | None = None,
          missing_first: bool = False, locale: str = "zh_CN", project_id: int | None = None) -> Board:
    """Every major project the viewer may see, for month (year, month): figures 1..month, the month's report, the
    open items' departments, the colour and its reasons. A fixed number of queries whatever the row count.
    `project_id`: that project's row alone (its page)."""
    settings = rules(session)
    closed = is_closed(year, month, today, settings.close_day)
    result = Board(year=year, month=month, time_pct=Decimal(month * 100) / 12, closed=closed,
                   close_on=close_date(year, month, settings.close_day))
    stmt = (select(MajorProject).join(Project, Project.id == MajorProject.project_id)
            .where(project_service.visible_to(viewer))
            # only the columns a row shows: full projects with their owners were a third of the table's cost
            .options(joinedload(MajorProject.leader), joinedload(MajorProject.project).load_only(
                Project.id, Project.name, Project.description, Project.total_investment_wan_cny,
                Project.is_confidential, Project.owner_id))
            .order_by(Project.total_investment_wan_cny.desc().nulls_last(), Project.id))
    if level in {lv.value for lv in Level}:
        stmt = stmt.where(getattr(MajorProject, f"is_{level}").is_(True))
    if officer_id is not None:
        stmt = stmt.where(or_(Project.owner_id == officer_id, Project.id.in_(
            select(ProjectOfficer.project_id).where(ProjectOfficer.user_id == officer_id))))
    if leader_id is not None:
        stmt = stmt.where(MajorProject.leader_id == leader_id)
    if project_id is not None:
        stmt = stmt.where(MajorProject.project_id == project_id)
    majors = list(session.scalars(stmt).unique())
    ids = [m.project_id for m in majors]
    if not ids:
        return result
    planned = {pid: value for pid, value in session.execute(select(
        InvestmentPlan.project_id, InvestmentPlan.planned_wan_cny).where(
        InvestmentPlan.project_id.in_(ids), InvestmentPlan.year == year))}
    monthly: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for pid, m, value in session.execute(select(MonthlyReport.project_id, MonthlyReport.month,
                                                MonthlyReport.completed_wan_cny).where(
            MonthlyReport.project_id.in_(ids), MonthlyReport.year == year, MonthlyReport.month <= month)):
        monthly[pid][m] = value
    month_reports = {r.project_id: r for r in session.scalars(select(MonthlyReport).where(
        MonthlyReport.project_id.in_(ids), MonthlyReport.year == year, MonthlyReport.month == month))}
    # The open items as plain rows (deadline and department are all a row needs): building 1,500 ORM objects with
    # their departments was a fifth of the table's cost (docs/performance.md).
    department_names = {d.id: d for d in session.scalars(select(ResponsibleDepartment))}
    by_project: dict[int, list[tuple[int, str]]] = defaultdict(list)  # project → [(days overdue, department)]
    for pid, deadline, department_id, department_other in session.execute(select(
            CoordinationItem.project_id, CoordinationItem.deadline_on, CoordinationItem.department_id,
            CoordinationItem.department_other).where(
            CoordinationItem.project_id.in_(ids), CoordinationItem.status.in_([s.value for s in OPEN_STATUSES]))):
        department = department_names[department_id].name(locale) if department_id else department_other
        by_project[pid].append((max(0, (today - deadline).days), department))
    label = f"{year}-{month:02d}"
    for major in majors:
        pid = major.project_id
        cumulative = sum(monthly[pid].values(), Decimal(0))
        plan = planned.get(pid)
        report = month_reports.get(pid)
        missing = report is None and closed
        open_items = by_project.get(pid, [])
        judgement = judge(planned=plan, cumulative=cumulative, month=month, margin_points=settings.margin_points,
                          overdue_days=[days for days, _ in open_items if days > 0],
                          report_missing=missing, month_label=label)
        departments = sorted({department for _, department in open_items} - {""})
        result.rows.append(BoardRow(project=major.project, major=major, planned=plan, monthly=dict(monthly[pid]),
                                    cumulative=cumulative, done_pct=(cumulative * 100 / plan) if plan else None,
                                    report=report, departments=departments, judgement=judgement,
                                    report_missing=report is None, open_items=len(open_items)))
    if colour in COLOUR_LABELS:
        result.rows = [r for r in result.rows if r.judgement.colour == colour]
    if missing_first:
        result.rows.sort(key=lambda r: not r.report_missing)  # stable: the order above within each group
    return result


def judgement_for(session: Session, *, project: Project, viewer: User, today: date,
                  locale: str = "zh_CN") -> BoardRow | None:
    """The project's row of the current 调度表 (the month being reported), for its page; None if not major."""
    year, month = report_month(today)
    found = board(session, viewer=viewer, year=year, month=month, today=today, locale=locale, project_id=project.id)
    return next((r for r in found.rows if r.project.id == project.id), None)


# --- coordination items ----------------------------------------------------------------------------------------

def departments(session: Session, *, include_inactive: bool = False) -> list[ResponsibleDepartment]:
    stmt = select(ResponsibleDepartment).order_by(ResponsibleDepartment.position, ResponsibleDepartment.id)
    if not include_inactive:
        stmt = stmt.where(ResponsibleDepartment.is_active.is_(True))
    return list(session.scalars(stmt))


def _item_options(stmt):
    return stmt.options(joinedload(CoordinationItem.project), joinedload(CoordinationItem.department),
                        joinedload(CoordinationItem.owner),
                        selectinload(CoordinationItem.log).joinedload(CoordinationLog.actor),
                        selectinload(CoordinationItem.log).joinedload(CoordinationLog.owner_to))


def get_item(session: Session, item_id: int, viewer: User) -> CoordinationItem | None:
    """The item, or None when there is none or its project is hidden from the viewer."""
    return session.scalar(_item_options(select(CoordinationItem).join(Project, Project.id == CoordinationItem.project_id)
                                        .where(CoordinationItem.id == item_id, project_service.may_see(viewer)))
                          .execution_options(populate_existing=True))


def items(session: Session, *, viewer: User, today: date, status: str | None = "open",
          department_id: int | None = None, project_id: int | None = None,
          overdue_only: bool = False) -> list[CoordinationItem]:
    """Items of the projects the viewer may see: overdue first (most overdue first), then by deadline."""
    stmt = _item_options(select(CoordinationItem).join(Project, Project.id == CoordinationItem.project_id)
                         .where(project_service.visible_to(viewer)))
    if status == "open":
        stmt = stmt.where(CoordinationItem.status.in_([s.value for s in OPEN_STATUSES]))
    elif status in {s.value for s in ItemStatus}:
        stmt = stmt.where(CoordinationItem.status == status)
    if department_id is not None:
        stmt = stmt.where(CoordinationItem.department_id == department_id)
    if project_id is not None:
        stmt = stmt.where(CoordinationItem.project_id == project_id)
    if overdue_only:
        stmt = stmt.where(CoordinationItem.status.in_([s.value for s in OPEN_STATUSES]),
                          CoordinationItem.deadline_on < today)
    found = list(session.scalars(stmt.order_by(CoordinationItem.deadline_on, CoordinationItem.id)).unique())
    found.sort(key=lambda i: (i.days_overdue(today) == 0, -i.days_overdue(today)))
    return found


def _check_item_refs(session: Session, data: dict[str, Any]) -> dict[str, Msg]:
    errors: dict[str, Msg] = {}
    if data.get("department_id") is None and not (data.get("department_other") or "").strip():
        errors["department_id"] = Msg("Choose the responsible department, or name another zone office.")
    if data.get("owner_id") is not None:
        owner = session.get(User, data["owner_id"])
        if owner is None or not owner.is_active:
            errors["owner_id"] = Msg("Choose one of the listed options.")
    return errors


def raise_item(session: Session, *, project: Project, data: dict[str, Any], actor: User, today: date,
               report: MonthlyReport | None = None) -> CoordinationItem:
    if not can_report(actor, project):
        raise PermissionDenied()
    errors = _check_item_refs(session, data)
    if get_major(session, project.id) is None:
        errors["need"] = Msg("Only a major project has coordination items.")
    if errors:
        raise InvalidInput(errors)
    item = CoordinationItem(project_id=project.id, report_id=report.id if report else None, need=data["need"],
                            department_id=data.get("department_id"),
                            department_other="" if data.get("department_id") else data.get("department_other") or "",
                            deadline_on=date.fromisoformat(data["deadline_on"]), owner_id=data.get("owner_id"),
                            raised_on=today, created_by_id=actor.id, status=ItemStatus.PENDING.value)
    session.add(item)
    session.flush()
    session.add(CoordinationLog(item_id=item.id, actor_id=actor.id, note="", status_to=item.status,
                                deadline_to=item.deadline_on, owner_to_id=item.owner_id))
    _audit(session, actor=actor, action=AuditAction.CREATE, entity_type=ENTITY_ITEM, entity_id=item.id,
           label=data["need"][:80], version=item.version,
           changes={"need": [None, item.need], "deadline_on": [None, item.deadline_on.isoformat()]})
    session.commit()
    return item


def can_work(session: Session, user: User, item: CoordinationItem) -> bool:
    """Work an item (status, deadline, owner, notes): its owner, whoever may edit its project, managers."""
    return user.is_manager or item.owner_id == user.id or bool(
        project_service.editable_ids(session, user, [item.project_id]))


def _apply_item_change(session: Session, *, item: CoordinationItem, actor: User, today: date, note: str,
                       status: str | None, deadline_on: date | None, owner_id: int | None,
                       meeting_id: int | None = None, version: int | None = None) -> dict[str, list]:
    changes: dict[str, list] = {}
    log = CoordinationLog(item_id=item.id, actor_id=actor.id, note=note, meeting_id=meeting_id)
    if status and status != item.status:
        changes["status"] = [item.status, status]
        log.status_from, log.status_to = item.status, status
        item.status = status
        item.resolved_on = today if status == ItemStatus.RESOLVED else None
    if deadline_on and deadline_on != item.deadline_on:
        changes["deadline_on"] = [item.deadline_on.isoformat(), deadline_on.isoformat()]
        item.deadline_on = log.deadline_to = deadline_on
    if owner_id is not None and owner_id != item.owner_id:
        changes["owner_id"] = [item.owner_id, owner_id]
        item.owner_id = log.owner_to_id = owner_id
    if note:
        changes["note"] = [None, note]
    if changes:
        session.add(log)
        if changes.keys() - {"note"}:
            flush_versioned(session, record=item, entity_type=ENTITY_ITEM, version=version or item.version,
                            reload=lambda s, i: s.get(CoordinationItem, i))
    return changes


def update_item(session: Session, *, item: CoordinationItem, data: dict[str, Any], version: int | None,
                actor: User, today: date) -> bool:
    """Status, deadline, owner and a note of what was done: one log entry. False when nothing changed."""
    if not can_work(session, actor, item):
        raise PermissionDenied()
    require_version(session, record=item, entity_type=ENTITY_ITEM, version=version)
    errors = _check_item_refs(session, {"department_id": item.department_id or 0, **data})
    if errors:
        raise InvalidInput(errors)
    changes = _apply_item_change(session, item=item, actor=actor, today=today, note=data.get("note") or "",
                                 status=data["status"], deadline_on=date.fromisoformat(data["deadline_on"]),
                                 owner_id=data.get("owner_id"), version=version)
    if not changes:
        session.rollback()
        return False
    _audit(session, actor=actor, action=AuditAction.UPDATE, entity_type=ENTITY_ITEM, entity_id=item.id,
           label=item.need[:80], version=item.version, changes=changes)
    session.commit()
    return True


# --- meetings --------------------------------------------------------------------------------------------------

def meetings(session: Session, limit: int = 50) -> list[SchedulingMeeting]:
    return list(session.scalars(select(SchedulingMeeting).order_by(SchedulingMeeting.held_on.desc(),
                                                                   SchedulingMeeting.id.desc()).limit(limit)))


def get_meeting(session: Session, meeting_id: int) -> SchedulingMeeting | None:
    return session.scalar(select(SchedulingMeeting).where(SchedulingMeeting.id == meeting_id).options(
        selectinload(SchedulingMeeting.attendees).joinedload(MeetingAttendee.user)))


def create_meeting(session: Session, *, data: dict[str, Any], attendee_ids: Iterable[int],
                   actor: User) -> SchedulingMeeting:
    if not can_manage(actor):
        raise PermissionDenied()
    ids = sorted(set(attendee_ids))
    known = set(session.scalars(select(User.id).where(User.id.in_(ids), User.is_active.is_(True)))) if ids else set()
    if known != set(ids):
        raise InvalidInput({"attendees": Msg("Choose one of the listed options.")})
    meeting = SchedulingMeeting(title=data["title"], held_on=date.fromisoformat(data["held_on"]),
                                other_attendees=data.get("other_attendees") or "", created_by_id=actor.id)
    meeting.attendees = [MeetingAttendee(user_id=i) for i in ids]
    session.add(meeting)
    session.flush()
    _audit(session, actor=actor, action=AuditAction.CREATE, entity_type=ENTITY_MEETING, entity_id=meeting.id,
           label=meeting.title, version=meeting.version,
           changes={"title": [None, meeting.title], "held_on": [None, meeting.held_on.isoformat()]})
    session.commit()
    return meeting


@dataclass
class Agenda:
    groups: list[tuple[str, list[CoordinationItem]]]  # (department, items): overdue first within each
    behind: list[BoardRow]  # major projects amber or red in the month being reported
    decisions: dict[int, MeetingDecision]  # item id → this meeting's decision


def agenda(session: Session, *, meeting: SchedulingMeeting, viewer: User, today: date,
           locale: str = "zh_CN") -> Agenda:
    """The open coordination items (overdue first, grouped by responsible department; groups with an overdue item
    first) and the major projects behind plan, of the projects the viewer may see; with the items this meeting
    already decided, open or not."""
    decided = {d.item_id: d for d in session.scalars(select(MeetingDecision).where(
        MeetingDecision.meeting_id == meeting.id))}
    found = items(session, viewer=viewer, today=today, status="open")
    seen = {i.id for i in found}
    extra = [i for i in (get_item(session, item_id, viewer) for item_id in decided if item_id not in seen) if i]
    grouped: dict[str, list[CoordinationItem]] = defaultdict(list)
    for item in [*found, *extra]:
        grouped[item.department_label(locale)].append(item)
    groups = sorted(grouped.items(), key=lambda g: (-max(i.days_overdue(today) for i in g[1]), g[0]))
    year, month = report_month(today)
    behind = [r for r in board(session, viewer=viewer, year=year, month=month, today=today, locale=locale).rows
              if r.judgement.colour != "green"]
    return Agenda(groups=groups, behind=behind,
                  decisions={k: v for k, v in decided.items() if k in seen or k in {i.id for i in extra}})


def record_decision(session: Session, *, meeting: SchedulingMeeting, item: CoordinationItem, data: dict[str, Any],
                    actor: User, today: date) -> MeetingDecision:
    """The meeting's decision on an item, with a new deadline, owner or status if given; logged with the item."""
    if not can_manage(actor):
        raise PermissionDenied()
    errors = _check_item_refs(session, {"department_id": item.department_id or 0, **data})
    if errors:
        raise InvalidInput(errors)
    decision = session.scalar(select(MeetingDecision).where(MeetingDecision.meeting_id == meeting.id,
                                                            MeetingDecision.item_id == item.id))
    before = decision.decision if decision else None
    if decision is None:
        decision = MeetingDecision(meeting_id=meeting.id, item_id=item.id, decision=data["decision"],
                                   recorded_by_id=actor.id)
        session.add(decision)
    else:
        decision.decision = data["decision"]
        decision.recorded_at = utcnow()
        decision.recorded_by_id = actor.id
    deadline = date.fromisoformat(data["deadline_on"]) if data.get("deadline_on") else None
    changes = _apply_item_change(session, item=item, actor=actor, today=today, note=data["decision"],
                                 status=data.get("status") or None, deadline_on=deadline,
                                 owner_id=data.get("owner_id"), meeting_id=meeting.id)
    changes["decision"] = [before, data["decision"]]
    session.flush()
    _audit(session, actor=actor, action=AuditAction.UPDATE, entity_type=ENTITY_ITEM, entity_id=item.id,
           label=item.need[:80], version=item.version, changes={**changes, "meeting": [None, meeting.title]})
    session.commit()
    return decision


# --- dashboard -------------------------------------------------------------------------------------------------

def dashboard_counts(session: Session, *, viewer: User, today: date) -> dict[str, int]:
    year, month = report_month(today)
    found = board(session, viewer=viewer, year=year, month=month, today=today)
    overdue = len(items(session, viewer=viewer, today=today, overdue_only=True))
    return {"green": found.count("green"), "amber": found.count("amber"), "red": found.count("red"),
            "missing": found.missing, "overdue": overdue, "total": len(found.rows)}


# --- audit labels and access -----------------------------------------------------------------------------------

audit_labels.register(ENTITY_MAJOR, label=N_("Major project"), url="/projects/{id}", fields={
    "is_province": N_("Provincial major project"), "is_city": N_("City major project"),
    "is_district": N_("District major project"), "listed_year": N_("Year listed"),
    "leader_id": N_("Leader in charge"), "leader_name": N_("Leader in charge (name, if not a user)")})
audit_labels.register(ENTITY_REPORT, label=N_("Monthly report"), url="/scheduling/reports/{id}", fields={
    "completed_wan_cny": N_("Investment completed this month (10k CNY)"), "progress": N_("Progress on site"),
    "problems": N_("Problems met"), "is_late": N_("Late")})
audit_labels.register(ENTITY_ITEM, label=N_("Coordination item"), url="/scheduling/items/{id}", fields={
    "need": N_("What is needed"), "deadline_on": N_("Deadline"), "status": N_("Status"), "owner_id": N_("Owner"),
    "note": N_("What was done"), "decision": N_("Meeting decision"), "meeting": N_("Meeting")},
    values={"status": STATUS_LABELS})
audit_labels.register(ENTITY_MEETING, label=N_("Scheduling meeting"), url="/scheduling/meetings/{id}",
                      fields={"title": N_("Title"), "held_on": N_("Date")})
audit_access.register(ENTITY_MAJOR, lambda user: select(Project.id).where(project_service.may_see(user)))
audit_access.register(ENTITY_REPORT, lambda user: select(MonthlyReport.id).join(
    Project, Project.id == MonthlyReport.project_id).where(project_service.may_see(user)))
audit_access.register(ENTITY_ITEM, lambda user: select(CoordinationItem.id).join(
    Project, Project.id == CoordinationItem.project_id).where(project_service.may_see(user)))
audit_access.register(ENTITY_MEETING, lambda user: select(SchedulingMeeting.id))
