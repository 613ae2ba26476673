"""Rule 9, the daily digest (default 08:30): for users who choose it, one message per channel gathering that day's
reminders instead of many. The in-app bell is not affected. Planning and sending live in crm.notifications.service
(`plan_digest`): a digest gathers the other rules' rows rather than reading records itself."""

from __future__ import annotations

from datetime import time
from typing import Any

from crm.i18n import N_, Msg
from crm.notifications.rules.base import Rendered, Rule


class Digest(Rule):
    code = "digest"
    label = N_("Daily digest")
    description = N_("For those who choose it: one e-mail or webhook message a day with that day's reminders, instead of one each.")
    default_at = time(8, 30)
    default_channels = (False, True, False)

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        return Rendered(subject=Msg("Your reminders for %(date)s", date=occasion).translate(locale), lines=[], url="/notifications")


RULE = Digest()
