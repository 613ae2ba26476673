"""The managers' dashboard in a real browser, on the demo zone: the charts render (SVG with a size, text in them),
and every headline number is a link that opens the list behind it."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from crm import demo
from tests.e2e.test_organizations_browser import sign_in

pytestmark = pytest.mark.e2e

HEADLINES = ["#pipeline-count", "#pipeline-investment", "#pipeline-foreign", "#ready-green", "#ready-amber",
             "#ready-red", "#overdue-total", "#exports-behind-count", "#indicators-behind"]


def test_manager_dashboard_renders_its_charts_and_every_headline_number_opens_its_list(db, new_page, shots_dir,
                                                                                           backend):
    with db.write_sessions() as s:
        demo.load(s, anchor=datetime.now(ZoneInfo("Asia/Shanghai")).date())
    page = new_page()
    sign_in(page, "manager", demo.DEMO_PASSWORD)
    for chart in ("svg.funnel-chart", "#indicators svg.progress-chart", "#exports-behind svg.progress-chart"):
        svg = page.locator(chart)
        expect(svg).to_be_visible()
        box = svg.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 50, chart
        assert svg.locator("text").count() > 3, chart  # labelled, not colour alone
    page.screenshot(path=str(shots_dir / f"dashboard-manager-{backend}.png"), full_page=True)

    links = {}
    for selector in HEADLINES:
        number = page.locator(selector)
        expect(number).to_be_visible()
        link = number.locator("xpath=ancestor-or-self::a[1]")
        href = link.get_attribute("href")
        assert href and href.startswith("/"), selector
        links[selector] = href
    for stage_link in page.locator("#pipeline a[data-stage]").all():
        links[stage_link.get_attribute("data-stage")] = stage_link.get_attribute("href")

    for name, href in links.items():
        page.goto("/")  # from the dashboard each time: two links into one page differ only by their #fragment
        response = page.goto(href)
        assert response is not None and response.status == 200, (name, href)
        expect(page.locator("main h1").first).to_be_visible()
    # the pipeline's count is the projects table's count
    page.goto("/")
    count = page.locator("#pipeline-count").inner_text().strip()
    page.locator("#pipeline-count").click()
    expect(page).to_have_url(re.compile(r"/projects$"))
    expect(page.locator("main")).to_contain_text(count)


def test_officer_dashboard_on_a_phone(db, new_page, shots_dir, backend):
    with db.write_sessions() as s:
        demo.load(s, anchor=datetime.now(ZoneInfo("Asia/Shanghai")).date())
    page = new_page(width=375, height=800)
    sign_in(page, "officer", demo.DEMO_PASSWORD)
    for section in ("#my-tasks", "#my-projects", "#my-targets", "#my-week"):
        expect(page.locator(section)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
    page.screenshot(path=str(shots_dir / f"dashboard-officer-phone-{backend}.png"), full_page=True)
