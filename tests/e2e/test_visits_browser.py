"""An officer in a real browser logs the Fosun delegation's visit: picks 复星集团 by typing, ticks 祝文魁, builds the
enterprise tour and the follow-ups with the form's own buttons (htmx, no page reload), saves; then reorders and
trims the tour on the visit page in place; and logs a meeting from a phone with the quick log."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crm.auth.models import User
from crm.contacts.models import Contact
from crm.organizations.models import Organization
from crm.tasks.models import Task
from crm.visits.models import TourStop, Visit, VisitHost, VisitMember, VisitOrganization
from tests import factories
from tests.e2e.test_organizations_browser import sign_in

pytestmark = pytest.mark.e2e

VISIT_PAGE_URL = re.compile(r"/visits/(\d+)$")
ZONE_ENTERPRISES = ("大唐智创", "玉皇新能源", "精进电动", "现代医药港")
MIN_TOUCH_PX = 32


def shanghai_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def add_organizations(db, officer: User) -> dict[str, Organization]:
    """The four zone enterprises of the tour, and 复星集团 (an investor) with its contact 祝文魁."""
    with db.write_sessions() as s:
        actor = s.get(User, officer.id)
        orgs = {name: factories.make_org(s, actor=actor, name=name, kind="zone_enterprise", city="菏泽")
                for name in ZONE_ENTERPRISES}
        orgs["复星集团"] = factories.make_org(s, actor=actor, name="复星集团", name_en="Fosun International Group",
                                          kind="investor", city="上海")
        factories.make_contact(s, actor=actor, organization=orgs["复星集团"], name="祝文魁", title="复星集团副总裁")
        return orgs


def keep_an_eye_on_navigation(page: Page) -> list[str]:
    """Sets a marker that any reload or navigation would drop; returns the list the main frame's navigations go to."""
    page.evaluate("window.__marker = 1")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    return navigations


def assert_same_document(page: Page, navigations: list[str]) -> None:
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert navigations == [], f"the page navigated to {navigations}"


def stop_names(db, visit_id: int) -> list[str]:
    with db.write_sessions() as s:
        return list(s.scalars(select(Organization.name).join(TourStop, TourStop.organization_id == Organization.id)
                              .where(TourStop.visit_id == visit_id).order_by(TourStop.position)))


