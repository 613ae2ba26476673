"""crm.spreadsheets: every bad input gets a clear message, good files parse into typed values, templates round-trip."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from crm.i18n import Msg, gettext
from crm.spreadsheets import (
    XLSX_MEDIA_TYPE,
    Column,
    SheetProblem,
    content_disposition,
    read_sheet,
    template_xlsx,
    write_xlsx,
    xlsx_response,
)

COLUMNS = (
    Column("enterprise", Msg("Organization"), "text", max_length=20),
    Column("month", Msg("Month"), "month"),
    Column("exports", Msg("Total investment (10k CNY)"), "decimal", minimum=Decimal(0), maximum=Decimal(1_000_000)),
    Column("jobs", Msg("Jobs"), "int", required=False, minimum=0),
    Column("signed_on", Msg("Signed on"), "date", required=False),
)
ENGLISH = ["Organization", "Month", "Total investment (10k CNY)", "Jobs", "Signed on"]


def zh(message, **params) -> str:
    return gettext("zh_CN", message, **params)


def en(message, **params) -> str:
    return gettext("en", message, **params)


def xlsx(rows, header=ENGLISH) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    if header is not None:
        sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_bytes(rows, header=ENGLISH, encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def problem_of(data: bytes, filename: str = "figures.xlsx", **kwargs) -> SheetProblem:
    with pytest.raises(SheetProblem) as caught:
        read_sheet(data, filename, COLUMNS, **kwargs)
    return caught.value


def problems(result) -> list[tuple[int, str | None, str]]:
    return [(p.row, p.column_header and en(p.column_header), en(p.message)) for p in result.sorted_problems()]


def patch_sheet_xml(data: bytes, replace: dict[str, str]) -> bytes:
    """The workbook with its first sheet's XML edited: how a file saved by Excel holds cached formula results."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = content.decode()
                for old, new in replace.items():
                    assert old in text, old
                    text = text.replace(old, new)
                content = text.encode()
            target.writestr(item, content)
    return out.getvalue()


# ------------------------------------------------------------------------------------------------ good input


def test_xlsx_rows_parse_into_typed_values_with_sheet_row_numbers():
    data = xlsx([
        ["大唐智创", "2026-03", 1234.5, 12, datetime(2026, 3, 15)],
        [None, None, None, None, None],  # a blank row is skipped, row numbers stay the sheet's
        ["玉皇新能源", date(2026, 4, 20), "1,000.25", "7", "2026/4/2"],
        ["精进电动", "2026年5月", 0, None, "2026年5月6日"],
        ["现代医药港", "2026/6", Decimal("3"), 3.0, None],
    ])
    result = read_sheet(data, "figures.xlsx", COLUMNS)
    assert result.ok, problems(result)
    assert result.rows == [
        {"row_number": 2, "enterprise": "大唐智创", "month": date(2026, 3, 1), "exports": Decimal("1234.5"), "jobs": 12, "signed_on": date(2026, 3, 15)},
        {"row_number": 4, "enterprise": "玉皇新能源", "month": date(2026, 4, 1), "exports": Decimal("1000.25"), "jobs": 7, "signed_on": date(2026, 4, 2)},
        {"row_number": 5, "enterprise": "精进电动", "month": date(2026, 5, 1), "exports": Decimal("0"), "jobs": None, "signed_on": date(2026, 5, 6)},
        {"row_number": 6, "enterprise": "现代医药港", "month": date(2026, 6, 1), "exports": Decimal("3"), "jobs": 3, "signed_on": None},
    ]


