"""The one spreadsheet module: every import reads through `read_sheet` (a fixed template) or `read_table` (a zone's
own sheet, columns mapped afterwards), every Excel download goes out through `xlsx_response` (or `XlsxBook` for a
workbook of several sheets), every "download a template" link through `template_xlsx`.

    COLUMNS = (
        Column("enterprise", Msg("Enterprise"), "text", max_length=200),
        Column("month", Msg("Month"), "month"),
        Column("exports", Msg("Exports (10k USD)"), "decimal", minimum=Decimal(0), maximum=Decimal(10_000_000)),
    )
    try:
        result = read_sheet(upload_bytes, upload_filename, COLUMNS)
    except SheetProblem as e:              # the whole file is unusable: e.message (a Msg)
        ...
    for row in result.rows:               # {"row_number": 2, "enterprise": "...", "month": date(2026, 3, 1), ...}
        if unknown(row["enterprise"]):     # the caller adds its own domain problems to the same list
            result.add(row["row_number"], COLUMNS[0], Msg("No enterprise of this name"))
    if result.problems: ...               # show them all (sorted by row with result.sorted_problems()), write nothing

    template_xlsx(COLUMNS, translate=_, example_rows=[("某某公司", date(2026, 3, 1), Decimal("123.45"))])
    xlsx_response("项目", EXPORT_COLUMNS, rows, translate=_, timezone=settings.timezone)   # a streamed download

Reading a zone's own sheet (the import wizard, `crm/imports/`): `read_table` finds the header itself and gives raw
values, for the caller to map columns to fields and parse each cell.

    table = read_table(data, filename, known_headers=SYNONYMS)   # SheetProblem for an unusable file, as above
    table.headers        # ["企业名称", "统一社会信用代码", "投资额 总投资（万元）", ...]: one per column ("" = no header)
    table.header_parts   # [("企业名称",), ..., ("投资额", "总投资（万元）")]: a multi-row header's parts, top down
    table.header_rows    # [2, 3]: the header's sheet row numbers (a title row such as "2026年客商名录" above is skipped)
    for row in table.rows:              # TableRow(number=4, values=[...]): blank rows and totals rows left out
        value, problem = cell_value(row.values[i], Column("name", Msg("Organization")))   # the kinds' parsers
    table.skipped_rows   # [58]: totals rows (合计, 总计, 小计, Total) dropped
    table.sheet_names    # every sheet of the workbook: read_table(data, filename, sheet=1) reads the second

  Header detection: among the first 20 non-blank rows, the row with the most cells found in `known_headers`
  (compared after normalize_header; pass every synonym the wizard recognises), else the first row of at least two
  distinct text cells and at least half as many as the widest such row. Merged cells are filled in (a header cell
  merged across columns gives each column its text; in data rows a cell merged down gives each row its value). The
  rows below the header are part of it while the header's merged cells reach into them, or (with known_headers)
  while they add known names under unknown ones; a column's parts are joined with a space. A cell whose value is a
  formula error, or a formula never calculated, is a `CellError` (cell_value turns it into the existing messages).
  Duplicate headers, an empty file, a header with no data and more than max_rows data rows raise SheetProblem.

`Column(key, header, kind, required=True, minimum=None, maximum=None, max_length=None, width=None,
number_format=None, aliases=())`:
  kind is "text" | "int" | "decimal" | "date" | "month" | "datetime" (datetime is for exports; read as a date-time).
  A sheet's header matches a column in either language: the zh_CN translation, the English msgid, or an alias,
  compared after NFKC (full-width parentheses and spaces become ASCII), without whitespace, case-insensitively.
  A column with required=False may be left out of the sheet, and its cells may be blank (None).
Parsed values: text → str (stripped; a whole number typed in a number cell reads "12345", not "12345.0"),
  int → int, decimal → Decimal, date → date (2026-03-15, 2026/3/15, 2026.3.15, 2026年3月15日, 20260315, an Excel
  day number or a real date cell), month → the first day of the month (2026-03, 2026/3, 2026年3月, 2026.3, 202603,
  a date, or a real date cell), datetime → naive datetime as written.
Whole-file problems raise `SheetProblem(message)`; bad cells become `RowProblem(row, column_header, message)`
  in `SheetResult.problems` (row is the 1-based row in the sheet; column_header None for a whole-row problem).

Libraries. The content decides the format, not the name:
- a zip (.xlsx, .ods) and an OLE file (.xls) are read with python-calamine (Rust; about ten times faster than
  openpyxl). Calamine gives no formulas and reads an error cell as blank, so for .xlsx the first sheet's XML is
  scanned once (a regular expression, only when it holds formulas or errors) for formula errors and formulas whose
  result was never saved; in .xls and .ods those read as blank cells. An OLE file holding an "EncryptedPackage"
  stream is a password-protected .xlsx (Office encrypts a workbook into such a container): refused with its own
  message. An OLE file calamine cannot read is refused with "save it as .xlsx".
- anything else must decode as text (UTF-8 with or without BOM, else GB18030) and is read as CSV (comma, or
  tab/semicolon when the header uses them).
- every .xlsx written (downloads, templates, the full export) goes through xlsxwriter in constant-memory mode:
  rows are flushed to a temporary file as they are written, so a download's memory does not grow with its rows.
- openpyxl is no longer used by the application. It stays a dependency only for the tests and benchmarks that read
  files back with their styles (bold header, number formats, merged cells, print settings): calamine reads values
  only, and xlsxwriter only writes.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import xlsxwriter
import xlsxwriter.workbook
import xlsxwriter.worksheet
from python_calamine import CalamineWorkbook
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse
from xlsxwriter.utility import xl_col_to_name

from crm.i18n import N_, Msg, gettext

Kind = Literal["text", "int", "decimal", "date", "month", "datetime"]
KINDS = ("text", "int", "decimal", "date", "month", "datetime")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DEFAULT_MAX_ROWS = 50_000
NUMBER_FORMATS = {
    "text": "@",
    "int": "#,##0",
    "decimal": "#,##0.00",
    "date": "yyyy-mm-dd",
    "month": "yyyy-mm",
    "datetime": "yyyy-mm-dd hh:mm",
}
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")  # the stream's name in an OLE directory entry
_SPOOL_BYTES = 8 * 1024 * 1024  # an export is held in memory up to this size, then on disk


@dataclass(frozen=True)
class Column:
    key: str
    header: Msg
    kind: Kind = "text"
    required: bool = True
    minimum: Any = None
    maximum: Any = None
    max_length: int | None = None
    width: float | None = None  # in characters; from the header and kind when None
    number_format: str | None = None  # overrides the kind's format in exports and templates
    aliases: tuple[str, ...] = ()  # further headers accepted on import

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")

    @property
    def format(self) -> str:
        return self.number_format or NUMBER_FORMATS[self.kind]


@dataclass(frozen=True)
class Filled:
    """A text cell shaded with a background colour (RGB hex, "C6EFCE"): a status shown as colour *and* words.
    Its fill must be one of the layout's `fills`."""
    text: str | Msg
    fill: str


