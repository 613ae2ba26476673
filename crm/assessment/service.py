"""Annual target assessment (年度目标考核): targets per officer and per department, and the actuals, computed from the
CRM's own records every time they are shown (never typed in, never stored). The same figures serve the assessment
page, its drill-downs, its .xlsx, and the dashboards (`table`, `for_user`).

Definitions (shown on the page too; the year is the calendar year in the zone's time zone):
- projects signed (签约项目): projects whose first move into 签约 or a later pipeline stage (a jump from 洽谈 to 注册
  counts) happened in the year, by their stage history; a project signed and later put on hold or dropped still
  counts for the year it was signed. Credited to the project's owning officer.
- total investment signed (万元) / foreign capital signed (万美元): the sums of those projects' total investment and
  foreign capital as recorded now.
- projects started (开工项目): projects whose first move into 开工 or 投产 happened in the year; owning officer.
- visits received (接待来访): inbound delegations (来访考察) marked done whose start falls in the year and has
  come, for the visit's responsible officer and each of our attendees (hosts); a visit counts once per person. (A
  visit cannot be marked done before it starts; one that was, before that rule, counts once it has started.)
- a department's actuals: the same, for the members it has now (user_account.department), each record once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.assessment.models import COUNT_METRICS, METRICS, DepartmentTarget, OfficerTarget
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import Role, User
from crm.db import utcnow
from crm.i18n import Msg
from crm.projects import service as project_service
from crm.projects.models import Project, Stage, StageChange
from crm.versioning import StaleEdit, flush_versioned, require_version
from crm.visits.models import Visit, VisitHost, VisitKind, VisitStatus

SIGNED_OR_LATER = (Stage.SIGNED, Stage.REGISTERED, Stage.LAND_SUPPLIED, Stage.PERMITS, Stage.GROUNDBREAKING,
                   Stage.OPERATING)
STARTED_OR_LATER = (Stage.GROUNDBREAKING, Stage.OPERATING)
MAX_COUNT = 100_000
MAX_AMOUNT = Decimal("100000000")  # 1 万亿元 in 万元: larger is a typing mistake
MAX_FIGURE_LENGTH = 24  # characters a typed figure may have


class PermissionDenied(Exception):
    pass


class InvalidTarget(Exception):
    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def can_set_targets(user: User) -> bool:
    return user.is_manager


def can_see(viewer: User, *, user_id: int | None = None, department: str | None = None) -> bool:
    """Managers and admins see every row; an officer sees their own."""
    if viewer.is_manager:
        return True
    return user_id is not None and user_id == viewer.id


def year_bounds(year: int, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    start = datetime.combine(date(year, 1, 1), time(), zone).astimezone(UTC)
    end = datetime.combine(date(year + 1, 1, 1), time(), zone).astimezone(UTC)
    return start, end


@dataclass
class Actuals:
    projects_signed: int = 0
    investment_signed_wan_cny: Decimal = Decimal(0)
    foreign_capital_signed_wan_usd: Decimal = Decimal(0)
    visits_received: int = 0
    projects_started: int = 0

    def get(self, metric: str) -> int | Decimal:
        return getattr(self, metric)


@dataclass
class Row:
    """One officer or department: its targets (None when none were set) and its actuals."""

    kind: str  # "officer" or "department"
    key: str  # the user's id, or the department's name
    label: str
    department: str
    target: OfficerTarget | DepartmentTarget | None
    actual: Actuals = field(default_factory=Actuals)

    def target_of(self, metric: str) -> int | Decimal | None:
        return getattr(self.target, metric) if self.target is not None else None

    def progress(self, metric: str) -> float | None:
        target = self.target_of(metric)
        if not target:
            return None
        return float(Decimal(self.actual.get(metric)) / Decimal(target))

    def records_url(self, year: int, metric: str) -> str:
        """The drill-down behind one actual. A department's name travels as a query parameter: it is free text and
        may hold "/", which a path segment cannot carry (routing decodes %2F)."""
        if self.kind == "officer":
            return f"/assessment/{year}/officers/{self.key}/{metric}"
        return f"/assessment/{year}/departments/{metric}?{urlencode({'name': self.key})}"

    def target_url(self, year: int) -> str:
        if self.kind == "officer":
            return f"/assessment/{year}/officers/{self.key}/target"
        return f"/assessment/{year}/departments/target?{urlencode({'name': self.key})}"


@dataclass
class Table:
    year: int
    officers: list[Row]
    departments: list[Row]


# The records behind the actuals

def _first_move(stages: tuple[Stage, ...]):
    return (select(StageChange.project_id.label("project_id"), func.min(StageChange.at).label("at"))
            .where(StageChange.to_stage.in_([s.value for s in stages]))
            .group_by(StageChange.project_id).subquery())


def _projects_in(metric: str, year: int, timezone: str) -> Select:
    """Projects (id, owner, amounts, when) behind a project metric in the year. Archived projects are left out, as
    they leave every other count and total (`projects.service.visible_to`), so the actuals and their drill-downs
    agree; a project moved to 终止 instead stays in."""
    start, end = year_bounds(year, timezone)
    first = _first_move(STARTED_OR_LATER if metric == "projects_started" else SIGNED_OR_LATER)
    return (select(Project.id, Project.owner_id, Project.total_investment_wan_cny, Project.foreign_capital_wan_usd,
                   first.c.at)
            .join(first, first.c.project_id == Project.id)
            .where(first.c.at >= start, first.c.at < end, Project.archived_at.is_(None)))


def _visits_in(year: int, timezone: str):
    """(visit id, user id) for every person credited with a visit received in the year."""
    start, end = year_bounds(year, timezone)
    received = (Visit.kind == VisitKind.INBOUND, Visit.status == VisitStatus.DONE, Visit.starts_at >= start,
                Visit.starts_at < end, Visit.starts_at <= utcnow())
    return union(
        select(Visit.id.label("visit_id"), Visit.officer_id.label("user_id")).where(*received),
        select(Visit.id.label("visit_id"), VisitHost.user_id.label("user_id"))
        .join(VisitHost, VisitHost.visit_id == Visit.id).where(*received),
    ).subquery()


def _actuals(session: Session, *, year: int, timezone: str) -> tuple[dict[int, Actuals], list, list, list]:
    """Per user, and the raw rows (for departments): signed projects, (visit, user) pairs, started projects."""
    per_user: dict[int, Actuals] = defaultdict(Actuals)
    signed = session.execute(_projects_in("projects_signed", year, timezone)).all()
    for _id, owner, total, foreign, _at in signed:
        actual = per_user[owner]
        actual.projects_signed += 1
        actual.investment_signed_wan_cny += total or 0
        actual.foreign_capital_signed_wan_usd += foreign or 0
    started = session.execute(_projects_in("projects_started", year, timezone)).all()
    for _id, owner, *_rest in started:
        per_user[owner].projects_started += 1
    visits = _visits_in(year, timezone)
    pairs = session.execute(select(visits.c.visit_id, visits.c.user_id)).all()
    for _visit, user_id in pairs:
        per_user[user_id].visits_received += 1
    return per_user, signed, pairs, started


def departments(session: Session, *, year: int) -> list[str]:
    """The departments written on active users, and any that has a target for the year."""
    names = set(session.scalars(select(User.department).where(User.is_active.is_(True), User.department != "")))
    names |= set(session.scalars(select(DepartmentTarget.department).where(DepartmentTarget.year == year)))
    return sorted(names)


def table(session: Session, *, year: int, timezone: str, viewer: User) -> Table:
    """The assessment as `viewer` may see it: for managers every officer (users with the officer role, and anyone
    with a target or an actual this year) and every department; for an officer, their own row only."""
    per_user, signed, pairs, started = _actuals(session, year=year, timezone=timezone)
    officer_targets = {t.user_id: t for t in session.scalars(select(OfficerTarget).where(OfficerTarget.year == year))}
    wanted = set(officer_targets) | set(per_user)
    users = list(session.scalars(select(User).where(or_(
        User.id.in_(wanted), (User.role == Role.OFFICER) & User.is_active.is_(True))).order_by(User.display_name, User.id)))
    if not viewer.is_manager:
        users = [u for u in users if u.id == viewer.id] or [viewer]
    officers = [Row("officer", str(u.id), u.display_name, u.department or "", officer_targets.get(u.id),
                    per_user.get(u.id) or Actuals()) for u in users]
    if not viewer.is_manager:
        return Table(year, officers, [])
    department_of = dict(session.execute(select(User.id, User.department).where(User.department != "")).all())
    dept_targets = {t.department: t for t in session.scalars(
        select(DepartmentTarget).where(DepartmentTarget.year == year))}
    dept_actuals: dict[str, Actuals] = defaultdict(Actuals)
    for _id, owner, total, foreign, _at in signed:
        if owner in department_of:
            actual = dept_actuals[department_of[owner]]
            actual.projects_signed += 1
            actual.investment_signed_wan_cny += total or 0
            actual.foreign_capital_signed_wan_usd += foreign or 0
    for _id, owner, *_rest in started:
        if owner in department_of:
            dept_actuals[department_of[owner]].projects_started += 1
    seen: set[tuple[str, int]] = set()
    for visit_id, user_id in pairs:
        name = department_of.get(user_id)
        if name and (name, visit_id) not in seen:
            seen.add((name, visit_id))
            dept_actuals[name].visits_received += 1
    depts = [Row("department", name, name, name, dept_targets.get(name), dept_actuals.get(name) or Actuals())
             for name in departments(session, year=year)]
    return Table(year, officers, depts)


def for_user(session: Session, *, user: User, year: int, timezone: str) -> Row:
    """One officer's own row (targets and actuals): for their dashboard."""
    rows = table(session, year=year, timezone=timezone, viewer=user).officers
    return next((r for r in rows if r.key == str(user.id)),
                Row("officer", str(user.id), user.display_name, user.department or "", None, Actuals()))


