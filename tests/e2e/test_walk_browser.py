"""A walk through every page each role reaches from the header and the dashboard, in a real browser, in English
(the walk's users have locale en), on the demo zone, at a phone's width (375 px) and a laptop's (1280 px).

On every page walked:
- it never scrolls sideways (document.documentElement.scrollWidth <= window.innerWidth) and answers 2xx, and from
  1260 px the header keeps to one line;
- the browser's console shows no error, and no script throws;
- axe-core (vendored: tests/e2e/vendor/README.md) finds no serious or critical violation;
- no interface text is in Chinese: no text equals a Chinese message of our catalog, and no name of reference data
  (industry chains, stages, permit items, indicators, responsible departments) is shown in Chinese, except on the
  admin pages that edit both names of a reference list; no emoji stands for an icon;
- what people typed in Chinese (names of organizations, people, places) stays as typed (marking it lang="zh-CN" in
  every template is a follow-up, not checked yet);
- every link, htmx GET and GET form answers 2xx or a redirect for that role (fetched with the role's cookies, not
  rendered), and every POST form's (and hx-post's) action exists for its method: it is probed without a CSRF token,
  so the app routes it (404/405 when it cannot) and then refuses with 403 before any handler runs.

Each role walks once per backend (a module fixture); the tests below each assert one kind of fault, listing every
page where it was found. The walk is bounded: pages whose paths differ only by record ids are walked once per role
(the first link found wins; SAME_PAGE lists pages one template shows for several names), link targets differing
only by ids or query values are fetched once per role, and axe, the slow part, runs once per page and width for all
three roles and both backends (it judges templates and styles: the first role and backend to reach a page report it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from crm import demo
from crm.auth.models import User
from crm.i18n import TRANSLATIONS_DIR, gettext
from crm.indicators.models import Indicator
from crm.major_projects.models import ResponsibleDepartment
from crm.organizations.models import IndustryChain, Organization
from crm.parcels.models import LandParcel
from crm.projects.models import ApprovalItem, ApprovalTemplate
from crm.projects.schemas import STAGE_LABELS
from tests.conftest import _empty_all_tables
from tests.e2e.conftest import TIMEOUT_MS

pytestmark = pytest.mark.e2e

ROLES = ("officer", "manager", "admin")
WIDTHS = (1280, 375)
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
# Admin pages that edit a reference list show both of its names.
BILINGUAL_PAGES = re.compile(r"^/admin/(industries|approvals|indicators|scheduling)(/|$)")
SKIPPED_SCHEMES = ("mailto:", "tel:", "javascript:", "data:")
ID_SEGMENT = re.compile(r"/\d+(?=/|$)")
# Pages one template shows for each of a list of names: one of them is walked.
SAME_PAGE = [(re.compile(r"^/assessment/#/officers/#/\w+$"), "/assessment/#/officers/#/<target>")]
MAX_PAGES = 50  # per role: a guard against a link explosion making the walk slow (about 25-30 today)

# CJK ideographs, CJK punctuation and full-width forms.
CJK = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"

# Text with CJK characters: [where, text, marked] for each text node and each text-bearing attribute.
CHINESE_TEXT = """(cjk) => {
  const re = new RegExp(cjk);
  const marked = (el) => { const l = el.closest('[lang]'); return !!l && l.lang.toLowerCase().startsWith('zh'); };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || ['SCRIPT', 'STYLE', 'TEMPLATE'].includes(el.tagName)) continue;
    if (re.test(node.data)) found.push([describe(el), node.data.trim(), marked(el)]);
  }
  for (const el of document.body.querySelectorAll('[title], [placeholder], [aria-label], [alt], input[value]')) {
    for (const name of ['title', 'placeholder', 'aria-label', 'alt', 'value']) {
      if (name === 'value' && !['submit', 'button', 'reset'].includes(el.type)) continue;  // typed data
      const value = el.getAttribute(name);
      if (value && re.test(value)) found.push([describe(el) + '[' + name + ']', value.trim(), marked(el)]);
    }
  }
  return found;
}"""

# The innermost elements that reach past the right edge: they name the culprit.
WIDE_ELEMENTS = """() => {
  const wide = [...document.body.querySelectorAll('*')].filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > window.innerWidth + 1;
  });
  return wide.filter(el => !wide.some(other => other !== el && el.contains(other))).slice(0, 3).map(el =>
    el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
    ' (right edge ' + Math.round(el.getBoundingClientRect().right) + ')');
}"""

# [method, url, what] for every link, htmx request and form on the page.
TARGETS = """() => {
  const out = [];
  for (const a of document.querySelectorAll('a[href]')) out.push(['GET', a.getAttribute('href'), 'link']);
  for (const verb of ['get', 'post', 'put', 'patch', 'delete'])
    for (const el of document.querySelectorAll('[hx-' + verb + ']'))
      out.push([verb.toUpperCase(), el.getAttribute('hx-' + verb), 'hx-' + verb]);
  for (const f of document.querySelectorAll('form')) {
    const action = f.getAttribute('action') || location.pathname + location.search;
    out.push([(f.getAttribute('method') || 'get').toUpperCase(), action, 'form']);
  }
  return out;
}"""

RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ['violations']});
  return results.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v =>
    v.impact + ' ' + v.id + ' (' + v.nodes.length + 'x): ' + v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(' | '));
}"""

