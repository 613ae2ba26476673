"""What every reminder rule provides. A rule is a small module (task_due.py, visit_followup.py, ...) holding one
Rule object, listed in crm/notifications/rules/__init__.py; the scheduler's planning and delivery know nothing else
about it.

- `plan` returns the reminders whose time came on the given local dates (the dates whose `at_time` fell in the
  window the scheduler is planning), reading the records as they are now: a task completed or moved before its time
  simply yields nothing for the old date. When the window covers several dates (after downtime) a rule gives each
  record its latest occasion only, so what fell due while the scheduler was stopped goes out once.
- `current` says which already-planned rows are still true when they are about to be sent (a row can wait: quiet
  hours, the digest, a retry); the others are cancelled.
- `render` turns a row's payload into text in the reader's language.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from crm.config import Settings
from crm.i18n import Msg

DEFAULT_THRESHOLD: Decimal = Settings.model_fields["major_project_threshold_wan_cny"].default


@dataclass(frozen=True)
class Reminder:
    """One reminder for one recipient; the service makes one outbox row per channel the recipient reads."""

    rule: str
    entity_type: str
    entity_id: int
    occasion: str
    recipient_id: int
    fire_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class RuleConfig:
    """The administrator's settings for a rule, with the zone's time zone and the settings rules judge by (the
    major-project threshold, CRM_MAJOR_PROJECT_THRESHOLD_WAN_CNY, the one the readiness board uses)."""

    days: int | None
    at_time: time
    zone: ZoneInfo
    threshold: Decimal = DEFAULT_THRESHOLD

    def fire_at(self, day: date) -> datetime:
        """`day` at the rule's time of day, local, as UTC."""
        return datetime.combine(day, self.at_time, tzinfo=self.zone).astimezone(UTC)

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(UTC)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def local_time(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%H:%M")


@dataclass
class Rendered:
    subject: str
    lines: list[str] = field(default_factory=list)
    url: str = "/notifications"  # a path on this site: the record the reminder is about


class Rule:
    code: str = ""
    label: str = ""  # message id
    description: str = ""  # message id: what it does, for the settings pages
    days_label: str | None = None  # message id of the N setting, when the rule has one
    default_days: int | None = None
    default_at: time = time(9, 0)
    default_channels: tuple[bool, bool, bool] = (True, False, False)  # in-app, e-mail, webhook

    def plan(self, session: Session, *, dates: Sequence[date], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        raise NotImplementedError

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        """The ids of `rows` (outbox rows of this rule) still true now."""
        raise NotImplementedError

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        raise NotImplementedError


def msg_to_json(message: Msg | Any) -> Any:
    """A message (its parameters may be messages too) as JSON for a payload; translated when rendered."""
    if isinstance(message, Msg):
        return {"msgid": message.msgid, "params": {k: msg_to_json(v) for k, v in message.params.items()}}
    return message if isinstance(message, (str, int, float, bool)) or message is None else str(message)


def msg_from_json(value: Any) -> Msg | Any:
    if isinstance(value, dict) and "msgid" in value:
        return Msg(str(value["msgid"]), **{k: msg_from_json(v) for k, v in (value.get("params") or {}).items()})
    return value


def days_between(first: date, second: date) -> int:
    return (second - first).days


def day_after(day: date, n: int = 1) -> date:
    return day + timedelta(days=n)
