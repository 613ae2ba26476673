"""Rule 4, stale project: a project still moving (not 投产, not 终止) with no stage change, no follow-up created or
changed and no visit in N days (default 30) reminds its owning and assigned officers, once a week while it stays so;
and once a week every manager gets one summary of the stale projects (their count, the first few by name, and a link
to the table filtered to them, /projects?stale=1), keyed by the week so that it goes out once.
"Stale" is the pipeline's own test (crm.projects.pipeline.is_stale), the one the board and the table flag."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.auth.models import Role, User
from crm.db import utcnow
from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig
from crm.projects.models import Project, ProjectOfficer
from crm.projects.pipeline import is_stale

SUMMARY_LIMIT = 10  # projects named in a manager's weekly summary; the link lists them all

def _people(session: Session, project_ids: Collection[int]) -> dict[int, list[int]]:
    people: dict[int, list[int]] = {}
    for project_id, user_id in session.execute(select(ProjectOfficer.project_id, ProjectOfficer.user_id)
                                               .where(ProjectOfficer.project_id.in_(list(project_ids)))):
        people.setdefault(project_id, []).append(user_id)
    return people


class StaleProject(Rule):
    code = "stale_project"
    label = N_("Stale project")
    description = N_("A project with no visit, follow-up or stage change in N days reminds its officers, once a week while it stays so; the managers get a weekly summary of the stale projects.")
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
        if rows:
            first = sorted(rows, key=lambda row: (row.stage_entered_at, row.id))[:SUMMARY_LIMIT]  # stalest first
            summary = {"days": n, "week": week, "count": len(rows),
                       "projects": [{"id": row.id, "name": row.name,
                                     "since": config.local_date(row.stage_entered_at).isoformat()} for row in first]}
            for user_id in session.scalars(select(User.id).where(User.role == Role.MANAGER, User.is_active.is_(True))
                                           .order_by(User.id)):
                if recipients is None or user_id in recipients:
                    # one per manager and week: the entity is the manager, the occasion the week's Monday
                    reminders.append(Reminder(self.code, "user", user_id, f"summary:{week}", user_id, fire_at,
                                              summary))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        n = config.days if config.days is not None else self.default_days
        since = utcnow() - timedelta(days=n)
        projects = [row for row in rows if row.entity_type == "project"]
        stale = set(session.scalars(select(Project.id).where(
            Project.id.in_({row.entity_id for row in projects}), is_stale(since)))) if projects else set()
        still = {row.id for row in projects if row.entity_id in stale}
        summaries = [row for row in rows if row.entity_type == "user"]
        if summaries and session.scalar(select(Project.id).where(is_stale(since)).limit(1)) is not None:
            still |= {row.id for row in summaries}  # a summary holds while any project is still stale
        return still

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        if occasion.startswith("summary:"):
            count = payload.get("count", 0)
            lines = [Msg("%(count)s projects have had no visit, follow-up or stage change in %(days)s days:",
                         count=count, days=payload.get("days", "")).translate(locale)]
            lines += [Msg("“%(name)s”, quiet since %(date)s", name=p.get("name", ""),
                          date=p.get("since", "")).translate(locale) for p in payload.get("projects", [])]
            more = count - len(payload.get("projects", []))
            if more > 0:
                lines.append(Msg("And %(n)s more: see the stale projects.", n=more).translate(locale))
            return Rendered(subject=Msg("Stale projects this week: %(count)s", count=count).translate(locale),
                            lines=lines, url="/projects?stale=1")
        name = payload.get("name", "")
        return Rendered(
            subject=Msg("Stale project: %(name)s", name=name).translate(locale),
            lines=[Msg("“%(name)s” has had no visit, follow-up or stage change in %(days)s days.", name=name,
                       days=payload.get("days", "")).translate(locale)],
            url=f"/projects/{entity_id}")


RULE = StaleProject()