# The header's visible parts (brand, menu, search, bell and account) when they do not share one line.
HEADER_WRAPPED = """() => {
  const parts = [...document.querySelectorAll('header.site-header > *')]
    .map(el => el.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
  return parts.length > 1 && Math.max(...parts.map(r => r.top)) >= Math.min(...parts.map(r => r.bottom));
}"""

# Emoji drawn as interface icons (the old 🔔) look different on every system, or are missing: icons are SVG.
EMOJI = r"""() => {
  const re = /\p{Emoji_Presentation}|\uFE0F/u;
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (el && !el.closest('[lang^=zh]') && re.test(node.data)) found.push(el.tagName.toLowerCase() + ': ' + node.data.trim().slice(0, 40));
  }
  return found;
}"""
HEADER_ONE_LINE_FROM = 1260  # px: static/css/app.css lays the header out on one line from this width

SETTLED = "() => document.readyState === 'complete' && !document.querySelector('.htmx-request')"


@dataclass
class Walk:
    pages: list[str] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Reference:
    """What the Chinese checks compare text against."""

    names: re.Pattern[str]  # a Chinese name of reference data, not part of a longer Chinese text
    interface: re.Pattern[str]  # any Chinese message of the catalog, whole
    typed: set[str]  # what people typed that equals a message or a name (a tag 外资, a title 招商专员): it is data


def page_key(url: str) -> str:
    """The page a URL shows: its path without record ids (/projects/12?stage=lead → /projects/#)."""
    key = ID_SEGMENT.sub("/#", urlsplit(url).path)
    return next((same for pattern, same in SAME_PAGE if pattern.match(key)), key)


def target_key(url: str) -> str:
    """A link target without its ids and query values: /projects/12?stage=lead → /projects/#?stage."""
    keys = sorted({k for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)})
    return page_key(url) + ("?" + "&".join(keys) if keys else "")


