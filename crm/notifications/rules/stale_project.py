"""Rule 4, stale project: a project still moving (not 投产, not 终止) with no stage change, no follow-up created or
changed and no visit in N days (default 30) reminds its owning and assigned officers, once a week while it stays so.
"Stale" is the pipeline's own test (crm.projects.pipeline.is_stale), the one the board and the table flag."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.db import utcnow
from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig
from crm.projects.models import Project, ProjectOfficer
from crm.projects.pipeline import is_stale


def _people(session: Session, project_ids: Collection[int]) -> dict[int, list[int]]:
    people: dict[int, list[int]] = {}
    for project_id, user_id in session.execute(select(ProjectOfficer.project_id, ProjectOfficer.user_id)
                                               .where(ProjectOfficer.project_id.in_(list(project_ids)))):
        people.setdefault(project_id, []).append(user_id)
    return people


class StaleProject(Rule):
    code = "stale_project"
    label = N_("Stale project")
    description = N_("A project with no visit, follow-up or stage change in N days reminds its officers, once a week while it stays so.")
    days_label = N_("Days without activity")
    default_days = 30
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        n = config.days if config.days is not None else self.default_days
        latest = dates[-1]
        fire_at = config.fire_at(latest)
        week = (latest - timedelta(days=latest.weekday())).isoformat()
        rows = session.execute(select(Project.id, Project.name, Project.owner_id, Project.stage_entered_at)
                               .where(is_stale(fire_at - timedelta(days=n)))).all()
        people = _people(session, [row.id for row in rows])
        reminders = []
        for project_id, name, owner_id, entered in rows:
            payload = {"name": name, "days": n, "since": config.local_date(entered).isoformat()}
            for user_id in dict.fromkeys([owner_id, *people.get(project_id, [])]):
                if recipients is None or user_id in recipients:
                    reminders.append(Reminder(self.code, "project", project_id, f"stale:{week}", user_id, fire_at,
                                              payload))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        n = config.days if config.days is not None else self.default_days
        stale = set(session.scalars(select(Project.id).where(
            Project.id.in_({row.entity_id for row in rows}),
            is_stale(utcnow() - timedelta(days=n)))))
        return {row.id for row in rows if row.entity_id in stale}

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        name = payload.get("name", "")
        return Rendered(
            subject=Msg("Stale project: %(name)s", name=name).translate(locale),
            lines=[Msg("“%(name)s” has had no visit, follow-up or stage change in %(days)s days.", name=name,
                       days=payload.get("days", "")).translate(locale)],
            url=f"/projects/{entity_id}")


RULE = StaleProject()
