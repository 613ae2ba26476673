"""The backup schedule's form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm.forms import FormResult, unchecked
from crm.i18n import Msg

HOUR_CHOICES = [str(h) for h in range(24)]
KEEP_MIN, KEEP_MAX = 1, 90


def parse_settings(form: Mapping[str, Any]) -> FormResult:
    result = FormResult()
    for name in ("hour", "keep", "enabled"):
        raw = unchecked(form, name)
        result.values[name] = raw.strip() if isinstance(raw, str) else ""
    result.data["enabled"] = result.values["enabled"] == "1"
    hour = result.values["hour"]
    if hour not in HOUR_CHOICES:
        result.add_error("hour", Msg("Choose an hour from 0 to 23."))
    else:
        result.data["hour"] = int(hour)
    keep = result.values["keep"]
    if not keep:
        result.add_error("keep", Msg("This field is required."))
    elif not keep.isdigit() or len(keep) > 3 or not KEEP_MIN <= int(keep) <= KEEP_MAX:
        result.add_error("keep", Msg("A whole number from %(min)s to %(max)s.", min=KEEP_MIN, max=KEEP_MAX))
    else:
        result.data["keep"] = int(keep)
    return result
