"""User administration over HTTP: admin-only access, creating users, validation, deactivation, password resets,
self-protection and the audit of role changes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select

from crm.audit.models import AuditEntry
from crm.auth.models import User, WebSession
from crm.i18n import gettext
from tests.conftest import csrf_from, login, post
from tests.factories import PASSWORD
from tests.helpers import count_rows, field_error, input_value, reload


def zh(msgid: str, **params) -> str:
    return str(escape(gettext("zh_CN", msgid, **params)))










def sign_in_attempt(client: TestClient, username: str, password: str):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(page.text), "next": "/"})



@pytest.fixture
def admin_client(client, users):
    login(client, "admin")
    return client


@pytest.fixture
def ids(users):
    return {name: user.id for name, user in users.items()}


def new_user_data(**overrides) -> dict[str, str]:
    data = {"username": "wangfang", "display_name": "王芳", "title": "招商专员", "email": "wangfang@example.com",
            "role": "officer", "locale": "zh_CN", "password": "Long-enough-1"}
    data.update(overrides)
    return data


def edit_data(user: dict, **overrides) -> dict[str, str]:
    """The edit form as the browser posts it; is_active is sent only when the box is ticked."""
    data = {"display_name": user["display_name"], "title": "", "email": "", "role": user["role"], "locale": "zh_CN",
            "version": str(user["version"]), "is_active": "1"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def snapshot(session, user_id: int) -> dict:
    user = reload(session, User, user_id)
    return {"display_name": user.display_name, "role": user.role, "version": user.version,
            "is_active": user.is_active}


# Access


@pytest.mark.parametrize("who", ["officer", "manager"])
def test_only_admins_reach_user_administration(client, other_client, session, users, ids, who):
    login(client, who)
    before = count_rows(session, User)
    for url in ("/admin/users", "/admin/users/new", f"/admin/users/{ids['officer2']}/edit"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert zh("Your role does not allow this.") in response.text
    response = post(client, "/admin/users", new_user_data())
    assert response.status_code == 403
    assert count_rows(session, User) == before
    response = post(client, f"/admin/users/{ids['officer2']}", edit_data(snapshot(session, ids["officer2"]),
                                                                          role="admin"))
    assert response.status_code == 403
    assert reload(session, User, ids["officer2"]).role == "officer"
    response = post(client, f"/admin/users/{ids['officer2']}/password", {"password": "taken-over-1"})
    assert response.status_code == 403
    assert sign_in_attempt(other_client, "officer2", PASSWORD).status_code == 303  # password unchanged
    assert 'href="/admin/users"' not in client.get("/").text  # the menu does not offer it


def test_signed_out_visitor_is_sent_to_login(client, users):
    response = client.get("/admin/users")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/admin/users"


def test_admin_lists_and_creates_a_user_who_can_then_sign_in(admin_client, other_client, session, users):
    listing = admin_client.get("/admin/users")
    assert listing.status_code == 200
    for username in ("officer", "officer2", "manager", "admin"):
        assert f">{username}</a>" in listing.text
    assert admin_client.get("/admin/users/new").status_code == 200

    response = post(admin_client, "/admin/users", new_user_data())
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/admin/users"
    session.expire_all()
    user = session.scalar(select(User).where(User.username == "wangfang"))
    session.commit()
    assert (user.display_name, user.title, user.email, user.role, user.locale, user.is_active) == (
        "王芳", "招商专员", "wangfang@example.com", "officer", "zh_CN", True)
    assert "Long-enough-1" not in user.password_hash
    assert user.must_change_password  # set by an administrator: changed at the next sign-in
    listing = admin_client.get("/admin/users")
    assert zh("User “%(name)s” created.", name="wangfang") in listing.text
    assert f'<a href="/admin/users/{user.id}/edit">wangfang</a>' in listing.text

    assert sign_in_attempt(other_client, "wangfang", "Long-enough-1").status_code == 303
    assert other_client.get("/").headers["location"] == "/account/password"


BAD_NEW_USERS = [
    pytest.param({"username": "A"}, "username",
                 "3 to 40 lower-case letters, digits, dots, dashes or underscores, starting with a letter.", id="bad-username"),
    pytest.param({"username": "1abc"}, "username",
                 "3 to 40 lower-case letters, digits, dots, dashes or underscores, starting with a letter.",
                 id="username-starts-with-digit"),
    pytest.param({"password": "Short-1"}, "password", "A password has at least %(n)s characters.", id="short-password"),
    pytest.param({"username": "officer"}, "username", "This username is taken.", id="duplicate-username"),
    pytest.param({"username": "Officer"}, "username", "This username is taken.", id="duplicate-username-other-case"),
    pytest.param({"display_name": ""}, "display_name", "This field is required.", id="missing-display-name"),
    pytest.param({"role": "root"}, "role", "Choose one of the listed options.", id="unknown-role"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_NEW_USERS)
def test_invalid_new_user_is_refused_and_nothing_written(admin_client, session, users, overrides, field, message):
    before = count_rows(session, User)
    session.expire_all()
    n_entries = session.scalar(select(func.count(AuditEntry.id)))
    session.commit()
    data = new_user_data(**overrides)
    response = post(admin_client, "/admin/users", data)
    assert response.status_code == 422
    assert field_error(response.text, field) == zh(message, n=8)  # n: the policy's minimum length
    assert zh("Please correct the fields marked below.") in response.text
    if field != "username":
        assert input_value(response.text, "username") == data["username"]
    assert input_value(response.text, "display_name") == data["display_name"]
    assert input_value(response.text, "password") == ""  # a password is never sent back
    assert count_rows(session, User) == before
    session.expire_all()
    assert session.scalar(select(func.count(AuditEntry.id))) == n_entries
    assert session.scalar(select(func.count(User.id)).where(func.lower(User.username) == "wangfang")) == 0
    session.commit()


# Deactivating, resetting passwords


def test_deactivated_user_is_signed_out_and_cannot_sign_in(admin_client, other_client, session, users, ids):
    login(other_client, "officer")
    assert other_client.get("/organizations").status_code == 200

    response = post(admin_client, f"/admin/users/{ids['officer']}",
                    edit_data(snapshot(session, ids["officer"]), is_active=None))
    assert response.status_code == 303, response.text
    assert reload(session, User, ids["officer"]).is_active is False
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(WebSession).where(WebSession.user_id == ids["officer"])) == 0
    entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "user",
                                                    AuditEntry.entity_id == ids["officer"],
                                                    AuditEntry.action == "archive"))
    session.commit()
    assert entry is not None and entry.changes == {"is_active": [True, False]} and entry.actor_id == ids["admin"]
    assert zh("Deactivated") in admin_client.get("/admin/users").text

    # the open session stops working at the next request
    response = other_client.get("/organizations")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")

    refused = sign_in_attempt(other_client, "officer", PASSWORD)
    assert refused.status_code == 401
    assert zh("This account has been deactivated. Ask an administrator.") in refused.text

    # reactivating lets them back in
    response = post(admin_client, f"/admin/users/{ids['officer']}", edit_data(snapshot(session, ids["officer"])))
    assert response.status_code == 303
    assert reload(session, User, ids["officer"]).is_active is True
    login(other_client, "officer")


def test_reset_password_ends_sessions_and_replaces_the_password(admin_client, other_client, session, users, ids):
    login(other_client, "officer")
    edit = admin_client.get(f"/admin/users/{ids['officer']}/edit")
    assert edit.status_code == 200
    assert f'action="/admin/users/{ids["officer"]}/password"' in edit.text

    too_short = post(admin_client, f"/admin/users/{ids['officer']}/password", {"password": "short"})
    assert too_short.status_code == 422
    assert field_error(too_short.text, "password") == zh("A password has at least %(n)s characters.", n=8)
    assert other_client.get("/organizations").status_code == 200  # nothing happened yet

    response = post(admin_client, f"/admin/users/{ids['officer']}/password", {"password": "brand-new-pass-2"})
    assert response.status_code == 303, response.text
    response = other_client.get("/organizations")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")

    with TestClient(admin_client.app, base_url="http://testserver", follow_redirects=False) as third:
        old = sign_in_attempt(third, "officer", PASSWORD)
        assert old.status_code == 401
        assert zh("Wrong username or password.") in old.text
    assert sign_in_attempt(other_client, "officer", "brand-new-pass-2").status_code == 303
    assert other_client.get("/").headers["location"] == "/account/password"  # the password is theirs to change

    session.expire_all()
    entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "user",
                                                    AuditEntry.entity_id == ids["officer"],
                                                    AuditEntry.action == "update"))
    session.commit()
    assert entry.changes == {"password": ["***", "***"]}
    assert entry.actor_id == ids["admin"]
    assert "brand-new-pass-2" not in str(entry.changes)


def test_admin_cannot_change_own_role_or_deactivate_self(admin_client, session, users, ids):
    message = zh("You cannot change your own role or deactivate yourself.")
    for overrides in ({"role": "officer"}, {"is_active": None}):
        response = post(admin_client, f"/admin/users/{ids['admin']}",
                        edit_data(snapshot(session, ids["admin"]), **overrides))
        assert response.status_code == 422, overrides
        assert message in response.text
        me = snapshot(session, ids["admin"])
        assert (me["role"], me["is_active"], me["version"]) == ("admin", True, 1)
    assert admin_client.get("/admin/users").status_code == 200  # still an admin, still signed in

    # editing one's own other details is fine
    response = post(admin_client, f"/admin/users/{ids['admin']}",
                    edit_data(snapshot(session, ids["admin"]), display_name="系统管理员"))
    assert response.status_code == 303
    assert snapshot(session, ids["admin"])["display_name"] == "系统管理员"


def test_role_change_is_audited(admin_client, client_as, session, users, ids):
    response = post(admin_client, f"/admin/users/{ids['officer']}",
                    edit_data(snapshot(session, ids["officer"]), role="manager"))
    assert response.status_code == 303, response.text
    assert reload(session, User, ids["officer"]).role == "manager"
    session.expire_all()
    entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "user",
                                                       AuditEntry.entity_id == ids["officer"],
                                                       AuditEntry.action == "update")).all()
    session.commit()
    assert len(entries) == 1
    assert entries[0].changes == {"role": ["officer", "manager"]}
    assert entries[0].actor_id == ids["admin"]
    assert entries[0].entity_label == "张晓明 (officer)"

    from tests.factories import make_user

    make_user(session, username="auditor", role="audit_admin")  # the audit administrator reads it (issue 13)
    audit = client_as("auditor").get("/admin/audit", params={"entity": "user", "action": "update"})
    assert audit.status_code == 200
    assert f'href="/admin/users/{ids["officer"]}/edit"' in audit.text
    # the change as the page shows it: role labels, or (plainer) the stored codes
    assert (f'<del>{zh("Investment officer")}</del> → <ins>{zh("Manager")}</ins>' in audit.text
            or "<del>officer</del> → <ins>manager</ins>" in audit.text)


def test_edit_on_a_stale_version_is_refused(admin_client, session, users, ids):
    stale = snapshot(session, ids["officer"])
    assert post(admin_client, f"/admin/users/{ids['officer']}", edit_data(stale, title="招商专员")).status_code == 303
    response = post(admin_client, f"/admin/users/{ids['officer']}", edit_data(stale, role="manager"))
    assert response.status_code == 422
    assert field_error(response.text, "version") == zh(
        "Someone else changed this user after you opened it. Reload and try again.")
    assert reload(session, User, ids["officer"]).role == "officer"


def test_unknown_user_is_404(admin_client, users):
    for url in ("/admin/users/999999/edit", "/admin/users/abc/edit"):
        assert admin_client.get(url).status_code == 404, url
    assert post(admin_client, "/admin/users/999999", {"display_name": "x", "role": "officer",
                                                      "locale": "zh_CN"}).status_code == 404


def test_department_and_manager_are_set_and_a_bad_manager_is_refused(admin_client, session, users, ids):
    page = admin_client.get(f"/admin/users/{ids['officer']}/edit")
    assert f'<option value="{ids["manager"]}"' in page.text  # managers are offered
    assert f'<option value="{ids["officer2"]}"' not in page.text  # officers are not

    response = post(admin_client, f"/admin/users/{ids['officer']}",
                    edit_data(snapshot(session, ids["officer"]), department="招商一科", manager_id=str(ids["manager"])))
    assert response.status_code == 303, response.text
    officer = reload(session, User, ids["officer"])
    assert (officer.department, officer.manager_id) == ("招商一科", ids["manager"])
    assert input_value(admin_client.get(f"/admin/users/{ids['officer']}/edit").text, "department") == "招商一科"

    for manager_id, message in ((ids["officer2"], "Choose an active manager from the list."),
                                (ids["manager"], "A user cannot report to themselves.")):
        target = "manager" if manager_id == ids["manager"] else "officer"
        response = post(admin_client, f"/admin/users/{ids[target]}",
                        edit_data(snapshot(session, ids[target]), department="招商二科", manager_id=str(manager_id)))
        assert response.status_code == 422
        assert field_error(response.text, "manager_id") == zh(message)
        assert input_value(response.text, "department") == "招商二科"  # the input is kept
    assert reload(session, User, ids["manager"]).department == ""