def test_headers_match_in_either_language_with_spaces_full_width_parentheses_and_any_order():
    chinese = [zh(c.header) for c in COLUMNS]
    assert chinese != ENGLISH  # the catalog translates them
    lenient = [f"  {h.replace('(', '（').replace(')', '）')} " for h in chinese]
    header = [lenient[2], lenient[0], lenient[1], "备注"]  # another order, optional columns left out, an extra column
    result = read_sheet(xlsx([["12.5", "大唐智创", "2026-03", "note"]], header=header), "f.xlsx", COLUMNS)
    assert result.ok, problems(result)
    assert result.rows[0]["exports"] == Decimal("12.5")
    assert result.rows[0]["enterprise"] == "大唐智创"
    assert result.rows[0]["jobs"] is None


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_utf8_with_or_without_bom_and_gb18030(encoding):
    header = [zh(c.header) for c in COLUMNS]
    data = csv_bytes([["菏泽牡丹发制品", "2026/3", "88.8", "5", "2026-03-02"]], header=header, encoding=encoding)
    result = read_sheet(data, "出口.csv", COLUMNS)
    assert result.ok, problems(result)
    assert result.rows == [{"row_number": 2, "enterprise": "菏泽牡丹发制品", "month": date(2026, 3, 1),
                            "exports": Decimal("88.8"), "jobs": 5, "signed_on": date(2026, 3, 2)}]


def test_the_content_decides_not_the_name():
    assert read_sheet(csv_bytes([["A", "2026-03", "1"]], header=ENGLISH[:3]), "figures.xlsx", COLUMNS).ok
    assert read_sheet(xlsx([["A", "2026-03", 1]]), "figures.csv", COLUMNS).ok


def test_template_round_trip_fill_and_read_back():
    data = template_xlsx(COLUMNS, translate=zh, example_rows=[("示例企业", date(2026, 3, 1), Decimal("123.45"), 10, date(2026, 3, 9))])
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.active
    assert [c.value for c in sheet[1]] == [zh(c.header) for c in COLUMNS]
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b
    assert sheet.column_dimensions["A"].width >= 10
    assert sheet["C2"].number_format == "#,##0.00"
    sheet.append(["大唐智创", "2026-04", 77, None, None])
    sheet.append(["玉皇新能源", datetime(2026, 5, 1), 66.6, 3, "2026-05-03"])
    out = io.BytesIO()
    workbook.save(out)
    result = read_sheet(out.getvalue(), "template.xlsx", COLUMNS)
    assert result.ok, problems(result)
    assert [(r["enterprise"], r["month"], r["exports"]) for r in result.rows] == [
        ("示例企业", date(2026, 3, 1), Decimal("123.45")),
        ("大唐智创", date(2026, 4, 1), Decimal("77")),
        ("玉皇新能源", date(2026, 5, 1), Decimal("66.6")),
    ]
    english = load_workbook(io.BytesIO(template_xlsx(COLUMNS, translate=en))).active
    assert [c.value for c in english[1]] == ENGLISH


# ------------------------------------------------------------------------------------------------- bad cells


def test_every_bad_cell_is_reported_with_row_column_and_reason():
    data = xlsx([
        ["一个名字特别特别特别特别特别特别长的企业有限公司", "2026-13", "abc", 2.5, "yesterday"],
        [None, "2026-03", -1, -3, None],
        ["好企业", "March", 2_000_000, "x", "2026-02-30"],
    ])
    result = read_sheet(data, "f.xlsx", COLUMNS)
    assert len(result.rows) == 3
    assert problems(result) == [
        (2, "Organization", "The text is 24 characters long; at most 20 are allowed."),
        (2, "Month", "“2026-13” is not a month (write it as 2026-03)."),
        (2, "Total investment (10k CNY)", "“abc” is not a number."),
        (2, "Jobs", "“2.5” is not a whole number."),
        (2, "Signed on", "“yesterday” is not a date (write it as 2026-03-15)."),
        (3, "Organization", "A value is required."),
        (3, "Total investment (10k CNY)", "-1 is below the smallest allowed value, 0."),
        (3, "Jobs", "-3 is below the smallest allowed value, 0."),
        (4, "Month", "“March” is not a month (write it as 2026-03)."),
        (4, "Total investment (10k CNY)", "2,000,000 is above the largest allowed value, 1,000,000."),
        (4, "Jobs", "“x” is not a number."),
        (4, "Signed on", "“2026-02-30” is not a date (write it as 2026-03-15)."),
    ]
    # in the user's language
    assert zh(result.sorted_problems()[0].message) != en(result.sorted_problems()[0].message)
    assert re.search(r"[\u4e00-\u9fff]", zh(result.sorted_problems()[2].message))


