"""The project board in a real browser: a card dragged across two stages (each move saved, the page never reloaded),
a drag the 三重一大 gate refuses (the card snaps back and the reason shows), the collective decision recorded on the
project page and the drag retried, the card's Move menu from the keyboard, and the December readiness board."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crm.auth.models import User
from crm.projects.models import Project, StageChange
from tests import factories
from tests.e2e.test_organizations_browser import sign_in
from tests.e2e.test_visits_browser import assert_same_document, keep_an_eye_on_navigation

pytestmark = pytest.mark.e2e


def add_projects(db, officer: User) -> dict[str, int]:
    with db.write_sessions() as s:
        actor = s.get(User, officer.id)
        fosun = factories.make_org(s, actor=actor, name="复星集团")
        luxi = factories.make_org(s, actor=actor, name="鲁西新材料科技有限公司")
        small = factories.make_project(s, actor=actor, organizations=[fosun], name="复星医药研发中心",
                                       total_investment_wan_cny="5000")
        major = factories.make_project(s, actor=actor, organizations=[luxi], name="高性能复合材料项目",
                                       stage="negotiating", total_investment_wan_cny="60000")
        return {"small": small.id, "major": major.id}


def stage_of(db, project_id: int) -> str:
    with db.write_sessions() as s:
        return s.get(Project, project_id).stage


def card(page: Page, project_id: int):
    return page.locator(f"#card-{project_id}")


def column(page: Page, stage: str):
    return page.locator(f"ul.kanban-cards[data-stage='{stage}']")


def drag(page: Page, project_id: int, stage: str) -> None:
    """Drags the card by its body onto the middle of the stage's column, with the mouse, in small steps (SortableJS
    watches the pointer)."""
    source = card(page, project_id).locator(".kanban-meta")
    target = column(page, stage)
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    target.scroll_into_view_if_needed()
    end = target.bounding_box()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + min(end["height"] / 2, 30), steps=12)
    page.mouse.up()


@pytest.fixture
def manager(db):
    with db.write_sessions() as s:
        return factories.make_user(s, username="manager", role="manager", display_name="练建军")


def test_drag_a_card_across_two_stages(page: Page, db, officer, backend, shots_dir):
    ids = add_projects(db, officer)
    sign_in(page)
    page.goto("/projects/board")
    expect(card(page, ids["small"])).to_be_visible()
    navigations = keep_an_eye_on_navigation(page)

    drag(page, ids["small"], "contact")
    expect(column(page, "contact").locator(f"#card-{ids['small']}")).to_be_visible()
    expect(page.locator("#board-status")).to_contain_text("接洽")
    expect(card(page, ids["small"])).to_have_attribute("data-stage", "contact")
    assert stage_of(db, ids["small"]) == "contact"

    drag(page, ids["small"], "negotiating")
    expect(card(page, ids["small"])).to_have_attribute("data-stage", "negotiating")
    expect(column(page, "negotiating").locator(f"#card-{ids['small']}")).to_be_visible()
    assert stage_of(db, ids["small"]) == "negotiating"
    expect(page.locator("[data-count-for='negotiating']")).to_have_text("2")
    expect(page.locator("[data-count-for='lead']")).to_have_text("0")
    assert_same_document(page, navigations)
    with db.write_sessions() as s:
        moves = s.scalars(select(StageChange.to_stage).where(StageChange.project_id == ids["small"])
                          .order_by(StageChange.id)).all()
    assert moves == ["lead", "contact", "negotiating"]
    page.screenshot(path=shots_dir / f"project-board-{backend}.png", full_page=True)


def test_a_refused_drag_snaps_back_then_a_decision_lets_it_through(new_page, db, officer, manager, backend, shots_dir):
    ids = add_projects(db, officer)
    page = new_page()
    sign_in(page, "manager")
    page.goto("/projects/board")
    navigations = keep_an_eye_on_navigation(page)
    drag(page, ids["major"], "signed")
    status = page.locator("#board-status")
    expect(status).to_contain_text("须先记录“三重一大”集体决策")
    expect(status).to_contain_text("60,000.00")
    expect(column(page, "negotiating").locator(f"#card-{ids['major']}")).to_be_visible()  # snapped back
    expect(column(page, "signed").locator(".kanban-card")).to_have_count(0)
    assert stage_of(db, ids["major"]) == "negotiating"
    assert_same_document(page, navigations)
    page.screenshot(path=shots_dir / f"project-board-refused-{backend}.png", full_page=True)

    # Record the joint meeting's approval on the project page.
    page.goto(f"/projects/{ids['major']}")
    page.locator("details.add-decision summary").click()
    page.locator("#decision-form #f-meeting_kind").select_option("joint")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    page.locator("#decision-form #f-meeting_on").fill(today)
    page.locator("#decision-form #f-outcome").select_option("approved")
    page.locator("#decision-form #f-resolution").fill("同意引进高性能复合材料项目")
    page.locator("#save-decision").click()
    expect(page.locator("#decisions")).to_contain_text("同意引进高性能复合材料项目")
    expect(page.locator("#gates [data-gate='decision']")).to_have_class("gate gate-green")

    page.goto("/projects/board")
    drag(page, ids["major"], "signed")
    expect(card(page, ids["major"])).to_have_attribute("data-stage", "signed")
    expect(page.locator("#board-status")).to_contain_text("签约")
    assert stage_of(db, ids["major"]) == "signed"


def test_the_card_menu_moves_a_project_from_the_keyboard(page: Page, db, officer):
    """Without dragging: the card's "Move to…" link (a real link: keyboard, no JavaScript) leads to the move page."""
    ids = add_projects(db, officer)
    sign_in(page)
    page.goto("/projects/board")
    link = card(page, ids["small"]).locator("a.card-move")
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/projects/{ids['small']}/move"))
    page.locator("#move-form #f-stage").select_option("contact")
    page.locator("#move-form #f-note").focus()
    page.keyboard.type("电话沟通")
    page.keyboard.press("Enter")  # submits the form, back to the board
    expect(page).to_have_url(re.compile(r"/projects/board"))
    expect(page.locator(".flash")).to_contain_text("接洽")
    expect(column(page, "contact").locator(f"#card-{ids['small']}")).to_be_visible()
    assert stage_of(db, ids["small"]) == "contact"


def test_the_readiness_board(page: Page, db, officer, manager, backend, shots_dir):
    ids = add_projects(db, officer)
    with db.write_sessions() as s:
        from sqlalchemy import update

        s.execute(update(Project).where(Project.id == ids["small"]).values(stage="permits", pipeline_stage="permits"))
        s.commit()
    sign_in(page, "manager")
    page.goto("/groundbreaking")
    page.locator("form[action='/groundbreaking'] #f-name").fill("12月项目集中奠基开工")
    page.locator("form[action='/groundbreaking'] #f-held_on").fill("2026-12-20")
    page.locator("form[action='/groundbreaking'] button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("12月项目集中奠基开工")
    navigations = keep_an_eye_on_navigation(page)
    page.locator("#slate-form select[name=project_id]").select_option(str(ids["small"]))
    page.locator("#slate-form button[type=submit]").click()
    row = page.locator(f"#slate-{ids['small']}")
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-readiness", "red")
    expect(page.locator("#slate-count")).to_have_text("1")
    expect(page.locator("#slate-investment")).to_have_text("5,000.00 万元")
    expect(row.locator(".dot-red")).not_to_have_count(0)
    assert_same_document(page, navigations)
    page.screenshot(path=shots_dir / f"readiness-board-{backend}.png", full_page=True)