@dataclass(frozen=True)
class SheetLayout:
    """The layout offices circulate for a printed table: a merged title row (bold, centred) and an optional merged
    note row (units, period) above the header, the header wrapped and repeated on every printed page, text wrapped,
    gridlines printed, A4 landscape (or portrait) fitted to the page width. `fills`: the background colours
    `Filled` cells may use."""
    title: str | Msg
    note: str | Msg = ""
    landscape: bool = True
    fills: tuple[str, ...] = ()

    @property
    def header_row(self) -> int:
        return 3 if self.note else 2


@dataclass(frozen=True)
class RowProblem:
    row: int
    column_header: Msg | None
    message: Msg


class SheetProblem(Exception):
    """The whole file cannot be read: not a spreadsheet, empty, wrong headers, too many rows."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


@dataclass
class SheetResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    def add(self, row: int, column: Column | Msg | None, message: Msg) -> None:
        """A problem found by the caller (unknown enterprise, duplicate period) joins the sheet's own."""
        header = column.header if isinstance(column, Column) else column
        self.problems.append(RowProblem(row, header, message))

    @property
    def ok(self) -> bool:
        return not self.problems

    def sorted_problems(self) -> list[RowProblem]:
        return sorted(self.problems, key=lambda p: p.row)


# ---------------------------------------------------------------------------------------------------- reading



# ---------------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class CellError:
    """A cell that holds no usable value: a formula error ("#DIV/0!") or a formula never calculated
    ("uncalculated"). It stands in the cell's place in the raw rows (`read_table`'s TableRow.values)."""
    code: str


UNCALCULATED = CellError("uncalculated")


def normalize_header(text: Any) -> str:
    """What two headers must share to match: NFKC (full-width → ASCII), no whitespace, case-folded."""
    if text is None:
        return ""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).casefold()


def _header_variants(column: Column) -> set[str]:
    names = {column.header.msgid, column.header.translate("zh_CN"), column.header.translate("en"), *column.aliases}
    return {normalize_header(n) for n in names} - {""}


def read_sheet(
    data: bytes, filename: str, columns: Sequence[Column], *, max_rows: int = DEFAULT_MAX_ROWS
) -> SheetResult:
    """Every data row parsed and every bad cell reported; raises SheetProblem when the file as a whole is unusable.
    The header is the first non-blank row and must be the template's (`columns`)."""
    return _parse(_raw_rows(data, filename)[0], columns, max_rows)


def _not_a_spreadsheet() -> SheetProblem:
    return SheetProblem(Msg("This file is not a spreadsheet. Upload an Excel workbook (.xlsx) or a CSV file."))


def _old_xls() -> SheetProblem:
    return SheetProblem(Msg("This is an old Excel file (.xls). Open it in Excel or WPS and save it as .xlsx (Excel workbook), then upload that."))


RawRows = Iterator[tuple[int, list[Any]]]
Merge = tuple[int, int, int, int]  # first row, first column, last row, last column: 1-based rows, 0-based columns


def _raw_rows(data: bytes, filename: str, sheet: int | str = 0) -> tuple[RawRows, list[Merge], list[str]]:
    """(sheet row number, cell values) of every row, the sheet's merged ranges and the workbook's sheet names."""
    if not data or not data.strip():
        raise SheetProblem(Msg("The file is empty."))
    if data.startswith(_OLE_MAGIC):
        if _ENCRYPTED_PACKAGE in data:
            raise SheetProblem(Msg("The file is password-protected: remove the password, save it again and upload that copy."))
        return _calamine_rows(data, sheet, xls=True)
    if data.startswith(_ZIP_MAGIC):
        return _calamine_rows(data, sheet, xls=False)
    return _csv_rows(data), [], []


def _calamine_rows(data: bytes, sheet: int | str, *, xls: bool) -> tuple[RawRows, list[Merge], list[str]]:
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(book.sheet_names)
        if isinstance(sheet, int):
            index = sheet
            if not 0 <= index < len(names):
                raise SheetProblem(Msg("The workbook has no sheet “%(sheet)s”.", sheet=str(sheet + 1)))
        elif sheet in names:
            index = names.index(sheet)
        else:
            raise SheetProblem(Msg("The workbook has no sheet “%(sheet)s”.", sheet=sheet))
        target = book.get_sheet_by_index(index)
        merges = [(r0 + 1, c0, r1 + 1, c1) for (r0, c0), (r1, c1) in (target.merged_cell_ranges or ())]
    except SheetProblem:
        raise
    except Exception as exc:  # a zip that is not a workbook (a .docx, a damaged file), an .xls calamine cannot read
        raise (_old_xls() if xls else _not_a_spreadsheet()) from exc
    flags = {} if xls else _xlsx_cell_flags(data, index)
    return _iter_calamine(book, target, flags), merges, names


