"""The projects table as an Excel download: its columns, and the values of a row (pipeline.export_rows gives the
projects, filtered and ordered as the table, only those the viewer may see)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from crm.i18n import Msg
from crm.projects.pipeline import CardProject
from crm.projects.schemas import STAGE_LABELS
from crm.spreadsheets import Column

EXPORT_COLUMNS = (
    Column("name", Msg("Project name"), width=30),
    Column("investors", Msg("Investors"), width=30),
    Column("stage", Msg("Stage")),
    Column("industry", Msg("Industry chain")),
    Column("total_investment_wan_cny", Msg("Total investment (10k CNY)"), "decimal"),
    Column("foreign_capital_wan_usd", Msg("Foreign capital (10k USD)"), "decimal"),
    Column("is_foreign_invested", Msg("Foreign-invested")),
    Column("owner", Msg("Owning officer")),
    Column("stage_entered_at", Msg("In this stage since"), "date"),
    Column("days_in_stage", Msg("Days in stage"), "int"),
    Column("stale", Msg("Stale")),
    Column("is_confidential", Msg("Confidential")),
    Column("updated_at", Msg("Updated"), "datetime"),
)

YES = Msg("yes")


def export_values(rows: Iterable[tuple[CardProject, bool]], *, locale: str, now: datetime) -> Iterator[tuple[Any, ...]]:
    separator = "，" if locale.startswith("zh") else ", "
    for p, stale in rows:
        yield (p.name, separator.join(p.investors), Msg(STAGE_LABELS[p.stage]) if p.stage in STAGE_LABELS else p.stage,
               p.industry(locale), p.total_investment_wan_cny, p.foreign_capital_wan_usd,
               YES if p.is_foreign_invested else None, p.owner_name, p.stage_entered_at,
               max(0, (now - p.stage_entered_at).days), YES if stale else None, YES if p.is_confidential else None,
               p.updated_at)