def test_log_the_fosun_visit_with_tour_and_follow_ups(page: Page, db, officer, backend, shots_dir):
    orgs = add_organizations(db, officer)
    sign_in(page)
    page.goto("/visits/new")
    form = page.locator("#visit-form")
    expect(form).to_be_visible()
    navigations = keep_an_eye_on_navigation(page)

    page.locator("#f-title").fill("复星集团考察")
    page.locator("#f-place").fill("开发区管委会")

    # Pick 复星集团 by typing its initials: the matches come as checkboxes; ticking one re-renders the form with its
    # contacts as possible delegation members.
    expect(page.locator("#visit-members input[name=member_ids]")).to_have_count(0)
    search = page.locator("#org-search")
    search.click()
    search.press_sequentially("zzzq", delay=30)  # no match first: the results box must take a second search too
    expect(page.locator("#org-options")).to_contain_text("zzzq")
    expect(page.locator("#org-options input")).to_have_count(0)
    search.fill("")
    search.press_sequentially("fx", delay=30)
    choice = page.locator(f"#org-options input[name=organization_ids][value='{orgs['复星集团'].id}']")
    expect(choice).to_be_visible()
    expect(page.locator("#org-options")).not_to_contain_text("大唐智创")
    choice.check()
    member = page.locator("#visit-members input[name=member_ids]")
    expect(member).to_have_count(1)
    expect(page.locator("#visit-members")).to_contain_text("祝文魁")
    expect(page.locator(f"#visit-organizations input.org-choice[value='{orgs['复星集团'].id}']")).to_be_checked()
    expect(page.locator("#f-title")).to_have_value("复星集团考察")  # what was typed survives the re-render
    member.check()

    # The tour: one empty row to start with, more with the add button.
    stop_rows = page.locator("#tour .row-card")
    expect(stop_rows).to_have_count(1)

    def stop_select(n: int):
        return page.locator(f"#stop-row-{n} select[name$='-organization_id']")

    stop_select(0).select_option(label="大唐智创")
    page.locator("#stop-row-0 input[name$='-host']").fill("王总")
    for n, name in enumerate(["玉皇新能源", "精进电动", "现代医药港"], start=1):
        page.locator("#add-stop").click()
        expect(stop_rows).to_have_count(n + 1)
        stop_select(n).select_option(label=name)
    expect(stop_select(0)).to_have_value(str(orgs["大唐智创"].id))  # rows already filled keep their choice
    expect(page.locator("#stop-row-0 input[name$='-host']")).to_have_value("王总")

    # Move the fourth stop up, then take it off the tour again: the buttons re-render the form, nothing is saved.
    page.locator("#stop-row-3 button[name=form_action][value^='up:']").click()
    expect(stop_select(2)).to_have_value(str(orgs["现代医药港"].id))
    expect(stop_select(3)).to_have_value(str(orgs["精进电动"].id))
    page.locator("#stop-row-2 button[name=form_action][value^='remove:']").click()
    expect(stop_rows).to_have_count(3)
    for n, name in enumerate(["大唐智创", "玉皇新能源", "精进电动"]):
        expect(stop_select(n)).to_have_value(str(orgs[name].id))

    # Two follow-ups: the first row is there already, due in a week and assigned to the officer.
    followup_rows = page.locator("#followups .row-card")
    expect(followup_rows).to_have_count(1)
    due_first, due_second = shanghai_today() + timedelta(days=3), shanghai_today() + timedelta(days=14)
    page.locator("#followup-row-0 input[name$='-title']").fill("寄送产业资料")
    page.locator("#followup-row-0 input[name$='-due_on']").fill(due_first.isoformat())
    page.locator("#add-followup").click()
    expect(followup_rows).to_have_count(2)
    expect(page.locator("#followup-row-1 select[name$='-assignee_id']")).to_have_value(str(officer.id))
    page.locator("#followup-row-1 input[name$='-title']").fill("安排第二轮洽谈")
    page.locator("#followup-row-1 input[name$='-due_on']").fill(due_second.isoformat())
    expect(page.locator("#followup-row-0 input[name$='-title']")).to_have_value("寄送产业资料")

    assert_same_document(page, navigations)
    expect(page).to_have_url(re.compile(r"/visits/new$"))
    with db.write_sessions() as s:
        assert s.scalars(select(Visit)).all() == [], "a row button saved the visit"
    page.screenshot(path=shots_dir / f"visit-form-1280-{backend}.png", full_page=True)

    page.locator("#save-visit").click()
    expect(page).to_have_url(VISIT_PAGE_URL)
    visit_id = int(VISIT_PAGE_URL.search(page.url).group(1))
    expect(page.locator("h1")).to_contain_text("复星集团考察")
    expect(page.locator("#stops .tour-stop-head strong")).to_have_text(["大唐智创", "玉皇新能源", "精进电动"])
    expect(page.locator("#visit-followups")).to_contain_text("寄送产业资料")
    expect(page.locator("#visit-followups")).to_contain_text("安排第二轮洽谈")
    page.screenshot(path=shots_dir / f"visit-page-1280-{backend}.png", full_page=True)

    with db.write_sessions() as s:
        visits = s.scalars(select(Visit)).all()
        assert [(v.id, v.title, v.place, v.officer_id) for v in visits] == [
            (visit_id, "复星集团考察", "开发区管委会", officer.id)]
        assert s.scalars(select(VisitOrganization.organization_id).where(VisitOrganization.visit_id == visit_id)
                         ).all() == [orgs["复星集团"].id]
        members = s.scalars(select(Contact.name).join(VisitMember, VisitMember.contact_id == Contact.id)
                            .where(VisitMember.visit_id == visit_id)).all()
        assert members == ["祝文魁"]
        hosts = s.scalars(select(VisitHost.user_id).where(VisitHost.visit_id == visit_id)).all()
        assert hosts == [officer.id]  # "our side" starts with the one filling in the form
        tasks = s.scalars(select(Task).order_by(Task.due_on)).all()
        assert [(t.title, t.due_on, t.assignee_id, t.visit_id) for t in tasks] == [
            ("寄送产业资料", due_first, officer.id, visit_id), ("安排第二轮洽谈", due_second, officer.id, visit_id)]
    assert stop_names(db, visit_id) == ["大唐智创", "玉皇新能源", "精进电动"]


