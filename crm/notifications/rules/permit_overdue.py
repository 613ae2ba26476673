"""Rule 6, permit overdue: when an approval item runs past the time limit the approval bureau promised (working days
from acceptance), the project's owning and assigned officers are told once, naming the 帮办代办 staffer; that staffer is
told too when they are a CRM user (ApprovalItem.assistant_id), and their reminder lapses if the item is handed to
someone else before it fires."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig
from crm.projects import gates
from crm.projects.models import ApprovalItem, ApprovalStatus, Project, ProjectOfficer

RUNNING = (ApprovalStatus.SUBMITTED, ApprovalStatus.ACCEPTED)


class PermitOverdue(Rule):
    code = "permit_overdue"
    label = N_("Permit overdue")
    description = N_("When an approval item runs past its promised time limit, the project's officers are told once.")
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        latest = dates[-1]
        items = session.execute(
            select(ApprovalItem, Project.name, Project.owner_id).join(Project, Project.id == ApprovalItem.project_id)
            .where(ApprovalItem.overdue_on <= latest, ApprovalItem.status.in_(RUNNING),
                   Project.archived_at.is_(None))).all()
        overdue = [(item, name, owner) for item, name, owner in items if gates.is_overdue(item, latest)]
        people: dict[int, list[int]] = {}
        for project_id, user_id in session.execute(select(ProjectOfficer.project_id, ProjectOfficer.user_id).where(
                ProjectOfficer.project_id.in_({item.project_id for item, _, _ in overdue}))):
            people.setdefault(project_id, []).append(user_id)
        reminders = []
        for item, name, owner_id in overdue:
            start = gates.clock_start(item)
            payload = {"project": name, "project_id": item.project_id, "item": item.name_zh, "item_en": item.name_en,
                       "days": item.promised_days, "used": gates.days_used(item, latest), "assistant": item.assistant,
                       "start": start.isoformat() if start else ""}
            officers = list(dict.fromkeys([owner_id, *people.get(item.project_id, [])]))
            staffer = [item.assistant_id] if item.assistant_id and item.assistant_id not in officers else []
            for user_id in officers + staffer:
                if recipients is None or user_id in recipients:
                    reminders.append(Reminder(self.code, "approval_item", item.id, f"overdue:{payload['start']}",
                                              user_id, config.fire_at(latest),
                                              {**payload, "to_assistant": True} if user_id in staffer else payload))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        running = {item_id: assistant_id for item_id, assistant_id in session.execute(
            select(ApprovalItem.id, ApprovalItem.assistant_id).where(
                ApprovalItem.id.in_({row.entity_id for row in rows}), ApprovalItem.status.in_(RUNNING)))}
        return {row.id for row in rows if row.entity_id in running and not (  # the staffer's own: still theirs
            (row.payload or {}).get("to_assistant") and running[row.entity_id] != row.recipient_id)}

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        item = payload.get("item", "") if locale.startswith("zh") else payload.get("item_en") or payload.get("item", "")
        lines = [Msg("%(item)s for “%(project)s” is overdue: %(used)s working days used of the %(days)s promised.",
                     item=item, project=payload.get("project", ""), used=payload.get("used", ""),
                     days=payload.get("days", "")).translate(locale)]
        if payload.get("assistant"):
            lines.append(Msg("Assisted by: %(name)s", name=payload["assistant"]).translate(locale))
        return Rendered(subject=Msg("Permit overdue: %(item)s", item=item).translate(locale), lines=lines,
                        url=f"/projects/{payload.get('project_id', '')}#approvals")


RULE = PermitOverdue()
