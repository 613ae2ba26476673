"""Layout in a real browser (issue 16): on a 375-px phone and in a 1280-px window no page is wider than the screen
(the project board scrolls inside itself), the header is one line at 1280 px in Chinese and in English and a menu
below that width (without JavaScript too), the bell is an SVG icon, the board offers "Move to…" only on the cards
the reader may move, and the shared style's grey text keeps WCAG AA contrast (4.5:1) on every background it
stands on."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from crm.auth.models import User
from tests import factories
from tests.e2e.test_organizations_browser import sign_in

pytestmark = pytest.mark.e2e

PAGES = ["/projects/board", "/visits", "/assessment", "/"]
ROLES = ["officer", "manager", "admin"]
HEADER_ONE_LINE_PX = 70  # one line is ~52 px; a second row of links or of the user box makes it ~100


def build_zone(db) -> dict[str, int]:
    """Demo-like data: long Chinese names, projects in several stages (one confidential, one the officer may only
    look at), visits of every kind, and the officer's targets for the year, so the assessment shows percentages."""
    from crm.assessment import service as assessment_service

    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    with db.write_sessions() as s:
        officer = factories.make_user(s, username="officer", display_name="张晓明")
        s.execute(update(User).where(User.id == officer.id).values(department="招商一科"))
        s.commit()
        colleague = factories.make_user(s, username="officer2", display_name="李四")
        manager = factories.make_user(s, username="manager", role="manager", display_name="练建军")
        factories.make_user(s, username="admin", role="admin", display_name="系统管理员")
        names = ["鲁西新材料科技有限公司", "无锡立德机器人股份有限公司", "青岛海纳智能装备制造有限公司",
                 "复星医药（集团）股份有限公司", "菏泽华盛纺织出口龙头企业培育有限公司", "台湾永信医药科技股份有限公司"]
        orgs = [factories.make_org(s, actor=officer, name=name) for name in names]
        stages = ["lead", "lead", "contact", "contact", "negotiating", "negotiating"]
        for i, (org, stage) in enumerate(zip(orgs, stages, strict=True)):
            factories.make_project(s, actor=officer, organizations=[org], stage=stage,
                                   name=f"{org.name[:6]}高性能复合材料及智能装备配套产业园项目{i}",
                                   total_investment_wan_cny=str(13230 * (i + 1)),
                                   is_confidential="1" if i == 1 else "")
        looked_at = factories.make_project(s, actor=colleague, organizations=[orgs[0]], stage="contact",
                                           name="李四负责的北方组装基地项目", total_investment_wan_cny="40000")
        own = factories.make_project(s, actor=officer, organizations=[orgs[2]], stage="contact",
                                     name="张晓明负责的智能装备配套项目", total_investment_wan_cny="9000")
        start = datetime(year, 12, 2, 1, 30, tzinfo=UTC)
        for i, kind in enumerate(["inbound", "outbound", "remote", "aftercare", "signing", "meeting"]):
            factories.make_visit(s, title=f"{orgs[i].name}来访考察及项目洽谈（第{i + 1}轮）", officer=officer,
                                 organizations=[orgs[i]], kind=kind, starts_at=start - timedelta(days=3 * i),
                                 status="done" if i % 2 else "planned")
        assessment_service.save_target(s, year=year, user_id=officer.id, version=None, actor=manager, data={
            "projects_signed": "4", "investment_signed_wan_cny": "200000", "foreign_capital_signed_wan_usd": "5000",
            "visits_received": "12", "projects_started": "2"})
        return {"looked_at": looked_at.id, "own": own.id}


def scroll_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def header_height(page: Page) -> float:
    return page.locator(".site-header").bounding_box()["height"]


def to_english(page: Page) -> None:
    """Through the account menu in the header, as a user would."""
    page.locator(".account-menu summary").click()
    page.locator("form[action='/language'] button[value='en']").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.parametrize("width", [375, 1280])
def test_no_page_is_wider_than_the_screen(new_page, db, width, backend, shots_dir):
    build_zone(db)
    for role in ROLES:
        page = new_page(width=width, height=800)
        sign_in(page, role)
        for path in PAGES:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            assert scroll_width(page) <= width, f"{role} {path} at {width} px: {scroll_width(page)} px wide"
            if path == "/projects/board":
                # the board still shows every stage: its own box scrolls sideways, the page does not
                board = page.locator(".kanban")
                assert board.evaluate("el => el.scrollWidth > el.clientWidth")
                assert page.locator(".kanban-column").count() >= 8
            if path == "/assessment":
                figure = page.locator("td .figure").filter(has_text="%").first
                box = figure.bounding_box()
                assert box and box["x"] + box["width"] <= width, f"{role}: a completion figure is cut off"
                download = page.locator("a[href^='/assessment/export.xlsx']")
                assert text_is_centred(download), f"{role}: the download button's text is not centred in it"
        page.screenshot(path=str(shots_dir / f"layout-{role}-{width}-{backend}.png"), full_page=True)


