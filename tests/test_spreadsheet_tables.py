"""crm.spreadsheets beyond a template's sheet: a password-protected .xlsx and an old .xls (real OLE files built by
tests/fixtures/build_ole_fixtures.py), and read_table on a zone's own ledger (a title row, a header merged across
columns or spread over two rows, blank rows, totals rows, rows keeping their sheet numbers)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from crm.i18n import Msg, gettext
from crm.indicators import service as indicator_service
from crm.indicators.models import IndicatorValue
from crm.spreadsheets import CellError, Column, SheetProblem, cell_value, read_sheet, read_table
from tests.conftest import login, post
from tests.fixtures.build_ole_fixtures import biff8_workbook, compound_file
from tests.helpers import count_rows

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "The file is password-protected: remove the password, save it again and upload that copy."


def workbook(rows, merges=()) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    for merge in merges:
        sheet.merge_cells(merge)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_password_protected_and_old_excel_files():
    encrypted = (FIXTURES / "encrypted.xlsx").read_bytes()
    for name in ("客商名录.xlsx", "客商名录.xls", "renamed.csv"):
        with pytest.raises(SheetProblem) as caught:
            read_table(encrypted, name)
        assert caught.value.message.msgid == PASSWORD
        assert gettext("zh_CN", caught.value.message) == "文件设有打开密码，请去除密码后另存再上传"
    legacy = (FIXTURES / "legacy.xls").read_bytes()
    table = read_table(legacy, "名录.xls")
    assert table.sheet_names == ["名录"] and table.headers == ["企业名称", "投资额"] and table.header_rows == [1]
    assert [(r.number, r.values) for r in table.rows] == [(2, ["大唐智创", 1234.5]), (3, ["玉皇新能源", 88.0])]
    columns = (Column("name", Msg("Organization"), aliases=("企业名称",)),
               Column("amount", Msg("Total investment (10k CNY)"), "decimal", aliases=("投资额",)))
    result = read_sheet(legacy, "名录.xls", columns)
    assert result.ok and [r["amount"] for r in result.rows] == [Decimal("1234.5"), Decimal("88")]


def test_read_table_finds_the_header_under_a_title_and_across_merged_cells():
    data = workbook([
        ["2026年客商名录", None, None, None, None],
        ["序号", "企业名称", "投资额", None, "负责人"],
        [None, None, "总投资（万元）", "固定资产投资（万元）", None],
        [1, "大唐智创", 1200, 800, "张三"],
        [None, None, None, None, None],
        [2, "玉皇新能源", 300, None, "李四"],
        [None, "合 计", 1500, 800, None],
    ], merges=["A1:E1", "A2:A3", "B2:B3", "C2:D2", "E2:E3"])
    table = read_table(data, "名录.xlsx")
    assert table.header_rows == [2, 3]
    assert table.header_parts == [("序号",), ("企业名称",), ("投资额", "总投资（万元）"), ("投资额", "固定资产投资（万元）"), ("负责人",)]
    assert table.headers[2] == "投资额 总投资（万元）"
    assert [(r.number, r.values[1], r.values[2]) for r in table.rows] == [(4, "大唐智创", 1200.0), (6, "玉皇新能源", 300.0)]
    assert table.skipped_rows == [7]
    # known headers pick the header row, and a second row naming known columns joins it (no merged cells: a CSV)
    csv = "来访接待登记\n,,来访\n企业名称,联系人,日期\n大唐智创,王五,2026年3月5日\n\n总计,,\n".encode("gb18030")
    table = read_table(csv, "登记.csv", known_headers=["企业名称", "联系人", "来访日期", "日期"])
    assert table.header_rows == [3] and table.headers == ["企业名称", "联系人", "日期"]
    assert [(r.number, r.values) for r in table.rows] == [(4, ["大唐智创", "王五", "2026年3月5日"])]
    assert cell_value(table.rows[0].values[2], Column("on", Msg("Date"), "date")) == (date(2026, 3, 5), None)
    assert table.skipped_rows == [6] and table.sheet_names == []


def test_read_table_refuses_what_read_sheet_refuses():
    def problem(data, name="f.xlsx", **kwargs) -> str:
        with pytest.raises(SheetProblem) as caught:
            read_table(data, name, **kwargs)
        return caught.value.message.msgid

    assert problem(b"") == "The file is empty."
    assert problem(workbook([["企业名称", "联系人"]])) == "The file has a header row but no data rows."
    assert problem(workbook([["企业名称", "联系人", "企业 名称"], ["a", "b", "c"]])) == "These columns appear more than once: %(columns)s."
    assert problem("企业名称,金额\n" .encode() + "甲,1\n".encode() * 11, "f.csv", max_rows=10).startswith("The file has more than")
    assert problem(b"PK\x03\x04 broken").startswith("This file is not a spreadsheet")
    assert problem(workbook([["a", "b"], ["c", "d"]]), sheet=3) == "The workbook has no sheet “%(sheet)s”."
    value, message = cell_value(CellError("#DIV/0!"), Column("amount", Msg("Amount"), "decimal"))
    assert value is None and gettext("en", message) == "The cell holds a formula error (#DIV/0!)."


def test_imports_accept_an_old_xls_and_explain_a_password(client, users, session):
    indicator_service.ensure_defaults(session)
    session.commit()
    login(client, "manager")
    xls = compound_file([("Workbook", biff8_workbook("Sheet1", [
        ["指标", "期间", "数值"], ["一般公共预算收入", "2025-01", 1200.5], ["一般公共预算收入", "2025-02", 1300]]))])
    response = client.post("/indicators/import", data={"csrf_token": client.csrf},
                           files={"file": ("figures.xls", xls, "application/vnd.ms-excel")})
    assert response.status_code == 303, response.text[-800:]
    assert count_rows(session, IndicatorValue) == 2
    post(client, "/language", {"locale": "en"})
    encrypted = (FIXTURES / "encrypted.xlsx").read_bytes()
    for url in ("/indicators/import", "/exports/import"):
        response = client.post(url, data={"csrf_token": client.csrf},
                               files={"file": ("figures.xlsx", encrypted, "application/octet-stream")})
        assert response.status_code == 422 and "password-protected" in response.text, url
    response = client.post("/exports/import", data={"csrf_token": client.csrf},
                           files={"file": ("figures.xls", xls, "application/vnd.ms-excel")})
    assert response.status_code == 422 and "not an Excel workbook" not in response.text  # read, then checked