def _iter_calamine(book, target, flags: dict[int, list[tuple[int, CellError]]]) -> RawRows:
    try:
        start = target.start
        if start is None:
            return
        first_row, first_column = start
        pad = [None] * first_column
        for offset, values in enumerate(target.iter_rows()):
            number = first_row + offset + 1
            if first_column:
                values = pad + values
            marked = flags.get(number)
            if marked:
                for column, error in marked:
                    while len(values) <= column:
                        values.append(None)
                    values[column] = error
            yield number, values
    except SheetProblem:
        raise
    except Exception as exc:
        raise _not_a_spreadsheet() from exc
    finally:
        book.close()


_SHEET_TAG = re.compile(rb'<(?:\w+:)?sheet\b[^>]*?\b\w*:?id="([^"]+)"')
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_ATTRIBUTE = re.compile(rb'\b([\w:]+)="([^"]*)"')
_FORMULA_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*)>\s*<(?:\w+:)?f\b[^>]*?(?:/>|>[^<]*</(?:\w+:)?f>)\s*"
                           rb"(?:<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>|<(?:\w+:)?v\s*/>)?")
_ERROR_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*\bt="e"[^>]*)>\s*<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>')
_CELL_REF = re.compile(r"([A-Z]{1,3})(\d+)")


def _xlsx_cell_flags(data: bytes, index: int) -> dict[int, list[tuple[int, CellError]]]:
    """{sheet row: [(0-based column, CellError)]} for the cells of an .xlsx sheet that calamine reads as blank but
    that hold a formula error or a formula whose result was never saved. Reads the sheet's XML once, and scans it
    only when it holds a formula or an error cell at all."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            path = _sheet_path(package, index)
            if path is None:
                return {}
            xml = package.read(path)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, EOFError):
        return {}
    found: dict[tuple[int, int], CellError] = {}
    if b"<f" in xml or b":f" in xml:
        for match in _FORMULA_CELL.finditer(xml):
            attributes = dict(_ATTRIBUTE.findall(match[1]))
            where = _cell_position(attributes.get(b"r"))
            if where is None:
                continue
            kind, value = attributes.get(b"t", b"n"), match[2]
            if kind == b"e" and value:
                found[where] = CellError(value.decode(errors="replace").strip())
            elif value is None or (not value and kind not in (b"str", b"s", b"inlineStr")):
                found[where] = UNCALCULATED
    if b't="e"' in xml:
        for match in _ERROR_CELL.finditer(xml):
            where = _cell_position(dict(_ATTRIBUTE.findall(match[1])).get(b"r"))
            if where is not None and where not in found:
                found[where] = CellError(match[2].decode(errors="replace").strip())
    flags: dict[int, list[tuple[int, CellError]]] = {}
    for (row, column), error in found.items():
        flags.setdefault(row, []).append((column, error))
    return flags


def _sheet_path(package: zipfile.ZipFile, index: int) -> str | None:
    names = set(package.namelist())
    try:
        ids = _SHEET_TAG.findall(package.read("xl/workbook.xml"))
        rels = package.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return None
    if index >= len(ids):
        return None
    for relationship in _RELATIONSHIP.findall(rels):
        attributes = dict(_ATTRIBUTE.findall(relationship))
        if attributes.get(b"Id") == ids[index]:
            target = attributes.get(b"Target", b"").decode()
            path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            return path if path in names else None
    return None


def _cell_position(reference: bytes | None) -> tuple[int, int] | None:
    match = _CELL_REF.fullmatch(reference.decode()) if reference else None
    if match is None:
        return None
    column = 0
    for letter in match[1]:
        column = column * 26 + ord(letter) - 64
    return int(match[2]), column - 1


def _decode_stream(data: bytes) -> tuple[str, int]:
    """The text encoding of a CSV (and where its text starts), or SheetProblem when it is not text."""
    if b"\x00" in data[:65536]:
        raise _not_a_spreadsheet()
    start = 3 if data.startswith(codecs.BOM_UTF8) else 0
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for offset in range(start, len(data), 1 << 20):
                decoder.decode(data[offset:offset + (1 << 20)])
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding, start
    raise _not_a_spreadsheet()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _csv_rows(data: bytes) -> RawRows:
    encoding, start = _decode_stream(data)
    text = io.TextIOWrapper(io.BytesIO(data[start:] if start else data), encoding=encoding, newline="")
    first = text.readline()
    if _CONTROL.search(first):
        raise _not_a_spreadsheet()
    delimiter = ","
    if "," not in first:
        delimiter = "\t" if "\t" in first else (";" if ";" in first else ",")
    text.seek(0)
    return _iter_csv(text, delimiter)


def _iter_csv(text: io.TextIOWrapper, delimiter: str) -> RawRows:
    try:
        reader = csv.reader(text, delimiter=delimiter)
        for values in reader:
            yield reader.line_num, values
    except csv.Error as exc:
        raise _not_a_spreadsheet() from exc


def _blank(value: Any) -> bool:
    return value is None or value == "" or (type(value) is str and not value.strip())


def _blank_row(values: list[Any]) -> bool:
    for value in values:
        if value is not None and value != "" and not (type(value) is str and not value.strip()):
            return False
    return True


def _too_many_rows(max_rows: int) -> SheetProblem:
    return SheetProblem(Msg("The file has more than %(limit)s rows. Split it into files of at most %(limit)s rows.",
                            limit=format(max_rows, ",")))


def _parse(raw_rows: RawRows, columns: Sequence[Column], max_rows: int) -> SheetResult:
    header = None
    for _number, cells in raw_rows:
        if not _blank_row(cells):
            header = cells
            break
    if header is None:
        raise SheetProblem(Msg("The file is empty."))
    positions = _match_headers(header, columns)
    plan = [(column, positions.get(column.key)) for column in columns]

    result = SheetResult()
    count = 0
    for number, cells in raw_rows:
        if _blank_row(cells):
            continue
        count += 1
        if count > max_rows:
            raise _too_many_rows(max_rows)
        row: dict[str, Any] = {"row_number": number}
        width = len(cells)
        for column, index in plan:
            value, problem = cell_value(cells[index] if index is not None and index < width else None, column)
            row[column.key] = value
            if problem is not None:
                result.problems.append(RowProblem(number, column.header, problem))
        result.rows.append(row)
    if count == 0:
        raise SheetProblem(Msg("The file has a header row but no data rows."))
    return result


def _match_headers(header: list[Any], columns: Sequence[Column]) -> dict[str, int]:
    variants = {column.key: _header_variants(column) for column in columns}
    positions: dict[str, int] = {}
    duplicates: list[Column] = []
    unknown: list[str] = []
    for index, cell in enumerate(header):
        if isinstance(cell, CellError):
            continue
        text = normalize_header(cell)
        if not text:
            continue
        match = next((c for c in columns if text in variants[c.key]), None)
        if match is None:
            unknown.append(str(cell).strip())
        elif match.key in positions:
            if match not in duplicates:
                duplicates.append(match)
        else:
            positions[match.key] = index
    if duplicates:
        raise SheetProblem(Msg("These columns appear more than once: %(columns)s.", columns=_names(c.header for c in duplicates)))
    missing = [c for c in columns if c.key not in positions and c.required]
    if missing:
        if unknown:
            raise SheetProblem(Msg(
                "The header row is not the template's. Missing columns: %(missing)s. Columns not recognised: %(unknown)s. Download the template and copy your data into it.",
                missing=_names(c.header for c in missing), unknown=_Joined(unknown)))
        raise SheetProblem(Msg(
            "The header row is not the template's. Missing columns: %(missing)s. Download the template and copy your data into it.",
            missing=_names(c.header for c in missing)))
    return positions


# ------------------------------------------------------------------------------------- a zone's own sheet


@dataclass
class TableRow:
    number: int  # the row's number in the sheet (1-based), for messages
    values: list[Any]  # one per header column: str, int, float, bool, date, datetime, time, CellError or None


@dataclass
class Table:
    headers: list[str]
    header_parts: list[tuple[str, ...]]
    header_rows: list[int]
    rows: list[TableRow]
    skipped_rows: list[int] = field(default_factory=list)  # totals rows dropped
    sheet_names: list[str] = field(default_factory=list)  # empty for a CSV


TOTAL_LABELS = frozenset({"合计", "总计", "小计", "共计", "总合计", "合计数", "total", "totals", "subtotal",
                          "grandtotal", "sum"})
_HEAD_ROWS = 20
_MAX_HEADER_ROWS = 3


def is_total_label(value: Any) -> bool:
    """A cell reading 合计, 总计, 小计, Total… (spaces, colons and brackets aside): the row is a totals row."""
    if type(value) is not str:
        return False
    return re.sub(r"[\s:：()（）\[\]【】]", "", unicodedata.normalize("NFKC", value)).casefold() in TOTAL_LABELS


def read_table(data: bytes, filename: str, *, sheet: int | str = 0, known_headers: Iterable[str] = (),
               max_rows: int = DEFAULT_MAX_ROWS) -> Table:
    """A zone's own sheet as a header and raw rows (see the module's docstring); SheetProblem when unusable."""
    raw, merges, sheet_names = _raw_rows(data, filename, sheet)
    known = {normalize_header(h) for h in known_headers} - {""}
    filler = _MergeFiller(merges)

    head: list[tuple[int, list[Any]]] = []  # the first rows, merged cells filled as a header's
    originals: list[tuple[int, list[Any]]] = []  # the same rows as read, for those that turn out to be data
    for number, values in raw:
        filled = filler.header(number, values)
        if not _blank_row(filled):
            head.append((number, filled))
            originals.append((number, values))
            if len(head) == _HEAD_ROWS:
                break
    if not head:
        raise SheetProblem(Msg("The file is empty."))
    at = _header_index(head, known)
    taken = [at]
    while (len(taken) < _MAX_HEADER_ROWS and taken[-1] + 1 < len(head)
           and _continues_header(head[taken[-1]], head[taken[-1] + 1], merges, known)):
        taken.append(taken[-1] + 1)
    header_rows = [head[i][0] for i in taken]
    width = max(len(head[i][1]) for i in taken)
    parts: list[tuple[str, ...]] = []
    for column in range(width):
        pieces: list[str] = []
        for i in taken:
            values = head[i][1]
            cell = values[column] if column < len(values) else None
            text = _parse_text(cell) if not _blank(cell) and not isinstance(cell, CellError) else ""
            if text and text not in pieces:
                pieces.append(text)
        parts.append(tuple(pieces))
    while parts and not parts[-1]:
        parts.pop()
    headers = [" ".join(p) for p in parts]
    seen: dict[str, str] = {}
    duplicates: list[str] = []
    for text in headers:
        key = normalize_header(text)
        if key and key in seen and seen[key] not in duplicates:
            duplicates.append(seen[key])
        seen.setdefault(key, text)
    if duplicates:
        raise SheetProblem(Msg("These columns appear more than once: %(columns)s.", columns=_Joined(duplicates)))

    table = Table(headers=headers, header_parts=parts, header_rows=header_rows, rows=[], sheet_names=sheet_names)
    last_header = header_rows[-1]
    width = len(headers)

    def data_rows() -> RawRows:
        yield from originals[taken[-1] + 1:]
        yield from raw

    for number, values in data_rows():
        if number <= last_header:
            continue
        values = filler.data(number, values)
        if _blank_row(values):
            continue
        values = [None if _blank(v) else (v.strip() if type(v) is str else v) for v in values[:width]]
        values.extend([None] * (width - len(values)))
        if any(is_total_label(v) for v in values):
            table.skipped_rows.append(number)
            continue
        if len(table.rows) == max_rows:
            raise _too_many_rows(max_rows)
        table.rows.append(TableRow(number, values))
    if not table.rows:
        raise SheetProblem(Msg("The file has a header row but no data rows."))
    return table


def _text_cells(values: list[Any]) -> list[str]:
    return [normalize_header(v) for v in values if type(v) is str and v.strip()]


def _header_index(head: list[tuple[int, list[Any]]], known: set[str]) -> int:
    if known:
        scores = [sum(1 for text in _text_cells(values) if text in known) for _number, values in head]
        best = max(scores)
        if best:
            return scores.index(best)
    distinct = [len(set(_text_cells(values))) for _number, values in head]
    widest = max(distinct)
    for index, (_number, values) in enumerate(head):
        filled = [v for v in values if not _blank(v)]
        mostly_text = sum(1 for v in filled if type(v) is str) * 2 >= len(filled)
        if distinct[index] >= 2 and distinct[index] * 2 >= widest and mostly_text:
            return index
    return 0


def _continues_header(upper: tuple[int, list[Any]], lower: tuple[int, list[Any]], merges: list[Merge],
                      known: set[str]) -> bool:
    """Whether the row below the header is a second header row: a merged header cell reaches down into it, or a
    header cell merged across columns stands over text in it, or (known headers) it names known columns under
    cells that are not known names."""
    top, bottom = upper[0], lower[0]
    if bottom != top + 1:
        return False
    values = lower[1]
    if any(isinstance(v, (int, float, date, datetime, time)) and not isinstance(v, bool) for v in values):
        return False
    for r0, c0, r1, c1 in merges:
        if (r0 <= top <= r1 < bottom and c1 > c0  # a group header over columns, its parts below it
                and any(type(v) is str and v.strip() for v in values[c0:c1 + 1])):
            return True
        if r0 <= top < bottom <= r1:  # a header cell merged down into this row
            return True
    if known:
        above = upper[1]
        for index, value in enumerate(values):
            if type(value) is str and normalize_header(value) in known:
                over = above[index] if index < len(above) else None
                if normalize_header(over) not in known:
                    return True
    return False


class _MergeFiller:
    """Fills merged cells from their top-left cell: across and down in header rows, down only in data rows."""

    def __init__(self, merges: list[Merge]) -> None:
        self.by_row: dict[int, list[Merge]] = {}
        for merge in merges:
            r0, _c0, r1, _c1 = merge
            for row in range(r0, min(r1, r0 + 100_000) + 1):
                self.by_row.setdefault(row, []).append(merge)
        self.origin: dict[Merge, Any] = {}

    def _fill(self, number: int, values: list[Any], across: bool) -> list[Any]:
        merges = self.by_row.get(number)
        if not merges:
            return values
        values = list(values)
        for merge in merges:
            r0, c0, _r1, c1 = merge
            if number == r0:
                self.origin[merge] = values[c0] if c0 < len(values) else None
            value = self.origin.get(merge)
            if _blank(value):
                continue
            last = c1 if across else c0
            while len(values) <= last:
                values.append(None)
            for column in range(c0, last + 1):
                if (column, number) != (c0, r0):
                    values[column] = value
        return values

    def header(self, number: int, values: list[Any]) -> list[Any]:
        return self._fill(number, values, across=True)

    def data(self, number: int, values: list[Any]) -> list[Any]:
        return self._fill(number, values, across=False)


class _Joined(Msg):
    """A list of names, each translated, joined with the reader's list separator."""

    def __init__(self, items: Iterable[Msg | str]) -> None:
        super().__init__("")
        object.__setattr__(self, "items", tuple(items))

    def translate(self, locale: str) -> str:
        separator = "、" if locale.startswith("zh") else ", "
        return separator.join(gettext(locale, i) if isinstance(i, Msg) else i for i in self.items)

    def __hash__(self) -> int:
        return hash(self.items)


