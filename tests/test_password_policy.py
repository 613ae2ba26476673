"""The password policy (issue 13, 身份鉴别): its rules wherever a password is set, the security administrator's page,
the change owed after an administrator set the password or after the maximum age, and the production start that
refuses demo passwords."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import select, update

from crm import cli, demo
from crm.audit.models import AuditEntry
from crm.auth import password_policy
from crm.auth.models import PasswordPolicy, User
from crm.auth.security import hash_password
from crm.db import utcnow
from crm.i18n import gettext
from tests import factories
from tests.conftest import csrf_from, post
from tests.helpers import field_error, reload

ROOT = Path(__file__).resolve().parent.parent


def zh(msgid: str, **params) -> str:
    return str(escape(gettext("zh_CN", msgid, **params)))


def en(msgid: str, **params) -> str:
    return str(escape(gettext("en", msgid, **params)))


@pytest.fixture(autouse=True)
def _fresh_policy_cache():
    password_policy.forget_cached()
    yield
    password_policy.forget_cached()


@pytest.fixture
def security(session):
    return factories.make_user(session, username="security", role="security_admin", display_name="安全管理员")


@pytest.fixture
def security_client(client_as, security):
    return client_as("security")


def sign_in_attempt(client, username: str, password: str):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(page.text), "next": "/"})


def new_user(**overrides) -> dict[str, str]:
    data = {"username": "wangfang", "display_name": "王芳", "title": "", "email": "", "role": "officer",
            "locale": "zh_CN", "password": "Long-enough-1"}
    data.update(overrides)
    return data


# Each rule, refused beside the field, in the user's language

RULES = [
    pytest.param("Ab-1xyz", "A password has at least %(n)s characters.", id="too-short"),
    pytest.param("abcdefgh12", "Use at least three of: upper-case letters, lower-case letters, digits, symbols.",
                 id="two-classes"),
    pytest.param("Wangfang-2026", "A password must not contain the username.", id="contains-username"),
    pytest.param("P@ssw0rd", "This password is one of the most common ones; choose another.", id="common"),
    pytest.param("ADMIN@123", "This password is one of the most common ones; choose another.", id="common-any-case"),
]


@pytest.mark.parametrize(("password", "message"), RULES)
def test_admin_create_refuses_each_rule_beside_the_field(client_as, users, session, password, message):
    admin = client_as("admin")
    response = post(admin, "/admin/users", new_user(password=password))
    assert response.status_code == 422
    assert field_error(response.text, "password") == zh(message, n=8)
    session.expire_all()
    assert session.scalar(select(User).where(User.username == "wangfang")) is None
    session.commit()


@pytest.mark.parametrize(("password", "message"), RULES)
def test_admin_reset_refuses_each_rule(client_as, users, session, password, message):
    target = factories.make_user(session, username="wangfang")
    before = target.password_hash
    admin = client_as("admin")
    response = post(admin, f"/admin/users/{target.id}/password", {"password": password})
    assert response.status_code == 422
    assert field_error(response.text, "password") == zh(message, n=8)
    assert reload(session, User, target.id).password_hash == before


@pytest.mark.parametrize(("password", "message"), RULES)
def test_own_change_refuses_each_rule_in_the_users_language(client_as, session, password, message):
    factories.make_user(session, username="wangfang", locale="en")
    browser = client_as("wangfang")
    response = post(browser, "/account/password", {"current_password": factories.PASSWORD,
                                                     "new_password": password, "new_password_again": password})
    assert response.status_code == 422
    assert field_error(response.text, "new_password") == en(message, n=8)
    assert 'value="' + password not in response.text  # passwords are never sent back


def test_cli_user_create_applies_the_policy(db, session, monkeypatch, database_url, capsys):
    monkeypatch.setenv("CRM_DATABASE_URL", database_url)
    assert cli.main(["user", "create", "--username", "zhao", "--password", "zhaozhao1"]) == 1
    assert "password" in capsys.readouterr().err
    assert cli.main(["user", "create", "--username", "zhao", "--password", "Zhao-2026"]) == 1  # the username
    assert cli.main(["user", "create", "--username", "qian", "--password", "Long-enough-1"]) == 0
    session.expire_all()
    assert [u.username for u in session.scalars(select(User))] == ["qian"]
    user = session.scalar(select(User))
    session.commit()
    assert user.must_change_password is False  # the operator chose it on the command line


def test_the_test_and_demo_passwords_meet_the_default_policy():
    rules = password_policy.Rules()
    assert password_policy.problem(rules, factories.PASSWORD, username="officer") is None
    for username, *_ in demo.USERS:
        assert password_policy.problem(rules, demo.DEMO_PASSWORD, username=username) is None, username
    assert len(password_policy.common_passwords()) > 3000
    assert "demo1234" in password_policy.common_passwords()


# The security administrator's page

def test_policy_page_changes_the_rules(security_client, client_as, users, session):
    page = security_client.get("/admin/security/policy")
    assert page.status_code == 200
    assert 'name="min_length"' in page.text and 'value="8"' in page.text
    response = post(security_client, "/admin/security/policy",
                    {"min_length": "12", "require_classes": "", "max_age_days": "", "version": "0"})
    assert response.status_code == 303, response.text
    session.expire_all()
    policy = session.get(PasswordPolicy, 1)
    session.commit()
    assert (policy.min_length, policy.require_classes, policy.max_age_days) == (12, False, None)

    admin = client_as("admin")
    short = post(admin, "/admin/users", new_user(password="Long-enough"))  # 11 characters
    assert short.status_code == 422
    assert field_error(short.text, "password") == zh("A password has at least %(n)s characters.", n=12)
    assert zh("At least %(n)s characters; not the username nor a common password.", n=12) in short.text
    plain = post(admin, "/admin/users", new_user(password="longerthantwelve"))  # one class is enough now
    assert plain.status_code == 303, plain.text

    session.expire_all()
    entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "password_policy"))
    session.commit()
    assert entry.actor_id is not None and entry.changes == {"min_length": [8, 12], "require_classes": [True, False]}


def test_policy_save_on_a_stale_version_is_refused(security_client, session, security):
    first = {"min_length": "10", "require_classes": "1", "max_age_days": "", "version": "0"}
    assert post(security_client, "/admin/security/policy", first).status_code == 303
    again = post(security_client, "/admin/security/policy", {**first, "min_length": "14"})  # opened before
    assert again.status_code == 409
    assert zh("Someone else saved this record after you opened it. Nothing was overwritten: review their changes "
              "below, then apply yours again.") in again.text
    session.expire_all()
    assert session.get(PasswordPolicy, 1).min_length == 10
    session.commit()
    current = post(security_client, "/admin/security/policy", {**first, "min_length": "14", "version": "1"})
    assert current.status_code == 303


@pytest.mark.parametrize(("field", "value", "message"), [
    ("min_length", "6", "A whole number from %(low)s to %(high)s."),
    ("min_length", "abc", "A whole number from %(low)s to %(high)s."),
    ("max_age_days", "0", "A whole number from %(low)s to %(high)s, or empty for no limit."),
])
def test_policy_values_out_of_range_are_refused_beside_the_field(security_client, session, field, value, message):
    data = {"min_length": "8", "require_classes": "1", "max_age_days": "", "version": "0", field: value}
    response = post(security_client, "/admin/security/policy", data)
    assert response.status_code == 422
    low, high = (8, 64) if field == "min_length" else (1, 3650)
    assert field_error(response.text, field) == zh(message, low=low, high=high)
    session.expire_all()
    assert session.get(PasswordPolicy, 1) is None
    session.commit()


@pytest.mark.parametrize("role", ["officer", "manager", "admin"])
def test_only_the_security_administrator_sets_the_policy(client_as, users, session, role):
    browser = client_as(role)
    assert browser.get("/admin/security/policy").status_code == 403
    response = post(browser, "/admin/security/policy",
                    {"min_length": "8", "require_classes": "", "max_age_days": "", "version": "0"})
    assert response.status_code == 403
    session.expire_all()
    assert session.get(PasswordPolicy, 1) is None
    session.commit()


# The change owed before any other page

def test_a_password_an_admin_set_is_changed_before_any_page(client_as, other_client, users, session):
    admin = client_as("admin")
    assert post(admin, f"/admin/users/{users['officer'].id}/password", {"password": "Temporary-77"}).status_code == 303
    assert sign_in_attempt(other_client, "officer", "Temporary-77").status_code == 303
    for url in ("/", "/organizations", "/account", "/admin/users"):
        response = other_client.get(url)
        assert (response.status_code, response.headers["location"]) == (303, "/account/password"), url
    htmx = other_client.get("/organizations", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/account/password"
    page = other_client.get("/account/password")
    assert page.status_code == 200
    assert zh("An administrator set your password: choose your own before you go on.") in page.text
    other_client.csrf = csrf_from(page.text)

    same = post(other_client, "/account/password", {"current_password": "Temporary-77", "new_password": "Temporary-77",
                                                     "new_password_again": "Temporary-77"})
    assert field_error(same.text, "new_password") == zh("The new password must differ from the current one.")
    wrong = post(other_client, "/account/password", {"current_password": "nope", "new_password": "Own-choice-88",
                                                      "new_password_again": "Own-choice-88"})
    assert field_error(wrong.text, "current_password") == zh("The current password is wrong.")
    differ = post(other_client, "/account/password", {"current_password": "Temporary-77",
                                                       "new_password": "Own-choice-88", "new_password_again": "x"})
    assert field_error(differ.text, "new_password_again") == zh("The two new passwords differ.")

    done = post(other_client, "/account/password", {"current_password": "Temporary-77",
                                                     "new_password": "Own-choice-88",
                                                     "new_password_again": "Own-choice-88"})
    assert (done.status_code, done.headers["location"]) == (303, "/account")
    assert other_client.get("/organizations").status_code == 200
    user = reload(session, User, users["officer"].id)
    assert user.must_change_password is False
    session.expire_all()
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "password_changed"))
    session.commit()
    assert (entry.actor_id, entry.entity_id, entry.client_address) == (user.id, user.id, "testclient")


def test_signing_out_still_works_while_a_change_is_owed(client_as, client, users, session):
    admin = client_as("admin")
    assert post(admin, "/admin/users", new_user()).status_code == 303
    assert sign_in_attempt(client, "wangfang", "Long-enough-1").status_code == 303
    page = client.get("/account/password")
    response = client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert client.get("/account/password").headers["location"].startswith("/login")


def test_a_password_older_than_the_maximum_age_is_changed_first(security_client, client_as, users, session):
    officer = client_as("officer")
    assert officer.get("/organizations").status_code == 200
    session.execute(update(User).where(User.id == users["officer"].id)
                    .values(password_changed_at=utcnow() - timedelta(days=31)))
    session.commit()
    assert officer.get("/organizations").status_code == 200  # no maximum age by default
    assert post(security_client, "/admin/security/policy",
                {"min_length": "8", "require_classes": "1", "max_age_days": "30", "version": "0"}).status_code == 303
    response = officer.get("/organizations")
    assert (response.status_code, response.headers["location"]) == (303, "/account/password")
    page = officer.get("/account/password")
    assert zh("Your password is older than %(days)s days: choose a new one before you go on.", days=30) in page.text
    assert client_as("manager").get("/organizations").status_code == 200  # changed today
    officer.csrf = csrf_from(page.text)
    done = post(officer, "/account/password", {"current_password": factories.PASSWORD,
                                               "new_password": "Fresh-pass-31", "new_password_again": "Fresh-pass-31"})
    assert done.status_code == 303
    assert officer.get("/organizations").status_code == 200


# Demo passwords in production

def _serve(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`crm serve` in production, on an address no interface has (TEST-NET-1): once past its checks it fails to
    bind and exits, rather than serving."""
    env = {**os.environ, "CRM_ENV": "production", "CRM_DATABASE_URL": database_url, "CRM_DATA_DIR": str(tmp_path),
           "CRM_SECRET_KEY": "p" * 48}
    return subprocess.run([sys.executable, "-m", "crm.cli", "serve", "--host", "192.0.2.1", "--port", "18999",
                           "--log-level", "warning"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_production_start_refuses_while_an_account_has_a_demo_password(db, session, database_url, tmp_path):
    factories.make_user(session, username="manager", role="manager", password=demo.DEMO_PASSWORD)
    old = factories.make_user(session, username="officer")
    old.password_hash = hash_password("demo1234")  # the demo password of a database loaded before it changed
    session.commit()
    factories.make_user(session, username="zhang", password="Own-choice-88")
    result = _serve(database_url, tmp_path)
    assert result.returncode == 1
    assert "demo password" in result.stderr and "manager, officer" in result.stderr
    assert "zhang" not in result.stderr
    assert "Uvicorn running" not in result.stderr


def test_a_production_start_goes_on_once_no_account_has_a_demo_password(db, session, database_url, tmp_path):
    user = factories.make_user(session, username="manager", role="manager", password=demo.DEMO_PASSWORD)
    user.is_active = False  # a deactivated account cannot sign in: it does not block the start
    session.commit()
    factories.make_user(session, username="zhang", password="Own-choice-88")
    result = _serve(database_url, tmp_path)
    assert "demo password" not in result.stderr
    assert "192.0.2.1" in result.stderr  # it went on to bind the address (and could not)


def test_demo_load_refuses_in_production(db, monkeypatch, database_url, capsys):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.setenv("CRM_SECRET_KEY", "p" * 48)
    monkeypatch.setenv("CRM_DATABASE_URL", database_url)
    assert cli.main(["demo", "load"]) == 1
    assert "only in the demo" in capsys.readouterr().err
