"""The uploaded sheet as the import wizard keeps it between its steps (crm.spreadsheets.read_table reads it):
each column's header (the last header row's text, and the group title above it for a two-row or merged header),
the data rows with their row numbers as in Excel, and the totals rows left out. Stored as JSON on the draft batch.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from crm.spreadsheets import DEFAULT_MAX_ROWS


@dataclass
class Table:
    """A sheet with its header found: `headers[i]` is column i's header as shown, `rows` the data rows."""

    sheet: str
    header_row: int  # the (last) header row's number
    headers: list[str]
    parents: list[str]  # the row above a two-row header (merged group titles), "" where none
    rows: list[tuple[int, list[Any]]]
    totals_rows: list[int] = field(default_factory=list)  # totals rows left out ("合计")
    sheet_names: list[str] = field(default_factory=list)  # every sheet of the workbook (none for a CSV)

    def to_json(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "header_row": self.header_row, "headers": self.headers,
                "parents": self.parents, "rows": self.rows, "totals_rows": self.totals_rows,
                "sheet_names": self.sheet_names}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Table:
        return cls(data["sheet"], data["header_row"], data["headers"], data["parents"],
                   [(n, cells) for n, cells in data["rows"]], data.get("totals_rows", []),
                   data.get("sheet_names", []))


def normalize(text: Any) -> str:
    """What two headers must share to match: NFKC (full-width → ASCII), no whitespace or punctuation, case-folded,
    a unit in brackets left out (总投资（万元） → 总投资)."""
    if text is None:
        return ""
    value = unicodedata.normalize("NFKC", str(text))
    value = re.sub(r"[(\[【][^)\]】]*[)\]】]", "", value)
    return re.sub(r"[\s:：*/_\-.·、]+", "", value).casefold()


def unit_in(header: str) -> str | None:
    """The money unit a header names: 亿元 → "yi", 万元 → "wan", 元 → "yuan"; None when it names none."""
    value = unicodedata.normalize("NFKC", header or "")
    if "亿" in value:
        return "yi"
    if "万" in value:
        return "wan"
    if re.search(r"[(\[【]\s*(元|人民币元|rmb|cny|yuan)\s*[)\]】]", value, re.IGNORECASE):
        return "yuan"
    return None


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def read(data: bytes, filename: str, known_headers: list[str], *, sheet: int = 0,
         max_rows: int = DEFAULT_MAX_ROWS) -> Table:
    """The first sheet as the wizard keeps it, read by crm.spreadsheets.read_table (which finds the header among
    title rows, joins a two-row or merged header, fills merged cells, drops blank and totals rows, keeps the
    sheet's row numbers, and raises SheetProblem for an unusable file: empty, header only, duplicate headers, not
    a spreadsheet, damaged, password-protected, over `max_rows`)."""
    from crm.spreadsheets import read_table

    table = read_table(data, filename, sheet=sheet, known_headers=known_headers, max_rows=max_rows)
    headers, parents = [], []
    for parts in table.header_parts:
        headers.append(parts[-1] if parts else "")
        parents.append(" ".join(parts[:-1]))
    width = len(headers)
    rows = [(row.number, [_cell(v) for v in row.values[:width]]) for row in table.rows]
    name = table.sheet_names[sheet] if sheet < len(table.sheet_names) else ""
    return Table(name, table.header_rows[-1], headers, parents, rows, list(table.skipped_rows), table.sheet_names)


def _cell(value: Any) -> Any:
    """A cell as JSON keeps it: dates as "YYYY-MM-DD" ("YYYY-MM-DD HH:MM:SS" with a time), a formula error or a
    formula never calculated as {"error": code}."""
    from crm.spreadsheets import CellError

    if isinstance(value, CellError):
        return {"error": value.code}
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if value.time() == time(0) else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, timedelta):
        return str(value)
    return value


def cell_error(value: Any) -> str | None:
    """"uncalculated" or "#DIV/0!" … for a cell that holds no usable value, else None."""
    return value.get("error") if isinstance(value, dict) else None