def test_reorder_and_remove_tour_stops_in_place(page: Page, db, officer, backend, shots_dir):
    orgs = add_organizations(db, officer)
    with db.write_sessions() as s:
        visit = factories.make_visit(s, title="复星集团考察", officer=s.get(User, officer.id),
                                     organizations=[orgs["复星集团"]],
                                     stops=[orgs["大唐智创"], orgs["玉皇新能源"], orgs["精进电动"]])
        visit_id = visit.id
        stop_ids = {stop.organization_id: stop.id for stop in visit.stops}
    stop_id = {name: stop_ids[orgs[name].id] for name in ("大唐智创", "玉皇新能源", "精进电动")}

    sign_in(page)
    page.goto(f"/visits/{visit_id}")
    names = page.locator("#stops .tour-stop-head strong")
    expect(names).to_have_text(["大唐智创", "玉皇新能源", "精进电动"])
    navigations = keep_an_eye_on_navigation(page)

    def arrow(name: str, symbol: str):
        return page.locator(f"#stop-{stop_id[name]} form[action$='/stops/order'] button", has_text=symbol)

    expect(arrow("大唐智创", "↑")).to_have_count(0)  # the first stop cannot go further up, the last not down
    expect(arrow("精进电动", "↓")).to_have_count(0)

    arrow("精进电动", "↑").click()
    expect(names).to_have_text(["大唐智创", "精进电动", "玉皇新能源"])
    assert stop_names(db, visit_id) == ["大唐智创", "精进电动", "玉皇新能源"]
    arrow("精进电动", "↑").click()
    expect(names).to_have_text(["精进电动", "大唐智创", "玉皇新能源"])
    assert stop_names(db, visit_id) == ["精进电动", "大唐智创", "玉皇新能源"]
    arrow("大唐智创", "↓").click()
    expect(names).to_have_text(["精进电动", "玉皇新能源", "大唐智创"])
    assert stop_names(db, visit_id) == ["精进电动", "玉皇新能源", "大唐智创"]
    assert_same_document(page, navigations)
    expect(page.locator("h1")).to_have_count(1)  # #stops was re-rendered, not a page inside the page
    page.screenshot(path=shots_dir / f"visit-tour-reordered-{backend}.png", full_page=True)

    # Remove asks first: saying no keeps the stop, saying yes removes it.
    remove = page.locator(f"#stop-{stop_id['玉皇新能源']} form[action$='/delete'] button")
    messages: list[str] = []

    def answer(accept: bool):
        def handle(dialog):
            messages.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handle

    page.once("dialog", answer(False))
    remove.click()
    page.wait_for_timeout(300)  # give a wrongly unconfirmed removal the time to happen
    assert len(messages) == 1 and "玉皇新能源" in messages[0]
    expect(names).to_have_text(["精进电动", "玉皇新能源", "大唐智创"])
    assert stop_names(db, visit_id) == ["精进电动", "玉皇新能源", "大唐智创"]

    page.once("dialog", answer(True))
    remove.click()
    expect(names).to_have_text(["精进电动", "大唐智创"])
    assert len(messages) == 2
    assert stop_names(db, visit_id) == ["精进电动", "大唐智创"]

    # And a stop is added from the <details> form at the end of the tour, in place too.
    page.locator("#stops details.add-stop summary").click()
    page.locator("#stops details.add-stop select[name$='organization_id']").select_option(label="现代医药港")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(f"/visits/{visit_id}/stops")) as added:
        page.locator("#stops details.add-stop button[type=submit]").click()
    assert added.value.status == 200, f"adding a stop from the visit page was refused ({added.value.status})"
    expect(names).to_have_text(["精进电动", "大唐智创", "现代医药港"])
    assert stop_names(db, visit_id) == ["精进电动", "大唐智创", "现代医药港"]

    # A stop is edited in place as well: who received the delegation at 精进电动.
    jingjin = page.locator(f"#stop-{stop_id['精进电动']}")
    jingjin.locator("a[href$='/edit']").click()
    jingjin.locator("input[name$='host']").fill("余平")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith(f"/stops/{stop_id['精进电动']}")) as saved:
        jingjin.locator("form button[type=submit]").click()
    assert saved.value.status == 200, f"saving an edited stop was refused ({saved.value.status})"
    expect(jingjin.locator(".tour-stop-head")).to_contain_text("余平")
    with db.write_sessions() as s:
        assert s.get(TourStop, stop_id["精进电动"]).host == "余平"
    expect(names).to_have_text(["精进电动", "大唐智创", "现代医药港"])
    assert_same_document(page, navigations)
    page.screenshot(path=shots_dir / f"visit-tour-edited-{backend}.png", full_page=True)


