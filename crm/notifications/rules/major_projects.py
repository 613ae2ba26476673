"""Rules 9–11, major-project scheduling (issue 18, crm/major_projects):

- `major_report_due`: three days before a reporting month closes and on the day it closes (the close day of the next
  month, `scheduling_setting.close_day`), the owning and assigned officers of each major project without a report
  for that month are reminded, per project; keyed by the month and the occasion (`report:2026-11:before` /
  `report:2026-11:close`), cancelled if the report is filed before it is sent.
- `coordination_overdue`: when an open coordination item passes its deadline, the leader in charge (包保领导, when a
  user) and the managers are told once, then once a week while it stays open; keyed by the deadline and the week
  counted from it (`overdue:2026-11-20:0`, `…:1`), so a new deadline starts afresh and a second pass adds nothing.
- `meeting_agenda`: the day before a scheduling meeting, its attendees get its agenda (the open items, overdue first,
  and the projects behind plan), each as far as they may see it.

Confidential projects: every reminder goes only to users who may see the project (`project_service.may_see`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.auth.models import Role, User
from crm.i18n import N_, Msg
from crm.major_projects import service as major_service
from crm.major_projects.models import (
    OPEN_STATUSES,
    CoordinationItem,
    MajorProject,
    MeetingAttendee,
    MonthlyReport,
    SchedulingMeeting,
)
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig
from crm.projects import service as project_service
from crm.projects.models import Project, ProjectOfficer

REMIND_BEFORE_DAYS = 3
AGENDA_LIMIT = 15  # items named in the agenda reminder; the meeting's page has them all
OPEN = [s.value for s in OPEN_STATUSES]


def _visible(session: Session, user_ids: Iterable[int], project_ids: Collection[int]) -> set[tuple[int, int]]:
    """(user id, project id) pairs where the user may see the project: the projects' own rule, one query a user."""
    pairs: set[tuple[int, int]] = set()
    if not project_ids:
        return pairs
    for user in session.scalars(select(User).where(User.id.in_(set(user_ids)), User.is_active.is_(True))):
        pairs |= {(user.id, pid) for pid in session.scalars(select(Project.id).where(
            Project.id.in_(list(project_ids)), project_service.may_see(user)))}
    return pairs


def _managers(session: Session) -> list[int]:
    return list(session.scalars(select(User.id).where(User.role == Role.MANAGER, User.is_active.is_(True))
                                .order_by(User.id)))


def _close_occasions(day: date, close_day: int) -> list[tuple[int, int, str]]:
    """The reporting months whose close is `day` (occasion "close") or three days after it ("before")."""
    found = []
    for year, month in (major_service.report_month(day), (day.year, day.month)):
        closes = major_service.close_date(year, month, close_day)
        if closes == day:
            found.append((year, month, "close"))
        elif closes - timedelta(days=REMIND_BEFORE_DAYS) == day:
            found.append((year, month, "before"))
    return found


class MajorReportDue(Rule):
    code = "major_report_due"
    label = N_("Monthly report due")
    description = N_("Three days before a month's reporting closes and on the day it closes, the officers of each major project without a report for that month are reminded.")
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        close_day = major_service.rules(session).close_day
        due = [(day, occasion) for day in dates for occasion in _close_occasions(day, close_day)]
        if not due:
            return []
        day, (year, month, kind) = due[-1]  # after downtime: the latest occasion only
        rows = session.execute(
            select(Project.id, Project.name, Project.owner_id).join(MajorProject, MajorProject.project_id == Project.id)
            .where(Project.archived_at.is_(None), ~select(MonthlyReport.id).where(
                MonthlyReport.project_id == Project.id, MonthlyReport.year == year, MonthlyReport.month == month)
                .exists())).all()
        people: dict[int, list[int]] = {}
        for project_id, user_id in session.execute(select(ProjectOfficer.project_id, ProjectOfficer.user_id).where(
                ProjectOfficer.project_id.in_([row.id for row in rows]))):
            people.setdefault(project_id, []).append(user_id)
        wanted = {(user_id, row.id) for row in rows for user_id in [row.owner_id, *people.get(row.id, [])]
                  if user_id is not None and (recipients is None or user_id in recipients)}
        allowed = _visible(session, {u for u, _ in wanted}, {p for _, p in wanted})
        closes = major_service.close_date(year, month, close_day)
        period = f"{year}-{month:02d}"
        reminders = []
        for row in rows:
            payload = {"name": row.name, "year": year, "month": month, "period": period,
                       "closes": closes.isoformat(), "kind": kind}
            for user_id in dict.fromkeys([row.owner_id, *people.get(row.id, [])]):
                if (user_id, row.id) in wanted and (user_id, row.id) in allowed:
                    reminders.append(Reminder(self.code, "project", row.id, f"report:{period}:{kind}", user_id,
                                              config.fire_at(day), payload))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        still = set()
        for row in rows:
            payload = row.payload or {}
            filed = session.scalar(select(MonthlyReport.id).where(
                MonthlyReport.project_id == row.entity_id, MonthlyReport.year == payload.get("year"),
                MonthlyReport.month == payload.get("month")))
            major = session.get(MajorProject, row.entity_id)
            if filed is None and major is not None and (row.recipient_id, row.entity_id) in _visible(
                    session, [row.recipient_id], [row.entity_id]):
                still.add(row.id)
        return still

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        name, period, closes = payload.get("name", ""), payload.get("period", ""), payload.get("closes", "")
        if payload.get("kind") == "close":
            subject = Msg("Monthly report for %(month)s closes today: %(name)s", month=period, name=name)
            line = Msg("“%(name)s” has no report for %(month)s; reporting closes today, %(date)s. A report filed later is marked late.",
                       name=name, month=period, date=closes)
        else:
            subject = Msg("Monthly report for %(month)s due by %(date)s: %(name)s", month=period, date=closes,
                          name=name)
            line = Msg("“%(name)s” has no report for %(month)s yet; reporting closes on %(date)s.", name=name,
                       month=period, date=closes)
        return Rendered(subject=subject.translate(locale), lines=[line.translate(locale)],
                        url=f"/projects/{entity_id}")


