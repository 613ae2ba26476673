"""Every route needs a session (but login, static files and /healthz); every state change needs a CSRF token."""

import re

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from crm.organizations.models import Organization
from tests.conftest import csrf_from, post
from tests.factories import make_org

# The calendar feed is public but token-authenticated (tests/test_feeds.py): calendar apps carry no session.
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/login/two-factor"), ("POST", "/login/two-factor"), ("GET", "/healthz"), ("GET", "/feeds/{token}.ics")}


def _routes(app):
    """Every (method, path) the app serves: its own routes and those of every router it includes."""
    from crm.main import PUBLIC_ROUTERS, SIGNED_IN_ROUTERS

    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    for router in (*PUBLIC_ROUTERS, *SIGNED_IN_ROUTERS):
        routes.extend(r for r in router.routes if isinstance(r, APIRoute))
    for route in routes:
        for method in route.methods:
            if method != "HEAD":
                yield method, route.path


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_the_app_has_the_routes_this_test_expects(app):
    paths = {path for _, path in _routes(app)}
    assert {"/organizations", "/contacts", "/admin/users", "/admin/audit"} <= paths


def test_every_route_but_login_and_healthz_requires_a_signed_in_user(client, app, users):
    anonymous_token = csrf_from(client.get("/login").text)  # a valid token, but no session
    checked = 0
    for method, path in _routes(app):
        if (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path), data={"csrf_token": anonymous_token} if method != "GET" else None)
        assert response.status_code in (303, 401), (method, path, response.status_code)
        assert response.headers.get("location", response.headers.get("hx-redirect", "")).startswith("/login"), (method, path)
        checked += 1
    assert checked >= 20


def test_htmx_requests_without_a_session_are_redirected_by_header(client):
    response = client.get("/organizations?q=x", headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["hx-redirect"].startswith("/login")


def test_static_files_and_healthz_are_public(client):
    assert client.get("/static/css/app.css").status_code == 200
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_state_change_without_a_valid_csrf_token_is_refused_and_changes_nothing(officer_client, session, token, users):
    data = {"name": "无令牌机构", "kind": "investor"}
    if token is not None:
        data["csrf_token"] = token
    response = officer_client.post("/organizations", data=data)
    assert response.status_code == 403
    assert "表单已过期" in response.text
    assert session.scalar(select(func.count(Organization.id))) == 0


def test_csrf_token_of_another_session_is_refused(client, app, users, session):
    from fastapi.testclient import TestClient

    from tests.conftest import login

    with TestClient(app, follow_redirects=False) as other:
        login(other, "officer2")
        foreign = other.csrf
    from tests.conftest import login as login_again

    login_again(client, "officer")
    response = client.post("/organizations", data={"csrf_token": foreign, "name": "跨会话", "kind": "investor"})
    assert response.status_code == 403
    assert session.scalar(select(func.count(Organization.id))) == 0


def test_htmx_sends_the_token_as_a_header(officer_client, session):
    response = officer_client.post(
        "/organizations", data={"name": "头部令牌机构", "kind": "investor"},
        headers={"HX-Request": "true", "X-CSRF-Token": officer_client.csrf},
    )
    assert response.status_code == 204 and response.headers["hx-redirect"].startswith("/organizations/")
    assert session.scalar(select(Organization.name)) == "头部令牌机构"


def test_login_itself_needs_a_csrf_token(client, users):
    response = client.post("/login", data={"username": "officer", "password": "secret-pass-1"})
    assert response.status_code == 403
    assert "crm_session" not in response.headers.get("set-cookie", "")


def test_roles_are_enforced_on_the_server(officer_client, session, users):
    assert officer_client.get("/admin/users").status_code == 403
    assert officer_client.get("/admin/audit").status_code == 403
    response = post(officer_client, "/admin/users", {"username": "sneaky", "display_name": "x", "role": "admin",
                                                     "locale": "zh_CN", "password": "longenough1"})
    assert response.status_code == 403
    from crm.auth.models import User

    assert session.scalar(select(User.id).where(User.username == "sneaky")) is None


SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_html_in_any_text_field_is_shown_as_text(officer_client, session, users):
    org = make_org(session, actor=users["officer"], name=SCRIPT, name_en=SCRIPT, description=SCRIPT, city=SCRIPT,
                   tags="<b>标签</b>")
    for url in ("/organizations", f"/organizations/{org.id}", "/", "/organizations?q=script"):
        html = officer_client.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;" in html, url


def test_unknown_and_malformed_ids_are_404_pages_not_500(officer_client):
    for url in ("/organizations/999999", "/organizations/abc", "/organizations/999999/edit", "/contacts/999999",
                "/organizations/1.5", "/no-such-page"):
        response = officer_client.get(url)
        assert response.status_code == 404, url
        assert "没有这个页面或记录" in response.text and "<nav" in response.text  # the site's layout


def test_wrong_method_is_a_clear_error(officer_client):
    response = officer_client.put("/organizations", headers={"X-CSRF-Token": officer_client.csrf})
    assert response.status_code == 405