def test_quick_log_on_a_phone(new_page, db, officer, backend, shots_dir):
    orgs = add_organizations(db, officer)
    page = new_page(width=375, height=740, is_mobile=True, has_touch=True, device_scale_factor=2)
    sign_in(page)
    page.goto("/visits/quick")
    form = page.locator("form.quick-log")
    expect(form).to_be_visible()
    page.screenshot(path=shots_dir / f"visit-quick-375-{backend}.png", full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"the quick log is {scroll_width}px wide on a 375px screen"

    page.locator("#f-kind").select_option("remote")
    search = page.locator("#quick-org-search")
    search.tap()
    search.press_sequentially("复星", delay=30)
    choice = page.locator(f"#quick-org-options input[type=radio][name=organization_id][value='{orgs['复星集团'].id}']")
    expect(choice).to_be_visible()
    choice.check()
    page.locator("#f-summary").fill("电话沟通：复星集团有意在开发区设立生物医药研发中心，下月来考察。")
    due = shanghai_today() + timedelta(days=5)
    page.locator("#f-followup_title").fill("寄送产业资料")
    page.locator("#f-followup_due_on").fill(due.isoformat())
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"with the search results shown the quick log is {scroll_width}px wide"
    page.screenshot(path=shots_dir / f"visit-quick-375-filled-{backend}.png", full_page=True)

    save = form.locator(".form-actions button[type=submit]")
    box = save.bounding_box()
    assert box is not None
    assert box["height"] >= MIN_TOUCH_PX, f"the Save button is {box}"
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    save.tap()

    expect(page).to_have_url(VISIT_PAGE_URL)
    visit_id = int(VISIT_PAGE_URL.search(page.url).group(1))
    expect(page.locator("h1")).to_contain_text("复星集团")
    expect(page.locator("#visit-followups")).to_contain_text("寄送产业资料")
    page.screenshot(path=shots_dir / f"visit-quick-375-saved-{backend}.png", full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"the visit page is {scroll_width}px wide on a 375px screen"

    with db.write_sessions() as s:
        visits = s.scalars(select(Visit)).all()
        assert [(v.id, v.kind, v.status, v.officer_id) for v in visits] == [(visit_id, "remote", "done", officer.id)]
        assert "生物医药研发中心" in visits[0].summary
        assert s.scalars(select(VisitOrganization.organization_id).where(VisitOrganization.visit_id == visit_id)
                         ).all() == [orgs["复星集团"].id]
        tasks = s.scalars(select(Task)).all()
        assert [(t.title, t.assignee_id, t.due_on, t.visit_id, t.organization_id) for t in tasks] == [
            ("寄送产业资料", officer.id, due, visit_id, orgs["复星集团"].id)]