def _names(headers: Iterable[Msg]) -> Msg:
    return _Joined(headers)


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def cell_value(value: Any, column: Column) -> tuple[Any, Msg | None]:
    """One raw cell (from read_table's rows) parsed as `column` says: (value, None), or (None, the problem)."""
    if type(value) is CellError:
        if value.code == "uncalculated":
            return None, Msg("The formula in this cell has no saved result. Open the file in Excel or WPS, let it calculate, save it and upload it again.")
        return None, Msg("The cell holds a formula error (%(error)s).", error=value.code)
    if isinstance(value, str):
        value = value.strip()
    if _blank(value):
        return None, (Msg("A value is required.") if column.required else None)
    parse = _PARSERS[column.kind]
    try:
        parsed = parse(value)
    except _Bad as bad:
        return None, bad.message(value)
    return parsed, _check_limits(parsed, column)


class _Bad(Exception):
    def __init__(self, msgid: str) -> None:  # msgid marked with N_ where raised
        self.msgid = msgid

    def message(self, value: Any) -> Msg:
        return Msg(self.msgid, value=_shown(value))


def _parse_text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() != time() else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, (bool, datetime, date, time)):
        raise _Bad(N_("“%(value)s” is not a number."))
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):  # calamine reads every number cell as a float: 12.0 is 12
        result = Decimal(int(value)) if value.is_integer() else Decimal(repr(value))
    else:
        text = re.sub(r"[\s,]", "", unicodedata.normalize("NFKC", str(value)))
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise _Bad(N_("“%(value)s” is not a number.")) from None
    if not result.is_finite():
        raise _Bad(N_("“%(value)s” is not a number."))
    return result


