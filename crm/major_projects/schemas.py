"""Major-project scheduling: form fields, labels and limits."""

from __future__ import annotations

from decimal import Decimal

from crm.exports.schemas import check_month, check_year
from crm.forms import Field
from crm.i18n import N_
from crm.major_projects.models import ItemStatus, Level
from crm.projects.schemas import MAX_INVESTMENT_WAN_CNY, amount_check
from crm.tasks.schemas import check_date

LEVEL_LABELS = {Level.PROVINCE: N_("Provincial major project"), Level.CITY: N_("City major project"),
                Level.DISTRICT: N_("District major project")}
LEVEL_SHORT = {Level.PROVINCE: N_("Provincial"), Level.CITY: N_("City"), Level.DISTRICT: N_("District")}
STATUS_LABELS = {ItemStatus.PENDING: N_("Awaiting coordination"), ItemStatus.IN_PROGRESS: N_("In progress"),
                 ItemStatus.RESOLVED: N_("Resolved"), ItemStatus.ON_HOLD: N_("On hold")}
COLOUR_LABELS = {"green": N_("Green"), "amber": N_("Amber"), "red": N_("Red")}
COLOURS = ("green", "amber", "red")
# A month's completed investment above this is a typing mistake (1,000 亿元 in one month).
MAX_MONTHLY_WAN_CNY = Decimal("10000000")
CHECKBOX_LEVELS = ("is_province", "is_city", "is_district")


def marking_fields(*, leader_ids: list[str]) -> list[Field]:
    return [
        Field("is_province", N_("Provincial major project"), choices=["1"]),
        Field("is_city", N_("City major project"), choices=["1"]),
        Field("is_district", N_("District major project"), choices=["1"]),
        Field("listed_year", N_("Year listed"), required=True, max_length=4, checks=[check_year]),
        Field("leader_id", N_("Leader in charge"), choices=leader_ids, integer=True),
        Field("leader_name", N_("Leader in charge (name, if not a user)"), max_length=100),
    ]


def plan_fields() -> list[Field]:
    return [
        Field("year", N_("Year"), required=True, max_length=4, checks=[check_year]),
        Field("planned_wan_cny", N_("Planned investment for the year (10k CNY)"), required=True, max_length=20,
              checks=[amount_check(MAX_INVESTMENT_WAN_CNY)]),
    ]


def report_fields(*, with_month: bool) -> list[Field]:
    fields = [Field("month", N_("Month"), required=True, max_length=7, checks=[check_month])] if with_month else []
    return [
        *fields,
        Field("completed_wan_cny", N_("Investment completed this month (10k CNY)"), required=True, max_length=20,
              checks=[amount_check(MAX_MONTHLY_WAN_CNY)]),
        Field("progress", N_("Progress on site"), required=True, max_length=4000, multiline=True),
        Field("problems", N_("Problems met"), max_length=4000, multiline=True),
    ]


def item_fields(*, department_ids: list[str], owner_ids: list[str]) -> list[Field]:
    return [
        Field("need", N_("What is needed"), required=True, max_length=2000, multiline=True),
        Field("department_id", N_("Responsible department"), choices=department_ids, integer=True),
        Field("department_other", N_("Or another zone office"), max_length=100),
        Field("deadline_on", N_("Deadline"), required=True, max_length=10, checks=[check_date]),
        Field("owner_id", N_("Owner"), choices=owner_ids, integer=True),
    ]


def item_update_fields(*, owner_ids: list[str]) -> list[Field]:
    return [
        Field("status", N_("Status"), required=True, choices=[s.value for s in ItemStatus]),
        Field("note", N_("What was done"), max_length=2000, multiline=True),
        Field("deadline_on", N_("Deadline"), required=True, max_length=10, checks=[check_date]),
        Field("owner_id", N_("Owner"), choices=owner_ids, integer=True),
    ]


def meeting_fields(*, attendee_ids: list[str]) -> list[Field]:
    return [
        Field("title", N_("Title"), required=True, max_length=200),
        Field("held_on", N_("Date"), required=True, max_length=10, checks=[check_date]),
        Field("other_attendees", N_("Other attendees"), max_length=2000, multiline=True),
    ]


def decision_fields(*, owner_ids: list[str]) -> list[Field]:
    return [
        Field("decision", N_("Meeting decision"), required=True, max_length=4000, multiline=True),
        Field("deadline_on", N_("New deadline"), max_length=10, checks=[check_date]),
        Field("owner_id", N_("New owner"), choices=owner_ids, integer=True),
        Field("status", N_("Status"), choices=[s.value for s in ItemStatus]),
    ]