def text_is_centred(link) -> bool:
    """The link's text lies in the middle of its box, not stuck to its top."""
    return link.evaluate("""el => {
        const range = document.createRange(); range.selectNodeContents(el);
        const text = range.getBoundingClientRect(), box = el.getBoundingClientRect();
        return Math.abs((text.top + text.bottom) / 2 - (box.top + box.bottom) / 2) <= 3;
    }""")


@pytest.mark.parametrize("role", ["admin", "officer"])
def test_the_header_is_one_line_at_1280_px_in_chinese_and_english(new_page, db, role, backend, shots_dir):
    build_zone(db)
    page = new_page(width=1280, height=700)
    sign_in(page, role)
    for language in ("zh", "en"):
        if language == "en":
            to_english(page)
            expect(page.locator(".site-nav")).to_contain_text("My tasks")
        page.goto("/visits")
        assert header_height(page) < HEADER_ONE_LINE_PX, f"{role}/{language}: {header_height(page)} px"
        links = page.locator(".site-nav > a")
        tops = {round(links.nth(i).bounding_box()["y"]) for i in range(links.count())}
        assert len(tops) == 1, f"{role}/{language}: the navigation wraps onto {len(tops)} rows"
        for i in range(links.count()):  # no link breaks inside ("My / tasks")
            assert links.nth(i).evaluate("el => el.getClientRects().length") == 1
        assert scroll_width(page) <= 1280
        page.locator(".site-header").screenshot(path=str(shots_dir / f"header-{role}-{language}-{backend}.png"))
    if role == "admin":  # the admin's pages are one drop-down away
        page.locator(".nav-more summary").click()
        expect(page.locator(".nav-more a[href='/admin/users']")).to_be_visible()


def test_below_1260_px_the_navigation_is_a_menu_that_works_without_javascript(new_page, db):
    build_zone(db)
    page = new_page(width=1000, java_script_enabled=False)
    sign_in(page, "admin")
    page.goto("/visits")
    nav = page.locator(".site-nav")
    expect(nav).to_be_hidden()
    page.locator("label.nav-toggle-label").click()
    expect(nav).to_be_visible()
    expect(nav.locator("a[href='/tasks']")).to_be_visible()
    page.locator(".nav-more summary").click()
    expect(nav.locator("a[href='/admin/reminders']")).to_be_visible()
    # the account menu opens without JavaScript too, and signs out from there
    page.locator(".account-menu summary").click()
    expect(page.locator("form[action='/logout'] button")).to_be_visible()


def test_the_bell_is_an_svg_icon_with_its_name(new_page, db):
    build_zone(db)
    page = new_page(width=375)
    sign_in(page, "officer")
    page.wait_for_load_state("networkidle")  # the bell has replaced itself with the server's (hx-trigger load)
    bell = page.locator("#bell")
    expect(bell).to_have_attribute("aria-label", re.compile("通知"))
    expect(bell.locator("svg")).to_have_count(1)
    assert "🔔" not in bell.inner_text()
    box = bell.locator("svg").bounding_box()
    assert box and box["width"] >= 16 and box["height"] >= 16


def test_the_board_offers_move_only_on_the_cards_the_reader_may_move(new_page, db):
    ids = build_zone(db)
    page = new_page(width=375)
    sign_in(page, "officer")
    page.goto("/projects/board")
    expect(page.locator(f"#card-{ids['own']} a.card-move")).to_have_count(1)
    expect(page.locator(f"#card-{ids['looked_at']}")).to_be_visible()
    expect(page.locator(f"#card-{ids['looked_at']} a.card-move")).to_have_count(0)
    expect(page.locator(f"#card-{ids['looked_at']}")).not_to_have_attribute("data-movable", "1")


# Contrast of the shared style's grey text (WCAG 2 relative luminance; AA: 4.5:1 for normal text)

CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "app.css"


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_muted_text_has_aa_contrast_on_every_light_background_of_the_stylesheet():
    """--muted is the grey of help text, counts, badges and labels; it stands on the page, cards, table heads,
    badges, kanban columns and the coloured rows: every light background the stylesheet declares."""
    css = CSS.read_text(encoding="utf-8")
    variables = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    muted = variables["muted"]
    backgrounds = {c.lower() for c in re.findall(r"background(?:-color)?:\s*(#[0-9a-fA-F]{6})\b", css)}
    backgrounds |= {variables["bg"], "#ffffff"}
    light = sorted(c for c in backgrounds if luminance(c) > 0.6)
    assert "#eef1f5" in light  # the badge and the board's columns
    too_low = {c: round(contrast(muted, c), 2) for c in light if contrast(muted, c) < 4.5}
    assert not too_low, f"--muted {muted} is under 4.5:1 on {too_low}"
    assert "var(--muted," not in css  # no stale fallback colour beside the variable