def _parse_int(value: Any) -> int:
    number = _to_decimal(value)
    if number != number.to_integral_value():
        raise _Bad(N_("“%(value)s” is not a whole number."))
    return int(number)


def _parse_decimal(value: Any) -> Decimal:
    return _to_decimal(value)


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})[日号]?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_MONTH_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月?$"),
    re.compile(r"^(\d{4})(\d{2})$"),
)


_EXCEL_DAY_ZERO = date(1899, 12, 30)  # the 1900 date system, after its 1900-02-29


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 20_000 <= value <= 80_000:
        return _EXCEL_DAY_ZERO + timedelta(days=int(value))  # a date cell that lost its format: Excel's day number
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value)))
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                break
    raise _Bad(N_("“%(value)s” is not a date (write it as 2026-03-15)."))


def _parse_month(value: Any) -> date:
    if isinstance(value, (datetime, date)):
        return date(value.year, value.month, 1)
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value)))
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    for pattern in _MONTH_PATTERNS:
        match = pattern.match(text)
        if match:
            if 1 <= int(match[2]) <= 12 and int(match[1]) >= 1900:
                return date(int(match[1]), int(match[2]), 1)
            break
    else:
        try:
            day = _parse_date(value)
        except _Bad:
            pass
        else:
            return date(day.year, day.month, 1)
    raise _Bad(N_("“%(value)s” is not a month (write it as 2026-03)."))


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    text = unicodedata.normalize("NFKC", str(value)).strip()
    try:
        return datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise _Bad(N_("“%(value)s” is not a date and time (write it as 2026-03-15 14:30).")) from None


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": _parse_text,
    "int": _parse_int,
    "decimal": _parse_decimal,
    "date": _parse_date,
    "month": _parse_month,
    "datetime": _parse_datetime,
}


