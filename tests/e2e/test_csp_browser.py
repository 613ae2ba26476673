"""Issue 13, hole 1, in a real browser: with the Content-Security-Policy in force (crm/security_headers.py) no page of
any role is refused anything (no `securitypolicyviolation`, no console error), and a page of another origin cannot
frame the app (clickjacking).

The walk: for each role, the dashboard and every same-origin page its header and dashboard link to, then the pages
those link to (the demo zone's records: an organization, a project, a visit ...), one per kind of page (paths that
differ only by record ids are one page; a record page already walked by another role is not walked again). The
security and audit administrators are refused the business pages: a 403 page is a page, and is checked too. What is
not an HTML page (a PDF, a spreadsheet, a calendar) is not opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
from sqlalchemy import select

from crm import demo
from crm.auth.models import Role, User
from crm.security_headers import CONTENT_SECURITY_POLICY
from tests import factories
from tests.e2e.conftest import TIMEOUT_MS
from tests.e2e.test_walk_browser import SETTLED, page_key, same_origin_path, sign_in
from tests.e2e.test_walk_browser import zone as demo_zone  # noqa: F401 - a fixture, used by name

pytestmark = pytest.mark.e2e

# username → role; the demo zone has the first three, and (with the roles of issue 13) the last two.
ROLES = {"officer": Role.OFFICER, "manager": Role.MANAGER, "admin": Role.ADMIN, "security": Role.SECURITY_ADMIN,
         "auditor": Role.AUDIT_ADMIN}
MAX_PAGES = 60  # per role: a guard against a link explosion

# Records every refusal of the policy on the page, before any of the page's own scripts runs.
LISTEN = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(
  e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + (e.sourceFile || '?') + ':' + e.lineNumber +
  (e.sample ? ' (' + e.sample + ')' : '')));
"""
STYLE_HASH = re.compile(r" 'sha256-[A-Za-z0-9+/=]+'")
LINKS = "els => els.map(a => a.getAttribute('href'))"


@pytest.fixture(scope="module")
def accounts(request, database) -> dict[str, str]:
    """The demo's accounts of each role; an administrator role the demo does not have yet gets one here."""
    request.getfixturevalue("demo_zone")  # the demo zone (test_walk_browser's fixture), emptied after this module
    with database.write_sessions() as s:
        existing = set(s.scalars(select(User.username).where(User.username.in_(ROLES))))
        for username in ROLES.keys() - existing:
            factories.make_user(s, username=username, role=ROLES[username], password=demo.DEMO_PASSWORD,
                                locale="en")
    return {username: str(role) for username, role in ROLES.items()}


def test_every_page_of_every_role_runs_under_the_policy_without_a_refusal(browser, live_server, accounts):
    walked: set[str] = set()  # record pages (by page key) walked by some role
    faults: list[str] = []
    pages = 0
    for username in ROLES:
        context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                      timezone_id="Asia/Shanghai")
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(LISTEN)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(f"uncaught: {e}"))
            sign_in(page, username)
            menu: dict[str, str] = {}  # the header's and the dashboard's pages: every role walks its own
            for path in visit(page, "/", errors, username, faults):
                menu.setdefault(page_key(path), path)
            menu.pop("/", None)
            records: dict[str, str] = {}  # the pages those link to, once for all roles
            for path in list(menu.values())[:MAX_PAGES]:
                for found in visit(page, path, errors, username, faults):
                    key = page_key(found)
                    if key not in menu and key != "/" and key not in walked:
                        records.setdefault(key, found)
            for path in list(records.values())[:MAX_PAGES]:
                visit(page, path, errors, username, faults)
            walked |= records.keys()
            pages += 1 + len(menu) + len(records)
        finally:
            context.close()
    assert pages > 20, f"only {pages} pages walked"
    assert not faults, f"{len(faults)} refusals or errors on the {pages} pages walked:\n  " + "\n  ".join(faults)


def visit(page, path: str, errors: list[str], username: str, faults: list[str]) -> list[str]:
    """Opens `path` if it is an HTML page, records what the policy refused and what the console reported, and
    returns the same-origin links on it (none if it was not opened)."""
    probe = page.request.get(path, max_redirects=0)
    if probe.status in (301, 302, 303, 307, 308) or "text/html" not in probe.headers.get("content-type", ""):
        return []
    errors.clear()
    response = page.goto(path)
    where = f"{username} {path}"
    if response is None:
        faults.append(f"{where}: no response")
        return []
    policy = response.headers.get("content-security-policy", "")
    if STYLE_HASH.sub("", policy) != CONTENT_SECURITY_POLICY:  # a print preview's own CSS is allowed by its hash
        faults.append(f"{where}: served without the policy: {policy!r}")
    page.wait_for_function(SETTLED)
    # What a page loads when opened (a <details> with hx-trigger="toggle once"): swapped in under the policy too.
    if page.evaluate("[...document.querySelectorAll('main details:not([open])')].map(d => d.open = true).length"):
        page.wait_for_function(SETTLED)
    faults.extend(f"{where}: {violation}" for violation in page.evaluate("window.__violations"))
    faults.extend(f"{where}: console: {error[:300]}" for error in errors)
    links = page.locator("header a[href], main a[href], nav a[href]").evaluate_all(LINKS)
    return [p for p in (same_origin_path(page.url, page.url, href) for href in links)
            if p and not p.startswith("/static/")]


@pytest.fixture
def framing_server(live_server) -> Iterator[str]:
    """A page on another origin (another port of the same host) that frames the app's dashboard."""
    html = (f'<!doctype html><html><body><h1>another site</h1>'
            f'<iframe id="victim" src="{live_server}/" width="800" height="600"></iframe></body></html>').encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_another_origin_cannot_frame_the_signed_in_dashboard(browser, live_server, accounts, framing_server):
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, "manager")  # the session cookie is sent to the frame (same site: only the port differs)
        assert "/login" not in page.url
        header = page.locator("header.site-header .brand").inner_text().split("\n")[0].strip()
        assert header
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "frame" in m.text.lower() else None)
        page.goto(framing_server, wait_until="load")
        page.wait_for_timeout(300)
        frames = [frame for frame in page.frames if frame != page.main_frame]
        assert len(frames) == 1
        frame = frames[0]
        assert not frame.url.startswith(live_server), f"the app loaded in the frame: {frame.url}"
        for each in page.frames:
            try:
                content = each.content()
            except Exception:  # an error page of the browser's own may refuse to be read: nothing of ours in it
                continue
            assert header not in content, f"the app's header is in a frame at {each.url}"
        assert "another site" in page.content()
        assert refused, "the browser said nothing about refusing the frame"
    finally:
        context.close()
