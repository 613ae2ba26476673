"""The subscription form: URL, a note, the events ticked, active."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm.forms import Field, FormResult, parse
from crm.i18n import N_, Msg
from crm.webhooks.service import EVENTS


def subscription_fields() -> list[Field]:
    return [
        Field("url", N_("Address (URL)"), required=True, max_length=500),
        Field("description", N_("Note"), max_length=200),
    ]


def parse_subscription(raw: Mapping[str, Any], *, editing: bool) -> FormResult:
    form = parse(subscription_fields(), raw)
    chosen = [value for value in (raw.getlist("events") if hasattr(raw, "getlist") else []) if isinstance(value, str)]
    if any(value not in EVENTS for value in chosen):
        form.add_error("events", Msg("There is no such event."))
    form.data["events"] = [value for value in chosen if value in EVENTS]
    form.values["events"] = ",".join(form.data["events"])  # type: ignore[assignment]
    active = raw.get("active") == "1" if editing else True
    form.data["active"], form.values["active"] = active, "1" if active else ""
    if not form.data["events"] and "events" not in form.errors:
        form.add_error("events", Msg("Tick at least one event."))
    return form