def _week(item_deadline: date, day: date) -> int:
    """Weeks since the item passed its deadline (0: the first week, from the day after the deadline)."""
    return (day - item_deadline - timedelta(days=1)).days // 7


class CoordinationOverdue(Rule):
    code = "coordination_overdue"
    label = N_("Coordination item overdue")
    description = N_("When a coordination item passes its deadline, the leader in charge and the managers are told once, then weekly while it stays open.")
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        latest = dates[-1]
        rows = session.execute(
            select(CoordinationItem, Project.name, MajorProject.leader_id)
            .join(Project, Project.id == CoordinationItem.project_id)
            .outerjoin(MajorProject, MajorProject.project_id == CoordinationItem.project_id)
            .where(CoordinationItem.status.in_(OPEN), CoordinationItem.deadline_on < latest,
                   Project.archived_at.is_(None))
            .order_by(CoordinationItem.deadline_on, CoordinationItem.id)).all()
        if not rows:
            return []
        managers = _managers(session)
        wanted = {(user_id, item.project_id) for item, _, leader_id in rows
                  for user_id in dict.fromkeys([*([leader_id] if leader_id else []), *managers])
                  if recipients is None or user_id in recipients}
        allowed = _visible(session, {u for u, _ in wanted}, {p for _, p in wanted})
        reminders = []
        for item, name, leader_id in rows:
            days = (latest - item.deadline_on).days
            week = _week(item.deadline_on, latest)
            payload = {"project": name, "project_id": item.project_id, "need": item.need,
                       "deadline": item.deadline_on.isoformat(), "days": days, "week": week,
                       "department_id": item.department_id, "department": item.department_other}
            for user_id in dict.fromkeys([*([leader_id] if leader_id else []), *managers]):
                if (user_id, item.project_id) in wanted and (user_id, item.project_id) in allowed:
                    reminders.append(Reminder(self.code, "coordination_item", item.id,
                                              f"overdue:{item.deadline_on.isoformat()}:{week}", user_id,
                                              config.fire_at(latest), payload))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        open_items = {item_id: (deadline, project_id) for item_id, deadline, project_id in session.execute(
            select(CoordinationItem.id, CoordinationItem.deadline_on, CoordinationItem.project_id).where(
                CoordinationItem.id.in_({row.entity_id for row in rows}), CoordinationItem.status.in_(OPEN)))}
        allowed = _visible(session, {row.recipient_id for row in rows}, {p for _, p in open_items.values()})
        return {row.id for row in rows if row.entity_id in open_items
                and open_items[row.entity_id][0].isoformat() == (row.payload or {}).get("deadline")
                and (row.recipient_id, open_items[row.entity_id][1]) in allowed}

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        need, project = payload.get("need", ""), payload.get("project", "")
        lines = [Msg("“%(need)s” for “%(project)s” was due on %(date)s and is still open: %(days)s days overdue.",
                     need=need, project=project, date=payload.get("deadline", ""),
                     days=payload.get("days", "")).translate(locale)]
        subject = (Msg("Coordination item overdue: %(need)s", need=need) if not payload.get("week")
                   else Msg("Still overdue: %(need)s", need=need))
        return Rendered(subject=subject.translate(locale), lines=lines, url=f"/scheduling/items/{entity_id}")


