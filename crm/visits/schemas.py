"""Visit form fields and labels, and the repeated rows of the form (tour stops, follow-ups, new members)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from crm.forms import Field, FormResult, parse
from crm.i18n import N_, Msg
from crm.spreadsheets import Column
from crm.tasks.schemas import check_date
from crm.validators import as_id
from crm.visits.models import InterestLevel, VisitKind, VisitStatus

KIND_LABELS = {
    VisitKind.INBOUND: N_("Inbound delegation"),
    VisitKind.OUTBOUND: N_("Outbound trip"),
    VisitKind.MEETING: N_("Meeting"),
    VisitKind.REMOTE: N_("Phone or video call"),
    VisitKind.SIGNING: N_("Signing ceremony"),
    VisitKind.AFTERCARE: N_("Visit to a zone enterprise"),
}
STATUS_LABELS = {VisitStatus.PLANNED: N_("Planned"), VisitStatus.DONE: N_("Done"), VisitStatus.CANCELLED: N_("Cancelled")}
INTEREST_LABELS = {
    InterestLevel.NONE: N_("No interest"),
    InterestLevel.EXPLORING: N_("Exploring"),
    InterestLevel.STRONG: N_("Strong interest"),
    InterestLevel.READY: N_("Ready to sign"),
}

# The Excel download of the list (routes.export_xlsx; service.export_rows gives the values in this order)
EXPORT_COLUMNS = (
    Column("starts_at", Msg("Starts"), "datetime"),
    Column("ends_at", Msg("Ends"), "datetime"),
    Column("title", Msg("Subject"), width=30),
    Column("kind", Msg("Kind")),
    Column("status", Msg("Status")),
    Column("organizations", Msg("Organizations"), width=30),
    Column("place", Msg("Place"), width=20),
    Column("officer", Msg("Responsible officer")),
    Column("interest_level", Msg("Stated interest")),
    Column("estimated_investment", Msg("Estimated investment (10k CNY)"), "decimal"),
    Column("outcome", Msg("Outcome"), width=40),
)

MAX_ROWS = 30  # tour stops, follow-ups or new members in one form
MAX_INVESTMENT = Decimal("9999999999.99")  # 万元: a hundred trillion yuan is more than any project


def check_datetime(value: str) -> Msg | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return Msg("“%(value)s” is not a date and time: use the form 2026-12-02 09:30.", value=value[:20])
    if not 2000 <= parsed.year <= 2100:
        return Msg("Choose a date between 2000 and 2100.")
    return None


def check_amount(value: str) -> Msg | None:
    try:
        amount = Decimal(value.replace(",", "").replace("，", ""))
    except InvalidOperation:
        return Msg("“%(value)s” is not a number: use digits, e.g. 5000 or 1200.50.", value=value[:20])
    if not amount.is_finite() or amount < 0 or amount > MAX_INVESTMENT:
        return Msg("Enter an amount between 0 and %(max)s.", max="9,999,999,999.99")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        return Msg("At most two decimal places.")
    return None


def to_utc(value: str, timezone: str) -> datetime:
    """A local date-time from the form (2026-12-02T09:30) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return parsed.astimezone(ZoneInfo("UTC"))


def to_local_input(value: datetime | None, timezone: str) -> str:
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M") if value else ""


def visit_fields(*, user_ids: list[str]) -> list[Field]:
    return [
        Field("title", N_("Subject"), required=True, max_length=200),
        Field("kind", N_("Kind"), required=True, choices=[k.value for k in VisitKind]),
        Field("status", N_("Status"), required=True, choices=[s.value for s in VisitStatus]),
        Field("starts_at", N_("Starts"), required=True, max_length=25, checks=[check_datetime]),
        Field("ends_at", N_("Ends"), required=True, max_length=25, checks=[check_datetime]),
        Field("place", N_("Place"), max_length=200),
        Field("leaders", N_("Leaders on our side"), max_length=2000, multiline=True),
        Field("purpose", N_("Purpose"), max_length=4000, multiline=True),
        Field("summary", N_("What was discussed"), max_length=20000, multiline=True),
        Field("outcome", N_("Outcome"), max_length=4000, multiline=True),
        Field("interest_level", N_("Stated interest"), choices=[i.value for i in InterestLevel]),
        Field("estimated_investment", N_("Estimated investment (10k CNY)"), max_length=20, checks=[check_amount]),
        Field("officer_id", N_("Responsible officer"), required=True, integer=True, choices=user_ids),
    ]


