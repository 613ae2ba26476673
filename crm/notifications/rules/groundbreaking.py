"""Rule 5, groundbreaking countdown: 30, 14, 7 and 1 days before a collective groundbreaking (the first reminder's
day is the admin's N, default 30; the 14-, 7- and 1-day ones follow whenever they are nearer than N), the owner and
officers of every slated project that is not ready are told what it lacks and why, and the managers get the readiness
summary: how many are ready, and which projects are red or amber, whose they are and why.

Readiness is the readiness board's own judgement (crm.projects.gates.readiness) with the configured major-project
threshold (RuleConfig.threshold, from CRM_MAJOR_PROJECT_THRESHOLD_WAN_CNY), so the reminder and the board agree."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from crm.auth.models import Role, User
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.i18n import N_, Msg, join_clauses
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig, msg_from_json, msg_to_json
from crm.projects import gates
from crm.projects.models import Project, ProjectOfficer

COUNTDOWN = (30, 14, 7, 1)  # the T-30, T-14, T-7 and T-1
SUMMARY_LIMIT = 20  # projects named in a manager's summary; the rest are counted, and the board lists them all


def countdown_days(n: int) -> tuple[int, ...]:
    """The days before the event a countdown reminder goes out: N (the first), then each of 14, 7, 1 nearer."""
    return tuple(sorted({n, *(d for d in COUNTDOWN if d < n)}, reverse=True))


def _reasons(readiness: gates.Readiness) -> list[dict[str, Any]]:
    """The gates not passed, red first, each as (colour, what is missing) for the payload."""
    missing = [gate for gate in readiness.gates if not gate.passed]
    missing.sort(key=lambda gate: gate.colour != gates.RED)
    return [{"key": gate.key, "colour": gate.colour, "text": msg_to_json(gate.message or gate.label)}
            for gate in missing]


class GroundbreakingCountdown(Rule):
    code = "groundbreaking"
    label = N_("Groundbreaking countdown")
    description = N_("30, 14, 7 and 1 days before a collective groundbreaking (the first reminder N days before), the owner and officers of each slated project that is not ready are told what it lacks, and the managers which projects are not ready and why.")
    days_label = N_("First reminder, days before the event")
    default_days = 30
    default_at = time(9, 0)

    def _events(self, session: Session, dates: Sequence[date], n: int) -> list[tuple[GroundbreakingEvent, int]]:
        """(event, days before it) for every event whose countdown day falls on one of the dates; the latest only."""
        found: dict[int, tuple[GroundbreakingEvent, int]] = {}
        offsets = countdown_days(n)
        for day in dates:  # oldest first: a later date's occasion replaces an earlier one's
            wanted = {day + timedelta(days=d): d for d in offsets}
            for event in session.scalars(select(GroundbreakingEvent).where(GroundbreakingEvent.held_on.in_(wanted))):
                found[event.id] = (event, wanted[event.held_on])
        return list(found.values())

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        n = config.days if config.days is not None else self.default_days
        reminders = []
        managers = list(session.scalars(select(User.id).where(User.role == Role.MANAGER, User.is_active.is_(True))))
        for event, days_before in self._events(session, dates, n):
            on = event.held_on - timedelta(days=days_before)
            fire_at = config.fire_at(on)
            occasion = f"countdown:{event.held_on.isoformat()}:{days_before}"
            projects = session.scalars(
                select(Project).join(SlatedProject, SlatedProject.project_id == Project.id)
                .where(SlatedProject.event_id == event.id, Project.archived_at.is_(None))
                .options(joinedload(Project.parcel), joinedload(Project.owner).load_only(User.display_name),
                         selectinload(Project.approvals), selectinload(Project.decisions),
                         selectinload(Project.officers).load_only(ProjectOfficer.user_id))
                .order_by(Project.name, Project.id)).unique().all()
            ready, not_ready = 0, []
            for project in projects:
                readiness = gates.readiness(project, threshold=config.threshold, today=on)
                if readiness.colour == gates.GREEN:
                    ready += 1
                    continue
                reasons = _reasons(readiness)
                not_ready.append({"id": project.id, "name": project.name, "colour": readiness.colour,
                                  "owner": project.owner.display_name if project.owner else "",
                                  "reasons": [r["text"] for r in reasons]})
                payload = {"name": project.name, "event": event.name, "date": event.held_on.isoformat(),
                           "days": days_before, "colour": readiness.colour,
                           "missing": [r["key"] for r in reasons], "reasons": [r["text"] for r in reasons]}
                for user_id in dict.fromkeys([project.owner_id, *(o.user_id for o in project.officers)]):
                    if recipients is None or user_id in recipients:
                        reminders.append(Reminder(self.code, "project", project.id, occasion, user_id, fire_at, payload))
            not_ready.sort(key=lambda p: p["colour"] != gates.RED)  # red first, then amber; by name within
            summary = {"event": event.name, "date": event.held_on.isoformat(), "days": days_before, "ready": ready,
                       "total": len(projects), "red": sum(1 for p in not_ready if p["colour"] == gates.RED),
                       "not_ready": not_ready[:SUMMARY_LIMIT], "more": max(0, len(not_ready) - SUMMARY_LIMIT)}
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
            lines = [Msg("%(ready)s of %(total)s slated projects are ready to break ground on %(date)s.",
                         ready=payload.get("ready", 0), total=payload.get("total", 0), date=when).translate(locale)]
            for project in payload.get("not_ready", []):
                colour = Msg("red") if project.get("colour") == gates.RED else Msg("amber")
                reasons = join_clauses([_text(reason, locale) for reason in project.get("reasons", [])], locale)
                lines.append(Msg("“%(name)s” (%(owner)s) is %(colour)s: %(reasons)s", name=project.get("name", ""),
                                 owner=project.get("owner", ""), colour=colour, reasons=reasons).translate(locale))
            if payload.get("more"):
                lines.append(Msg("And %(n)s more projects not ready: see the readiness board.",
                                 n=payload["more"]).translate(locale))
            return Rendered(
                subject=Msg("%(event)s in %(days)s days", event=event, days=days).translate(locale),
                lines=lines, url=f"/groundbreaking/{entity_id}")
        name = payload.get("name", "")
        if "reasons" in payload:
            return Rendered(
                subject=Msg("Not ready for groundbreaking: %(name)s", name=name).translate(locale),
                lines=[Msg("%(event)s is on %(date)s, in %(days)s days; “%(name)s” is not ready yet:", event=event,
                           date=when, days=days, name=name).translate(locale),
                       *(_text(reason, locale) for reason in payload["reasons"])],
                url=f"/projects/{entity_id}")
        else:  # a row planned before the reasons were kept: the gates' names
            labels = {"decision": Msg("collective decision"), "land": Msg("land")}
            names = list(dict.fromkeys(labels.get(key, Msg("permits")).translate(locale)
                                       for key in payload.get("missing", [])))
            missing = ("、" if locale.startswith("zh") else ", ").join(names)
        return Rendered(
            subject=Msg("Not ready for groundbreaking: %(name)s", name=name).translate(locale),
            lines=[Msg("%(event)s is on %(date)s, in %(days)s days; “%(name)s” still misses: %(missing)s.",
                       event=event, date=when, days=days, name=name, missing=missing).translate(locale)],
            url=f"/projects/{entity_id}")


def _text(value: Any, locale: str) -> str:
    message = msg_from_json(value)
    return message.translate(locale) if isinstance(message, Msg) else str(message)


RULE = GroundbreakingCountdown()
