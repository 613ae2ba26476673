"""Rule 2, visit follow-up: N days (default 2) after a done visit ended, its officer is reminded when the visit has
neither a follow-up task nor an outcome recorded."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig
from crm.tasks.models import Task
from crm.visits.calendar import MAX_SPAN_DAYS
from crm.visits.models import Visit, VisitStatus


def _without_followup():
    return (Visit.status == VisitStatus.DONE) & (Visit.outcome == "") & ~exists().where(Task.visit_id == Visit.id)


class VisitFollowup(Rule):
    code = "visit_followup"
    label = N_("Visit without follow-up")
    description = N_("N days after a visit is done, its officer is reminded if it has no follow-up task and no outcome recorded.")
    days_label = N_("Days after the visit")
    default_days = 2
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        n = config.days if config.days is not None else self.default_days
        first_end, last_end = dates[0] - timedelta(days=n), dates[-1] - timedelta(days=n)
        since, until = config.midnight(first_end), config.midnight(last_end + timedelta(days=1))
        stmt = (select(Visit.id, Visit.title, Visit.starts_at, Visit.ends_at, Visit.officer_id)
                .where(_without_followup(), Visit.starts_at >= since - timedelta(days=MAX_SPAN_DAYS),
                       Visit.starts_at < until, Visit.ends_at >= since, Visit.ends_at < until))
        if recipients is not None:
            stmt = stmt.where(Visit.officer_id.in_(list(recipients)))
        reminders = []
        for visit_id, title, starts_at, ends_at, officer_id in session.execute(stmt):
            ended_on = config.local_date(ends_at)
            reminders.append(Reminder(self.code, "visit", visit_id, "followup", officer_id,
                                      config.fire_at(ended_on + timedelta(days=n)),
                                      {"title": title, "date": config.local_date(starts_at).isoformat(), "days": n}))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        open_ids = set(session.scalars(select(Visit.id).where(
            Visit.id.in_({row.entity_id for row in rows}), _without_followup())))
        return {row.id for row in rows if row.entity_id in open_ids}

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        title = payload.get("title", "")
        return Rendered(
            subject=Msg("No follow-up yet: %(title)s", title=title).translate(locale),
            lines=[Msg("The visit “%(title)s” on %(date)s has no follow-up task and no outcome recorded yet.",
                     title=title, date=payload.get("date", "")).translate(locale)],
            url=f"/visits/{entity_id}")


RULE = VisitFollowup()