def test_formula_errors_and_formulas_without_a_saved_result_are_problems():
    data = xlsx([["甲", "2026-03", 1], ["乙", "2026-03", 2], ["丙", "2026-03", 3], ["丁", "2026-03", 4]], header=ENGLISH[:3])
    data = patch_sheet_xml(data, {
        '<c r="C2" t="n"><v>1</v></c>': '<c r="C2" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
        '<c r="C3" t="n"><v>2</v></c>': '<c r="C3" t="e"><f>#REF!+1</f><v>#REF!</v></c>',
        '<c r="C4" t="n"><v>3</v></c>': '<c r="C4"><f>SUM(A1:A2)</f></c>',
        '<c r="C5" t="n"><v>4</v></c>': '<c r="C5" t="e"><f>"a"+1</f><v>#VALUE!</v></c>',
    })
    result = read_sheet(data, "f.xlsx", COLUMNS)
    assert [(row, message) for row, _, message in problems(result)] == [
        (2, "The cell holds a formula error (#DIV/0!)."),
        (3, "The cell holds a formula error (#REF!)."),
        (4, "The formula in this cell has no saved result. Open the file in Excel or WPS, let it calculate, save it and upload it again."),
        (5, "The cell holds a formula error (#VALUE!)."),
    ]


def test_a_formula_with_a_cached_value_reads_its_value():
    data = patch_sheet_xml(xlsx([["甲", "2026-03", 1]], header=ENGLISH[:3]),
                           {'<c r="C2" t="n"><v>1</v></c>': '<c r="C2"><f>A9*2</f><v>42.5</v></c>'})
    result = read_sheet(data, "f.xlsx", COLUMNS)
    assert result.ok and result.rows[0]["exports"] == Decimal("42.5")


def test_callers_add_their_own_problems_to_the_same_list():
    result = read_sheet(xlsx([["无此企业", "2026-03", 1]], header=ENGLISH[:3]), "f.xlsx", COLUMNS)
    result.add(result.rows[0]["row_number"], COLUMNS[0], Msg("No enterprise of this name"))
    assert not result.ok
    assert problems(result) == [(2, "Organization", "No enterprise of this name")]


# ----------------------------------------------------------------------------------------------- bad files


def test_an_empty_file():
    assert problem_of(b"").message.msgid == "The file is empty."
    assert problem_of(b"   \n\n", "f.csv").message.msgid == "The file is empty."
    assert problem_of(xlsx([], header=None)).message.msgid == "The file is empty."


def test_a_header_but_no_data_rows():
    assert problem_of(xlsx([[None, None]])).message.msgid == "The file has a header row but no data rows."
    assert problem_of(csv_bytes([]), "f.csv").message.msgid == "The file has a header row but no data rows."


def test_a_png_renamed_xlsx_and_other_non_spreadsheets():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    for data, name in [(png, "figures.xlsx"), (png, "figures.csv"), (b"\xff\xfe\xfa\x80\x81 binary", "f.csv")]:
        message = problem_of(data, name).message
        assert en(message) == "This file is not a spreadsheet. Upload an Excel workbook (.xlsx) or a CSV file."
        assert "电子表格" in zh(message) or zh(message) != en(message)
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    assert problem_of(docx.getvalue()).message.msgid.startswith("This file is not a spreadsheet")


def test_an_old_xls_says_to_save_as_xlsx():
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512
    assert "save it as .xlsx" in en(problem_of(ole, "figures.xls").message)
    assert "save it as .xlsx" in en(problem_of(ole, "renamed.xlsx").message)