class MeetingAgenda(Rule):
    code = "meeting_agenda"
    label = N_("Scheduling meeting tomorrow")
    description = N_("The day before a scheduling meeting, its attendees get its agenda: the open coordination items and the major projects behind plan.")
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        first = max(dates[0] + timedelta(days=1), config.local_date(now))  # never a meeting already held
        meetings = list(session.scalars(select(SchedulingMeeting).where(
            SchedulingMeeting.held_on >= first, SchedulingMeeting.held_on <= dates[-1] + timedelta(days=1))
            .order_by(SchedulingMeeting.held_on, SchedulingMeeting.id)))
        if not meetings:
            return []
        attendees: dict[int, list[int]] = {}
        for meeting_id, user_id in session.execute(select(MeetingAttendee.meeting_id, MeetingAttendee.user_id).where(
                MeetingAttendee.meeting_id.in_([m.id for m in meetings]))):
            if recipients is None or user_id in recipients:
                attendees.setdefault(meeting_id, []).append(user_id)
        users = {u.id: u for u in session.scalars(select(User).where(
            User.id.in_({u for ids in attendees.values() for u in ids}), User.is_active.is_(True)))}
        reminders = []
        for meeting in meetings:
            day_before = meeting.held_on - timedelta(days=1)
            for user_id in sorted(attendees.get(meeting.id, [])):
                user = users.get(user_id)
                if user is None:
                    continue
                agenda = major_service.agenda(session, meeting=meeting, viewer=user, today=day_before)
                found = [item for _, group in agenda.groups for item in group if item.is_open]
                payload = {
                    "title": meeting.title, "date": meeting.held_on.isoformat(), "count": len(found),
                    "overdue": sum(1 for item in found if item.days_overdue(meeting.held_on) > 0),
                    "items": [{"need": item.need, "project": item.project.name,
                               "department": item.department_label("zh_CN"),
                               "department_en": item.department_label("en"),
                               "deadline": item.deadline_on.isoformat(),
                               "overdue": item.days_overdue(meeting.held_on)} for item in found[:AGENDA_LIMIT]],
                    "behind": [{"name": row.project.name, "colour": row.judgement.colour} for row in agenda.behind],
                }
                reminders.append(Reminder(self.code, "scheduling_meeting", meeting.id,
                                          f"agenda:{meeting.held_on.isoformat()}", user_id,
                                          config.fire_at(day_before), payload))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        ids = {row.entity_id for row in rows}
        held = {mid: on for mid, on in session.execute(select(SchedulingMeeting.id, SchedulingMeeting.held_on)
                                                       .where(SchedulingMeeting.id.in_(ids)))}
        attending = {tuple(pair) for pair in session.execute(select(MeetingAttendee.meeting_id, MeetingAttendee.user_id)
                                                             .where(MeetingAttendee.meeting_id.in_(ids)))}
        return {row.id for row in rows if row.entity_id in held
                and held[row.entity_id].isoformat() == (row.payload or {}).get("date")
                and (row.entity_id, row.recipient_id) in attending}

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        title, zh = payload.get("title", ""), locale.startswith("zh")
        lines = [Msg("Tomorrow, %(date)s: %(title)s. %(count)s open coordination items, %(overdue)s of them overdue.",
                     date=payload.get("date", ""), title=title, count=payload.get("count", 0),
                     overdue=payload.get("overdue", 0)).translate(locale)]
        for number, item in enumerate(payload.get("items", []), start=1):
            department = item.get("department", "") if zh else item.get("department_en") or item.get("department", "")
            text = f"{number}. {item.get('project', '')}: {item.get('need', '')} ({department}, {item.get('deadline', '')})"
            if item.get("overdue"):
                text += " " + Msg("%(days)s days overdue", days=item["overdue"]).translate(locale)
            lines.append(text)
        more = payload.get("count", 0) - len(payload.get("items", []))
        if more > 0:
            lines.append(Msg("And %(n)s more: see the meeting's agenda.", n=more).translate(locale))
        if payload.get("behind"):
            separator = "、" if zh else ", "
            lines.append(Msg("Major projects behind plan: %(names)s", names=separator.join(
                p.get("name", "") for p in payload["behind"])).translate(locale))
        return Rendered(subject=Msg("Scheduling meeting tomorrow: %(title)s", title=title).translate(locale),
                        lines=lines, url=f"/scheduling/meetings/{entity_id}")


REPORT_DUE = MajorReportDue()
ITEM_OVERDUE = CoordinationOverdue()
MEETING_AGENDA = MeetingAgenda()
RULES = (REPORT_DUE, ITEM_OVERDUE, MEETING_AGENDA)
