"""Two-factor sign-in with a TOTP app (RFC 6238) and one-time recovery codes (issue 13, 身份鉴别): set-up, the code
step of signing in, replay, recovery codes, administrators required to have one, the security administrator's reset,
and the secret never shown again after the set-up."""

import html
import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from crm.audit.models import AuditEntry
from crm.auth import service as auth_service
from crm.auth.models import RecoveryCode, SecondFactor, User
from crm.config import Settings
from crm.main import create_app
from tests import factories
from tests.conftest import csrf_from, login, post
from tests.factories import PASSWORD

SECRET_RE = re.compile(r'<code class="totp-secret">([A-Z2-7 ]+)</code>')
START = datetime(2026, 12, 7, 2, 0, 10, tzinfo=UTC)  # early in a 30-second time step
CODES_RE = re.compile(r"<li><code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code></li>")


def enrol(client) -> tuple[str, list[str]]:
    """Sets up a second factor through the pages; returns the secret the page showed and the recovery codes."""
    assert post(client, "/account/two-factor/setup").status_code == 303
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and 'src="data:image/svg+xml' in page.text  # the QR code, drawn on the server
    secret = SECRET_RE.search(page.text).group(1).replace(" ", "")
    confirmed = post(client, "/account/two-factor/confirm", {"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200, confirmed.text
    codes = CODES_RE.findall(confirmed.text)
    assert len(codes) == 10 and secret not in confirmed.text
    return secret, codes


def code_at(secret: str, seconds_from_now: int) -> str:
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=seconds_from_now))


def password_step(client, username: str, next_url: str = "/"):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": PASSWORD, "next": next_url,
                                       "csrf_token": csrf_from(page.text)})


def code_step(client, code: str):
    page = client.get("/login/two-factor")
    token = csrf_from(page.text) if page.status_code == 200 else csrf_from(client.get("/login").text)
    return client.post("/login/two-factor", data={"code": code, "csrf_token": token})


def sign_out(client):
    post(client, "/logout")
    client.cookies.clear()


def events(session, action):
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_enrol_then_sign_in_with_a_code_and_a_wrong_code_is_refused(client, users, session):
    login(client, "officer")
    secret, _ = enrol(client)
    (enrolled,) = events(session, "second_factor_enrolled")
    assert enrolled.entity_id == users["officer"].id
    sign_out(client)

    asked = password_step(client, "officer", "/organizations")
    assert asked.status_code == 303 and asked.headers["location"] == "/login/two-factor"
    assert not client.cookies.get("crm_session")  # no session before the code
    assert client.get("/organizations").status_code == 303
    assert 'name="code"' in client.get("/login/two-factor").text

    wrong = code_step(client, "000000" if code_at(secret, 30) != "000000" else "111111")
    assert wrong.status_code == 401 and not client.cookies.get("crm_session")
    assert events(session, "second_factor_failed")[0].outcome == "failure"

    signed_in = code_step(client, code_at(secret, 30))  # the next time step is still accepted (clock drift)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/organizations"
    assert client.get("/organizations").status_code == 200
    (sign_in,) = events(session, "sign_in")[-1:]
    assert sign_in.changes == {"second_factor": "totp"} and sign_in.actor_id == users["officer"].id


def test_a_used_code_cannot_be_replayed(client, users, session):
    login(client, "officer")
    secret, _ = enrol(client)
    sign_out(client)
    code = code_at(secret, 30)
    password_step(client, "officer")
    assert code_step(client, code).status_code == 303
    sign_out(client)
    password_step(client, "officer")
    replayed = code_step(client, code)
    assert replayed.status_code == 401 and not client.cookies.get("crm_session")
    # The code of the enrolment's own time step is spent too.
    assert code_step(client, code_at(secret, 0)).status_code == 401


