"""Rule 1, follow-up tasks: the day before and on the day (at the rule's time, 09:00), then daily while overdue,
and after N days overdue (default 3) once to the assignee's manager (every manager when they have none)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from crm.auth.models import Role, User
from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig
from crm.tasks.models import Task, TaskStatus


class TaskDue(Rule):
    code = "task_due"
    label = N_("Follow-up due or overdue")
    description = N_("The day before a follow-up is due and on the day, then every day while it is overdue; after N days overdue their manager (or, without one, every manager) is told once.")
    days_label = N_("Tell the manager after this many days overdue")
    default_days = 3
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None, task_ids: Collection[int] | None = None) -> list[Reminder]:
        """`task_ids`: only those tasks (a task just created or moved is planned at once, see
        crm.notifications.service.plan_task_now)."""
        latest = dates[-1]
        fire_at = config.fire_at(latest)
        stmt = (select(Task.id, Task.title, Task.due_on, Task.assignee_id)
                .where(Task.status == TaskStatus.OPEN, Task.due_on <= latest + timedelta(days=1)))
        if recipients is not None:
            stmt = stmt.where(Task.assignee_id.in_(list(recipients)))
        if task_ids is not None:
            stmt = stmt.where(Task.id.in_(list(task_ids)))
        reminders = []
        for task_id, title, due_on, assignee_id in session.execute(stmt):
            if due_on > latest:
                occasion = f"before:{due_on.isoformat()}"
            elif due_on == latest:
                occasion = f"due:{due_on.isoformat()}"
            else:
                occasion = f"overdue:{latest.isoformat()}"
            reminders.append(Reminder(self.code, "task", task_id, occasion, assignee_id, fire_at, {
                "title": title, "due_on": due_on.isoformat(), "days": (latest - due_on).days}))
        reminders += self._escalations(session, dates=dates, config=config, recipients=recipients, task_ids=task_ids)
        return reminders

    def _escalations(self, session: Session, *, dates: Sequence[date], config: RuleConfig,
                     recipients: Collection[int] | None, task_ids: Collection[int] | None = None) -> list[Reminder]:
        n = config.days if config.days is not None else self.default_days
        managers = set(session.scalars(select(User.id).where(User.role == Role.MANAGER, User.is_active.is_(True))))
        assignee = aliased(User)
        boss = aliased(User)
        stmt = (select(Task.id, Task.title, Task.due_on, assignee.display_name, boss.id)
                .join(assignee, assignee.id == Task.assignee_id)
                .outerjoin(boss, (boss.id == assignee.manager_id) & boss.is_active.is_(True))
                .where(Task.status == TaskStatus.OPEN, Task.due_on >= dates[0] - timedelta(days=n),
                       Task.due_on <= dates[-1] - timedelta(days=n)))
        if task_ids is not None:
            stmt = stmt.where(Task.id.in_(list(task_ids)))
        rows = session.execute(stmt)
        reminders = []
        for task_id, title, due_on, assignee_name, manager_id in rows:
            # To the assignee's own manager when they have one; otherwise to every manager.
            for recipient_id in sorted({manager_id} if manager_id else managers):
                if recipients is not None and recipient_id not in recipients:
                    continue
                reminders.append(Reminder(self.code, "task", task_id, f"escalate:{due_on.isoformat()}", recipient_id,
                                          config.fire_at(due_on + timedelta(days=n)),
                                          {"title": title, "due_on": due_on.isoformat(), "days": n,
                                           "assignee": assignee_name}))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        tasks = {task_id: (status, due_on, assignee_id) for task_id, status, due_on, assignee_id in session.execute(
            select(Task.id, Task.status, Task.due_on, Task.assignee_id)
            .where(Task.id.in_({row.entity_id for row in rows})))}
        still = set()
        for row in rows:
            status, due_on, assignee_id = tasks.get(row.entity_id, (None, None, None))
            if status != TaskStatus.OPEN or due_on is None or due_on.isoformat() != row.payload.get("due_on"):
                continue  # done, cancelled, deleted or rescheduled since
            if not row.occasion.startswith("escalate:") and assignee_id != row.recipient_id:
                continue  # handed to someone else
            still.add(row.id)
        return still

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        kind = occasion.split(":", 1)[0]
        title, due_on = payload.get("title", ""), payload.get("due_on", "")
        url = f"/tasks/{entity_id}"
        if kind == "before":
            subject = Msg("Follow-up due tomorrow: %(title)s", title=title).translate(locale)
            line = Msg("“%(title)s” is due tomorrow, %(date)s.", title=title, date=due_on).translate(locale)
        elif kind == "due":
            subject = Msg("Follow-up due today: %(title)s", title=title).translate(locale)
            line = Msg("“%(title)s” is due today, %(date)s.", title=title, date=due_on).translate(locale)
        elif kind == "overdue":
            subject = Msg("Follow-up overdue: %(title)s", title=title).translate(locale)
            line = Msg("“%(title)s” was due on %(date)s and is %(days)s days overdue.", title=title, date=due_on,
                     days=payload.get("days", "")).translate(locale)
        else:
            subject = Msg("Overdue follow-up of %(name)s: %(title)s", name=payload.get("assignee", ""), title=title).translate(locale)
            line = Msg("“%(title)s”, assigned to %(name)s, was due on %(date)s and is %(days)s days overdue.",
                     title=title, name=payload.get("assignee", ""), date=due_on, days=payload.get("days", "")).translate(locale)
        return Rendered(subject=subject, lines=[line], url=url)


RULE = TaskDue()
