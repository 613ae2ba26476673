"""The notification settings forms: a user's channels per rule, quiet hours, digest and webhook; an admin's rule."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from typing import Any

from crm.forms import FormResult
from crm.i18n import N_, Msg
from crm.notifications.models import Channel, DeliveryStatus

CHANNEL_LABELS = {Channel.IN_APP: N_("In the CRM"), Channel.EMAIL: N_("E-mail"), Channel.WEBHOOK: N_("Webhook")}
STATUS_LABELS = {
    DeliveryStatus.PENDING: N_("Pending"), DeliveryStatus.HELD: N_("Held for the digest"),
    DeliveryStatus.SENDING: N_("Sending"), DeliveryStatus.SENT: N_("Sent"), DeliveryStatus.FAILED: N_("Failed"),
    DeliveryStatus.CANCELLED: N_("Cancelled"), DeliveryStatus.DIGESTED: N_("Sent in a digest"),
}
CHANNEL_FIELDS = ("in_app", "email", "webhook")
MAX_DAYS = 365


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _checked(form: Mapping[str, Any], name: str) -> bool:
    return _text(form, name) in ("1", "on", "true")


def parse_time(raw: str) -> tuple[time | None, Msg | None]:
    if not raw:
        return None, None
    try:
        parsed = time.fromisoformat(raw)
    except ValueError:
        return None, Msg("“%(value)s” is not a time of day: use the form 14:30.", value=raw[:20])
    return parsed.replace(second=0, microsecond=0), None


def parse_preferences(form: Mapping[str, Any], rule_codes: list[str]) -> FormResult:
    result = FormResult()
    channels = {}
    for code in rule_codes:
        chosen = tuple(_checked(form, f"{code}-{name}") for name in CHANNEL_FIELDS)
        channels[code] = chosen
        for name, on in zip(CHANNEL_FIELDS, chosen, strict=True):
            result.values[f"{code}-{name}"] = "1" if on else ""
    result.data["channels"] = channels
    for name in ("quiet_start", "quiet_end"):
        raw = _text(form, name)
        result.values[name] = raw
        result.data[name], error = parse_time(raw)
        if error:
            result.add_error(name, error)
    result.data["digest"] = _checked(form, "digest")
    result.values["digest"] = "1" if result.data["digest"] else ""
    url = _text(form, "webhook_url")
    result.values["webhook_url"] = url
    if len(url) > 500:
        result.add_error("webhook_url", Msg("At most %(max)s characters (you entered %(n)s).", max=500, n=len(url)))
    result.data["webhook_url"] = url
    return result


def parse_rule(form: Mapping[str, Any], *, has_days: bool) -> FormResult:
    result = FormResult()
    for name in ("enabled", *CHANNEL_FIELDS):
        result.data[name] = _checked(form, name)
        result.values[name] = "1" if result.data[name] else ""
    raw_at = _text(form, "at_time")
    result.values["at_time"] = raw_at
    at, error = parse_time(raw_at)
    if error or at is None:
        result.add_error("at_time", error or Msg("This field is required."))
    result.data["at_time"] = at
    if has_days:
        raw = _text(form, "days")
        result.values["days"] = raw
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
            result.add_error("days", Msg("Enter a whole number of days from 1 to %(max)s.", max=MAX_DAYS))
        else:
            result.data["days"] = int(raw)
    return result
