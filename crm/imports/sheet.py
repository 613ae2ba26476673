"""Reading an uploaded file into the grid the import wizard works on: every sheet's rows as the user sees them
(row numbers as in Excel), the header found among the first rows, data rows without blank and totals rows.

The content decides the format, not the name: a zip is an .xlsx (python-calamine), an OLE file is an old .xls
(python-calamine) unless it is an encrypted .xlsx (a password-protected workbook is an OLE file holding an
"EncryptedPackage" stream: refused with its own message), anything else must decode as UTF-8 (with or without
BOM) or GB18030 and is read as CSV (comma, or tab/semicolon when the first line uses them).

Headers as ledgers write them: title rows above the header are skipped; a header over two rows (a merged
"联系人" above 姓名/职务/电话) reads as "联系人 姓名"; a header cell merged down two rows is read once; merged
cells spread their value over the columns they cover. Cells become str, int, float or bool; a date cell becomes
"YYYY-MM-DD" and a date-time "YYYY-MM-DD HH:MM:SS" (the value parsers read those as they read typed dates).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from crm.i18n import Msg
from crm.spreadsheets import DEFAULT_MAX_ROWS, SheetProblem

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
HEADER_SEARCH_ROWS = 10  # the header is looked for among this many first non-blank rows
_TOTALS = re.compile(r"^(合\s*计|总\s*计|小\s*计|共\s*计|total|totals|sum|grand total)\b", re.IGNORECASE)
_ERRORS = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!"}


@dataclass
class Sheet:
    name: str
    rows: list[tuple[int, list[Any]]]  # (row number as in Excel, cells)
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)  # 0-based (row, col) pairs


@dataclass
class Table:
    """A sheet with its header found: `headers[i]` is column i's header as shown, `rows` the data rows."""

    sheet: str
    header_row: int  # the (last) header row's number
    headers: list[str]
    parents: list[str]  # the row above a two-row header (merged group titles), "" where none
    rows: list[tuple[int, list[Any]]]
    totals_rows: list[int] = field(default_factory=list)  # totals rows left out ("合计")

    def to_json(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "header_row": self.header_row, "headers": self.headers,
                "parents": self.parents, "rows": self.rows, "totals_rows": self.totals_rows}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Table:
        return cls(data["sheet"], data["header_row"], data["headers"], data["parents"],
                   [(n, cells) for n, cells in data["rows"]], data.get("totals_rows", []))


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


def _not_a_spreadsheet() -> SheetProblem:
    return SheetProblem(Msg("This file is not a spreadsheet. Upload an Excel workbook (.xlsx) or a CSV file."))


def read_workbook(data: bytes, *, max_rows: int = DEFAULT_MAX_ROWS) -> list[Sheet]:
    if not data or not data.strip():
        raise SheetProblem(Msg("The file is empty."))
    if data.startswith(_OLE_MAGIC):
        if "EncryptedPackage".encode("utf-16-le") in data or "EncryptionInfo".encode("utf-16-le") in data:
            raise SheetProblem(Msg("The file has an opening password. Remove the password, save it again and upload it."))
        sheets = _calamine(data, max_rows)
    elif data.startswith(_ZIP_MAGIC):
        sheets = _calamine(data, max_rows)
    else:
        sheets = [_csv(data, max_rows)]
    if not any(cells for _n, cells in sheets[0].rows if any(not _blank(c) for c in cells)):
        raise SheetProblem(Msg("The file is empty."))
    return sheets


def _calamine(data: bytes, max_rows: int) -> list[Sheet]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = []
        for index in range(min(len(workbook.sheet_names), 5)):
            sheet = workbook.get_sheet_by_index(index)
            first_row = sheet.start[0] if sheet.start else 0
            rows = []
            for offset, cells in enumerate(sheet.iter_rows()):
                values = [_cell(c) for c in cells]
                if any(not _blank(v) for v in values):
                    rows.append((first_row + offset + 1, values))
                    if len(rows) > max_rows + HEADER_SEARCH_ROWS + 1:
                        raise _too_many(max_rows)
            merged = list(getattr(sheet, "merged_cell_ranges", None) or [])
            sheets.append(Sheet(sheet.name, rows, merged))
        workbook.close()
    except SheetProblem:
        raise
    except Exception as exc:  # a zip that is not a workbook, a damaged file
        raise _not_a_spreadsheet() from exc
    if not sheets:
        raise _not_a_spreadsheet()
    return sheets


def _too_many(max_rows: int) -> SheetProblem:
    return SheetProblem(Msg("The file has more than %(max)s rows. Split it into files of at most %(max)s rows.",
                            max=f"{max_rows:,}"))


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if value.time() == time(0) else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return value