def _limit_text(value: Any, kind: str) -> str:
    if kind == "month" and isinstance(value, date):
        return value.strftime("%Y-%m")
    if isinstance(value, Decimal):
        return f"{value:,f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _check_limits(value: Any, column: Column) -> Msg | None:
    if column.kind == "text":
        if column.max_length is not None and len(value) > column.max_length:
            return Msg("The text is %(length)s characters long; at most %(limit)s are allowed.", length=len(value), limit=column.max_length)
        return None
    if column.minimum is not None and value < column.minimum:
        return Msg("%(value)s is below the smallest allowed value, %(limit)s.", value=_limit_text(value, column.kind), limit=_limit_text(column.minimum, column.kind))
    if column.maximum is not None and value > column.maximum:
        return Msg("%(value)s is above the largest allowed value, %(limit)s.", value=_limit_text(value, column.kind), limit=_limit_text(column.maximum, column.kind))
    return None




# ---------------------------------------------------------------------------------------------------- writing

Translate = Callable[..., str]
_HEADER_COLOUR = "#E8EEF7"
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MAX_TEXT = 32_767  # Excel's limit for one cell
_ROWS_A_WRITE = 1_000  # rows handed to the sheet's file at once (XlsxBook.add_sheet)
_EXCEL_EPOCH = date(1899, 12, 30).toordinal()  # day 0 of the 1900 date system (after its 1900-02-29)
_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _column_width(column: Column, header: str) -> float:
    if column.width is not None:
        return column.width
    floor = {"text": 14, "int": 10, "decimal": 14, "date": 12, "month": 10, "datetime": 17}[column.kind]
    return min(max(floor, _display_width(header) + 2), 60)


def _clean(text: str) -> str:
    if _ILLEGAL.search(text) is not None:
        text = _ILLEGAL.sub("", text)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT]


