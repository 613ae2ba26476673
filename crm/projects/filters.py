"""The project lists' filters from a query string: one reading for the table, the board and the export."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from crm.errors import BadRequest
from crm.i18n import Msg
from crm.listing import BadListQuery, parse_choice, parse_id, parse_sort
from crm.projects.models import ALL_STAGES
from crm.projects.pipeline import SORTS, ProjectFilter
from crm.projects.schemas import MAX_INVESTMENT_WAN_CNY, parse_amount


def _flag(params: Mapping[str, str], name: str) -> bool | None:
    value = parse_choice(params, name, ["1", "0"])
    return None if value == "" else value == "1"


def _amount(params: Mapping[str, str], name: str) -> Decimal | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        amount = parse_amount(raw)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0 or amount > MAX_INVESTMENT_WAN_CNY:
        raise BadListQuery(Msg("“%(value)s” is not an amount in 10k CNY: use digits, e.g. 10000.", value=raw[:20]))
    return amount


def from_query(params: Mapping[str, str]) -> ProjectFilter:
    try:
        flt = ProjectFilter(
            q=params.get("q", "").strip()[:100],
            stage=parse_choice(params, "stage", [s.value for s in ALL_STAGES]),
            industry_chain_id=parse_id(params, "industry"),
            officer_id=parse_id(params, "officer"),
            organization_id=parse_id(params, "organization"),
            min_investment=_amount(params, "min"),
            max_investment=_amount(params, "max"),
            foreign=_flag(params, "foreign"),
            confidential=_flag(params, "confidential"),
            stale=_flag(params, "stale"),
            archived=parse_choice(params, "archived", ["1"]) == "1",
            sort=parse_sort(params, SORTS, "-updated"),
        )
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    if flt.min_investment is not None and flt.max_investment is not None and flt.min_investment > flt.max_investment:
        raise BadRequest(Msg("The smallest investment is larger than the largest."))
    return flt
