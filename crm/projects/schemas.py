"""Project form fields and labels: stages, sources, decisions, approval statuses; the checks on amounts and dates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation

from crm.forms import Field
from crm.i18n import N_, Msg
from crm.projects.models import (
    ALL_STAGES,
    ApprovalStatus,
    DecisionOutcome,
    MeetingKind,
    ProjectSource,
    Stage,
)
from crm.tasks.schemas import check_date

STAGE_LABELS = {
    Stage.LEAD: N_("Lead"),
    Stage.CONTACT: N_("First contact"),
    Stage.NEGOTIATING: N_("Negotiating"),
    Stage.SIGNED: N_("Signed"),
    Stage.REGISTERED: N_("Company registered"),
    Stage.LAND_SUPPLIED: N_("Land supplied"),
    Stage.PERMITS: N_("Permits in progress"),
    Stage.GROUNDBREAKING: N_("Groundbreaking"),
    Stage.OPERATING: N_("In operation"),
    Stage.ON_HOLD: N_("On hold"),
    Stage.DROPPED: N_("Dropped"),
}
SOURCE_LABELS = {
    ProjectSource.VISIT: N_("Visit"),
    ProjectSource.REFERRAL: N_("Referral"),
    ProjectSource.EXHIBITION: N_("Exhibition or fair"),
    ProjectSource.ONLINE: N_("Online"),
    ProjectSource.OTHER: N_("Other"),
}
MEETING_LABELS = {
    MeetingKind.JOINT: N_("Party-government joint meeting"),
    MeetingKind.PARTY_COMMITTEE: N_("Party Working Committee meeting"),
    MeetingKind.DIRECTORS: N_("Administrative Committee directors' meeting"),
    MeetingKind.OTHER: N_("Other collective meeting"),
}
OUTCOME_LABELS = {
    DecisionOutcome.APPROVED: N_("Approved"),
    DecisionOutcome.REJECTED: N_("Rejected"),
    DecisionOutcome.DEFERRED: N_("Deferred"),
}
APPROVAL_STATUS_LABELS = {
    ApprovalStatus.NOT_STARTED: N_("Not started"),
    ApprovalStatus.SUBMITTED: N_("Submitted"),
    ApprovalStatus.ACCEPTED: N_("Accepted"),
    ApprovalStatus.APPROVED: N_("Granted"),
    ApprovalStatus.NOT_NEEDED: N_("Not needed"),
}
# Where a new project may start: a later stage is reached by moving it, through the gates.
START_STAGES = (Stage.LEAD, Stage.CONTACT, Stage.NEGOTIATING)

# The largest amounts a form accepts: anything above is a typing mistake (an extra zero or three).
MAX_INVESTMENT_WAN_CNY = Decimal("50000000")  # 5,000 亿元
MAX_FOREIGN_WAN_USD = Decimal("10000000")  # 1,000 亿美元
MAX_LAND_MU = Decimal("100000")
MAX_JOBS = 1_000_000


def parse_amount(value: str) -> Decimal:
    return Decimal(value.replace(",", "").replace("，", "").replace(" ", ""))


def amount_check(maximum: Decimal) -> Callable[[str], Msg | None]:
    """A non-negative amount with at most two decimals, no larger than `maximum`."""

    def check(value: str) -> Msg | None:
        try:
            amount = parse_amount(value)
        except InvalidOperation:
            return Msg("“%(value)s” is not a number: use digits, e.g. 5000 or 1200.50.", value=value[:20])
        if not amount.is_finite() or amount < 0:
            return Msg("Enter an amount of 0 or more.")
        if amount > maximum:
            return Msg("Enter an amount between 0 and %(max)s.", max=f"{maximum:,.0f}")
        if amount.as_tuple().exponent < -2:  # type: ignore[operator]
            return Msg("At most two decimal places.")
        return None

    return check


def check_jobs(value: str) -> Msg | None:
    if not value.isdigit() or int(value) > MAX_JOBS:
        return Msg("Enter a whole number between 0 and %(max)s.", max=f"{MAX_JOBS:,}")
    return None


AMOUNT_FIELDS = {
    "total_investment_wan_cny": MAX_INVESTMENT_WAN_CNY, "fixed_investment_wan_cny": MAX_INVESTMENT_WAN_CNY,
    "foreign_capital_wan_usd": MAX_FOREIGN_WAN_USD, "registered_capital_wan_cny": MAX_INVESTMENT_WAN_CNY,
    "land_need_mu": MAX_LAND_MU, "annual_output_wan_cny": MAX_INVESTMENT_WAN_CNY,
    "annual_tax_wan_cny": MAX_INVESTMENT_WAN_CNY,
}
DATE_FIELDS = ("target_signing_on", "target_groundbreaking_on", "target_operation_on", "signed_on",
               "groundbreaking_on", "operation_on")
CHECKBOXES = ("is_foreign_invested", "is_confidential")


def project_fields(*, user_ids: list[str], industry_ids: list[str], parcel_ids: list[str],
                   creating: bool) -> list[Field]:
    fields = [
        Field("name", N_("Project name"), required=True, max_length=200),
        Field("industry_chain_id", N_("Industry chain"), integer=True, choices=industry_ids),
        Field("description", N_("Description"), max_length=10000, multiline=True),
        Field("total_investment_wan_cny", N_("Total investment (10k CNY)"), max_length=20,
              checks=[amount_check(MAX_INVESTMENT_WAN_CNY)]),
        Field("fixed_investment_wan_cny", N_("Fixed-asset investment (10k CNY)"), max_length=20,
              checks=[amount_check(MAX_INVESTMENT_WAN_CNY)]),
        Field("is_foreign_invested", N_("Foreign-invested"), choices=["1"]),
        Field("foreign_capital_wan_usd", N_("Foreign capital (10k USD)"), max_length=20,
              checks=[amount_check(MAX_FOREIGN_WAN_USD)]),
        Field("registered_capital_wan_cny", N_("Registered capital (10k CNY)"), max_length=20,
              checks=[amount_check(MAX_INVESTMENT_WAN_CNY)]),
        Field("land_need_mu", N_("Land needed (mu)"), max_length=20, checks=[amount_check(MAX_LAND_MU)]),
        Field("annual_output_wan_cny", N_("Expected annual output (10k CNY)"), max_length=20,
              checks=[amount_check(MAX_INVESTMENT_WAN_CNY)]),
        Field("annual_tax_wan_cny", N_("Expected annual tax (10k CNY)"), max_length=20,
              checks=[amount_check(MAX_INVESTMENT_WAN_CNY)]),
        Field("jobs", N_("Jobs"), max_length=10, checks=[check_jobs]),
        Field("source", N_("Source"), choices=[s.value for s in ProjectSource]),
        Field("source_visit_id", N_("Visit it came from"), integer=True),
        Field("source_note", N_("Source details"), max_length=200),
        Field("owner_id", N_("Owning officer"), required=True, integer=True, choices=user_ids),
        Field("is_confidential", N_("Confidential"), choices=["1"]),
        Field("parcel_id", N_("Land parcel"), integer=True, choices=parcel_ids),
        Field("land_certificate_no", N_("Land certificate number"), max_length=60),
        *(Field(name, label, max_length=10, checks=[check_date]) for name, label in (
            ("target_signing_on", N_("Target signing date")),
            ("target_groundbreaking_on", N_("Target groundbreaking date")),
            ("target_operation_on", N_("Target operation date")),
            ("signed_on", N_("Signed on")),
            ("groundbreaking_on", N_("Broke ground on")),
            ("operation_on", N_("In operation since")),
        )),
    ]
    if creating:
        fields.append(Field("stage", N_("Stage"), required=True, choices=[s.value for s in START_STAGES]))
    else:  # a manager's reason to save an edit that leaves the project past a gate it no longer meets
        fields.append(Field("gate_override_reason", N_("Override reason"), max_length=2000, multiline=True))
    return fields


def move_fields() -> list[Field]:
    return [
        Field("stage", N_("Move to"), required=True, choices=[s.value for s in ALL_STAGES]),
        Field("note", N_("Note"), max_length=2000, multiline=True),
        Field("reason", N_("Reason"), max_length=2000, multiline=True),
        Field("override_reason", N_("Override reason"), max_length=2000, multiline=True),
    ]


def check_not_future(today: date) -> Callable[[str], Msg | None]:
    def check(value: str) -> Msg | None:
        error = check_date(value)
        if error:
            return error
        if date.fromisoformat(value) > today:
            return Msg("A decision cannot be dated in the future (today is %(today)s).", today=today.isoformat())
        return None

    return check


def decision_fields(*, today: date) -> list[Field]:
    return [
        Field("meeting_kind", N_("Meeting kind"), required=True, choices=[k.value for k in MeetingKind]),
        Field("meeting_on", N_("Meeting date"), required=True, max_length=10, checks=[check_not_future(today)]),
        Field("outcome", N_("Decision"), required=True, choices=[o.value for o in DecisionOutcome]),
        Field("resolution", N_("Resolution"), required=True, max_length=10000, multiline=True),
    ]


def check_days(value: str) -> Msg | None:
    if not value.isdigit() or not 1 <= int(value) <= 365:
        return Msg("Enter a whole number of working days from 1 to 365.")
    return None


def approval_fields() -> list[Field]:
    return [
        Field("status", N_("Status"), required=True, choices=[s.value for s in ApprovalStatus]),
        Field("submitted_on", N_("Submitted on"), max_length=10, checks=[check_date]),
        Field("accepted_on", N_("Accepted on"), max_length=10, checks=[check_date]),
        Field("approved_on", N_("Approved on"), max_length=10, checks=[check_date]),
        Field("promised_days", N_("Promised time limit (working days)"), max_length=3, checks=[check_days]),
        Field("assistant_id", N_("Assisted by (CRM user)"), max_length=12),
        Field("assistant", N_("Assisted by"), max_length=60),
        Field("note", N_("Note"), max_length=500),
    ]


def template_fields() -> list[Field]:
    return [
        Field("name_zh", N_("Chinese name"), required=True, max_length=60),
        Field("name_en", N_("English name"), required=True, max_length=100),
        Field("promised_days", N_("Promised time limit (working days)"), max_length=3, checks=[check_days]),
        Field("position", N_("Order in lists"), required=True, max_length=4,
              checks=[lambda v: None if v.isdigit() else Msg("Enter a whole number.")]),
    ]


# The project form's own buttons for its investors (a server round trip, so they work without JavaScript; htmx only
# swaps the form in place): "remove:<id>", "lead:<id>" (make that investor the lead, first), "find" (list the
# organizations matching the search box), "add" or "refresh" (keep the ticked ones). "enter" is the hidden default
# button, pressed by Enter in any field: a search when the search box holds text, a save otherwise.
FORM_ACTIONS = ("remove", "lead", "find", "add", "refresh", "enter")


def investor_action(action: str) -> tuple[str, int | None]:
    """("verb", organization id or None) of a form_action, or ("", None) for one the form does not know."""
    verb, _, target = action.partition(":")
    if verb not in FORM_ACTIONS:
        return "", None
    return verb, int(target) if target.isdigit() and len(target) < 12 else None


def apply_investor_action(ids: list[int], verb: str, target: int | None) -> list[int]:
    """The investors after one of the form's buttons, in order (the first leads)."""
    if verb == "remove":
        return [i for i in ids if i != target]
    if verb == "lead" and target in ids:
        return [target, *(i for i in ids if i != target)]
    return ids

