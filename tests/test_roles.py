"""Separation of duties (issue 13, 访问控制): the system, security and audit administrators, one role per account.

The route-by-role matrix (tests/test_route_matrix.py) checks every route; these tests check what it does not: where
each administrator lands, what their navigation offers, the user form's roles, and that nobody changes their own.
"""

import pytest
from sqlalchemy import String, select

from crm import cli
from crm.auth.models import User
from crm.models import Base
from crm.tasks.models import Task
from tests.conftest import post
from tests.factories import make_org, make_user
from tests.helpers import field_error, reload


@pytest.fixture
def admins(session, users):
    return {**users, "security": make_user(session, username="security", role="security_admin", display_name="安全员"),
            "auditor": make_user(session, username="auditor", role="audit_admin", display_name="审计员")}


@pytest.mark.parametrize(("username", "home"), [("auditor", "/admin/audit"), ("security", "/admin/security/")])
def test_the_security_and_audit_administrators_land_on_their_own_work(client_as, admins, username, home):
    browser = client_as(username)
    response = browser.get("/")
    assert response.status_code == 303 and response.headers["location"].startswith(home)
    page = browser.get(response.headers["location"])
    assert page.status_code == 200


@pytest.mark.parametrize("username", ["auditor", "security"])
def test_business_records_are_refused_to_the_security_and_audit_administrators(client_as, admins, session, username):
    org = make_org(session, actor=admins["officer"], name="合肥星辰新能源汽车零部件")
    browser = client_as(username)
    for url in ("/organizations", f"/organizations/{org.id}", "/search?q=星辰", "/projects/board", "/reports",
                "/notifications/bell", "/organizations/export.xlsx", "/indicators"):
        response = browser.get(url)
        assert response.status_code == 403, url
        assert "星辰" not in response.text, url
    assert post(browser, "/organizations", {"name": "新机构", "kind": "investor"}).status_code == 403
    # Their account, the language and signing out stay theirs.
    assert post(browser, "/language", {"locale": "en", "next": "/"}).status_code == 303
    assert post(browser, "/logout").status_code == 303


def test_each_administrator_sees_only_their_own_links(client_as, admins):
    auditor = client_as("auditor").get("/admin/audit").text
    assert 'href="/admin/audit"' in auditor
    for link in ('href="/organizations"', 'href="/admin/users"', 'href="/admin/security/', 'action="/search"',
                 'hx-get="/notifications/bell"'):
        assert link not in auditor, link
    security = client_as("security").get("/", follow_redirects=True).text
    assert 'href="/admin/security/sign-in"' in security and 'href="/admin/security/policy"' in security
    for link in ('href="/organizations"', 'href="/admin/users"', 'href="/admin/audit"', 'action="/search"'):
        assert link not in security, link
    system = client_as("admin").get("/").text
    assert 'href="/admin/users"' in system and 'href="/organizations"' in system
    assert 'href="/admin/security/' not in system and 'href="/admin/audit"' not in system


def test_the_user_form_offers_all_five_roles_by_their_names(client_as, admins):
    page = client_as("admin").get("/admin/users/new").text
    for value, label in (("officer", "招商专员"), ("manager", "领导"), ("admin", "系统管理员"),
                         ("security_admin", "安全管理员"), ("audit_admin", "审计管理员")):
        assert f'value="{value}"' in page and label in page, value


@pytest.mark.parametrize("role", ["security_admin", "audit_admin"])
def test_the_system_administrator_creates_a_security_or_audit_administrator(client_as, admins, session, role):
    admin = client_as("admin")
    response = post(admin, "/admin/users", {"username": "new.admin", "display_name": "新管理员", "role": role,
                                            "locale": "zh_CN", "password": "Long-enough-1"})
    assert response.status_code == 303, response.text
    session.expire_all()
    assert session.scalar(select(User.role).where(User.username == "new.admin")) == role


@pytest.mark.parametrize("role", ["officer", "manager", "security_admin", "audit_admin"])
def test_an_administrator_cannot_change_their_own_role(client_as, admins, session, role):
    me = admins["admin"]
    admin = client_as("admin")
    response = post(admin, f"/admin/users/{me.id}", {"display_name": me.display_name, "role": role, "locale": "zh_CN",
                                                     "is_active": "1", "version": str(me.version)})
    assert response.status_code == 422
    assert "不能修改自己的角色" in (field_error(response.text, "role") or "")
    assert reload(session, User, me.id).role == "admin"


def test_an_account_holds_one_role_so_never_two_administrator_roles(session, admins):
    """One `role` column and no table of role grants: an account is one thing at a time."""
    assert isinstance(User.__table__.c.role.type, String)  # one value per account
    assert {c.name for c in User.__table__.c if "role" in c.name} == {"role"}
    assert not [name for name in Base.metadata.tables if "role" in name]  # no table granting an account more roles
    security = admins["security"]
    security.role = "audit_admin"
    session.commit()
    assert reload(session, User, security.id).role == "audit_admin"


def test_cli_creates_the_security_and_audit_administrators(db, session, monkeypatch, database_url, capsys):
    monkeypatch.setenv("CRM_DATABASE_URL", database_url)
    for username, role in (("anquan", "security_admin"), ("shenji", "audit_admin")):
        assert cli.main(["user", "create", "--username", username, "--role", role, "--password", "Long-enough-1"]) == 0
        assert f"created user {username} ({role})" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["user", "create", "--username", "two", "--role", "security_admin,audit_admin",
                  "--password", "Long-enough-1"])
    session.expire_all()
    assert dict(session.execute(select(User.username, User.role)).all()) == {"anquan": "security_admin",
                                                                            "shenji": "audit_admin"}


def test_no_business_record_can_be_given_to_the_security_or_audit_administrator(client_as, admins, session):
    manager = client_as("manager")
    form = manager.get("/tasks/new")
    assert form.status_code == 200 and "张晓明" in form.text
    assert "安全员" not in form.text and "审计员" not in form.text
    response = post(manager, "/tasks", {"title": "交给安全员", "assignee_id": str(admins["security"].id),
                                        "due_on": "2026-12-20", "priority": "normal"})
    assert response.status_code == 422 and field_error(response.text, "assignee_id")
    assert session.scalar(select(Task).where(Task.title == "交给安全员")) is None