def _xml_text(text: str) -> str:
    """Text for an inline string: XML's three characters escaped, characters XML cannot hold left out, cut at
    Excel's limit."""
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT]
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _ILLEGAL.sub("", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sheet_title(title: str) -> str:
    return re.sub(r"[\\/*?:\[\]]", " ", title)[:31].strip("'") or "Sheet1"


class _Worksheet(xlsxwriter.worksheet.Worksheet):
    """xlsxwriter's worksheet, stating fitToWidth="1" in a fitted page setup: xlsxwriter leaves the default out,
    and a reader that does not apply the default (openpyxl, some WPS versions) then sees no width fit."""

    def _xml_empty_tag(self, tag, attributes=None):
        if (tag == "pageSetup" and self.fit_page and attributes is not None
                and not any(name == "fitToWidth" for name, _value in attributes)):
            attributes = [*attributes, ("fitToWidth", self.fit_width)]
        return super()._xml_empty_tag(tag, attributes)

    def append_rows(self, first_row: int, rows: list[str], last_column: int) -> None:
        """Rows of ready <c> elements (one string a row), numbered from `first_row`, after every row written before
        them (constant-memory mode only). xlsxwriter's per-cell path (write_string/write_number: a cell object per
        value, then its XML) costs some 20 µs a cell, a minute and more for the full export's millions of cells;
        XlsxBook's column writers make each cell's XML in one step (about 2 µs) and hand the rows here a batch at a
        time. xlsxwriter still writes everything else (styles, the header, merged cells, print settings, the
        package) and keeps the sheet's dimensions."""
        if not rows:
            return
        last_row = first_row + len(rows) - 1
        if first_row > self.previous_row:
            self._write_single_row(first_row)  # the row xlsxwriter itself holds (the header) goes out first
        self.previous_row = last_row  # as if each row had gone through _write_single_row (none holds cells)
        self._check_dimensions(first_row, 0)
        self._check_dimensions(last_row, last_column)
        self.fh.write("".join([f'<row r="{number}">{cells}</row>'
                               for number, cells in enumerate(rows, start=first_row + 1)]))


class _PackageZip(zipfile.ZipFile):
    """The zip xlsxwriter packs the workbook's parts into, at zlib level 1 instead of the default 6: about three
    times faster on the sheets' XML (the full export's gigabyte and more of it), for a file about a fifth larger.
    The content is the same; xlsxwriter offers no option for the level, so its module's name is pointed here."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("compresslevel", 1)
        super().__init__(*args, **kwargs)


xlsxwriter.workbook.ZipFile = _PackageZip


class XlsxBook:
    """An .xlsx written to `target` (a path or a binary file) by xlsxwriter in constant-memory mode, one sheet after
    another (`add_sheet`), then `close()`; or `with XlsxBook(...) as book:`. Each sheet: number formats per column
    kind (NUMBER_FORMATS), a bold shaded frozen header, column widths; text is always written as text, never as a
    formula; Msg values translated; aware datetimes shown in `timezone`. With a `layout` (SheetLayout): the title
    and note rows above the header and the print settings."""

    def __init__(self, target, *, translate: Translate, timezone: str = "Asia/Shanghai", tmpdir=None) -> None:
        self.translate = translate
        self.zone = ZoneInfo(timezone)
        options = {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                   "strings_to_urls": False, "default_date_format": NUMBER_FORMATS["date"]}
        if tmpdir is not None:  # where each sheet's rows wait until the file is assembled (default: the system's)
            options["tmpdir"] = str(tmpdir)
        self.book = xlsxwriter.Workbook(target, options)
        self.titles: set[str] = set()
        self._formats: dict[tuple, Any] = {}

    def __enter__(self) -> XlsxBook:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.book.close()

    def format(self, **properties) -> Any:
        key = tuple(sorted(properties.items()))
        if key not in self._formats:
            self._formats[key] = self.book.add_format(properties)
        return self._formats[key]

    def _unique_title(self, title: str) -> str:
        name, n = _sheet_title(title), 1
        while name.casefold() in self.titles:
            n += 1
            suffix = f" ({n})"
            name = _sheet_title(title)[:31 - len(suffix)] + suffix
        self.titles.add(name.casefold())
        return name

    def add_sheet(self, title: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
                  layout: SheetLayout | None = None, example_formats: bool = False) -> int:
        """Writes the sheet and returns how many data rows it holds. `example_formats`: the columns carry their
        number format too (a template, where the user types below the examples)."""
        sheet = self.book.add_worksheet(self._unique_title(title), worksheet_class=_Worksheet)
        translate = self.translate
        headers = [translate(c.header) for c in columns]
        header_format = self.format(bold=True, bg_color=_HEADER_COLOUR, pattern=1,
                                    **({"align": "center", "valign": "vcenter", "text_wrap": True} if layout else {}))
        header_row = layout.header_row - 1 if layout else 0
        last = max(len(columns) - 1, 0)
        text_style = self.format(valign="top", text_wrap=True) if layout else None
        for index, (column, header) in enumerate(zip(columns, headers, strict=True)):
            column_format = self.format(num_format=column.format) if example_formats else None
            sheet.set_column(index, index, _column_width(column, header), column_format)
        if layout is not None:
            above = [(0, layout.title, self.format(bold=True, font_size=16, align="center", valign="vcenter"), 28)]
            if layout.note:
                above.append((1, layout.note, self.format(align="right", valign="vcenter"), 18))
            for number, text, style, height in above:
                text = _clean(translate(text) if isinstance(text, Msg) else text)
                sheet.set_row(number, height)
                if last:
                    sheet.merge_range(number, 0, number, last, text, style)
                else:
                    sheet.write_string(number, 0, text, style)
        for index, header in enumerate(headers):
            sheet.write_string(header_row, index, _clean(header), header_format)
        sheet.freeze_panes(header_row + 1, 0)
        if layout is not None:
            sheet.repeat_rows(header_row)
            sheet.set_landscape() if layout.landscape else sheet.set_portrait()
            sheet.set_paper(9)
            sheet.fit_to_pages(1, 0)
            sheet.center_horizontally()
            sheet.hide_gridlines(0)
            sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
            sheet.set_header("", {"margin": 0.3})
            sheet.set_footer("&C&P / &N", {"margin": 0.3})
        fills = {rgb.upper(): self.format(bg_color=f"#{rgb.upper()}", pattern=1, valign="top", text_wrap=True)
                 for rgb in (layout.fills if layout else ())}
        writers = []
        for index, column in enumerate(columns):
            text_format = text_style or (self.format(num_format=column.format) if example_formats else None)
            number_format = self.format(num_format=column.format) if column.kind != "text" else None
            writers.append(self._cell_writer(xl_col_to_name(index), column, number_format, text_format, fills))
        count, first, batch = 0, header_row + 1, []
        for number, values in enumerate(rows, start=header_row + 2):
            reference = str(number)
            batch.append("".join([write(reference, value) for write, value
                                  in zip(writers, values, strict=False) if value is not None]))
            if len(batch) == _ROWS_A_WRITE:
                sheet.append_rows(first, batch, last)
                count += len(batch)
                first, batch = first + len(batch), []
        sheet.append_rows(first, batch, last)
        return count + len(batch)

    def _cell_writer(self, letter: str, column: Column, number_format, text_format,
                     fills: dict[str, Any]) -> Callable[[str, Any], str]:
        """A function (row reference, value) → the <c> element of one column's cell ("" for an empty one). The
        common type of each column kind is tried first: this runs for every cell of an export."""
        translate, zone = self.translate, self.zone
        as_date = column.kind in ("date", "month")

        def style(fmt) -> str:
            return f' s="{fmt._get_xf_index()}"' if fmt is not None else ""

        text_cell = f'<c r="{letter}%s"{style(text_format)} t="inlineStr"><is><t xml:space="preserve">%s</t></is></c>'
        number_cell = f'<c r="{letter}%s"{style(number_format)}><v>%s</v></c>'
        fill_cells = {rgb: f'<c r="{letter}%s"{style(fmt)} t="inlineStr"><is><t xml:space="preserve">%s</t></is></c>'
                      for rgb, fmt in fills.items()}

        def text(row: str, value: str) -> str:
            return text_cell % (row, _xml_text(value)) if value else ""

        def serial(moment: datetime) -> str:
            days = moment.toordinal() - _EXCEL_EPOCH
            seconds = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
            return str(days) if not seconds else repr(days + seconds / 86400)

        def other(row: str, value: Any) -> str:
            if isinstance(value, Filled):
                shown = translate(value.text) if isinstance(value.text, Msg) else value.text
                return fill_cells[value.fill.upper()] % (row, _xml_text(shown))
            if isinstance(value, Msg):
                value = translate(value)
            if isinstance(value, str):
                return text(row, value)
            if column.kind == "text":
                return text(row, _parse_text(value))
            if isinstance(value, bool):
                return f'<c r="{letter}{row}" t="b"><v>{int(value)}</v></c>'
            if isinstance(value, datetime):
                if value.tzinfo is not None:
                    value = value.astimezone(zone).replace(tzinfo=None)
                if as_date:
                    value = datetime.combine(value.date(), time())
                return number_cell % (row, serial(value))
            if isinstance(value, date):
                return number_cell % (row, value.toordinal() - _EXCEL_EPOCH)
            if isinstance(value, Decimal):
                return number_cell % (row, format(value, "f")) if value.is_finite() else ""
            if isinstance(value, int):
                return number_cell % (row, value)
            if isinstance(value, float):
                return number_cell % (row, repr(value)) if math.isfinite(value) else ""
            return text(row, str(value))

        if column.kind == "text":
            def cell(row: str, value: Any) -> str:
                if type(value) is str:
                    return text_cell % (row, _xml_text(value)) if value else ""
                return other(row, value)
        elif column.kind == "decimal":
            def cell(row: str, value: Any) -> str:
                if type(value) is Decimal and value.is_finite():
                    return number_cell % (row, format(value, "f"))
                return other(row, value)
        elif column.kind == "int":
            def cell(row: str, value: Any) -> str:
                if type(value) is int:
                    return number_cell % (row, value)
                return other(row, value)
        elif as_date:
            def cell(row: str, value: Any) -> str:
                if type(value) is date:
                    return number_cell % (row, value.toordinal() - _EXCEL_EPOCH)
                return other(row, value)
        elif column.kind == "datetime":
            def cell(row: str, value: Any) -> str:
                if type(value) is datetime:
                    if value.tzinfo is not None:
                        value = value.astimezone(zone).replace(tzinfo=None)
                    return number_cell % (row, serial(value))
                return other(row, value)
        else:
            cell = other
        return cell


def write_xlsx(target, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, translate: Translate,
               timezone: str = "Asia/Shanghai", title: str = "Sheet1", layout: SheetLayout | None = None) -> None:
    """Rows into a one-sheet .xlsx written to `target` (a path or a binary file) in constant memory (XlsxBook)."""
    with XlsxBook(target, translate=translate, timezone=timezone) as book:
        book.add_sheet(title, columns, rows, layout=layout)


def template_xlsx(columns: Sequence[Column], *, translate: Translate, example_rows: Iterable[Sequence[Any]] = ()) -> bytes:
    """An import template: the header row in the reader's language (bold, frozen), widths, formats, examples."""
    out = io.BytesIO()
    with XlsxBook(out, translate=translate) as book:
        book.add_sheet("Sheet1", columns, example_rows, example_formats=True)
    return out.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell that Excel or WPS will show as typed: text starting with =, +, -, @, a tab or a carriage
    return would be read as a formula (formula injection), so it gets a leading apostrophe (OWASP's advice). Numbers
    are left alone: a negative amount stays a number."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """A row for `csv.writer`: every cell through `csv_cell`. Every CSV the CRM writes goes through it."""
    return [csv_cell(value) for value in values]



def content_disposition(filename: str) -> str:
    """attachment, with an ASCII fallback name and the real one in UTF-8 (RFC 5987/6266): 项目.xlsx works."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem).strip("_.") or "export"
    ascii_name = f"{ascii_stem}.{extension}" if extension else ascii_stem
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def xlsx_response(filename_stem: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
                  translate: Translate, timezone: str = "Asia/Shanghai",
                  layout: SheetLayout | None = None) -> StreamingResponse:
    """A download of `rows` (one sequence of values per row, in `columns`' order): Msg values are translated,
    aware datetimes shown in `timezone`, numbers and dates keep their type with the column's number format.
    Built in constant memory into a temporary file (memory up to 8 MB, then disk) and streamed from it."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (closed after streaming)
    try:
        write_xlsx(spool, columns, rows, translate=translate, timezone=timezone, title=filename_stem, layout=layout)
        length = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise

    def chunks() -> Iterator[bytes]:
        while block := spool.read(256 * 1024):
            yield block

    headers = {
        "Content-Disposition": content_disposition(f"{filename_stem}.xlsx"),
        "Content-Length": str(length),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(chunks(), media_type=XLSX_MEDIA_TYPE, headers=headers, background=BackgroundTask(spool.close))


def xlsx_download(request, filename_stem: Msg | str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
                  layout: SheetLayout | None = None) -> StreamingResponse:
    """xlsx_response in the request's language and the zone's time zone, the file named `<stem>-<today>.xlsx`
    (机构-2026-03-15.xlsx): what a list's "下载 Excel" link returns. `layout`: a printed table's (SheetLayout)."""
    from crm.audit import web as audit_web  # audited (安全审计): which list, which filters, how many rows
    from crm.web import local_today  # crm.web imports the templates; only routes call this

    locale = getattr(request.state, "locale", "zh_CN")

    def translate(message, **params) -> str:
        return gettext(locale, message, **params)

    stem = translate(filename_stem) if isinstance(filename_stem, Msg) else filename_stem
    counted = audit_web.Counted(rows)
    response = xlsx_response(f"{stem}-{local_today(request).isoformat()}", columns, counted, translate=translate,
                             timezone=request.app.state.settings.timezone, layout=layout)
    audit_web.record_download(request, name=gettext("en", filename_stem), rows=counted.count,
                              file_format="xlsx")
    return response
