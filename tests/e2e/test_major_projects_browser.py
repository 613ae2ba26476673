"""Major-project scheduling in a real browser, on the demo zone: an officer files a month's report on a phone (375
px: nothing scrolls sideways, every field is on screen and takes typing); a manager opens the 调度表 with its three
colours, downloads it as .xlsx and PDF, and records a meeting's decision on an agenda item in place (htmx: the item
is replaced, the page stays)."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from crm import demo
from crm.major_projects import service as major_service
from crm.major_projects.models import CoordinationItem, MeetingDecision, MonthlyReport, SchedulingMeeting
from crm.projects.models import Project
from tests.e2e.test_organizations_browser import sign_in

pytestmark = pytest.mark.e2e

MISSING = "牡丹生物制剂生产线扩建项目"  # the demo's major project without a report for the month being reported
UNDECIDED = "施工许可证办结（审批服务局已受理）"  # an item the demo's meeting has not decided


def test_officer_files_a_report_on_a_phone_and_a_manager_downloads_the_table_and_records_a_decision(
        db, new_page, shots_dir, backend):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    year, month = major_service.report_month(today)
    with db.write_sessions() as s:
        demo.load(s, anchor=today)
        project_id = s.scalar(select(Project.id).where(Project.name == MISSING))
        meeting_id = s.scalar(select(SchedulingMeeting.id))
        item_id = s.scalar(select(CoordinationItem.id).where(CoordinationItem.need == UNDECIDED))

    # The officer, on a phone, files the missing month
    phone = new_page(width=375, height=800)
    sign_in(phone, "officer", demo.DEMO_PASSWORD)
    phone.goto(f"/scheduling/projects/{project_id}/reports/new?month={year}-{month:02d}")
    fields = {"#f-completed_wan_cny": "86", "#f-progress": "洁净车间设计定稿，设备招标完成（浏览器测试）。",
              "#f-problems": ""}
    for selector, value in fields.items():
        field = phone.locator(selector)
        expect(field).to_be_visible()
        box = field.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["width"] >= 200, selector
        if value:
            field.fill(value)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    phone.screenshot(path=str(shots_dir / f"major-report-phone-{backend}.png"), full_page=True)
    phone.locator("#report-form button[type=submit]").click()
    expect(phone).to_have_url(re.compile(r"/scheduling/reports/\d+$"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    with db.read_sessions() as s:
        report = s.scalar(select(MonthlyReport).where(MonthlyReport.project_id == project_id,
                                                      MonthlyReport.year == year, MonthlyReport.month == month))
        assert report is not None and str(report.completed_wan_cny) == "86.00"

    # The manager: the 调度表 with its colours, its downloads
    page = new_page()
    sign_in(page, "manager", demo.DEMO_PASSWORD)
    page.goto("/scheduling")
    for kind in ("ok", "warn", "danger"):
        expect(page.locator(f"#results td .badge-{kind}").first).to_be_visible()
    page.screenshot(path=str(shots_dir / f"major-board-{backend}.png"), full_page=True)
    for link, suffix, magic in (("#board-xlsx", ".xlsx", b"PK"), ("#board-pdf", ".pdf", b"%PDF")):
        with page.expect_download(timeout=20_000) as info:
            page.locator(link).click()
        download = info.value
        assert download.suggested_filename.endswith(suffix), download.suggested_filename
        with open(download.path(), "rb") as file:
            assert file.read(4).startswith(magic), link

    # … and records the meeting's decision on an item in place
    page.goto(f"/scheduling/meetings/{meeting_id}")
    url = page.url
    item = page.locator(f"#item-{item_id}")
    item.locator("textarea[name=decision]").fill("审批服务局三个工作日内办结施工许可（浏览器测试）。")
    item.locator("button[type=submit]").click()
    item = page.locator(f"#item-{item_id}")
    expect(item).to_contain_text("审批服务局三个工作日内办结施工许可（浏览器测试）。")
    expect(item.locator("strong")).to_be_visible()
    assert page.url == url  # in place: the agenda stays, only the item was replaced
    with db.read_sessions() as s:
        decision = s.scalar(select(MeetingDecision).where(MeetingDecision.meeting_id == meeting_id,
                                                          MeetingDecision.item_id == item_id))
        assert decision is not None and "浏览器测试" in decision.decision
