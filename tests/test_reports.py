"""Printable reports: the pipeline report (managers, the table's filters), a groundbreaking readiness roster (60
projects across pages with the header repeated), the export-leader progress report; read back with poppler."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import insert, select, update

from crm import demo
from crm.auth.models import User
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.organizations.models import Organization
from crm.projects.models import Project
from tests.conftest import login
from tests.factories import make_project
from tests.pdf_helpers import missing_glyphs, pdf_fonts, pdf_pages_text, pdf_text

ANCHOR = date(2026, 12, 6)


@pytest.fixture
def demo_zone(db, session):
    demo.load(session, anchor=ANCHOR)
    users = {u.username: u for u in session.scalars(select(User))}
    fosun = session.scalar(select(Organization).where(Organization.name == "复星集团"))
    make_project(session, actor=users["manager"], organizations=[fosun], name="复星保密合作项目", stage="negotiating",
                 owner=users["manager"], is_confidential="1", total_investment_wan_cny="50000")
    return users


def _pdf(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def test_pipeline_report_for_managers_with_the_tables_filters(client, other_client, demo_zone):
    login(client, "manager", demo.DEMO_PASSWORD)
    preview = client.get("/reports/pipeline")
    assert preview.status_code == 200 and "<svg" in preview.text and "funnel-chart" in preview.text
    pdf = _pdf(client, "/reports/pipeline?format=pdf")
    text = pdf_text(pdf)
    assert "项目推进报表" in text and "各阶段项目" in text and "合计" in text
    assert "复星集团生物医药产业园项目" in text and "复星保密合作项目" in text  # a manager sees every project
    assert "长期未推进的项目" in text and "近期阶段变更" in text
    assert all("Noto-Sans-CJK-SC" in f["name"] and f["sub"] == "yes" for f in pdf_fonts(pdf))
    assert not missing_glyphs(text)
    pages = pdf_pages_text(pdf)
    assert "第 1 页" in pages[0]
    # the pipeline table's filters apply
    negotiating = pdf_text(_pdf(client, "/reports/pipeline?format=pdf&stage=negotiating"))
    assert "复星保密合作项目" in negotiating and "复星集团生物医药产业园项目" not in negotiating
    assert client.get("/reports/pipeline?stage=nonsense").status_code == 400
    # officers may not print it
    login(other_client, "officer", demo.DEMO_PASSWORD)
    assert other_client.get("/reports/pipeline").status_code == 403
    assert other_client.get("/reports").status_code == 200


def test_groundbreaking_roster_prints_every_slated_project_with_the_header_on_each_page(client, session, demo_zone):
    event = session.scalar(select(GroundbreakingEvent))
    manager = demo_zone["manager"]
    ids = []
    for i in range(60):
        project = make_project(session, actor=manager, name=f"集中开工测试项目{i:02d}", stage="negotiating",
                               total_investment_wan_cny=str(5000 + i))
        ids.append(project.id)
    session.execute(update(Project).where(Project.id.in_(ids)).values(stage="permits", pipeline_stage="permits"))
    session.execute(insert(SlatedProject), [{"event_id": event.id, "project_id": pid, "position": 100 + n}
                                            for n, pid in enumerate(ids)])
    session.commit()
    login(client, "officer", demo.DEMO_PASSWORD)
    preview = client.get(f"/reports/groundbreaking/{event.id}")
    assert preview.status_code == 200 and "集中开工测试项目59" in preview.text
    pdf = _pdf(client, f"/reports/groundbreaking/{event.id}?format=pdf")
    pages = pdf_pages_text(pdf)
    assert len(pages) >= 5
    text = "".join(pages).replace("\n", "")
    for i in range(60):
        assert text.count(f"集中开工测试项目{i:02d}") == 1
    listing = [p for p in pages if "集中开工测试项目" in p]
    assert all("集体决策" in p.replace("\n", "") and "总投资" in p.replace("\n", "") for p in listing)  # the table's header on every page it spans
    assert not missing_glyphs(text)
    assert client.get("/reports/groundbreaking/999999").status_code == 404


def test_roster_leaves_out_confidential_projects_the_reader_may_not_see(client, session, demo_zone):
    event = session.scalar(select(GroundbreakingEvent))
    secret = session.scalar(select(Project).where(Project.name == "复星保密合作项目"))
    session.execute(update(Project).where(Project.id == secret.id).values(stage="permits", pipeline_stage="permits"))
    session.execute(insert(SlatedProject).values(event_id=event.id, project_id=secret.id, position=99))
    session.commit()
    login(client, "officer", demo.DEMO_PASSWORD)
    assert "复星保密合作项目" not in pdf_text(_pdf(client, f"/reports/groundbreaking/{event.id}?format=pdf"))


def test_export_leader_progress_report_for_a_month(client, session, demo_zone):
    login(client, "manager", demo.DEMO_PASSWORD)
    month = f"{ANCHOR.year}-{ANCHOR.month - 1:02d}"
    preview = client.get(f"/reports/exports?month={month}")
    assert preview.status_code == 200
    pdf = _pdf(client, f"/reports/exports?month={month}&format=pdf")
    text = pdf_text(pdf)
    assert "精进电动" in text and "序时进度" in text
    assert not missing_glyphs(text)
    first_page = pdf_pages_text(pdf)[0]
    assert "菏泽经济开发区" in first_page.split("精进电动")[0]  # a report's first page has its header (no cover)
    assert client.get("/reports/exports?month=2026-13").status_code == 400
    assert client.get("/reports/exports?month=soon").status_code == 400


def test_reports_in_english(client, demo_zone):
    from tests.conftest import post

    login(client, "manager", demo.DEMO_PASSWORD)
    post(client, "/language", {"locale": "en"})
    text = pdf_text(_pdf(client, "/reports/pipeline?format=pdf"))
    assert "Pipeline report" in text and "Page 1 of" in text


def _units(text: str) -> set[str]:
    return set(re.findall(r"亿元|万元", text))


def test_one_unit_per_money_column_in_the_pipeline_report_and_the_funnel(client, session, demo_zone):
    """A column of amounts (and a chart's bars with the total beside them) is in one unit, named in its header or
    on every figure: never 亿元 next to 万元."""
    manager = demo_zone["manager"]
    make_project(session, actor=manager, name="小额技改项目", stage="lead", total_investment_wan_cny="9800")
    login(client, "manager", demo.DEMO_PASSWORD)
    preview = client.get("/reports/pipeline").text
    for section_id in ("by-stage", "projects"):
        section = preview.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]
        header = section.split("</thead>", 1)[0]
        assert "总投资（亿元）" in header  # the demo's totals pass 1 亿: the column is in 亿元
        cells = re.findall(r'<td class="num">([^<]*)</td>', section.split("</thead>", 1)[1])
        assert cells and not _units("".join(cells))  # bare numbers under the header's unit
    assert ">0.98<" in preview  # 9,800 万元 in a 亿元 column
    funnel = preview.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert _units(funnel) == {"亿元"}
    text = pdf_text(_pdf(client, "/reports/pipeline?format=pdf"))
    assert "总投资（亿元）" in text and not any(_units(line) == {"亿元", "万元"} for line in text.splitlines())

    dashboard = client.get("/").text  # the funnel and the total beside it
    box = dashboard.split('id="pipeline-investment"', 1)[1].split("</figure>", 1)[0]
    assert _units(box) == {"亿元"}


def test_the_column_unit_helpers():
    from decimal import Decimal

    from crm.formatting import cny, cny_unit

    assert cny_unit([Decimal("9800"), None, Decimal("20000")]) == "yi"
    assert cny_unit([Decimal("9800"), Decimal("-500")]) == "wan" and cny_unit([]) == "wan"
    assert cny(Decimal("9800"), "yi") == "0.98" and cny(Decimal("9800"), "wan") == "9,800.00" and cny(None, "yi") == ""
