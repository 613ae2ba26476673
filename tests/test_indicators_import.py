"""Importing indicator figures: a good file, a bad file (every problem listed by row and column, nothing written),
re-importing changes nothing, the template reads back, whole-file problems."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest
from sqlalchemy import select

from crm.audit.models import AuditEntry
from crm.indicators import service
from crm.indicators.models import Indicator, IndicatorValue
from tests.conftest import login, post
from tests.helpers import count_rows


@pytest.fixture
def manager(client, users, session):
    service.ensure_defaults(session)
    session.commit()
    login(client, "manager")
    return client


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(client, data: bytes, name: str = "figures.xlsx"):
    return client.post("/indicators/import", data={"csrf_token": client.csrf},
                       files={"file": (name, data, "application/octet-stream")})


GOOD = [("指标", "期间", "数值", "单位"),
        ("一般公共预算收入", "2025-01", 1200.5, "万元"),
        ("一般公共预算收入", "2025-02", "1,300", "万元"),
        ("Tax revenue", "2025/1", 900, ""),
        ("地区生产总值", "2025-Q1", 45000, "万元"),
        ("城镇居民人均可支配收入", "2025年第一季度", 12000, "元")]


def test_a_good_file_is_imported_and_reimporting_changes_nothing(manager, session):
    response = _upload(manager, _xlsx(GOOD))
    assert response.status_code == 303, response.text
    assert count_rows(session, IndicatorValue) == 5
    session.expire_all()
    revenue = session.scalar(select(Indicator).where(Indicator.code == "budget_revenue"))
    values = dict(session.execute(select(IndicatorValue.period, IndicatorValue.value)
                                  .where(IndicatorValue.indicator_id == revenue.id)).all())
    assert values == {1: pytest.approx(1200.5), 2: 1300}
    entries = count_rows(session, AuditEntry)
    versions = sorted(session.scalars(select(IndicatorValue.version)))
    session.commit()
    again = _upload(manager, _xlsx(GOOD))
    assert again.status_code == 303
    assert count_rows(session, IndicatorValue) == 5
    assert count_rows(session, AuditEntry) == entries  # nothing changed, nothing audited
    assert sorted(session.scalars(select(IndicatorValue.version))) == versions


def test_a_bad_file_lists_every_problem_and_writes_nothing(manager, session):
    future = f"{date.today().year + 1}-01"
    bad = [("指标", "期间", "数值"),
           ("一般公共预算收入", "2025-01", 100),  # 2: fine alone
           ("不存在的指标", "2025-01", 100),  # 3: unknown indicator
           ("一般公共预算收入", "2025-01", 200),  # 4: same indicator and period as row 2
           ("税收收入", future, 50),  # 5: future period
           ("出口额", "2025-02", "abc"),  # 6: not a number
           ("地区生产总值", "2025-03", 10),  # 7: a month for a quarterly indicator
           ("进出口总额", "2025-02", -5),  # 8: negative
           ("实际使用外资", "sometime", 5)]  # 9: not a period
    response = _upload(manager, _xlsx(bad))
    assert response.status_code == 422
    text = response.text
    assert count_rows(session, IndicatorValue) == 0
    import re

    cells = re.findall(r'<td data-label="[^"]*" class="num">(\d+)</td><td data-label="[^"]*">([^<]*)</td>', text)
    rows = sorted({int(r) for r, _c in cells})
    assert rows == [3, 4, 5, 6, 7, 8, 9]
    assert ("3", "指标") in cells and ("5", "期间") in cells and ("6", "数值") in cells and ("8", "数值") in cells
    assert "2 和 4" in text or "2 and 4" in text  # the duplicate names both rows
    assert "不存在的指标" in text


@pytest.mark.parametrize("payload,name,fragment", [
    (b"", "x.xlsx", "empty"),
    (b"%PDF-1.4 not a sheet\x00\x01", "x.xlsx", "not a spreadsheet"),
    ("名称,金额\n甲,1\n".encode(), "x.csv", "header row"),
])
def test_unusable_files_are_refused_with_a_message(manager, session, payload, name, fragment):
    post(manager, "/language", {"locale": "en"})
    response = _upload(manager, payload, name)
    assert response.status_code == 422
    assert fragment in response.text
    assert count_rows(session, IndicatorValue) == 0


def test_csv_import(manager, session):
    csv = "指标,期间,数值\n出口额,2025-03,88\n".encode()
    assert _upload(manager, csv, "figures.csv").status_code == 303
    assert count_rows(session, IndicatorValue) == 1


def test_the_template_reads_back_and_imports_once_filled(manager, session):
    response = manager.get("/indicators/import/template.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("指标", "期间", "数值")
    sheet = book.active
    for r in range(2, sheet.max_row + 1):
        sheet.cell(row=r, column=3, value=10)
    out = io.BytesIO()
    book.save(out)
    assert _upload(manager, out.getvalue()).status_code == 303
    assert count_rows(session, IndicatorValue) == len(rows) - 1


def test_officers_cannot_import(client, users, session):
    login(client, "officer")
    assert _upload(client, _xlsx(GOOD)).status_code == 403
    assert count_rows(session, IndicatorValue) == 0
