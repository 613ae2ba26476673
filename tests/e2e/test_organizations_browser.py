"""An officer in a real browser: signs in, finds an organization by typing (htmx active search), creates one after
correcting a mistyped credit code, and uses the organization list on a phone-sized screen."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crm.auth.models import User
from crm.organizations.models import IndustryChain
from crm.validators import credit_code_check_char
from tests import factories

pytestmark = pytest.mark.e2e

ORG_PAGE_URL = re.compile(r"/organizations/\d+$")


def sign_in(page: Page, username: str = "officer", password: str = factories.PASSWORD) -> None:
    page.goto("/login")
    page.locator("#f-username").fill(username)
    page.locator("#f-password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("form[action='/logout']")).to_be_attached()


def add_organizations(db, officer: User) -> None:
    """A few realistic rows, so the list (and its screenshots) show every column filled in."""
    with db.write_sessions() as s:
        actor = s.get(User, officer.id)
        chains = s.scalars(select(IndustryChain).order_by(IndustryChain.id)).all()
        chain_id = chains[0].id if chains else None
        factories.make_org(s, actor=actor, name="复星集团", name_en="Fosun International Group", city="上海",
                           country_region="中国", ownership="private", industry_chain_id=chain_id, tags="医药，重点")
        factories.make_org(s, actor=actor, name="海尔集团", name_en="Haier Group", city="青岛", kind="zone_enterprise",
                           ownership="state", industry_chain_id=chain_id)
        factories.make_org(s, actor=actor, name="菏泽市投资促进局", kind="government", city="菏泽")
        factories.make_org(s, actor=actor, name="Siemens Healthineers Diagnostics (Shanghai) Co., Ltd.",
                           name_en="Siemens Healthineers", kind="investor", ownership="foreign", city="Shanghai")


def query_param(name: str, value: str) -> re.Pattern[str]:
    """The page URL carries name=value (percent-encoded or not)."""
    return re.compile(rf"[?&]{name}=({re.escape(value)}|{re.escape(quote(value))})(&|$)")


def test_active_search_updates_list_while_typing(page: Page, db, officer, backend, shots_dir):
    add_organizations(db, officer)
    sign_in(page)

    page.goto("/organizations")
    results = page.locator("#results")
    expect(results).to_contain_text("复星集团")
    expect(results).to_contain_text("海尔集团")
    page.screenshot(path=shots_dir / f"organizations-1280-{backend}.png", full_page=True)

    search = page.locator("#q")
    search.click()
    search.press_sequentially("fx", delay=30)  # typed, never submitted: no Enter
    expect(page).to_have_url(query_param("q", "fx"))
    expect(results).to_contain_text("复星集团")
    expect(results).not_to_contain_text("海尔集团")
    expect(search).to_have_value("fx")
    expect(search).to_be_focused()  # the page was not reloaded under the user's fingers

    search.fill("")
    search.press_sequentially("复星", delay=30)
    expect(page).to_have_url(query_param("q", "复星"))
    expect(results).to_contain_text("复星集团")
    expect(results).not_to_contain_text("海尔集团")
    expect(search).to_have_value("复星")

    search.fill("")
    search.press_sequentially("zzzq", delay=30)
    expect(page).to_have_url(query_param("q", "zzzq"))
    expect(results).not_to_contain_text("复星集团")
    expect(results.locator("a[href='/organizations']")).to_be_visible()  # the "clear filters" way out

    page.reload()  # the pushed URL is a real address: reloading it shows the same search
    expect(page.locator("#q")).to_have_value("zzzq")
    expect(results).not_to_contain_text("复星集团")


def test_create_organization_after_fixing_credit_code(page: Page, db, officer):
    name = "泰山新能源科技有限公司"
    valid_code = "91371700MA0000099" + credit_code_check_char("91371700MA0000099")
    wrong_check_char = valid_code[:17] + next(c for c in "0123456789" if c != valid_code[17])
    sign_in(page)

    page.goto("/organizations/new")
    page.locator("#f-name").fill(name)
    page.locator("#f-name_en").fill("Taishan New Energy")
    page.locator("#f-city").fill("菏泽")
    page.locator("#f-description").fill("光伏组件，二期扩产")
    credit_code = page.locator("#f-credit_code")
    credit_code_error = page.locator(".field:has(#f-credit_code) .field-error")
    save = page.locator("form.form button[type=submit]")

    previous_message = None
    for bad_code in ("9137170", wrong_check_char):  # too short, then a wrong check character
        credit_code.fill(bad_code)
        save.click()
        expect(credit_code_error).to_be_visible()
        if previous_message is not None:  # a different message: this is the answer to this submission
            expect(credit_code_error).not_to_have_text(previous_message)
        previous_message = credit_code_error.inner_text()
        expect(page.locator(".field-error")).to_have_count(1)  # only the credit code is wrong
        expect(page).to_have_url(re.compile(r"/organizations/new$"))
        expect(credit_code).to_have_value(bad_code)
        expect(page.locator("#f-name")).to_have_value(name)
        expect(page.locator("#f-name_en")).to_have_value("Taishan New Energy")
        expect(page.locator("#f-city")).to_have_value("菏泽")
        expect(page.locator("#f-description")).to_have_value("光伏组件，二期扩产")

    credit_code.fill(valid_code)
    save.click()
    expect(page).to_have_url(ORG_PAGE_URL)
    expect(page.locator("h1")).to_contain_text(name)
    expect(page.locator("main")).to_contain_text(valid_code)
    expect(page.locator(".flash")).to_contain_text(name)

    page.goto("/organizations")
    link = page.locator("#results a", has_text=name)
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(ORG_PAGE_URL)
    expect(page.locator("h1")).to_contain_text(name)


def test_phone_width_list_fits_and_menu_opens(new_page, db, officer, backend, shots_dir):
    add_organizations(db, officer)
    page = new_page(width=375, height=812, is_mobile=True, has_touch=True, device_scale_factor=2)
    sign_in(page)

    page.goto("/organizations")
    expect(page.locator("#results")).to_contain_text("复星集团")
    page.screenshot(path=shots_dir / f"organizations-375-{backend}.png", full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"the organization list is {scroll_width}px wide on a 375px screen"

    nav = page.locator("nav.site-nav")
    expect(nav).to_be_hidden()
    page.locator("label[for=nav-toggle]").click()
    expect(nav).to_be_visible()
    expect(nav.locator("a[href='/contacts']")).to_be_visible()
    page.screenshot(path=shots_dir / f"organizations-375-menu-{backend}.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    nav.locator("a[href='/contacts']").click()
    expect(page).to_have_url(re.compile(r"/contacts$"))
