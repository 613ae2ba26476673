"""Issue 13, hole 1: every response carries the browser's protections, every HTML page a Content-Security-Policy.

What the policy forbids (inline script and style, framing by another site) is shown in a real browser by
tests/e2e/test_csp_browser.py; here, over HTTP, that each kind of response carries the headers, once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crm.security_headers import CONTENT_SECURITY_POLICY, policy_allowing_styles
from crm.web import STATIC_DIR
from tests.conftest import ROOT, login
from tests.factories import make_org, make_visit
from tests.test_attachments import pdf_bytes, send

HTMX = {"HX-Request": "true"}
PAGE_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
}
TEMPLATES = ROOT / "templates"


def directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()}


def assert_protected(response, *, html: bool = True, policy: str = CONTENT_SECURITY_POLICY) -> None:
    """The headers, each exactly once; the page policy on HTML."""
    where = f"{response.request.method} {response.request.url} ({response.status_code})"
    for name, value in PAGE_HEADERS.items():
        assert response.headers.get_list(name) == [value], f"{where}: {name}"
    permissions = response.headers.get_list("permissions-policy")
    assert len(permissions) == 1 and all(f"{feature}=()" in permissions[0]
                                         for feature in ("camera", "microphone", "geolocation", "payment", "usb")), where
    if html:
        assert response.headers.get_list("content-security-policy") == [policy], where


def test_the_policy_allows_this_origin_only_and_nothing_inline():
    policy = directives(CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == policy["form-action"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_the_login_page_carries_the_headers(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert_protected(response)


@pytest.fixture
def manager_client(client, users):
    login(client, "manager")
    return client


def test_signed_in_pages_carry_the_headers(manager_client, session, users):
    org = make_org(session, actor=users["manager"], name="比亚迪股份有限公司")
    for url in ("/", f"/organizations/{org.id}", "/projects", "/notifications/settings"):
        response = manager_client.get(url)
        assert response.status_code == 200, url
        assert_protected(response)
    report = manager_client.get("/reports/pipeline")  # a print preview: its print CSS is allowed by its hash
    assert report.status_code == 200
    assert_protected(report, policy=policy_allowing_styles(report.text))


def test_error_pages_redirects_and_fragments_carry_the_headers(client, users):
    anonymous = client.get("/organizations")
    assert anonymous.status_code == 303
    assert_protected(anonymous)
    login(client, "officer")
    missing = client.get("/organizations/999999")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert_protected(missing)
    unknown = client.get("/no/such/page")
    assert unknown.status_code == 404
    assert_protected(unknown)
    refused = client.get("/admin/users")
    assert refused.status_code == 403
    assert_protected(refused)
    fragment = client.get("/organizations", headers=HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert_protected(fragment)
    bell = client.get("/notifications/bell", headers=HTMX)
    assert bell.status_code == 200
    assert_protected(bell)


def test_static_files_are_never_sniffed(client):
    for name in ("css/app.css", "js/app.js", "js/htmx-2.0.11.min.js"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], name
        assert_protected(response, html=False)
        assert "content-security-policy" not in response.headers  # not a page


def test_versioned_static_files_are_cached_for_good_and_others_revalidated(client):
    """Pages link static files by static_url() (`?v=` the file's hash): a browser keeps them a year without asking
    (issue 17); any other static URL is revalidated, so a changed file is never served stale from the cache."""
    from crm.web import static_url

    page = client.get("/login").text
    for name in ("css/app.css", "js/app.js", "js/htmx-2.0.11.min.js"):
        url = static_url(name)
        assert f'"{url}"' in page, name
        versioned = client.get(url)
        assert versioned.status_code == 200, name
        assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable", name
        plain = client.get(f"/static/{name}")
        assert plain.headers["cache-control"] == "no-cache" and plain.headers["etag"], name
        again = client.get(f"/static/{name}", headers={"If-None-Match": plain.headers["etag"]})
        assert again.status_code == 304, name


def test_hsts_only_over_https(app):
    with TestClient(app, base_url="https://crm.example.cn", follow_redirects=False) as secure:
        response = secure.get("/login")
        assert response.headers.get_list("strict-transport-security") == ["max-age=31536000"]
        assert_protected(response)
        assert secure.get("/static/css/app.css").headers["strict-transport-security"] == "max-age=31536000"
    with TestClient(app, base_url="http://crm.example.cn", follow_redirects=False) as plain:
        assert "strict-transport-security" not in plain.get("/login").headers


def test_a_response_with_its_own_policy_keeps_it_undoubled(officer_client, session, users):
    """An attachment is opened under `sandbox` (it runs nothing); nosniff it set itself is not repeated."""
    visit = make_visit(session, title="比亚迪来访考察", officer=users["officer"])
    assert send(officer_client, visit.id, "纪要.pdf", pdf_bytes(), next_url=f"/visits/{visit.id}").status_code == 303
    page = officer_client.get(f"/visits/{visit.id}")
    attachment_id = re.search(r'href="/attachments/(\d+)"', page.text).group(1)
    response = officer_client.get(f"/attachments/{attachment_id}")
    assert response.status_code == 200
    assert response.headers.get_list("content-security-policy") == ["sandbox"]
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert_protected(response, html=False)


def test_print_previews_allow_their_own_stylesheet_by_hash_only(manager_client):
    """The preview is the PDF's HTML: its print CSS is one inline <style>, allowed by its hash and nothing else."""
    response = manager_client.get("/reports/pipeline")
    policy = directives(response.headers["content-security-policy"])
    assert policy == directives(policy_allowing_styles(response.text))
    assert re.fullmatch(r"'self' 'sha256-[A-Za-z0-9+/]+=*'", policy["style-src"])
    assert policy["script-src"] == "'self'"


# What the policy would refuse, in the templates served as pages (templates/pdf/ is the PDFs' print layout).
INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"<style", re.I), "a <style> block"),
    (re.compile(r"\shx-on", re.I), "hx-on (needs eval)"),
]


def page_templates() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*.html") if "pdf" not in p.relative_to(TEMPLATES).parts)


def test_page_templates_have_nothing_inline_the_policy_refuses():
    found = [f"{path.relative_to(TEMPLATES)}: {what}" for path in page_templates()
             for pattern, what in INLINE if pattern.search(path.read_text())]
    assert not found, found


def test_htmx_injects_no_style_and_runs_no_eval():
    base = (TEMPLATES / "base.html").read_text()
    assert '"includeIndicatorStyles": false' in base and '"allowEval": false' in base
    assert ".htmx-indicator" in (STATIC_DIR / "css" / "app.css").read_text()


def test_signed_in_pages_are_not_kept_by_the_browser_and_the_login_page_may_be(client, users):
    """剩余信息保护: after sign-out nothing of a signed-in page stays in the browser's cache."""
    assert "no-store" not in client.get("/login").headers.get("cache-control", "")
    login(client, "officer")
    for url in ("/", "/organizations", "/tasks"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "private, no-store", url
    assert client.get("/organizations", headers=HTMX).headers["cache-control"].count("no-store") == 1
