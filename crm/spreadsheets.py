"""The one spreadsheet module: every import reads through `read_sheet`, every Excel download goes out through
`xlsx_response`, every "download a template" link through `template_xlsx`.

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

`Column(key, header, kind, required=True, minimum=None, maximum=None, max_length=None, width=None,
number_format=None, aliases=())`:
  kind is "text" | "int" | "decimal" | "date" | "month" | "datetime" (datetime is for exports; read as a date-time).
  A sheet's header matches a column in either language: the zh_CN translation, the English msgid, or an alias,
  compared after NFKC (full-width parentheses and spaces become ASCII), without whitespace, case-insensitively.
  A column with required=False may be left out of the sheet, and its cells may be blank (None).
Parsed values: text → str (stripped; a whole number typed in a number cell reads "12345", not "12345.0"),
  int → int, decimal → Decimal, date → date, month → the first day of the month (2026-03, 2026/3, 2026年3月,
  2026.3, 202603, a date, or a real date cell), datetime → naive datetime as written.
Whole-file problems raise `SheetProblem(message)`; bad cells become `RowProblem(row, column_header, message)`
  in `SheetResult.problems` (row is the 1-based row in the sheet; column_header None for a whole-row problem).
The content decides the format, not the name: a zip is read as .xlsx (openpyxl, read-only, cached formula
  values), an OLE file (old .xls) is refused with "save it as .xlsx", anything else must decode as text
  (UTF-8 with or without BOM, else GB18030) and is read as CSV (comma, or tab/semicolon when the header uses them).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import quote
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.worksheet._reader import FORMULA_TAG, VALUE_TAG, WorkSheetParser
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

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
_SPOOL_BYTES = 8 * 1024 * 1024  # an export is held in memory up to this size, then on disk
_ERROR_VALUES = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!"}


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
    """Every data row parsed and every bad cell reported; raises SheetProblem when the file as a whole is unusable."""
    if not data or not data.strip():
        raise SheetProblem(Msg("The file is empty."))
    name = (filename or "").lower()
    if data.startswith(_OLE_MAGIC) or (name.endswith(".xls") and not data.startswith(_ZIP_MAGIC)):
        raise SheetProblem(Msg("This is an old Excel file (.xls). Open it in Excel or WPS and save it as .xlsx (Excel workbook), then upload that."))
    raw_rows = _xlsx_rows(data) if data.startswith(_ZIP_MAGIC) else _csv_rows(data)
    return _parse(raw_rows, columns, max_rows)


def _not_a_spreadsheet() -> SheetProblem:
    return SheetProblem(Msg("This file is not a spreadsheet. Upload an Excel workbook (.xlsx) or a CSV file."))


class _Parser(WorkSheetParser):
    """openpyxl's sheet parser, marking a formula whose result was never saved (data_only would read it as blank)."""

    def parse_cell(self, element):
        cell = super().parse_cell(element)
        # A formula with no <v>, or an empty one when it is not a text formula (which may rightly return "")
        if (cell["value"] is None and element.find(FORMULA_TAG) is not None
                and (element.find(VALUE_TAG) is None or element.get("t") not in ("str", "s", "inlineStr"))):
            cell["data_type"] = "uncalculated"
        return cell


@dataclass(frozen=True)
class _Raw:
    value: Any
    error: str | None = None  # "#DIV/0!" etc., or "uncalculated"


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[_Raw]]]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
    except Exception as exc:  # a zip that is not a workbook (a .docx, a damaged file)
        raise _not_a_spreadsheet() from exc
    return _iter_xlsx(workbook, sheet)