@dataclass
class DrillDown:
    metric: str
    projects: list[Project] = field(default_factory=list)  # for the project metrics, with `signed_at`/`started_at`
    moved_at: dict[int, datetime] = field(default_factory=dict)
    visits: list[Visit] = field(default_factory=list)
    hidden: int = 0  # records counted but not the viewer's to see (confidential projects of others)


def records(session: Session, *, year: int, timezone: str, metric: str, viewer: User,
            user_id: int | None = None, department: str | None = None) -> DrillDown:
    """The records behind one actual of one officer (user_id) or department, as the viewer may see them."""
    members: list[int]
    if user_id is not None:
        members = [user_id]
    else:
        members = list(session.scalars(select(User.id).where(User.department == department)))
    result = DrillDown(metric)
    if metric == "visits_received":
        visits = _visits_in(year, timezone)
        ids = select(visits.c.visit_id).where(visits.c.user_id.in_(members)).distinct()
        result.visits = list(session.scalars(select(Visit).where(Visit.id.in_(ids))
                                             .order_by(Visit.starts_at.desc(), Visit.id.desc())))
        return result
    base = _projects_in(metric, year, timezone).where(Project.owner_id.in_(members))
    rows = session.execute(base).all()
    moved = {row[0]: row[4] for row in rows}
    # `moved` holds no archived project (see `_projects_in`), so what the viewer may not see is exactly the
    # confidential projects that are not theirs: none for a manager.
    visible = set(session.scalars(select(Project.id).where(Project.id.in_(moved), project_service.visible_to(viewer))))
    result.hidden = len(moved) - len(visible)
    result.projects = list(session.scalars(project_service.with_relations(select(Project)).where(
        Project.id.in_(visible)))) if visible else []
    result.moved_at = {pid: at for pid, at in moved.items() if pid in visible}
    result.projects.sort(key=lambda p: (result.moved_at[p.id], p.id), reverse=True)
    return result


