"""Sign-in throttling per client address and per account (issue 13, hole 4), with growing delays capped so that
a stranger cannot keep the real user out; every sign-in, failure and refusal is in the audit trail."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from crm.audit.models import AuditEntry
from crm.auth.models import LoginThrottle
from tests import factories
from tests.conftest import csrf_from
from tests.factories import PASSWORD

WAIT = re.compile(r"请等待 (\d+) 秒")
START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def browser(app):
    """browser(address) → a TestClient whose requests come from that client address."""
    clients = []

    def make(address: str) -> TestClient:
        client = TestClient(app, base_url="http://testserver", follow_redirects=False, client=(address, 50000))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def attempt(client, username, password):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_from(page.text)})


def wait_of(response) -> int:
    match = WAIT.search(response.text)
    return int(match.group(1)) if match else 0


def events(session, action):
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_one_wrong_password_for_each_of_20_usernames_from_one_address_is_throttled(browser, users, session,
                                                                                   settings):
    attacker, officer = browser("10.0.0.66"), browser("10.0.0.2")
    with time_machine.travel(START, tick=False):
        answers = [attempt(attacker, f"someone{i}", "Guess-1234") for i in range(20)]
        assert all(a.status_code == 401 for a in answers)
        waits = [wait_of(a) for a in answers]
        free = settings.login_free_failures_per_address
        assert waits[:free] == [0] * free  # a few typos from an office's shared address cost nothing
        assert all(w > 0 for w in waits[free:])  # then every try from that address waits
        # Even the right password is refused from the throttled address, before it is checked …
        assert wait_of(attempt(attacker, "officer", PASSWORD)) > 0
        # … while the same account signs in from another address.
        assert attempt(officer, "officer", PASSWORD).status_code == 303
    row = session.get(LoginThrottle, "ip:10.0.0.66")
    assert row.failures == free + 1  # refused tries are not checked, so not counted
    throttled = events(session, "sign_in_throttled")
    assert throttled and all(e.client_address == "10.0.0.66" and e.outcome == "refused" for e in throttled)


def test_delays_grow_and_are_capped(browser, users, session, settings):
    attacker = browser("10.0.0.66")
    seen = []
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(settings.login_free_failures + 9):
            response = attempt(attacker, "manager", "Guess-1234")
            assert response.status_code == 401 and "用户名或密码错误" in response.text  # checked, not refused
            seen.append(wait_of(response))
            clock.shift(seen[-1])
    free = settings.login_free_failures
    assert seen[:free] == [0] * free
    first, cap = settings.login_first_delay_seconds, settings.login_max_delay_seconds
    assert seen[free:] == [min(first * 2 ** i, cap) for i in range(9)]  # 5, 10, 20 … 300, 300
    assert seen[-1] == cap


def test_a_stranger_cannot_keep_the_real_manager_out_longer_than_the_cap(browser, users, session, settings):
    attacker, manager = browser("10.0.0.66"), browser("10.0.0.7")
    cap = settings.login_max_delay_seconds
    with time_machine.travel(START, tick=False) as clock:
        # Six wrong passwords for manager from the attacker's address (the old rule locked the account 15 minutes).
        for _ in range(6):
            attempt(attacker, "manager", "Guess-1234")
        refused = attempt(manager, "manager", PASSWORD)
        assert refused.status_code == 401 and 0 < wait_of(refused) <= cap
        clock.shift(wait_of(refused))
        assert attempt(manager, "manager", PASSWORD).status_code == 303

    # A patient attacker pushes the account's delay to the cap and fails again the moment each delay ends.
    manager.cookies.clear()  # signed out
    with time_machine.travel(START + timedelta(hours=3), tick=False) as clock:
        tries = settings.login_free_failures + 8
        for i in range(tries):
            wait = wait_of(attempt(attacker, "manager", "Guess-1234"))
            if i < tries - 1:
                clock.shift(wait)
        # The account's delay now runs the full cap: the real manager is told to wait no longer than that …
        waited = wait_of(attempt(manager, "manager", PASSWORD))
        assert 0 < waited <= cap
        clock.shift(waited)
        # … the attacker fails again the same second, starting a new delay on the account …
        again = attempt(attacker, "manager", "Guess-1234")
        assert "用户名或密码错误" in again.text and wait_of(again) == cap
        clock.shift(1)
        # … and the manager, having waited their turn, still gets in.
        assert attempt(manager, "manager", PASSWORD).status_code == 303
    session.expire_all()
    assert session.get(LoginThrottle, "user:manager") is None  # a complete sign-in clears the account's count


def test_every_sign_in_failure_and_refusal_is_recorded_with_the_address(browser, users, session, settings):
    officer = browser("10.0.0.9")
    assert attempt(officer, "officer", "Wrong-pass-1").status_code == 401
    assert attempt(officer, "nobody", "Wrong-pass-1").status_code == 401
    assert attempt(officer, "officer", PASSWORD).status_code == 303
    failed = events(session, "sign_in_failed")
    assert [(e.changes["username"], e.client_address, e.outcome) for e in failed] == [
        ("officer", "10.0.0.9", "failure"), ("nobody", "10.0.0.9", "failure")]
    assert failed[0].entity_id == users["officer"].id and failed[1].entity_id is None
    (signed_in,) = events(session, "sign_in")
    assert signed_in.actor_id == users["officer"].id and signed_in.client_address == "10.0.0.9"
    officer.cookies.clear()
    for _ in range(settings.login_free_failures + 1):
        attempt(officer, "manager", "Wrong-pass-1")
    assert attempt(officer, "manager", PASSWORD).status_code == 401
    (throttled,) = events(session, "sign_in_throttled")
    assert throttled.changes["username"] == "manager" and throttled.client_address == "10.0.0.9"


def test_security_admin_sees_bursts_by_account_and_by_address(browser, client_as, users, session, settings):
    factories.make_user(session, username="secadmin", role="security_admin")
    others = {role: client_as(role) for role in ("officer", "manager", "admin")}
    security_admin = client_as("secadmin")
    attacker = browser("10.0.0.66")
    for i in range(4):
        attempt(attacker, "manager", f"Guess-{i}")
    attempt(attacker, "ghost", "Guess-x")
    page = security_admin.get("/admin/security/sign-in")
    assert page.status_code == 200
    by_account = page.text.split('id="by-account"')[1].split('id="by-address"')[0]
    by_address = page.text.split('id="by-address"')[1].split('id="recent-failures"')[0]
    assert re.search(r">manager</td>\s*<td[^>]*>4</td>", by_account)
    assert re.search(r">ghost</td>\s*<td[^>]*>1</td>", by_account)
    assert re.search(r">10\.0\.0\.66</td>\s*<td[^>]*>5</td>", by_address)
    assert "10.0.0.66" in page.text.split('id="recent-failures"')[1]
    # Only the security administrator.
    for other in others.values():
        assert other.get("/admin/security/sign-in").status_code == 403


def test_throttle_rows_are_forgotten(browser, users, session, settings):
    attacker = browser("10.0.0.66")
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(settings.login_free_failures + 1):
            attempt(attacker, "manager", "Guess-1234")
        clock.shift(settings.login_forget_minutes * 60 + 400)
        attempt(attacker, "officer", "Guess-1234")  # any failure sweeps what is long forgotten
        session.expire_all()
        keys = set(session.scalars(select(LoginThrottle.key)))
    assert keys == {"ip:10.0.0.66", "user:officer", "user+ip:officer|10.0.0.66"}