def _iter_xlsx(workbook, sheet) -> Iterator[tuple[int, list[_Raw]]]:
    try:
        with sheet._get_source() as source:
            parser = _Parser(
                source, sheet._shared_strings, data_only=True, epoch=workbook.epoch,
                date_formats=workbook._date_formats, timedelta_formats=workbook._timedelta_formats,
            )
            for number, cells in parser.parse():
                row: list[_Raw] = []
                for cell in cells:
                    while len(row) < cell["column"] - 1:
                        row.append(_Raw(None))
                    value, kind = cell["value"], cell["data_type"]
                    if kind == "uncalculated":
                        row.append(_Raw(None, "uncalculated"))
                    elif kind == "e" or (isinstance(value, str) and value in _ERROR_VALUES and kind != "s"):
                        row.append(_Raw(value, str(value)))
                    else:
                        row.append(_Raw(value))
                yield number, row
    except SheetProblem:
        raise
    except Exception as exc:
        raise _not_a_spreadsheet() from exc
    finally:
        workbook.close()


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


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[_Raw]]]:
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


def _iter_csv(text: io.TextIOWrapper, delimiter: str) -> Iterator[tuple[int, list[_Raw]]]:
    try:
        reader = csv.reader(text, delimiter=delimiter)
        for values in reader:
            yield reader.line_num, [_Raw(v) for v in values]
    except csv.Error as exc:
        raise _not_a_spreadsheet() from exc


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse(raw_rows: Iterator[tuple[int, list[_Raw]]], columns: Sequence[Column], max_rows: int) -> SheetResult:
    header = None
    for _number, cells in raw_rows:
        if any(not _blank(c.value) for c in cells):
            header = cells
            break
    if header is None:
        raise SheetProblem(Msg("The file is empty."))
    positions = _match_headers(header, columns)

    result = SheetResult()
    count = 0
    for number, cells in raw_rows:
        if all(_blank(c.value) and c.error is None for c in cells):
            continue
        count += 1
        if count > max_rows:
            raise SheetProblem(Msg("The file has more than %(limit)s rows. Split it into files of at most %(limit)s rows.", limit=format(max_rows, ",")))
        row: dict[str, Any] = {"row_number": number}
        for column in columns:
            index = positions.get(column.key)
            cell = cells[index] if index is not None and index < len(cells) else _Raw(None)
            value, problem = _cell_value(cell, column)
            row[column.key] = value
            if problem is not None:
                result.problems.append(RowProblem(number, column.header, problem))
        result.rows.append(row)
    if count == 0:
        raise SheetProblem(Msg("The file has a header row but no data rows."))
    return result


def _match_headers(header: list[_Raw], columns: Sequence[Column]) -> dict[str, int]:
    variants = {column.key: _header_variants(column) for column in columns}
    positions: dict[str, int] = {}
    duplicates: list[Column] = []
    unknown: list[str] = []
    for index, cell in enumerate(header):
        text = normalize_header(cell.value)
        if not text:
            continue
        match = next((c for c in columns if text in variants[c.key]), None)
        if match is None:
            unknown.append(str(cell.value).strip())
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


def _cell_value(cell: _Raw, column: Column) -> tuple[Any, Msg | None]:
    if cell.error == "uncalculated":
        return None, Msg("The formula in this cell has no saved result. Open the file in Excel or WPS, let it calculate, save it and upload it again.")
    if cell.error:
        return None, Msg("The cell holds a formula error (%(error)s).", error=cell.error)
    value = cell.value
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
    elif isinstance(value, float):
        result = Decimal(repr(value))
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


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 20_000 <= value <= 80_000:
        return from_excel(value).date()  # a date cell that lost its date format: Excel's day number
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
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="E8EEF7")


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _column_width(column: Column, header: str) -> float:
    if column.width is not None:
        return column.width
    floor = {"text": 14, "int": 10, "decimal": 14, "date": 12, "month": 10, "datetime": 17}[column.kind]
    return min(max(floor, _display_width(header) + 2), 60)