def stop_fields() -> list[Field]:
    return [
        Field("organization_id", N_("Zone enterprise"), required=True, integer=True),
        Field("starts_at", N_("Time"), max_length=25, checks=[check_datetime]),
        Field("host", N_("Host at the enterprise"), max_length=120),
        Field("shown", N_("Shown or asked"), max_length=4000, multiline=True),
        Field("note", N_("Note"), max_length=4000, multiline=True),
    ]


def followup_fields(*, user_ids: list[str]) -> list[Field]:
    return [
        Field("title", N_("What"), required=True, max_length=200),
        Field("assignee_id", N_("Who"), required=True, integer=True, choices=user_ids),
        Field("due_on", N_("Due date"), required=True, max_length=10, checks=[check_date]),
    ]


def new_member_fields() -> list[Field]:
    return [
        Field("name", N_("Name"), required=True, max_length=60),
        Field("title", N_("Title"), max_length=120),
        Field("organization_id", N_("Organization"), required=True, integer=True),
    ]


ROW_KINDS = ("stop", "followup", "newmember")
_ROW_KEY = re.compile(r"^(stop|followup|newmember)-(\d{1,3})-(\w+)$")


@dataclass
class Rows:
    """The repeated rows of one kind, in the order shown: each row's index and its parsed fields."""

    kind: str
    indexes: list[int] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)


def row_indexes(raw: Mapping[str, Any], kind: str) -> list[int]:
    found = {int(m.group(2)) for key in raw if (m := _ROW_KEY.match(key)) and m.group(1) == kind}
    return sorted(found)[:MAX_ROWS]


# A row counts as left empty when these are blank (a new follow-up row comes with its assignee and date filled in).
SIGNIFICANT = {"followup": ("title",), "newmember": ("name", "title")}


def parse_rows(raw: Mapping[str, Any], kind: str, fields: list[Field], form: FormResult,
               *, keep_blank: bool = False) -> Rows:
    """Parses rows named `kind-N-field` into `form` (values and errors under their full names). A row left empty
    is dropped, unless `keep_blank` (the form is being re-shown, and the user added it)."""
    rows = Rows(kind)
    significant = SIGNIFICANT.get(kind, tuple(f.name for f in fields))
    for index in row_indexes(raw, kind):
        prefix = f"{kind}-{index}-"
        own = {f.name: raw.get(prefix + f.name, "") for f in fields}
        own = {k: v if isinstance(v, str) else "" for k, v in own.items()}
        if not keep_blank and all(not own[name].strip() for name in significant):
            continue
        result = parse(fields, own)
        rows.indexes.append(index)
        rows.data.append(result.data)
        for name, value in result.values.items():
            form.values[prefix + name] = value
        for name, error in result.errors.items():
            form.add_error(prefix + name, error)
    return rows


def multi_ids(raw: Any, name: str, limit: int = 100) -> list[int]:
    """The ids posted under a repeated field name (checkboxes), distinct, in order; junk is ignored."""
    values = raw.getlist(name) if hasattr(raw, "getlist") else raw.get(name, [])
    ids: list[int] = []
    for value in values[:limit]:
        number = as_id(value) if isinstance(value, str) else None
        if number is not None and number not in ids:
            ids.append(number)
    return ids


def quick_log_fields() -> list[Field]:
    """The phone-first quick log: what kind, with whom, when, what happened, and one next step."""
    return [
        Field("kind", N_("Kind"), required=True, choices=[k.value for k in VisitKind]),
        Field("organization_id", N_("Organization"), required=True, integer=True),
        Field("starts_at", N_("When"), required=True, max_length=25, checks=[check_datetime]),
        Field("summary", N_("What happened"), required=True, max_length=20000, multiline=True),
        Field("followup_title", N_("Next step"), max_length=200),
        Field("followup_due_on", N_("Due date"), max_length=10, checks=[check_date]),
    ]
