"""An officer in a real browser works through "My tasks": one click completes a task (htmx, no page reload) and it
moves to 最近完成; on a phone-sized screen the list fits and the complete button is thumb-sized."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from crm.auth.models import User
from crm.tasks.models import Task
from tests import factories
from tests.e2e.test_organizations_browser import sign_in

pytestmark = pytest.mark.e2e

MIN_TOUCH_PX = 32


def shanghai_today() -> date:
    """Today as crm/tasks/routes.py computes it for the live server (Settings.timezone defaults to Asia/Shanghai)."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def add_tasks(db, officer: User) -> dict[str, Task]:
    """An overdue task, two due today, one later; one linked to an organization (so its row shows the link)."""
    today = shanghai_today()
    with db.write_sessions() as s:
        actor = s.get(User, officer.id)
        fosun = factories.make_org(s, actor=actor, name="复星集团")
        return {
            "overdue": factories.make_task(s, actor=actor, title="整理复星集团考察大唐智创、玉皇新能源、精进电动、现代医药港的反馈",
                                           due_on=today - timedelta(days=1), organization_id=fosun.id),
            "today": factories.make_task(s, actor=actor, title="向复星集团寄送开发区新能源、生物医药产业资料",
                                         due_on=today, due_time="10:00", priority="high", organization_id=fosun.id),
            "today2": factories.make_task(s, actor=actor, title="回电祝文魁", due_on=today),
            "later": factories.make_task(s, actor=actor, title="与复星集团商定第二轮洽谈时间",
                                         due_on=today + timedelta(days=10), organization_id=fosun.id),
        }


def task_status(db, task_id: int) -> str:
    with db.write_sessions() as s:
        return s.get(Task, task_id).status


def test_one_click_completes_a_task_without_reloading_the_page(page: Page, db, officer, backend, shots_dir):
    tasks = add_tasks(db, officer)
    task = tasks["today"]
    sign_in(page)
    page.goto("/tasks")
    today_group, done_group = page.locator(".task-group-today"), page.locator(".task-group-done")
    expect(today_group.locator(f"#task-{task.id}")).to_be_visible()
    expect(done_group).to_have_count(0)

    # Anything that reloads or navigates the page drops this marker.
    page.evaluate("window.__sameDocument = 'before the click'")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    page.locator(f"#task-{task.id} .check-button").click()
    expect(done_group.locator(f"#task-{task.id}")).to_be_visible()
    expect(done_group).to_contain_text(task.title)
    expect(today_group.locator(f"#task-{task.id}")).to_have_count(0)
    expect(today_group).to_contain_text("回电祝文魁")  # the rest stays where it was
    expect(page.locator(".task-group-overdue")).to_contain_text("整理复星集团考察")
    assert page.evaluate("window.__sameDocument") == "before the click"
    assert navigations == []
    expect(page).to_have_url(re.compile(r"/tasks$"))
    assert task_status(db, task.id) == "done"
    page.screenshot(path=shots_dir / f"tasks-1280-done-{backend}.png", full_page=True)

    # And one click brings it back.
    page.locator(f"#task-{task.id} .check-button").click()
    expect(today_group.locator(f"#task-{task.id}")).to_be_visible()
    expect(done_group).to_have_count(0)
    assert page.evaluate("window.__sameDocument") == "before the click"
    assert task_status(db, task.id) == "open"


def test_phone_width_task_list_fits_and_buttons_are_thumb_sized(new_page, db, officer, backend, shots_dir):
    tasks = add_tasks(db, officer)
    page = new_page(width=375, height=812, is_mobile=True, has_touch=True, device_scale_factor=2)
    sign_in(page)
    page.goto("/tasks")
    expect(page.locator(".task-group-today")).to_contain_text("回电祝文魁")
    page.screenshot(path=shots_dir / "tasks-375.png", full_page=True)
    page.screenshot(path=shots_dir / f"tasks-375-{backend}.png", full_page=True)

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"My tasks is {scroll_width}px wide on a 375px screen"
    buttons = page.locator(".check-button")
    expect(buttons).to_have_count(4)
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box is not None
        assert box["height"] >= MIN_TOUCH_PX and box["width"] >= MIN_TOUCH_PX, f"complete button {i} is {box}"
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375

    # The reschedule / reassign panel, opened, still fits.
    task = tasks["today"]
    page.locator(f"#task-{task.id} .task-more summary").click()
    expect(page.locator(f"#task-{task.id} input[name=due_on]")).to_be_visible()
    page.screenshot(path=shots_dir / f"tasks-375-more-{backend}.png", full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"the opened reschedule panel makes the page {scroll_width}px wide"

    # Tapping the button completes the task in place, on the phone too.
    page.locator(f"#task-{task.id} .check-button").tap()
    expect(page.locator(f".task-group-done #task-{task.id}")).to_be_visible()


def test_a_refused_reschedule_leaves_the_task_list_in_place(page: Page, db, officer):
    tasks = add_tasks(db, officer)
    task = tasks["today"]
    sign_in(page)
    page.goto("/tasks")
    page.locator(f"#task-{task.id} .task-more summary").click()
    page.locator(f"#task-{task.id} input[name=due_on]").fill("1999-12-31")
    page.locator(f"#task-{task.id} form[action$='/reschedule'] button").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#tasks header, #tasks nav, #tasks h1")).to_have_count(0)  # no page inside the page
    expect(page.locator(f"#tasks #task-{task.id}")).to_be_visible()
    expect(page.locator("#tasks")).to_contain_text("回电祝文魁")
    with db.write_sessions() as s:
        assert s.get(Task, task.id).due_on == shanghai_today()
