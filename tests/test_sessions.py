"""Sessions (issue 13, 身份鉴别): each user's active sessions and ending them, the end of the other sessions when the
password changes, the absolute lifetime, and the security administrator's view of everyone's sessions."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select

from crm.audit.models import AuditEntry
from crm.auth import password_policy
from crm.auth import service as auth_service
from crm.auth.models import WebSession
from crm.db import Database, utcnow
from crm.i18n import gettext
from tests import factories
from tests.conftest import csrf_from, login, post

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/18.1 Mobile/15E148 Safari/604.1")


def zh(msgid: str, **params) -> str:
    return str(escape(gettext("zh_CN", msgid, **params)))


@pytest.fixture(autouse=True)
def _fresh_policy_cache():
    password_policy.forget_cached()
    yield
    password_policy.forget_cached()


@pytest.fixture
def browsers(app):
    """browser(username, user_agent) → a signed-in TestClient sending that user agent."""
    opened = []

    def make(username: str, user_agent: str = "testclient") -> TestClient:
        client = TestClient(app, base_url="http://testserver", follow_redirects=False,
                            headers={"User-Agent": user_agent})
        opened.append(client.__enter__())
        login(client, username)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def sessions_of(session, user_id: int) -> list[WebSession]:
    session.expire_all()
    rows = list(session.scalars(select(WebSession).where(WebSession.user_id == user_id)))
    session.commit()
    return rows


def events(session, event: str) -> list[AuditEntry]:
    session.expire_all()
    rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action == event).order_by(AuditEntry.id)))
    session.commit()
    return rows


def signed_in(client: TestClient) -> bool:
    response = client.get("/account")  # every signed-in user's page
    assert response.status_code in (200, 303)
    return response.status_code == 200


def test_account_lists_the_users_sessions_with_device_and_address(browsers, users, session):
    desk = browsers("officer", CHROME_WINDOWS)
    browsers("officer", SAFARI_IPHONE)
    browsers("manager", CHROME_WINDOWS)  # someone else's: not listed
    page = desk.get("/account")
    assert page.status_code == 200
    assert "Chrome · Windows" in page.text and "Safari · iPhone" in page.text
    assert page.text.count("testclient") == 2  # the client address of each (the test client's)
    assert page.text.count(zh("This device")) == 1
    assert page.text.count('action="/account/sessions/') == 3  # an end button for each, and "sign out everywhere else"
    assert 'href="/account/two-factor"' in page.text and zh("Two-factor sign-in") in page.text
    assert 'href="/account/password"' in page.text
    assert "hx-confirm" in page.text  # ending asks first
    assert 'href="/account"' in desk.get("/").text  # in the user menu


def test_ending_one_session_signs_that_browser_out(browsers, users, session):
    desk = browsers("officer", CHROME_WINDOWS)
    phone = browsers("officer", SAFARI_IPHONE)
    [phone_session] = [s for s in sessions_of(session, users["officer"].id) if "iPhone" in s.user_agent]
    response = post(desk, f"/account/sessions/{phone_session.id}/end")
    assert (response.status_code, response.headers["location"]) == (303, "/account")
    assert not signed_in(phone)
    assert signed_in(desk)
    [entry] = events(session, "session_end")
    assert (entry.actor_id, entry.entity_id, entry.client_address) == (users["officer"].id,) * 2 + ("testclient",)

    manager = browsers("manager")
    [desk_session] = sessions_of(session, users["officer"].id)
    refused = post(manager, f"/account/sessions/{desk_session.id}/end")  # not the manager's session
    assert refused.status_code == 404
    assert signed_in(desk)


def test_ending_this_session_signs_out_here(browsers, users, session):
    desk = browsers("officer")
    [mine] = sessions_of(session, users["officer"].id)
    response = post(desk, f"/account/sessions/{mine.id}/end")
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert not signed_in(desk)


def test_sign_out_everywhere_else_keeps_this_browser(browsers, users, session):
    desk = browsers("officer", CHROME_WINDOWS)
    phone = browsers("officer", SAFARI_IPHONE)
    laptop = browsers("officer")
    assert post(desk, "/account/sessions/others/end").status_code == 303
    assert signed_in(desk)
    assert not signed_in(phone) and not signed_in(laptop)
    assert len(sessions_of(session, users["officer"].id)) == 1
    [entry] = events(session, "sign_out_everywhere")
    assert len(entry.changes["sessions"]) == 2


def test_changing_the_password_ends_the_other_sessions_but_not_this_one(browsers, users, session):
    desk = browsers("officer", CHROME_WINDOWS)
    phone = browsers("officer", SAFARI_IPHONE)
    manager = browsers("manager")
    response = post(desk, "/account/password", {"current_password": factories.PASSWORD,
                                                "new_password": "Changed-pass-9", "new_password_again": "Changed-pass-9"})
    assert response.status_code == 303, response.text
    assert signed_in(desk)
    assert not signed_in(phone)
    assert signed_in(manager)  # another user's sessions are untouched
    [entry] = events(session, "password_changed")
    assert entry.changes == {"other_sessions_ended": 1}


def test_sign_out_is_recorded(browsers, users, session):
    desk = browsers("officer")
    assert post(desk, "/logout").status_code == 303
    assert not signed_in(desk)
    [entry] = events(session, "sign_out")
    assert (entry.actor_id, entry.client_address) == (users["officer"].id, "testclient")


def test_a_session_ends_at_its_absolute_lifetime_however_active(browsers, users, session, settings):
    assert settings.session_max_hours == 12
    with time_machine.travel(utcnow(), tick=False) as traveller:
        desk = browsers("officer")
        for _ in range(5):  # active every 2 hours: never idle
            traveller.shift(timedelta(hours=2))
            assert signed_in(desk)
        traveller.shift(timedelta(hours=1, minutes=59))  # 11:59 after sign-in
        assert signed_in(desk)
        traveller.shift(timedelta(minutes=2))  # 12:01
        assert not signed_in(desk)
        browsers("manager")  # a fresh session, not expired
        with job_session(settings) as db:
            removed = auth_service.purge_expired_sessions(db, settings=settings)
        assert removed == 1
        assert sessions_of(session, users["officer"].id) == []
        assert len(sessions_of(session, users["manager"].id)) == 1


@contextmanager
def job_session(settings):
    """A write session of the test database, as the purge job gets one."""
    database = Database(settings.resolved_database_url)
    try:
        with database.write_session() as db:
            yield db
    finally:
        database.dispose()


# The security administrator

@pytest.fixture
def security(session):
    return factories.make_user(session, username="security", role="security_admin", display_name="安全管理员")


def test_security_admin_lists_and_ends_any_sessions(browsers, users, security, session):
    desk = browsers("officer", CHROME_WINDOWS)
    phone = browsers("officer", SAFARI_IPHONE)
    manager = browsers("manager")
    admin = browsers("security")
    page = admin.get("/admin/security/sessions")
    assert page.status_code == 200
    for text in ("张晓明", "练建军", "安全管理员", "Chrome · Windows", "Safari · iPhone", "testclient"):
        assert text in page.text, text
    assert "hx-confirm" in page.text

    [phone_session] = [s for s in sessions_of(session, users["officer"].id) if "iPhone" in s.user_agent]
    assert post(admin, f"/admin/security/sessions/{phone_session.id}/end").status_code == 303
    assert not signed_in(phone) and signed_in(desk)
    assert post(admin, f"/admin/security/users/{users['officer'].id}/sessions/end").status_code == 303
    assert not signed_in(desk)
    assert signed_in(manager) and signed_in(admin)
    ends = events(session, "session_end")
    assert [(e.actor_id, e.entity_id) for e in ends] == [(security.id, users["officer"].id)] * 2
    assert post(admin, "/admin/security/sessions/no-such-session/end").status_code == 404


@pytest.mark.parametrize("role", ["officer", "manager", "admin"])
def test_only_the_security_admin_sees_and_ends_everyones_sessions(browsers, users, session, role):
    browser = browsers(role)
    other = browsers("officer2")
    [target] = sessions_of(session, users["officer2"].id)
    assert browser.get("/admin/security/sessions").status_code == 403
    assert post(browser, f"/admin/security/sessions/{target.id}/end").status_code == 403
    assert post(browser, f"/admin/security/users/{users['officer2'].id}/sessions/end").status_code == 403
    assert signed_in(other)
    assert session.scalar(select(func.count()).select_from(WebSession)) == 2
    session.commit()


def test_the_account_pages_need_a_signed_in_user(client):
    for url in ("/account", "/account/password"):
        response = client.get(url)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    page = client.get("/login")
    response = client.post("/account/sessions/others/end", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
