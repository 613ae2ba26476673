"""Rule 8, export figures missing: on day N of each month (default the 10th), each officer responsible for
export-pool enterprises that still lack last month's export figure is reminded once, naming them. The reminder is
keyed per officer and month (`missing:2026-11`); it is cancelled if every enterprise named has its figure by the
time it is sent."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.exports import service as export_service
from crm.exports.models import ExportFigure
from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig

LAST_DAY = 28  # a day every month has


def _previous_month(day: date) -> tuple[int, int]:
    return export_service.last_complete_month(day)


class ExportMissing(Rule):
    code = "export_missing"
    label = N_("Export figures missing")
    description = N_("On the given day of each month, officers whose cultivated export enterprises lack last month's export figure are reminded.")
    days_label = N_("Day of the month")
    default_days = 10
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        day_of_month = min(max(config.days or self.default_days, 1), LAST_DAY)
        due = [day for day in dates if day.day == day_of_month]
        if not due:
            return []
        latest = due[-1]  # after downtime: the latest occasion only
        year, month = _previous_month(latest)
        missing: dict[int, list[tuple[int, str]]] = {}
        for officer_id, organization_id, name in export_service.missing_latest(session, year=year, month=month):
            missing.setdefault(officer_id, []).append((organization_id, name))
        period = f"{year}-{month:02d}"
        return [Reminder(self.code, "user", officer_id, f"missing:{period}", officer_id, config.fire_at(latest),
                         {"month": period, "year": year, "month_number": month,
                          "organizations": [org_id for org_id, _ in found], "names": [name for _, name in found]})
                for officer_id, found in missing.items() if recipients is None or officer_id in recipients]

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        still = set()
        for row in rows:
            payload = row.payload or {}
            wanted = set(payload.get("organizations", []))
            if not wanted:
                continue
            have = set(session.scalars(select(ExportFigure.organization_id).where(
                ExportFigure.organization_id.in_(wanted), ExportFigure.year == payload.get("year"),
                ExportFigure.month == payload.get("month_number"))))
            if wanted - have:
                still.add(row.id)
        return still

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        month = payload.get("month", "")
        separator = "、" if locale.startswith("zh") else ", "
        return Rendered(
            subject=Msg("Export figures for %(month)s missing", month=month).translate(locale),
            lines=[Msg("No export figure for %(month)s yet: %(names)s.", month=month,
                       names=separator.join(payload.get("names", []))).translate(locale)],
            url=f"/exports?officer={entity_id}")


RULE = ExportMissing()
