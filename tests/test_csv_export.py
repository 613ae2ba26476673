"""CSV downloads cannot carry a spreadsheet formula: text that Excel or WPS would read as one (starting with =, +,
-, @, a tab or a carriage return) is written with a leading apostrophe; numbers stay numbers."""

from __future__ import annotations

import csv
import io

from crm.spreadsheets import csv_cell, csv_row
from tests.conftest import login
from tests.factories import make_org, make_project


def test_formula_text_is_neutralised_in_the_projects_csv(client, session, users):
    officer = users["officer"]
    investor = make_org(session, actor=officer, name="@SUM(1+1)*cmd")
    make_project(session, actor=officer, organizations=[investor], name='=HYPERLINK("http://evil.example","点我")',
                 total_investment_wan_cny="1200")
    make_project(session, actor=officer, name="-2+3 项目")
    make_project(session, actor=officer, name="普通项目")
    login(client, "officer")
    response = client.get("/projects/export.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    names = {row[0]: row for row in rows[1:]}
    assert "'=HYPERLINK(\"http://evil.example\",\"点我\")" in names
    assert names["'=HYPERLINK(\"http://evil.example\",\"点我\")"][1] == "'@SUM(1+1)*cmd"
    assert "'-2+3 项目" in names and "普通项目" in names
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)
    assert "1200" in names["'=HYPERLINK(\"http://evil.example\",\"点我\")"][4]


def test_csv_cell_rules():
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "a=b", "", "项目")] == [
        "'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "a=b", "", "项目"]
    assert csv_row([-5, 3.5, None, "=x"]) == [-5, 3.5, None, "'=x"]
