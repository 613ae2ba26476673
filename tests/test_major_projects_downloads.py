"""The 调度表 downloads (issue 18): the month's table as .xlsx in the office layout (merged title, units, landscape,
header repeated, the page's filters) read back with openpyxl, and as a landscape PDF read back with poppler (the
Chinese text, the CJK font embedded); confidential projects only for who may see them; both audited. Both
databases."""

from __future__ import annotations

import io
import subprocess
import tempfile
from decimal import Decimal

import openpyxl
from sqlalchemy import select

from crm.audit.models import AuditEntry
from crm.major_projects import service
from tests.conftest import post
from tests.factories import make_project
from tests.pdf_helpers import missing_glyphs, pdf_fonts, pdf_text
from tests.test_major_projects import month_before, today

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def audit(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    found = list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
    session.commit()
    return found


def _major(session, users, *, name, level, planned, owner="officer", confidential=False, description=""):
    y, _ = month_before(today())
    project = make_project(session, actor=users["manager"], owner=users[owner], name=name,
                           total_investment_wan_cny="50000", description=description,
                           **({"is_confidential": "1"} if confidential else {}))
    service.mark(session, project=project, data={f"is_{level}": "1", "listed_year": str(y),
                                                 "leader_id": users["manager"].id}, version=None,
                 actor=users["manager"])
    service.set_plan(session, project=project, year=y, planned=Decimal(planned), actor=users["manager"])
    return project


def board_zone(session, users):
    """A city project with last month's report, a provincial one without, a confidential one of `officer`."""
    y, m = month_before(today())
    city = _major(session, users, name="精进电动二期", level="city", planned="1200",
                  description="新建标准化厂房8万平方米")
    service.file_report(session, project=city, year=y, month=m, actor=users["officer"],
                        today=service.close_date(y, m, 5),  # on time
                        data={"completed_wan_cny": "150", "progress": "主体结构封顶", "problems": "临时用电未接入"})
    province = _major(session, users, name="复星医药产业园", level="province", planned="3000")
    secret = _major(session, users, name="保密合作项目", level="district", planned="600", confidential=True)
    return (y, m), city, province, secret


def _sheet(response):
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == XLSX
    return openpyxl.load_workbook(io.BytesIO(response.content)).active


def _rows_by_name(ws) -> dict[str, list]:
    return {row[1]: list(row) for row in ws.iter_rows(min_row=4, values_only=True) if row[1]}


def test_the_board_as_xlsx_in_the_office_layout(client_as, session, users):
    (y, m), *_ = board_zone(session, users)
    manager = client_as("manager")
    ws = _sheet(manager.get(f"/scheduling/export.xlsx?month={y}-{m:02d}"))
    assert ws["A1"].value == f"菏泽经济开发区重点项目调度表（{y}年{m}月）"
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert f"A1:{ws.cell(row=3, column=ws.max_column).column_letter}1" in merged
    assert "单位：万元" in ws["A2"].value and "序时进度" in ws["A2"].value
    header = [c.value for c in ws[3]]
    assert header[:5] == ["序号", "项目名称", "建设内容", "总投资（万元）", "年度计划投资（万元）"]
    assert [f"{n}月完成投资（万元）" for n in range(1, m + 1)] == header[5:5 + m]
    assert header[5 + m:] == [f"1—{m}月累计完成投资（万元）", "完成比例（%）", "序时进度（%）", "形象进度", "存在问题",
                              "包保领导", "责任单位", "状态", "原因"]
    rows = _rows_by_name(ws)
    assert set(rows) == {"精进电动二期", "复星医药产业园", "保密合作项目"}  # a manager sees every project
    row = dict(zip(header, rows["精进电动二期"], strict=True))
    assert row["建设内容"] == "新建标准化厂房8万平方米" and row["总投资（万元）"] == 50000
    assert row["年度计划投资（万元）"] == 1200 and row[f"{m}月完成投资（万元）"] == 150
    assert row[f"1—{m}月累计完成投资（万元）"] == 150 and row["完成比例（%）"] == 12.5
    assert row["序时进度（%）"] == float(round(Decimal(m * 100) / 12, 1))
    assert row["形象进度"] == "主体结构封顶" and row["存在问题"] == "临时用电未接入" and row["包保领导"] == "练建军"
    assert row["状态"] in ("绿", "黄", "红") and "12.5%" in row["原因"]
    assert rows["复星医药产业园"][header.index("形象进度")] == "（未报）"  # no report for the month, as on the page
    status_cell = ws.cell(row=4 + list(rows).index("精进电动二期"), column=header.index("状态") + 1)
    assert status_cell.fill.fgColor.rgb in ("FFC6EFCE", "FFFFEB9C", "FFFFC7CE")
    # print settings: landscape A4, fitted to the width, the header repeated on every page
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0 and ws.print_title_rows.replace("$", "") == "3:3"
    assert ws.freeze_panes == "A4"
    # the page's filters apply
    provincial = _rows_by_name(_sheet(manager.get(f"/scheduling/export.xlsx?month={y}-{m:02d}&level=province")))
    assert set(provincial) == {"复星医药产业园"}
    assert manager.get("/scheduling/export.xlsx?level=nonsense").status_code == 400
    # a confidential project only for who may see it
    assert "保密合作项目" in _rows_by_name(_sheet(client_as("officer").get(f"/scheduling/export.xlsx?month={y}-{m:02d}")))
    other = _rows_by_name(_sheet(client_as("officer2").get(f"/scheduling/export.xlsx?month={y}-{m:02d}")))
    assert "保密合作项目" not in other and "精进电动二期" in other
    # audited as downloads: which list, which filters, how many rows
    downloads = audit(session, "download")
    assert len(downloads) == 4
    assert downloads[0].changes["list"] == "/scheduling/export.xlsx" and downloads[0].changes["rows"] == 3
    assert downloads[0].changes["format"] == "xlsx"
    assert downloads[1].changes["filters"].get("level") == "province" and downloads[1].changes["rows"] == 1
    assert downloads[3].actor_id == users["officer2"].id and downloads[3].changes["rows"] == 2


def test_the_board_as_xlsx_in_english(client_as, session, users):
    (y, m), *_ = board_zone(session, users)
    manager = client_as("manager")
    post(manager, "/language", {"locale": "en"})
    ws = _sheet(manager.get(f"/scheduling/export.xlsx?month={y}-{m:02d}"))
    assert ws["A1"].value == f"Heze Economic Development Zone major-project scheduling table ({y}, month {m})"
    assert [c.value for c in ws[3]][:4] == ["No.", "Project name", "Construction content", "Total investment (10k CNY)"]


def test_the_board_as_a_landscape_pdf(client_as, session, users):
    (y, m), *_ = board_zone(session, users)
    manager = client_as("manager")
    response = manager.get(f"/scheduling/report.pdf?month={y}-{m:02d}")
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/pdf" and response.content.startswith(b"%PDF")
    assert "attachment" in response.headers["content-disposition"]
    pdf = response.content
    text = pdf_text(pdf)
    flat = "".join(text.split())
    assert f"菏泽经济开发区重点项目调度表（{y}年{m}月）" in flat
    for expected in ("精进电动二期", "复星医药产业园", "保密合作项目", "主体结构封顶", "临时用电未接入", "练建军",
                     "形象进度", "存在问题", "包保领导", "责任单位", "单位：万元"):
        assert expected in flat, expected
    fonts = pdf_fonts(pdf)
    assert fonts and all("Noto-Sans-CJK-SC" in f["name"] and f["emb"] == "yes" for f in fonts)
    assert not missing_glyphs(text)
    # landscape: the first page is wider than tall
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(pdf)
        handle.flush()
        info = subprocess.run(["pdfinfo", handle.name], capture_output=True, check=True, text=True).stdout
    width, height = (float(v) for v in info.split("Page size:")[1].split("pts")[0].split(" x "))
    assert width > height
    # the filters and the visibility apply
    assert "复星医药产业园" not in "".join(pdf_text(manager.get(
        f"/scheduling/report.pdf?month={y}-{m:02d}&level=city").content).split())
    hidden = "".join(pdf_text(client_as("officer2").get(f"/scheduling/report.pdf?month={y}-{m:02d}").content).split())
    assert "保密合作项目" not in hidden and "精进电动二期" in hidden
    # audited as PDFs
    pdfs = audit(session, "pdf")
    assert [(p.changes["document"], p.changes["rows"]) for p in pdfs] == [
        ("major_projects_board", 3), ("major_projects_board", 1), ("major_projects_board", 2)]
    assert pdfs[1].changes["filters"].get("level") == "city"


def test_the_page_links_both_downloads_with_its_filters(client_as, session, users):
    (y, m), *_ = board_zone(session, users)
    page = client_as("manager").get(f"/scheduling?month={y}-{m:02d}&level=city")
    assert page.status_code == 200
    assert f"/scheduling/export.xlsx?month={y}-{m:02d}&amp;level=city" in page.text
    assert f"/scheduling/report.pdf?month={y}-{m:02d}&amp;level=city" in page.text
