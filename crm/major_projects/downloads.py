"""The 调度表 as documents: the month's table (`service.board`, the same rows /scheduling shows with the same filters)
as an .xlsx in the layout offices circulate (merged title row, units in the header, landscape A4 fitted to the
width, header repeated on every page: `crm.spreadsheets.SheetLayout`) and the context of its landscape PDF
(templates/pdf/major_projects.html). No queries here: the board is loaded by the caller, visibility applied."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from crm.i18n import N_, Msg, gettext
from crm.major_projects.schemas import COLOUR_LABELS
from crm.major_projects.service import Board, BoardRow
from crm.spreadsheets import Column, Filled, SheetLayout

# The colours offices use for 红黄绿 in Excel (the "good / neutral / bad" cell styles), always with the words.
COLOUR_FILLS = {"green": "C6EFCE", "amber": "FFEB9C", "red": "FFC7CE"}
PERCENT = "0.0"


def title(board: Board, *, zone_name: str) -> Msg:
    """菏泽经济开发区重点项目调度表（2026年11月）."""
    return Msg("%(zone)s major-project scheduling table (%(year)s, month %(month)s)", zone=zone_name,
               year=board.year, month=board.month)


def file_stem(board: Board) -> Msg:
    return Msg("Major-project scheduling table %(year)s-%(month)s", year=board.year, month=f"{board.month:02d}")


def note(board: Board) -> Msg:
    """The row under the title: units, 序时进度 and the close day."""
    return Msg("Unit: 10k CNY · time-elapsed progress %(pct)s%% · reports close on %(date)s",
               pct=f"{board.time_pct:.1f}", date=board.close_on.isoformat())


def months(board: Board) -> list[int]:
    return list(range(1, board.month + 1))


def columns(board: Board) -> list[Column]:
    """序号, 项目名称, 建设内容, 总投资, 年度计划投资, 1..N 月完成投资, 1–N 月累计, 完成比例, 序时进度, 形象进度, 存在问题,
    包保领导, 责任单位, 状态, 原因."""
    return [
        Column("no", Msg("No."), "int", width=6),
        Column("name", Msg("Project name"), width=26),
        Column("description", Msg("Construction content"), width=36),
        Column("total", Msg("Total investment (10k CNY)"), "decimal", width=13),
        Column("planned", Msg("Planned investment for the year (10k CNY)"), "decimal", width=13),
        *[Column(f"month_{m}", Msg("Month %(m)s (10k CNY)", m=m), "decimal", width=11) for m in months(board)],
        Column("cumulative", Msg("Completed in months 1–%(m)s (10k CNY)", m=board.month), "decimal", width=13),
        Column("done_pct", Msg("Against plan (%)"), "decimal", width=10, number_format=PERCENT),
        Column("time_pct", Msg("Time-elapsed progress (%)"), "decimal", width=10, number_format=PERCENT),
        Column("progress", Msg("Progress on site"), width=36),
        Column("problems", Msg("Problems met"), width=30),
        Column("leader", Msg("Leader in charge"), width=10),
        Column("departments", Msg("Responsible department"), width=16),
        Column("colour", Msg("Status"), width=8),
        Column("reasons", Msg("Reason"), width=36),
    ]


def layout(board: Board, *, zone_name: str) -> SheetLayout:
    return SheetLayout(title=title(board, zone_name=zone_name), note=note(board), landscape=True,
                       fills=tuple(COLOUR_FILLS.values()))


def reasons(row: BoardRow, locale: str) -> str:
    return " ".join(gettext(locale, r) for r in row.judgement.reasons)


def report_state(row: BoardRow, locale: str) -> str:
    """未报 / 逾期报送 beside the progress, as on the page."""
    if row.report is None:
        return gettext(locale, N_("No report"))
    return gettext(locale, N_("Late")) if row.report.is_late else ""


def _percent(value: Decimal | None) -> Decimal | None:
    return value.quantize(Decimal("0.1")) if value is not None else None


def rows(board: Board, *, locale: str) -> Iterator[tuple[Any, ...]]:
    """One tuple per row of the board, in `columns(board)`'s order."""
    time_pct = _percent(board.time_pct)
    for number, row in enumerate(board.rows, start=1):
        report = row.report
        progress = report.progress if report else ""
        state = report_state(row, locale)
        if state:
            progress = f"（{state}）{progress}" if locale.startswith("zh") else f"({state}) {progress}"
        yield (
            number, row.project.name, row.project.description or "", row.project.total_investment_wan_cny,
            row.planned, *[row.monthly.get(m) for m in months(board)], row.cumulative, _percent(row.done_pct),
            time_pct, progress.strip(), report.problems if report else "", row.major.leader_label,
            "、".join(row.departments),
            Filled(gettext(locale, COLOUR_LABELS[row.judgement.colour]), COLOUR_FILLS[row.judgement.colour]),
            reasons(row, locale),
        )
