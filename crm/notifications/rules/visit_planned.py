"""Rule 3, planned visit: the day before, its officer and hosts get the itinerary (times, place, tour stops)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig
from crm.organizations.models import Organization
from crm.visits.models import TourStop, Visit, VisitHost, VisitOrganization, VisitStatus


class VisitPlanned(Rule):
    code = "visit_planned"
    label = N_("Planned visit tomorrow")
    description = N_("The day before a planned visit, its officer and the colleagues attending get the itinerary.")
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        since = max(config.midnight(dates[0] + timedelta(days=1)), now)  # never remind of a visit already begun
        until = config.midnight(dates[-1] + timedelta(days=2))
        visits = session.scalars(
            select(Visit).where(Visit.status == VisitStatus.PLANNED, Visit.starts_at >= since, Visit.starts_at < until)
            .options(selectinload(Visit.hosts),
                     selectinload(Visit.organizations).selectinload(VisitOrganization.organization).load_only(
                         Organization.id, Organization.name),
                     selectinload(Visit.stops).selectinload(TourStop.organization).load_only(
                         Organization.id, Organization.name))
            .order_by(Visit.starts_at, Visit.id))
        reminders = []
        for visit in visits:
            day = config.local_date(visit.starts_at)
            payload = {
                "title": visit.title, "date": day.isoformat(), "starts": config.local_time(visit.starts_at),
                "ends": config.local_time(visit.ends_at) if config.local_date(visit.ends_at) == day else "",
                "place": visit.place, "organizations": [vo.organization.name for vo in visit.organizations],
                "stops": [[stop.organization.name, config.local_time(stop.starts_at) if stop.starts_at else ""]
                          for stop in visit.stops],
            }
            people = dict.fromkeys([visit.officer_id, *(host.user_id for host in visit.hosts)])
            for user_id in people:
                if recipients is None or user_id in recipients:
                    reminders.append(Reminder(self.code, "visit", visit.id, f"day_before:{day.isoformat()}", user_id,
                                              config.fire_at(day - timedelta(days=1)), payload))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        ids = {row.entity_id for row in rows}
        visits = {visit_id: (status, starts_at, officer_id) for visit_id, status, starts_at, officer_id in
                  session.execute(select(Visit.id, Visit.status, Visit.starts_at, Visit.officer_id).where(Visit.id.in_(ids)))}
        hosts = {tuple(row) for row in session.execute(
            select(VisitHost.visit_id, VisitHost.user_id).where(VisitHost.visit_id.in_(ids)))}
        still = set()
        for row in rows:
            status, starts_at, officer_id = visits.get(row.entity_id, (None, None, None))
            if status != VisitStatus.PLANNED or config.local_date(starts_at).isoformat() != row.payload.get("date"):
                continue  # held, cancelled or moved to another day since
            if row.recipient_id == officer_id or (row.entity_id, row.recipient_id) in hosts:
                still.add(row.id)
        return still

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        title = payload.get("title", "")
        when = payload.get("starts", "") + (f"–{payload['ends']}" if payload.get("ends") else "")
        lines = [Msg("Tomorrow, %(date)s, %(time)s: %(title)s", date=payload.get("date", ""), time=when, title=title).translate(locale)]
        if payload.get("place"):
            lines.append(Msg("Place: %(place)s", place=payload["place"]).translate(locale))
        if payload.get("organizations"):
            separator = "、" if locale.startswith("zh") else ", "
            lines.append(Msg("Visitors: %(names)s", names=separator.join(payload["organizations"])).translate(locale))
        if payload.get("stops"):
            lines.append(Msg("Tour:").translate(locale))
            for number, (name, at) in enumerate(payload["stops"], start=1):
                lines.append(f"{number}. {name}" + (f" {at}" if at else ""))
        return Rendered(subject=Msg("Tomorrow: %(title)s", title=title).translate(locale), lines=lines, url=f"/visits/{entity_id}")


RULE = VisitPlanned()