def same_origin_path(base: str, current: str, href: str | None) -> str | None:
    """The path (and query) of a same-origin link; None for another origin, a bare fragment or a pseudo-scheme."""
    if not href or href.startswith("#") or href.lower().startswith(SKIPPED_SCHEMES):
        return None
    parts, origin = urlsplit(urljoin(current, href)), urlsplit(base)
    if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def catalog_pattern() -> re.Pattern[str]:
    """Matches a text that is one whole Chinese message of the catalog (placeholders match anything)."""
    with (TRANSLATIONS_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    alternatives = set()
    for message in catalog:
        for text in (message.string if isinstance(message.string, tuple) else (message.string,)):
            pieces = re.split(r"%\(\w+\)[sd]|\{\w+\}", (text or "").strip())
            # A message whose own Chinese is a word or two ("%(name)s项目") would match what people typed.
            if len(re.findall(CJK, "".join(pieces))) >= (1 if len(pieces) == 1 else 4):
                alternatives.add(".+?".join(re.escape(p) for p in pieces))
    return re.compile("|".join(sorted(alternatives, key=len, reverse=True)).join(("^(?:", ")$")), re.S)


@pytest.fixture(scope="module")
def zone(database, live_server) -> Iterator[Reference]:
    """The demo zone, every user reading English."""
    with database.write_sessions() as s:
        demo.load(s, anchor=datetime.now(ZoneInfo("Asia/Shanghai")).date())
        s.execute(update(User).values(locale="en"))
        s.commit()
    with database.read_sessions() as s:
        names = {n for model in (IndustryChain, ApprovalTemplate, ApprovalItem, Indicator, ResponsibleDepartment)
                 for n in s.scalars(select(model.name_zh).distinct())}
        # A tag or a title someone typed may equal a reference name (生物医药) or a message (外资): as data it is
        # rightly shown as typed.
        typed = {tag for tags in s.scalars(select(Organization.tags)) for tag in re.split(r"[,，、\s]+", tags or "")}
        typed |= set(s.scalars(select(User.title))) | set(s.scalars(select(User.display_name)))
    names |= {gettext("zh_CN", label) for label in STAGE_LABELS.values()}
    names = sorted((n for n in names - typed if n and re.search(CJK, n)), key=len, reverse=True)
    try:
        yield Reference(names=re.compile(f"(?<!{CJK})(?:{'|'.join(map(re.escape, names))})(?!{CJK})"),
                        interface=catalog_pattern(), typed=typed)
    finally:
        _empty_all_tables(database)


# (page, width) pairs axe has run on, for any role and either backend: axe judges templates and styles, which do
# not depend on the database, and it is the slow part of the walk.
AXE_DONE: set[tuple[str, int]] = set()


@pytest.fixture(scope="module")
def walks(browser, live_server, zone):
    """walks(role) → that role's Walk, made once per module (so once per backend)."""
    done: dict[str, Walk] = {}

    def get(role: str) -> Walk:
        if role not in done:
            done[role] = walk(browser, live_server, role, zone, AXE_DONE)
        return done[role]

    return get


def walk(browser, base: str, role: str, reference: Reference, axe_done: set[tuple[str, int]]) -> Walk:
    result = Walk()
    contexts = []
    try:
        tabs: dict[int, tuple[Page, list[str]]] = {}
        storage = None
        for width in WIDTHS:  # one page per width; signed in once, at the first
            context = browser.new_context(base_url=base, viewport={"width": width, "height": 900}, locale="en-US",
                                          timezone_id="Asia/Shanghai", storage_state=storage)
            context.set_default_timeout(TIMEOUT_MS)
            context.add_init_script(path=AXE)  # compiled once per page load: faster than a script tag added after
            contexts.append(context)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(f"uncaught: {e}"))
            if storage is None:
                sign_in(page, role)
                storage = context.storage_state()
            tabs[width] = (page, errors)
        wide = tabs[WIDTHS[0]][0]

        # The dashboard, and each same-origin link of the header and of the dashboard: one per page.
        wide.goto("/")
        assert wide.locator("html").get_attribute("lang") == "en", "the walk's users read English"
        to_walk: dict[str, str] = {"/": "/"}
        hrefs = wide.locator("header a[href], main a[href]").evaluate_all("els => els.map(a => a.getAttribute('href'))")
        for href in hrefs:
            path = same_origin_path(base, wide.url, href)
            if path and not path.startswith("/static/"):
                to_walk.setdefault(page_key(path), path)
        assert len(to_walk) <= MAX_PAGES, f"{role}: {len(to_walk)} pages to walk: {sorted(to_walk)}"

        targets: dict[tuple[str, str], tuple[str, str, str]] = {}  # (method, key) → (url, what, found on)
        for key, path in to_walk.items():
            # What is not an HTML page (a CSV, a PDF, a calendar) is only fetched, with the links below.
            response = wide.request.get(path, max_redirects=0)
            if response.status >= 300 or "text/html" not in response.headers.get("content-type", ""):
                targets.setdefault(("GET", target_key(path)), (path, "link", "the header or the dashboard"))
                continue
            result.pages.append(path)
            for width, (page, errors) in tabs.items():
                check_page(page, errors, width, path, result, reference, run_axe=(key, width) not in axe_done)
                axe_done.add((key, width))
            for method, href, what in wide.evaluate(TARGETS):
                target = same_origin_path(base, wide.url, href)
                if target:
                    targets.setdefault((method, target_key(target)), (target, what, path))
        check_targets(wide, targets, result)
    finally:
        for context in contexts:
            context.close()
    return result


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.locator("#f-username").fill(username)
    page.locator("#f-password").fill(demo.DEMO_PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    expect(page.locator("form[action='/logout']")).to_be_attached(timeout=TIMEOUT_MS)


def check_page(page: Page, errors: list[str], width: int, path: str, result: Walk, reference: Reference, *,
               run_axe: bool) -> None:
    where = f"{path} @{width}px"
    errors.clear()
    response = page.goto(path)
    if response is None or response.status >= 300:
        result.faults["status"].append(f"{where}: {response.status if response else 'no response'}")
    page.wait_for_function(SETTLED)
    if page.evaluate("document.documentElement.scrollWidth > window.innerWidth"):
        scroll = page.evaluate("document.documentElement.scrollWidth")
        result.faults["scroll"].append(f"{where}: {scroll} px wide; past the edge: {page.evaluate(WIDE_ELEMENTS)}")
    if width >= HEADER_ONE_LINE_FROM and page.evaluate(HEADER_WRAPPED):
        result.faults["scroll"].append(f"{where}: the header wraps onto a second line")
    if run_axe:
        result.faults["axe"].extend(f"{where}: {violation}" for violation in page.evaluate(RUN_AXE))
    if width == WIDTHS[0]:  # the text does not depend on the width
        check_chinese(page.evaluate(CHINESE_TEXT, CJK), path, result, reference)
        result.faults["interface"].extend(f"{path}: emoji {text}" for text in page.evaluate(EMOJI))
    result.faults["console"].extend(f"{where}: {error[:300]}" for error in errors)


def check_chinese(found: list[list], path: str, result: Walk, reference: Reference) -> None:
    """Chinese interface text or reference names on an English page. Chinese that people typed (names, notes) stays
    as typed; it is not yet marked lang="zh-CN" everywhere (a follow-up), so it is not required here."""
    for where, text, marked in found:
        if reference.interface.match(text) and not marked and text not in reference.typed:
            result.faults["interface"].append(f"{path}: {where}: {text[:60]}")
        name = reference.names.search(text)
        if name and not BILINGUAL_PAGES.match(path):  # marked or not: an English page shows the English name
            result.faults["reference"].append(f"{path}: {where}: {name.group()} in {text[:60]}")


def check_targets(page: Page, targets: dict[tuple[str, str], tuple[str, str, str]], result: Walk) -> None:
    for (method, _), (url, what, found_on) in sorted(targets.items()):
        if method == "GET":
            response = page.request.get(url, max_redirects=0)
            bad = response.status >= 400
        else:
            response = page.request.fetch(url, method=method, max_redirects=0)  # no CSRF token: refused unrun
            bad = response.status in (404, 405) or response.status >= 500
        if bad:
            result.faults["targets"].append(f"{method} {url} ({what} on {found_on}): {response.status}")


def faults(walk: Walk, *kinds: str) -> str:
    found = [fault for kind in kinds for fault in walk.faults.get(kind, [])]
    if not walk.pages:
        return "no page was walked"
    return "" if not found else f"{len(found)} on the {len(walk.pages)} pages walked:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("role", ROLES)
def test_walked_pages_answer_and_fit_the_width(walks, role):
    """And from 1260 px the header keeps to one line."""
    report = faults(walks(role), "status", "scroll")
    assert not report, report


@pytest.mark.parametrize("role", ROLES)
def test_walked_pages_log_no_console_error(walks, role):
    report = faults(walks(role), "console")
    assert not report, report


@pytest.mark.parametrize("role", ROLES)
def test_walked_pages_have_no_serious_accessibility_violation(walks, role):
    report = faults(walks(role), "axe")
    assert not report, report


@pytest.mark.parametrize("role", ROLES)
def test_english_pages_show_no_chinese_interface_text_nor_reference_names(walks, role):
    """Nor emoji as icons."""
    report = faults(walks(role), "interface", "reference")
    assert not report, report


@pytest.mark.parametrize("role", ROLES)
def test_every_link_and_form_on_the_walked_pages_answers(walks, role):
    report = faults(walks(role), "targets")
    assert not report, report


def test_parcel_page_names_its_progress_bar_and_fits_a_phone(browser, live_server, zone, database):
    """A parcel's page is one click further than the walk goes; its signing progress bar had no name."""
    with database.read_sessions() as s:
        parcel_id = s.scalar(select(LandParcel.id).where(LandParcel.households_total > 0).order_by(LandParcel.id))
    assert parcel_id, "the demo zone has a parcel under expropriation"
    context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 800}, locale="en-US")
    context.add_init_script(path=AXE)
    try:
        page = context.new_page()
        sign_in(page, "manager")
        page.goto(f"/parcels/{parcel_id}")
        expect(page.locator(".signing-progress[role=progressbar]")).to_have_attribute("aria-label", re.compile(r"\w"))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.evaluate(RUN_AXE) == []
    finally:
        context.close()
