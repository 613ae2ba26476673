"""Sign-in, sessions and the login throttle: all kept in the database, so every worker agrees."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from crm.auth.models import LoginThrottle, WebSession
from crm.db import utcnow
from crm.main import create_app
from tests.conftest import csrf_from, login, post
from tests.factories import PASSWORD


def _attempt(client, username, password):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_from(page.text)})


def test_sign_in_sets_a_safe_cookie_and_lands_on_next(client, users):
    page = client.get("/login?next=/organizations")
    response = client.post("/login", data={"username": "officer", "password": PASSWORD, "next": "/organizations",
                                           "csrf_token": csrf_from(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/organizations"
    cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith("crm_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    assert client.get("/organizations").status_code == 200


def test_cookie_is_secure_over_https(app, users):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        page = client.get("/login")
        response = client.post("/login", data={"username": "officer", "password": PASSWORD,
                                               "csrf_token": csrf_from(page.text)})
        cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith("crm_session="))
        assert "Secure" in cookie


def test_open_redirect_is_refused(client, users):
    page = client.get("/login")
    response = client.post("/login", data={"username": "officer", "password": PASSWORD, "next": "//evil.example/x",
                                           "csrf_token": csrf_from(page.text)})
    assert response.headers["location"] == "/"


def test_wrong_password_gives_a_clear_message_and_no_session(client, users, session):
    response = _attempt(client, "officer", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert session.scalar(select(WebSession.id)) is None
    assert client.get("/organizations").status_code == 303


def test_failed_sign_ins_slow_down_even_with_the_right_password_then_clear(client, users, session, settings):
    """Growing delays per account and per address (tests/test_sign_in_throttle.py has the rest), never a lock-out."""
    for _ in range(settings.login_free_failures):
        assert "请等待" not in _attempt(client, "officer", "nope-nope").text
    slowed = _attempt(client, "officer", "nope-nope")
    assert "请等待" in slowed.text  # "wait N seconds"
    # While slowed down, even the right password is refused with the wait message.
    refused = _attempt(client, "officer", PASSWORD)
    assert refused.status_code == 401 and "请等待" in refused.text
    # After the wait the right password works and the account's counter is cleared.
    session.execute(update(LoginThrottle).values(blocked_until=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert _attempt(client, "officer", PASSWORD).status_code == 303
    session.expire_all()
    assert session.get(LoginThrottle, "user:officer") is None


def test_throttle_and_sessions_are_shared_between_workers(settings, db, users):
    """Two app instances on one database stand for two web workers (or two machines)."""
    worker_a, worker_b = create_app(settings, database=db), create_app(settings, database=db)
    with TestClient(worker_a, follow_redirects=False) as a, TestClient(worker_b, follow_redirects=False) as b:
        login(a, "officer")
        b.cookies.set("crm_session", a.cookies.get("crm_session"))
        assert b.get("/organizations").status_code == 200
    with TestClient(worker_a, follow_redirects=False) as a, TestClient(worker_b, follow_redirects=False) as b:
        for _ in range(settings.login_free_failures + 1):
            _attempt(a, "manager", "nope-nope")
        refused = _attempt(b, "manager", PASSWORD)
        assert refused.status_code == 401 and "请等待" in refused.text


def test_session_survives_an_app_restart(settings, db, users):
    with TestClient(create_app(settings, database=db), follow_redirects=False) as first:
        login(first, "officer")
        token = first.cookies.get("crm_session")
    with TestClient(create_app(settings, database=db), follow_redirects=False) as second:
        second.cookies.set("crm_session", token)
        assert second.get("/organizations").status_code == 200


def test_idle_session_expires(officer_client, session, settings):
    session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=settings.session_idle_minutes + 1)))
    session.commit()
    response = officer_client.get("/organizations")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_activity_keeps_the_session_alive(officer_client, session, settings):
    stale = utcnow() - timedelta(minutes=settings.session_idle_minutes - 1)
    session.execute(update(WebSession).values(last_seen_at=stale))
    session.commit()
    assert officer_client.get("/organizations").status_code == 200
    session.expire_all()
    assert session.scalar(select(WebSession.last_seen_at)) > stale + timedelta(seconds=30)


def test_logout_ends_the_session_on_the_server(officer_client, session):
    token = officer_client.cookies.get("crm_session")
    assert post(officer_client, "/logout").status_code == 303
    assert session.scalar(select(WebSession.id)) is None
    officer_client.cookies.set("crm_session", token)  # a stolen copy of the cookie is useless now
    assert officer_client.get("/organizations").status_code == 303


def test_language_switch_is_kept_per_user(officer_client, users, session):
    assert "机构" in officer_client.get("/organizations").text
    response = post(officer_client, "/language", {"locale": "en", "next": "/organizations"})
    assert response.status_code == 303 and response.headers["location"] == "/organizations"
    page = officer_client.get("/organizations")
    assert "Organizations" in page.text and '<html lang="en">' in page.text
    session.expire_all()
    assert session.get(type(users["officer"]), users["officer"].id).locale == "en"


def test_login_page_language_links(client):
    assert "Sign in" in client.get("/login?lang=en").text
    assert "Sign in" in client.get("/login").text  # remembered in a cookie
    assert "登录" in client.get("/login?lang=zh_CN").text


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