# Targets

def officer_target(session: Session, *, year: int, user_id: int) -> OfficerTarget | None:
    return session.scalar(select(OfficerTarget).where(OfficerTarget.year == year, OfficerTarget.user_id == user_id))


def department_target(session: Session, *, year: int, department: str) -> DepartmentTarget | None:
    return session.scalar(select(DepartmentTarget).where(DepartmentTarget.year == year,
                                                         DepartmentTarget.department == department))


def _typed(data: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Msg]]:
    typed: dict[str, Any] = {}
    errors: dict[str, Msg] = {}
    for metric in METRICS:
        text = (data.get(metric) or "").strip().replace(",", "").replace("，", "")
        if not text:
            typed[metric] = None
            continue
        if len(text) > MAX_FIGURE_LENGTH:  # refused, never cut: a cut figure would be another number
            errors[metric] = Msg("At most %(max)s characters (you entered %(n)s).", max=MAX_FIGURE_LENGTH, n=len(text))
            continue
        if metric in COUNT_METRICS:
            if not text.isdigit() or int(text) > MAX_COUNT:
                errors[metric] = Msg("Enter a whole number between 0 and %(max)s.", max=f"{MAX_COUNT:,}")
            else:
                typed[metric] = int(text)
            continue
        try:
            amount = Decimal(text)
        except ArithmeticError:
            amount = None
        if amount is None or not amount.is_finite():
            errors[metric] = Msg("“%(value)s” is not a number: use digits, e.g. 5000 or 1200.50.", value=text[:20])
        elif amount < 0 or amount > MAX_AMOUNT:
            errors[metric] = Msg("Enter an amount between 0 and %(max)s.", max=f"{MAX_AMOUNT:,.0f}")
        elif amount.as_tuple().exponent < -2:  # type: ignore[operator]
            errors[metric] = Msg("At most two decimal places.")
        else:
            typed[metric] = amount.quantize(Decimal("0.01"))
    return typed, errors


