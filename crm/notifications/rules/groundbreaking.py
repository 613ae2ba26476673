"""Rule 5, groundbreaking countdown: N days (default 7) before a collective groundbreaking, and the day before, the
officers of every slated project that is not ready are told what is still missing, and the managers get the count
of projects ready and not."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from crm.auth.models import Role, User
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig
from crm.projects import gates
from crm.projects.models import Project, ProjectOfficer

THRESHOLD = Decimal("10000")  # the default major-project threshold (CRM_MAJOR_PROJECT_THRESHOLD_WAN_CNY)


class GroundbreakingCountdown(Rule):
    code = "groundbreaking"
    label = N_("Groundbreaking countdown")
    description = N_("N days before a collective groundbreaking, and the day before, the officers of slated projects that are not ready are told what is missing, and the managers how many are ready.")
    days_label = N_("Days before the event")
    default_days = 7
    default_at = time(9, 0)

    def _events(self, session: Session, dates: Sequence[date], n: int) -> list[tuple[GroundbreakingEvent, int]]:
        """(event, days before it) for every event whose countdown day falls on one of the dates; the latest only."""
        found: dict[int, tuple[GroundbreakingEvent, int]] = {}
        for day in dates:
            for days_before in (n, 1):
                for event in session.scalars(select(GroundbreakingEvent).where(
                        GroundbreakingEvent.held_on == day + timedelta(days=days_before))):
                    found[event.id] = (event, days_before)
        return list(found.values())

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        n = config.days if config.days is not None else self.default_days
        reminders = []
        managers = list(session.scalars(select(User.id).where(User.role == Role.MANAGER, User.is_active.is_(True))))
        for event, days_before in self._events(session, dates, n):
            fire_at = config.fire_at(event.held_on - timedelta(days=days_before))
            occasion = f"countdown:{event.held_on.isoformat()}:{days_before}"
            projects = session.scalars(
                select(Project).join(SlatedProject, SlatedProject.project_id == Project.id)
                .where(SlatedProject.event_id == event.id, Project.archived_at.is_(None))
                .options(joinedload(Project.parcel), selectinload(Project.approvals), selectinload(Project.decisions),
                         selectinload(Project.officers).load_only(ProjectOfficer.user_id))).unique().all()
            ready = 0
            for project in projects:
                readiness = gates.readiness(project, threshold=THRESHOLD, today=event.held_on - timedelta(days=days_before))
                if readiness.colour == gates.GREEN:
                    ready += 1
                    continue
                missing = [gate.key for gate in readiness.gates if not gate.passed]
                payload = {"name": project.name, "event": event.name, "date": event.held_on.isoformat(),
                           "days": days_before, "missing": missing}
                for user_id in dict.fromkeys([project.owner_id, *(o.user_id for o in project.officers)]):
                    if recipients is None or user_id in recipients:
                        reminders.append(Reminder(self.code, "project", project.id, occasion, user_id, fire_at, payload))
            summary = {"event": event.name, "date": event.held_on.isoformat(), "days": days_before, "ready": ready,
                       "total": len(projects)}
            for user_id in managers:
                if recipients is None or user_id in recipients:
                    reminders.append(Reminder(self.code, "groundbreaking_event", event.id, occasion, user_id, fire_at,
                                              summary))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        held = {event_id: held_on for event_id, held_on in session.execute(
            select(GroundbreakingEvent.id, GroundbreakingEvent.held_on))}
        slated = {tuple(row) for row in session.execute(select(SlatedProject.event_id, SlatedProject.project_id))}
        still = set()
        for row in rows:
            when = row.payload.get("date")
            if row.entity_type == "groundbreaking_event":
                if held.get(row.entity_id) and held[row.entity_id].isoformat() == when:
                    still.add(row.id)
            elif any(pid == row.entity_id and held.get(eid) and held[eid].isoformat() == when for eid, pid in slated):
                still.add(row.id)
        return still

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        event, when, days = payload.get("event", ""), payload.get("date", ""), payload.get("days", "")
        if "total" in payload:
            return Rendered(
                subject=Msg("%(event)s in %(days)s days", event=event, days=days).translate(locale),
                lines=[Msg("%(ready)s of %(total)s slated projects are ready to break ground on %(date)s.",
                           ready=payload.get("ready", 0), total=payload.get("total", 0), date=when).translate(locale)],
                url=f"/groundbreaking/{entity_id}")
        labels = {"decision": Msg("collective decision"), "land": Msg("land")}
        missing = [labels.get(key, Msg("permits")) for key in payload.get("missing", [])]
        names = []
        for label in missing:
            text = label.translate(locale)
            if text not in names:
                names.append(text)
        separator = "、" if locale.startswith("zh") else ", "
        return Rendered(
            subject=Msg("Not ready for groundbreaking: %(name)s", name=payload.get("name", "")).translate(locale),
            lines=[Msg("%(event)s is on %(date)s, in %(days)s days; “%(name)s” still misses: %(missing)s.",
                       event=event, date=when, days=days, name=payload.get("name", ""),
                       missing=separator.join(names)).translate(locale)],
            url=f"/projects/{entity_id}")


RULE = GroundbreakingCountdown()