def test_wrong_headers_say_which_are_missing():
    message = problem_of(xlsx([["a", "b", 1]], header=["Company", "Month", "Amount"])).message
    assert en(message) == (
        "The header row is not the template's. Missing columns: Organization, Total investment (10k CNY). "
        "Columns not recognised: Company, Amount. Download the template and copy your data into it.")
    chinese = zh(message)
    assert zh(Msg("Organization")) in chinese and "、" in chinese
    missing_only = problem_of(xlsx([["a"]], header=["Organization"])).message
    assert "Month, Total investment (10k CNY)" in en(missing_only)


def test_duplicate_headers():
    message = problem_of(xlsx([["a", "2026-03", 1, 2]], header=["Organization", "Month", "Total investment (10k CNY)", zh(Msg("Month"))])).message
    assert en(message) == "These columns appear more than once: Month."


def test_more_rows_than_the_limit():
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(ENGLISH[:3])
    for i in range(50_001):
        sheet.append([f"企业{i}", "2026-03", i])
    out = io.BytesIO()
    workbook.save(out)
    message = problem_of(out.getvalue()).message
    assert en(message) == "The file has more than 50,000 rows. Split it into files of at most 50,000 rows."
    at_limit = csv_bytes([[f"企业{i}", "2026-03", i] for i in range(10)], header=ENGLISH[:3])
    assert len(read_sheet(at_limit, "f.csv", COLUMNS, max_rows=10).rows) == 10
    big_csv = csv_bytes([[f"企业{i}", "2026-03", i] for i in range(11)], header=ENGLISH[:3])
    assert "more than 10 rows" in en(problem_of(big_csv, "f.csv", max_rows=10).message)


# -------------------------------------------------------------------------------------------------- writing


def test_write_xlsx_types_formats_time_zone_and_no_formulas_from_text():
    columns = (
        Column("name", Msg("Name")),
        Column("amount", Msg("Total investment (10k CNY)"), "decimal"),
        Column("jobs", Msg("Jobs"), "int"),
        Column("on", Msg("Date"), "date"),
        Column("at", Msg("Signed on"), "datetime"),
    )
    out = io.BytesIO()
    write_xlsx(out, columns, [
        ["=HYPERLINK(\"http://evil\")", Decimal("12345.678"), 12, date(2026, 3, 1), datetime(2026, 3, 1, 16, 30, tzinfo=UTC)],
        [Msg("Organization"), None, None, None, None],
    ], translate=zh, timezone="Asia/Shanghai")
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    assert [c.value for c in sheet[1]] == [zh(c.header) for c in columns]
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b
    name, amount, jobs, on, at = sheet[2]
    assert name.value == "=HYPERLINK(\"http://evil\")" and name.data_type == "s"
    assert amount.value == pytest.approx(12345.678) and amount.number_format == "#,##0.00"
    assert jobs.value == 12 and jobs.number_format == "#,##0"
    assert on.value == datetime(2026, 3, 1) and on.number_format == "yyyy-mm-dd"
    assert at.value == datetime(2026, 3, 2, 0, 30) and at.is_date  # 16:30 UTC is 00:30 the next day in Shanghai
    assert sheet["A3"].value == zh(Msg("Organization"))


def test_xlsx_response_streams_a_file_with_a_utf8_file_name():
    response = xlsx_response("项目", COLUMNS, [["a", date(2026, 3, 1), Decimal(1), 2, None]], translate=en)
    assert response.media_type == XLSX_MEDIA_TYPE
    assert response.headers["content-disposition"] == "attachment; filename=\"export.xlsx\"; filename*=UTF-8''%E9%A1%B9%E7%9B%AE.xlsx"
    assert content_disposition("projects 2026.xlsx") == "attachment; filename=\"projects_2026.xlsx\"; filename*=UTF-8''projects%202026.xlsx"
