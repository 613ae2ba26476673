"""Export pool form fields, labels, sorts and limits."""

from __future__ import annotations

from decimal import Decimal

from crm.exports.models import SupportKind, Tier
from crm.forms import Field
from crm.i18n import N_, Msg
from crm.projects.schemas import amount_check
from crm.tasks.schemas import check_date

TIER_LABELS = {Tier.LEADER: N_("Export leader"), Tier.KEY: N_("Key cultivation"), Tier.POTENTIAL: N_("Potential")}
SUPPORT_LABELS = {
    SupportKind.POLICY: N_("Policy briefing"),
    SupportKind.FINANCING: N_("Financing"),
    SupportKind.EXHIBITION: N_("Exhibitions"),
    SupportKind.CUSTOMS: N_("Customs and logistics help"),
    SupportKind.OTHER: N_("Other support"),
}
SORT_LABELS = {"tier": N_("Tier, then name"), "name": N_("Name"), "-ytd": N_("Exports this year, largest first"),
               "progress": N_("Progress against target, lowest first")}
SORTS = list(SORT_LABELS)

# Bounds a typed figure must stay within: larger is a typing mistake (10 亿美元 a month; 100 亿美元 a year).
MAX_MONTHLY_WAN_USD = Decimal("100000")
MAX_TARGET_WAN_USD = Decimal("1000000")
MIN_YEAR, MAX_YEAR = 2000, 2100


def check_year(value: str) -> Msg | None:
    if not value.isdigit() or not MIN_YEAR <= int(value) <= MAX_YEAR:
        return Msg("Enter a year between %(first)s and %(last)s.", first=MIN_YEAR, last=MAX_YEAR)
    return None


def member_fields(*, officer_ids: list[str], organization_ids: list[str] | None) -> list[Field]:
    """The pool member form; `organization_ids` only when adding (the enterprise is fixed once in the pool)."""
    fields = []
    if organization_ids is not None:
        fields.append(Field("organization_id", N_("Enterprise"), required=True, choices=organization_ids, integer=True))
    return [
        *fields,
        Field("tier", N_("Tier"), required=True, choices=[t.value for t in Tier]),
        Field("officer_id", N_("Responsible officer"), required=True, choices=officer_ids, integer=True),
        Field("target_year", N_("Target year"), required=True, max_length=4, checks=[check_year]),
        Field("target_wan_usd", N_("Export target (10k USD)"), max_length=20,
              checks=[amount_check(MAX_TARGET_WAN_USD)]),
        Field("main_products", N_("Main products"), max_length=2000, multiline=True),
        Field("markets", N_("Main markets"), max_length=2000, multiline=True),
        Field("support_planned", N_("Support measures planned"), max_length=4000, multiline=True),
    ]


def month_field(month: int) -> Field:
    return Field(f"m{month}", f"{month}", max_length=20, checks=[amount_check(MAX_MONTHLY_WAN_USD)])


def single_figure_fields(*, organization_ids: list[str]) -> list[Field]:
    return [
        Field("organization_id", N_("Enterprise"), required=True, choices=organization_ids, integer=True),
        Field("month", N_("Month"), required=True, max_length=7, checks=[check_month]),
        Field("value_wan_usd", N_("Exports (10k USD)"), required=True, max_length=20,
              checks=[amount_check(MAX_MONTHLY_WAN_USD)]),
    ]


def check_month(value: str) -> Msg | None:
    year, sep, month = value.partition("-")
    if not (sep and year.isdigit() and month.isdigit() and MIN_YEAR <= int(year) <= MAX_YEAR and 1 <= int(month) <= 12):
        return Msg("“%(value)s” is not a month: use the form 2026-03.", value=value[:20])
    return None


def support_fields(*, officer_ids: list[str]) -> list[Field]:
    return [
        Field("kind", N_("Support given"), required=True, choices=[k.value for k in SupportKind]),
        Field("given_on", N_("Date"), required=True, max_length=10, checks=[check_date]),
        Field("officer_id", N_("Officer"), required=True, choices=officer_ids, integer=True),
        Field("description", N_("What was done"), required=True, max_length=4000, multiline=True),
        Field("outcome", N_("Outcome"), max_length=4000, multiline=True),
    ]


# --- spreadsheets: the figures import and the pool download (crm/spreadsheets.py) ---------------------------------

def import_columns():
    from crm.spreadsheets import Column

    return (
        Column("credit_code", Msg("Unified social credit code"), "text", required=False, max_length=40,
               aliases=("信用代码", "统一社会信用代码", "credit code")),
        Column("name", Msg("Enterprise"), "text", required=False, max_length=200,
               aliases=("企业", "企业名称", "名称", "enterprise name")),
        Column("month", Msg("Month"), "month", aliases=("月份", "年月", "月度", "month")),
        Column("value_wan_usd", Msg("Exports (10k USD)"), "decimal", minimum=Decimal(0),
               maximum=MAX_MONTHLY_WAN_USD, aliases=("出口额", "出口额（万美元）", "exports")),
    )


def pool_columns():
    from crm.spreadsheets import Column

    return (
        Column("name", Msg("Enterprise"), "text", width=30),
        Column("credit_code", Msg("Unified social credit code"), "text", required=False),
        Column("tier", Msg("Tier"), "text"),
        Column("officer", Msg("Responsible officer"), "text"),
        Column("target", Msg("Export target (10k USD)"), "decimal", required=False),
        Column("ytd", Msg("Exports this year (10k USD)"), "decimal"),
        Column("target_pct", Msg("Against target (%)"), "decimal", required=False, number_format="0.0"),
        Column("time_pct", Msg("Time-elapsed progress (%)"), "decimal", number_format="0.0"),
        Column("last_year", Msg("Same months last year (10k USD)"), "decimal"),
        Column("yoy_pct", Msg("Year on year (%)"), "decimal", required=False, number_format="0.0"),
        Column("behind", Msg("Behind target"), "text"),
    )
