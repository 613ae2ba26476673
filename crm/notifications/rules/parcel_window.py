"""Rule 7, parcel signing window: N days (default 1, "the day before") before a parcel's expropriation signing window
opens, and N days before it closes while households are still unsigned, the managers are told, with the progress."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm.auth.models import Role, User
from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig
from crm.parcels.models import LandParcel


class ParcelWindow(Rule):
    code = "parcel_window"
    label = N_("Parcel signing window")
    description = N_("N days before a parcel's signing window opens, and N days before it closes with households unsigned, the managers are told.")
    days_label = N_("Days before the window opens or closes")
    default_days = 1
    default_at = time(9, 0)

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        n = config.days if config.days is not None else self.default_days
        ahead = [day + timedelta(days=n) for day in dates]  # the windows opening or closing N days after a date
        parcels = session.scalars(select(LandParcel).where(or_(LandParcel.signing_starts_on.in_(ahead),
                                                               LandParcel.signing_ends_on.in_(ahead))))
        managers = list(session.scalars(select(User.id).where(User.role == Role.MANAGER, User.is_active.is_(True))))
        reminders = []
        for parcel in parcels:
            payload = {"name": parcel.name, "starts": parcel.signing_starts_on.isoformat(),
                       "ends": parcel.signing_ends_on.isoformat() if parcel.signing_ends_on else "",
                       "signed": parcel.households_signed, "total": parcel.households_total, "days": n}
            found = []
            if parcel.signing_starts_on in ahead:
                found.append((f"opens:{payload['starts']}", config.fire_at(parcel.signing_starts_on - timedelta(days=n))))
            if parcel.signing_ends_on in ahead and (parcel.households_total or 0) > parcel.households_signed:
                found.append((f"closes:{payload['ends']}", config.fire_at(parcel.signing_ends_on - timedelta(days=n))))
            for occasion, fire_at in found:
                for user_id in managers:
                    if recipients is None or user_id in recipients:
                        reminders.append(Reminder(self.code, "land_parcel", parcel.id, occasion, user_id, fire_at,
                                                  payload))
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        parcels = {p.id: p for p in session.scalars(select(LandParcel).where(
            LandParcel.id.in_({row.entity_id for row in rows})))}
        still = set()
        for row in rows:
            parcel = parcels.get(row.entity_id)
            if parcel is None:
                continue
            kind, _, when = row.occasion.partition(":")
            opens = kind == "opens" and parcel.signing_starts_on and parcel.signing_starts_on.isoformat() == when
            closes = (kind == "closes" and parcel.signing_ends_on and parcel.signing_ends_on.isoformat() == when
                      and (parcel.households_total or 0) > parcel.households_signed)
            if opens or closes:
                still.add(row.id)
        return still

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        name = payload.get("name", "")
        if occasion.startswith("opens:"):
            return Rendered(
                subject=Msg("Signing opens: %(name)s", name=name).translate(locale),
                lines=[Msg("The signing window of %(name)s runs from %(starts)s to %(ends)s; %(total)s households.",
                           name=name, starts=payload.get("starts", ""), ends=payload.get("ends", ""),
                           total=payload.get("total") or "").translate(locale)],
                url=f"/parcels/{entity_id}")
        signed, total = payload.get("signed", 0), payload.get("total") or ""
        if "days" not in payload:  # a row planned when the reminder came on the closing day itself
            return Rendered(
                subject=Msg("Signing window closes today: %(name)s", name=name).translate(locale),
                lines=[Msg("%(signed)s of %(total)s households of %(name)s have signed; the window closes today.",
                           name=name, signed=signed, total=total).translate(locale)],
                url=f"/parcels/{entity_id}")
        return Rendered(
            subject=Msg("Signing window closes on %(date)s: %(name)s", name=name,
                        date=payload.get("ends", "")).translate(locale),
            lines=[Msg("%(signed)s of %(total)s households of %(name)s have signed; the window closes on %(date)s, in %(days)s days.",
                       name=name, signed=signed, total=total, date=payload.get("ends", ""),
                       days=payload["days"]).translate(locale)],
            url=f"/parcels/{entity_id}")


RULE = ParcelWindow()