def template_xlsx(columns: Sequence[Column], *, translate: Translate, example_rows: Iterable[Sequence[Any]] = ()) -> bytes:
    """An import template: the header row in the reader's language (bold, frozen), widths, formats, examples."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    for index, column in enumerate(columns, start=1):
        header = translate(column.header)
        cell = sheet.cell(row=1, column=index, value=header)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = _column_width(column, header)
        sheet.column_dimensions[letter].number_format = column.format
    for row_index, values in enumerate(example_rows, start=2):
        for index, (column, value) in enumerate(zip(columns, values, strict=False), start=1):
            cell = sheet.cell(row=row_index, column=index, value=_excel_value(value, column, translate, None))
            if column.kind == "text":
                cell.data_type = "s"
            cell.number_format = column.format
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _excel_value(value: Any, column: Column, translate: Translate, zone: ZoneInfo | None) -> Any:
    if value is None:
        return None
    if isinstance(value, Msg):
        return translate(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(zone) if zone else value
            value = value.replace(tzinfo=None)
        if column.kind in ("date", "month"):
            return value.date()
        return value
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, bool):
        return value
    if column.kind == "text" and isinstance(value, (int, float, Decimal)):
        return str(value)
    return value


_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '</Types>')
_ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK_RELS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL_NS}/styles" Target="styles.xml"/></Relationships>')
_BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "@": 49}
_EPOCH_DAY = date(1899, 12, 30).toordinal()  # Excel's day 0 (1900 date system, after its 1900-02-29)


_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return escape(ILLEGAL_CHARACTERS_RE.sub("", text))


def _styles(formats: list[str], layout: SheetLayout | None = None) -> tuple[str, dict[str, int]]:
    """styles.xml with cell style 0 (plain), 1 (the bold, shaded header) and one per number format; the style
    index of each format. With a layout, also "title", "note", "header" (wrapped, centred), "text" (wrapped) and
    "fill:<rgb>" for each of its fills."""
    custom = {f: 164 + i for i, f in enumerate(f for f in formats if f not in _BUILTIN_FORMATS)}
    ids = {f: custom.get(f, _BUILTIN_FORMATS.get(f, 0)) for f in formats}
    num_fmts = "".join(f'<numFmt numFmtId="{i}" formatCode="{escape(f, {chr(34): "&quot;"})}"/>' for f, i in custom.items())
    xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>',
           '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>']
    index = {}
    for f in formats:
        index[f] = len(xfs)
        xfs.append(f'<xf numFmtId="{ids[f]}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>')
    fills = [f.upper() for f in layout.fills] if layout else []
    if layout is not None:
        wrap = '<alignment vertical="top" wrapText="1"/>'
        for name, xf in (
                ("title", '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1" '
                          'applyAlignment="1"><alignment horizontal="center" vertical="center"/></xf>'),
                ("note", '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
                         '<alignment horizontal="right" vertical="center"/></xf>'),
                ("header", '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" '
                           'applyAlignment="1"><alignment horizontal="center" vertical="center" wrapText="1"/></xf>'),
                ("text", f'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">{wrap}</xf>')):
            index[name] = len(xfs)
            xfs.append(xf)
        for i, rgb in enumerate(fills):
            index[f"fill:{rgb}"] = len(xfs)
            xfs.append(f'<xf numFmtId="0" fontId="0" fillId="{3 + i}" borderId="0" xfId="0" applyFill="1" '
                       f'applyAlignment="1">{wrap}</xf>')
    fill_xml = "".join(f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/><bgColor indexed="64"/>'
                       '</patternFill></fill>' for rgb in fills)
    xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{_NS}">'
           + (f'<numFmts count="{len(custom)}">{num_fmts}</numFmts>' if custom else "")
           + '<fonts count="3"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
           '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
           '<font><b/><sz val="16"/><name val="Calibri"/><family val="2"/></font></fonts>'
           f'<fills count="{3 + len(fills)}"><fill><patternFill patternType="none"/></fill>'
           '<fill><patternFill patternType="gray125"/></fill>'
           '<fill><patternFill patternType="solid"><fgColor rgb="FFE8EEF7"/><bgColor indexed="64"/></patternFill></fill>'
           f'{fill_xml}</fills>'
           '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
    return xml, index


def _cell_writer(column: Column, letter: str, style: int, translate: Translate, zone: ZoneInfo,
                 styles: dict[str, int] | None = None) -> Callable[[Any, str], str]:
    """A function (value, row number) → the <c> element of one column's cell ("" for a blank). The common type of
    each column kind is tried first: this runs for every cell of an export. `styles`: a layout's (text wrapped,
    `Filled` cells)."""
    styles = styles or {}
    text_style = f' s="{styles["text"]}"' if "text" in styles else ""
    text_cell = f'<c r="{letter}%s" t="inlineStr"{text_style}><is><t xml:space="preserve">%s</t></is></c>'
    number_cell = f'<c r="{letter}%s" s="{style}"><v>%s</v></c>'
    as_date = column.kind in ("date", "month")

    def other(value: Any, row: str) -> str:
        if isinstance(value, Filled):
            text = translate(value.text) if isinstance(value.text, Msg) else value.text
            return (f'<c r="{letter}{row}" t="inlineStr" s="{styles[f"fill:{value.fill.upper()}"]}"><is>'
                    f'<t xml:space="preserve">{_xml_text(text)}</t></is></c>')
        if isinstance(value, Msg):
            value = translate(value)
        if isinstance(value, str):
            return text_cell % (row, _xml_text(value)) if value else ""
        if column.kind == "text":
            return text_cell % (row, _xml_text(_parse_text(value)))
        if isinstance(value, bool):
            return f'<c r="{letter}{row}" t="b"><v>{int(value)}</v></c>'
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(zone).replace(tzinfo=None)
            if as_date:
                return number_cell % (row, value.toordinal() - _EPOCH_DAY)
            seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
            return number_cell % (row, repr(value.toordinal() - _EPOCH_DAY + seconds / 86400))
        if isinstance(value, date):
            return number_cell % (row, value.toordinal() - _EPOCH_DAY)
        if isinstance(value, Decimal):
            return number_cell % (row, format(value, "f")) if value.is_finite() else ""
        if isinstance(value, int | float):
            return number_cell % (row, repr(value))
        return text_cell % (row, _xml_text(str(value)))

    if column.kind == "text":
        def cell(value: Any, row: str) -> str:
            if value is None:
                return ""
            if type(value) is str:
                return text_cell % (row, _xml_text(value)) if value else ""
            return other(value, row)
    elif column.kind == "decimal":
        def cell(value: Any, row: str) -> str:
            if value is None:
                return ""
            if type(value) is Decimal and value.is_finite():
                return number_cell % (row, format(value, "f"))
            return other(value, row)
    elif column.kind == "int":
        def cell(value: Any, row: str) -> str:
            if value is None:
                return ""
            if type(value) is int:
                return number_cell % (row, value)
            return other(value, row)
    else:
        def cell(value: Any, row: str) -> str:
            return "" if value is None else other(value, row)
    return cell


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


def write_xlsx(target, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, translate: Translate,
               timezone: str = "Asia/Shanghai", title: str = "Sheet1", layout: SheetLayout | None = None) -> None:
    """Rows into an .xlsx written to `target` (a path or a binary file) in constant memory: the sheet is serialised
    row by row straight into the zip (deflated as it goes). openpyxl's write-only mode does the same but, without
    lxml, spends some 20 s of pure-Python XML building on 50,000 rows of 13 columns; this takes about 2 s.
    Number formats per column kind (NUMBER_FORMATS), a bold shaded frozen header, column widths; text is always
    written as text (inline strings), never as a formula. The files are checked by reading them back with openpyxl.
    With a `layout` (SheetLayout): the title and note rows above the header, print settings (see SheetLayout)."""
    zone = ZoneInfo(timezone)
    headers = [translate(c.header) for c in columns]
    formats = sorted({c.format for c in columns if c.kind != "text"})
    styles, style_of = _styles(formats, layout)
    letters = [get_column_letter(i) for i in range(1, len(columns) + 1)]
    writers = [_cell_writer(c, letter, style_of.get(c.format, 0), translate, zone, style_of if layout else None)
               for c, letter in zip(columns, letters, strict=True)]
    cols = "".join(f'<col min="{i}" max="{i}" width="{_column_width(c, h):g}" customWidth="1"/>'
                   for i, (c, h) in enumerate(zip(columns, headers, strict=True), start=1))
    sheet_name = _sheet_title(title)
    header_row = layout.header_row if layout else 1
    last = letters[-1] if letters else "A"
    defined = ""
    if layout is not None:  # the header rows repeated on every printed page
        quoted = "'" + sheet_name.replace("'", "''") + "'"
        defined = (f'<definedNames><definedName name="_xlnm.Print_Titles" localSheetId="0">'
                   f'{_xml_text(quoted)}!${header_row}:${header_row}</definedName></definedNames>')
    workbook = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_NS}" xmlns:r="{_REL_NS}">'
                f'<bookViews><workbookView/></bookViews><sheets><sheet name="{escape(sheet_name, {chr(34): "&quot;"})}" '
                f'sheetId="1" r:id="rId1"/></sheets>{defined}</workbook>')
    first = header_row + 1
    top = ""
    if layout is not None:
        above = [(1, layout.title, style_of["title"], 28)]
        if layout.note:
            above.append((2, layout.note, style_of["note"], 18))
        for number, text, style, height in above:
            text = translate(text) if isinstance(text, Msg) else text
            top += (f'<row r="{number}" ht="{height}" customHeight="1"><c r="A{number}" t="inlineStr" s="{style}"><is>'
                    f'<t xml:space="preserve">{_xml_text(text)}</t></is></c></row>')
    header_style = style_of["header"] if layout else 1
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", _ROOT_RELS)
        package.writestr("xl/workbook.xml", workbook)
        package.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        package.writestr("xl/styles.xml", styles)
        with package.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write((
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_NS}" xmlns:r="{_REL_NS}">'
                + ('<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>' if layout else "")
                + f'<sheetViews><sheetView workbookViewId="0"><pane ySplit="{header_row}" topLeftCell="A{first}" '
                f'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" activeCell="A{first}" '
                f'sqref="A{first}"/></sheetView></sheetViews>'
                f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>{top}<row r="{header_row}">'
                + "".join(f'<c r="{letter}{header_row}" t="inlineStr" s="{header_style}"><is><t xml:space="preserve">'
                          f'{_xml_text(h)}</t></is></c>' for letter, h in zip(letters, headers, strict=True))
                + "</row>").encode())
            buffer: list[str] = []
            append = buffer.append
            for number, values in enumerate(rows, start=first):
                row = str(number)
                append(f'<row r="{row}">')
                for write, value in zip(writers, values, strict=False):
                    if value is not None:
                        append(write(value, row))
                append("</row>")
                if len(buffer) > 20_000:
                    sheet.write("".join(buffer).encode())
                    buffer.clear()
            buffer.append("</sheetData>")
            if layout is not None:
                merged = [f"A1:{last}1"] + ([f"A2:{last}2"] if layout.note else [])
                buffer.append(f'<mergeCells count="{len(merged)}">'
                              + "".join(f'<mergeCell ref="{ref}"/>' for ref in merged) + "</mergeCells>"
                              '<printOptions horizontalCentered="1" gridLines="1"/>'
                              '<pageMargins left="0.4" right="0.4" top="0.5" bottom="0.5" header="0.3" footer="0.3"/>'
                              f'<pageSetup paperSize="9" orientation="{"landscape" if layout.landscape else "portrait"}" '
                              'fitToWidth="1" fitToHeight="0"/>'
                              '<headerFooter><oddFooter>&amp;C&amp;P / &amp;N</oddFooter></headerFooter>')
            buffer.append("</worksheet>")
            sheet.write("".join(buffer).encode())


def _sheet_title(title: str) -> str:
    return re.sub(r"[\\/*?:\[\]]", " ", title)[:31] or "Sheet1"


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