def test_a_recovery_code_works_once(client, users, session):
    login(client, "officer")
    _, codes = enrol(client)
    sign_out(client)
    password_step(client, "officer")
    assert code_step(client, codes[3].upper()).status_code == 303
    (used,) = events(session, "recovery_code_used")
    assert used.changes == {"left": 9}
    sign_out(client)
    password_step(client, "officer")
    assert code_step(client, codes[3]).status_code == 401
    stored = set(session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10 and not stored & ({c.replace("-", "") for c in codes} | set(codes))  # digests only


def test_the_code_step_is_bound_to_the_browser_and_allows_five_wrong_codes(app, client, users, session):
    with time_machine.travel(START, tick=False) as clock:
        login(client, "officer")
        secret, _ = enrol(client)
        sign_out(client)
        password_step(client, "officer")
        # Another browser (no challenge cookie) cannot finish this sign-in, even with the right code.
        with TestClient(app, base_url="http://testserver", follow_redirects=False) as other:
            answer = code_step(other, code_at(secret, 30))
            assert answer.status_code == 303 and answer.headers["location"] == "/login"
            assert not other.cookies.get("crm_session")
        # Five wrong codes (waiting out the throttle's delays between them) end the challenge.
        for _ in range(4):
            assert code_step(client, "12345678").status_code == 401
            clock.shift(25)
        ended = code_step(client, "12345678")
        assert ended.status_code == 303 and ended.headers["location"] == "/login"
        assert code_step(client, code_at(secret, 0)).headers["location"] == "/login"
        assert not client.cookies.get("crm_session")


def test_the_code_step_expires_after_five_minutes(client, users, session):
    with time_machine.travel(START, tick=False) as clock:
        login(client, "officer")
        secret, _ = enrol(client)
        sign_out(client)
        password_step(client, "officer")
        clock.shift(5 * 60 + 1)
        expired = code_step(client, code_at(secret, 0))
        assert expired.status_code == 303 and expired.headers["location"] == "/login"
        assert not client.cookies.get("crm_session")


def test_wrong_codes_are_throttled_like_passwords(client, users, session, settings):
    login(client, "officer")
    enrol(client)
    sign_out(client)
    for _ in range(settings.login_free_failures + 1):
        password_step(client, "officer")
        assert code_step(client, "99999999").status_code == 401
    refused = password_step(client, "officer")  # the account waits, whether the password or the code was wrong
    assert refused.status_code == 401 and "请等待" in refused.text


@pytest.fixture
def strict_app(settings, db):
    """The app as deployed: administrators must have a second factor (tests turn it off elsewhere)."""
    strict = Settings(env="test", database_url=settings.database_url, data_dir=settings.data_dir,
                      secret_key=settings.secret_key, admin_second_factor=True)
    return create_app(strict, database=db)


@pytest.mark.parametrize("role", ["admin", "security_admin", "audit_admin"])
def test_an_administrator_without_a_second_factor_sets_one_up_before_any_page(strict_app, session, role):
    factories.make_user(session, username="boss", role=role)
    with TestClient(strict_app, base_url="http://testserver", follow_redirects=False) as client:
        page = client.get("/login")
        client.post("/login", data={"username": "boss", "password": PASSWORD, "csrf_token": csrf_from(page.text)})
        for path in ("/", "/admin/users", "/admin/audit", "/admin/security/sign-in", "/account"):
            response = client.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/account/two-factor", path
        setup = client.get("/account/two-factor")
        assert setup.status_code == 200
        client.csrf = csrf_from(setup.text)
        assert post(client, "/logout").status_code == 303  # signing out still works
        assert client.get("/account/two-factor").headers["location"].startswith("/login")
        password_step(client, "boss")
        client.csrf = csrf_from(client.get("/account/two-factor").text)
        enrol(client)
        assert client.get("/").status_code in (200, 303)
        assert client.get("/account").status_code == 200
        sign_out(client)
        assert password_step(client, "boss").headers["location"] == "/login/two-factor"


def test_officers_are_not_required_to_have_one(strict_app, users):
    with TestClient(strict_app, base_url="http://testserver", follow_redirects=False) as client:
        login(client, "officer")
        assert client.get("/organizations").status_code == 200


def test_security_admin_resets_a_users_second_factor(client, client_as, users, session):
    factories.make_user(session, username="secadmin", role="security_admin")
    login(client, "officer")
    enrol(client)
    security = client_as("secadmin")
    listing = security.get("/admin/security/sign-in")
    officer_id = users["officer"].id
    reset_url = f"/admin/security/sign-in/users/{officer_id}/reset-second-factor"
    assert reset_url in listing.text
    confirm = security.get(reset_url)
    assert confirm.status_code == 200 and "重置" in confirm.text
    done = post(security, reset_url)
    assert done.status_code == 303
    session.expire_all()
    assert session.get(User, officer_id).second_factor_at is None
    assert session.get(SecondFactor, officer_id) is None
    assert session.scalar(select(RecoveryCode.id).where(RecoveryCode.user_id == officer_id)) is None
    (reset,) = events(session, "second_factor_reset")
    assert reset.actor_id != officer_id and reset.entity_id == officer_id and reset.outcome == "success"
    # The officer signs in with the password alone again.
    sign_out(client)
    assert password_step(client, "officer").headers["location"] == "/"
    # Nobody else may reset.
    for role in ("officer2", "manager", "admin"):
        assert post(client_as(role), reset_url).status_code == 403


def test_the_secret_never_leaves_the_server_after_enrolment(client, client_as, users, session):
    factories.make_user(session, username="secadmin", role="security_admin")
    login(client, "officer")
    secret, _ = enrol(client)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    security = client_as("secadmin")
    pages = [client.get(p).text for p in ("/account/two-factor", "/account", "/", "/organizations")]
    pages += [security.get("/admin/security/sign-in").text]
    for text in pages:
        assert secret not in text and grouped not in text and "otpauth" not in html.unescape(text)
    # Nor is it loaded with the signed-in user.
    assert not any("secret" in c.key for c in auth_service._SESSION_USER_COLUMNS)
    assert "second_factor_at" in {c.key for c in auth_service._SESSION_USER_COLUMNS}


def test_disable_needs_password_and_code_and_new_recovery_codes_replace_the_old(client, users, session):
    login(client, "officer")
    secret, codes = enrol(client)
    fresh = post(client, "/account/two-factor/recovery-codes", {"recovery_password": PASSWORD})
    new_codes = CODES_RE.findall(fresh.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    refused = post(client, "/account/two-factor/disable", {"disable_password": "Wrong-pass-9",
                                                             "disable_code": code_at(secret, 30)})
    assert refused.status_code == 422
    refused = post(client, "/account/two-factor/disable", {"disable_password": PASSWORD, "disable_code": "000001"})
    assert refused.status_code == 422
    assert post(client, "/account/two-factor/disable", {"disable_password": PASSWORD,
                                                            "disable_code": new_codes[0]}).status_code == 303
    assert events(session, "second_factor_disabled")
    session.expire_all()
    assert session.get(User, users["officer"].id).second_factor_at is None
    sign_out(client)
    assert password_step(client, "officer").headers["location"] == "/"


def test_the_operator_resets_a_second_factor_from_the_console(client, users, session, monkeypatch, database_url,
                                                               capsys):
    """When the only security administrator lost their phone and recovery codes: crm user reset-second-factor."""
    from crm import cli

    login(client, "officer")
    enrol(client)
    monkeypatch.setenv("CRM_DATABASE_URL", database_url)
    assert cli.main(["user", "reset-second-factor", "OFFICER"]) == 0
    assert "reset" in capsys.readouterr().out
    assert cli.main(["user", "reset-second-factor", "nobody"]) == 1
    session.expire_all()
    assert session.get(User, users["officer"].id).second_factor_at is None
    (reset,) = events(session, "second_factor_reset")
    assert reset.actor_id is None and reset.channel == "cli"