def _csv(data: bytes, max_rows: int) -> Sheet:
    if b"\x00" in data[:65536]:
        raise _not_a_spreadsheet()
    start = 3 if data.startswith(codecs.BOM_UTF8) else 0
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data[start:].decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _not_a_spreadsheet()
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text[:4096]):
        raise _not_a_spreadsheet()
    first = text.split("\n", 1)[0]
    delimiter = "," if "," in first else ("\t" if "\t" in first else (";" if ";" in first else ","))
    rows = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for values in reader:
            if any(v.strip() for v in values):
                rows.append((reader.line_num, [v.strip() for v in values]))
                if len(rows) > max_rows + HEADER_SEARCH_ROWS + 1:
                    raise _too_many(max_rows)
    except csv.Error as exc:
        raise _not_a_spreadsheet() from exc
    return Sheet("CSV", rows)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _spread_merges(sheet: Sheet) -> dict[int, list[Any]]:
    """Row number → cells, with each merged range's value copied into every column it spans on its first row and
    marked as merged down (None) on the rows below."""
    by_number = {n: list(cells) for n, cells in sheet.rows}
    for (r0, c0), (_r1, c1) in sheet.merged:
        top = by_number.get(r0 + 1)
        if top is None or c0 >= len(top):
            continue
        value = top[c0]
        while len(top) <= c1:
            top.append("")
        for c in range(c0, c1 + 1):
            top[c] = value
    return by_number


def find_table(sheet: Sheet, score: Callable[[str], str | None], *, max_rows: int = DEFAULT_MAX_ROWS) -> Table:
    """The header is the row (among the first non-blank ones) whose cells — joined with the row above when that
    row holds group titles — name the most distinct fields (`score(header)` → a field key or None); the rows after
    it are the data."""
    if not sheet.rows:
        raise SheetProblem(Msg("The file is empty."))
    cells_of = _spread_merges(sheet)
    candidates = [n for n, _c in sheet.rows[:HEADER_SEARCH_ROWS]]
    best: tuple[int, int, list[str], list[str]] | None = None
    for position, number in enumerate(candidates):
        above = cells_of[candidates[position - 1]] if position else []
        headers, parents = _combine(cells_of[number], above if _looks_like_group_row(above) else [])
        hits = len({score(f"{p} {h}") or score(h) for h, p in zip(headers, parents, strict=True) if h} - {None})
        if best is None or hits > best[0]:
            best = (hits, number, headers, parents)
    assert best is not None
    hits, header_row, headers, parents = best
    if hits == 0:  # nothing names a field: take the first row as the header, the mapping page asks for the rest
        header_row = candidates[0]
        headers, parents = _combine(cells_of[header_row], [])
    data, totals = [], []
    for number, _cells in sheet.rows:
        if number <= header_row:
            continue
        cells = cells_of[number]
        first = next((c for c in cells if not _blank(c)), "")
        if isinstance(first, str) and _TOTALS.match(first.strip()):
            totals.append(number)
            continue
        data.append((number, [_cell_error(c) for c in cells]))
    if len(data) > max_rows:
        raise _too_many(max_rows)
    return Table(sheet.name, header_row, headers, parents, data, totals)


def _cell_error(value: Any) -> Any:
    return value


def is_error(value: Any) -> bool:
    return isinstance(value, str) and value in _ERRORS


def _looks_like_group_row(cells: list[Any]) -> bool:
    """A row of group titles above the header: text in at least two cells, no numbers."""
    texts = [c for c in cells if not _blank(c)]
    return len(set(texts)) >= 2 and all(isinstance(c, str) for c in texts)  # a merged title is one value


def _combine(row: list[Any], above: list[Any]) -> tuple[list[str], list[str]]:
    width = max(len(row), len(above))
    headers, parents = [], []
    for i in range(width):
        cell = str(row[i]).strip() if i < len(row) and not _blank(row[i]) else ""
        parent = str(above[i]).strip() if i < len(above) and not _blank(above[i]) else ""
        if not cell and parent:  # a header cell merged down over two rows
            cell, parent = parent, ""
        if parent == cell:
            parent = ""
        headers.append(cell)
        parents.append(parent)
    return headers, parents


def duplicate_headers(table: Table) -> list[tuple[str, list[str]]]:
    """[(header, [column letters])] for headers used by more than one column."""
    seen: dict[str, list[int]] = {}
    for i, (h, p) in enumerate(zip(table.headers, table.parents, strict=True)):
        if h:
            seen.setdefault(normalize(f"{p}{h}"), []).append(i)
    return [(table.headers[cols[0]], [column_letter(c) for c in cols]) for cols in seen.values() if len(cols) > 1]