def save_target(session: Session, *, year: int, data: Mapping[str, str], version: int | None, actor: User,
                user_id: int | None = None, department: str | None = None) -> OfficerTarget | DepartmentTarget:
    """An officer's (user_id) or a department's targets for the year; managers and admins only."""
    if not can_set_targets(actor):
        raise PermissionDenied()
    record: OfficerTarget | DepartmentTarget | None
    if user_id is not None:
        record, entity_type = officer_target(session, year=year, user_id=user_id), "officer_target"
    else:
        record, entity_type = department_target(session, year=year, department=department or ""), "department_target"
    if record is not None:  # a form opened before anyone set targets carries version 0, and is stale now
        require_version(session, record=record, entity_type=entity_type, version=version)
    typed, errors = _typed(data)
    if errors:
        session.rollback()
        raise InvalidTarget(errors)
    before = audit_service.snapshot(record, list(METRICS)) if record is not None else {}
    if record is None:
        record = (OfficerTarget(year=year, user_id=user_id) if user_id is not None
                  else DepartmentTarget(year=year, department=department))
        session.add(record)
        action = AuditAction.CREATE
    else:
        action = AuditAction.UPDATE
    for metric in METRICS:
        setattr(record, metric, typed[metric])
    record.updated_by_id, record.updated_at = actor.id, utcnow()
    changes = audit_service.diff(before, audit_service.snapshot(record, list(METRICS)))
    if action == AuditAction.CREATE:
        try:
            session.flush()
        except IntegrityError:  # another manager set this row's first targets in between
            session.rollback()
            current = (officer_target(session, year=year, user_id=user_id) if user_id is not None
                       else department_target(session, year=year, department=department or ""))
            raise StaleEdit(current, audit_service.changes_since(session, entity_type=entity_type,
                                                                 entity_id=current.id, version=0)) from None
    elif changes:
        flush_versioned(session, record=record, entity_type=entity_type, version=version,
                        reload=lambda s, i: s.get(type(record), i))
    if changes:
        label = f"{year} {department}" if user_id is None else f"{year} {session.get(User, user_id).display_name}"
        audit_service.record(session, actor=actor, action=action, entity_type=entity_type, entity_id=record.id,
                             entity_label=label, entity_version=record.version, changes=changes)
    session.commit()
    return record
