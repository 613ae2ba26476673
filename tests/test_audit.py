"""The audit trail: one entry per change, written in the change's own transaction; the organization timeline;
the audit page (the audit administrator's) with its filters and pages; and no way to alter or remove entries.
tests/test_audit_trail.py covers security events, the hash chain, archiving and who reads what."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select, text
from sqlalchemy import update as sql_update

from crm.audit import service as audit_service
from crm.audit.models import DATA_ACTIONS, AuditEntry
from crm.db import UNSAFE_METHODS
from crm.i18n import gettext
from crm.organizations import service as organization_service
from crm.organizations.models import Organization
from tests.conftest import login, post
from tests.factories import make_contact, make_org, make_user
from tests.helpers import count_rows


def zh(msgid: str, **params) -> str:
    return str(escape(gettext("zh_CN", msgid, **params)))


def entries_of(session, entity_type: str, entity_id: int) -> list[AuditEntry]:
    session.expire_all()
    rows = list(session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.id)
    ))
    session.commit()  # end the read transaction: SQLite write sessions hold the write lock until then
    return rows



def version_of(client: TestClient, org_id: int) -> str:
    page = client.get(f"/organizations/{org_id}/edit")
    assert page.status_code == 200
    return re.search(r'name="version" value="(\d+)"', page.text).group(1)


def org_form(officer_id: int, **overrides) -> dict[str, str]:
    data = {"name": "华东锂电池产业投资基金", "kind": "investor", "owner_id": str(officer_id), "city": "南京",
            "description": "旧描述"}
    data.update(overrides)
    return data


@pytest.fixture
def ids(users):
    return {name: user.id for name, user in users.items()}


@pytest.fixture
def admin_client(client, users, session):
    """The audit administrator's browser (the system administrator no longer reads the trail)."""
    make_user(session, username="auditor", role="audit_admin", display_name="审计员")
    login(client, "auditor")
    return client


# One entry per change, in the same transaction


def test_each_organization_change_writes_one_entry_with_actor_and_diff(officer_client, session, ids):
    response = post(officer_client, "/organizations", org_form(ids["officer"]))
    assert response.status_code == 303, response.text
    org_id = int(response.headers["location"].rsplit("/", 1)[1])

    [created] = entries_of(session, "organization", org_id)
    assert (created.action, created.actor_id, created.entity_label, created.organization_id) == (
        "create", ids["officer"], "华东锂电池产业投资基金", org_id)
    assert created.changes == {
        "name": [None, "华东锂电池产业投资基金"], "kind": [None, "investor"], "city": [None, "南京"],
        "description": [None, "旧描述"], "owner_id": [None, ids["officer"]],
    }

    response = post(officer_client, f"/organizations/{org_id}",
                    {**org_form(ids["officer"], description="新描述"), "version": version_of(officer_client, org_id)})
    assert response.status_code == 303, response.text
    entries = entries_of(session, "organization", org_id)
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].actor_id == ids["officer"]
    assert entries[1].changes == {"description": ["旧描述", "新描述"]}
    assert entries[1].entity_version == 2

    # saving without changes records nothing
    response = post(officer_client, f"/organizations/{org_id}",
                    {**org_form(ids["officer"], description="新描述"), "version": version_of(officer_client, org_id)})
    assert response.status_code == 303
    assert len(entries_of(session, "organization", org_id)) == 2

    assert officer_client.get(f"/organizations/{org_id}/archive").status_code == 200
    assert len(entries_of(session, "organization", org_id)) == 2  # the confirm page records nothing
    assert post(officer_client, f"/organizations/{org_id}/archive").status_code == 303
    entries = entries_of(session, "organization", org_id)
    assert [e.action for e in entries] == ["create", "update", "archive"]
    archived_at = entries[2].changes["archived_at"]
    assert archived_at[0] is None and datetime.fromisoformat(archived_at[1]).tzinfo is not None
    assert list(entries[2].changes) == ["archived_at"]

    assert post(officer_client, f"/organizations/{org_id}/restore").status_code == 303
    entries = entries_of(session, "organization", org_id)
    assert [e.action for e in entries] == ["create", "update", "archive", "restore"]
    assert entries[3].changes == {"archived_at": [archived_at[1], None]}
    assert all(e.actor_id == ids["officer"] for e in entries)


def data_changes(session) -> int:
    """Entries recording a change to a record (not a sign-in, a refusal, a download)."""
    session.expire_all()
    count = session.scalar(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action.in_([a.value for a in DATA_ACTIONS])))
    session.commit()
    return count


def test_refused_changes_write_no_entry(officer_client, session, users, ids):
    org = make_org(session, actor=users["officer"], name="鲁西新材料科技", description="旧描述")
    org_id = org.id
    before = data_changes(session)

    assert post(officer_client, "/organizations", org_form(ids["officer"], name="")).status_code == 422
    assert post(officer_client, "/organizations", org_form(ids["officer"], website="not a url")).status_code == 422
    assert post(officer_client, "/organizations", org_form(ids["officer"], name="鲁西新材料科技")).status_code == 422
    version = version_of(officer_client, org_id)
    bad_edit = {**org_form(ids["officer"], name="鲁西新材料科技", website="ftp://x"), "version": version}
    assert post(officer_client, f"/organizations/{org_id}", bad_edit).status_code == 422
    stale_edit = {**org_form(ids["officer"], name="鲁西新材料科技", description="新描述"), "version": "0"}
    assert post(officer_client, f"/organizations/{org_id}", stale_edit).status_code == 409
    with TestClient(officer_client.app, base_url="http://testserver", follow_redirects=False) as officer2:
        login(officer2, "officer2")  # neither owner nor manager
        assert post(officer2, f"/organizations/{org_id}/archive").status_code == 403

    assert data_changes(session) == before  # (the 403 itself is recorded: tests/test_audit_trail.py)
    assert count_rows(session, Organization) == 1
    session.expire_all()
    assert session.get(Organization, org_id).description == "旧描述"
    session.commit()


def test_change_and_its_entry_commit_together(app, session, users, ids, monkeypatch):
    """When writing the entry fails, the change it records is not saved either."""
    org = make_org(session, actor=users["officer"], name="鲁西新材料科技", description="旧描述")
    org_id = org.id
    before = data_changes(session)
    real_record = audit_service.record

    def record_then_fail(*args, **kwargs):
        real_record(*args, **kwargs)
        raise RuntimeError("audit store unavailable")

    with TestClient(app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False) as c:
        login(c, "officer")
        version = version_of(c, org_id)
        monkeypatch.setattr(audit_service, "record", record_then_fail)
        assert post(c, "/organizations", org_form(ids["officer"], name="新机构")).status_code == 500
        edit = {**org_form(ids["officer"], name="鲁西新材料科技", description="新描述"), "version": version}
        assert post(c, f"/organizations/{org_id}", edit).status_code == 500
        assert post(c, f"/organizations/{org_id}/archive").status_code == 500
        monkeypatch.undo()

    assert data_changes(session) == before
    assert count_rows(session, Organization) == 1
    session.expire_all()
    saved = session.get(Organization, org_id)
    assert (saved.description, saved.archived_at, saved.version) == ("旧描述", None, 1)
    session.commit()


# The organization's timeline


def test_organization_page_shows_its_timeline(officer_client, session, users, ids):
    org = make_org(session, actor=users["officer"], name="鲁西新材料科技", description="旧描述")
    org_id = org.id
    response = post(officer_client, f"/organizations/{org_id}", {
        **org_form(ids["officer"], name="鲁西新材料科技", description="新描述"), "version": "1"})
    assert response.status_code == 303
    make_contact(session, actor=users["officer2"], organization=org, name="祝文魁")

    page = officer_client.get(f"/organizations/{org_id}")
    assert page.status_code == 200
    timeline = page.text.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    items = re.split(r'<li[^>]*>\s*<div class="timeline-head">', timeline)[1:]
    assert len(items) == 3  # newest first: the contact, the edit, the creation
    assert "<strong>李四</strong>" in items[0] and zh("created") in items[0] and "祝文魁" in items[0]
    assert "<strong>张晓明</strong>" in items[1] and zh("changed") in items[1]
    assert f'<span class="change-field">{zh("Description")}</span>' in items[1]
    assert "<del>旧描述</del> → <ins>新描述</ins>" in items[1]
    assert "<strong>张晓明</strong>" in items[2] and zh("created") in items[2]
    assert "<ins>鲁西新材料科技</ins>" in items[2]


# The audit page


@pytest.mark.parametrize("who", ["officer", "admin"])
def test_audit_page_is_not_for_officers_or_the_system_administrator(client, users, who):
    login(client, who)
    for params in ({}, {"entity": "organization"}, {"page": "2"}):
        response = client.get("/admin/audit", params=params)
        assert response.status_code == 403
        assert zh("Your role does not allow this.") in response.text
        assert "<ol class=\"timeline\">" not in response.text


@pytest.fixture
def history(session, users, ids):
    """Entries at known times: A created by the officer, B created by officer2 and archived by the manager,
    a contact at A created by the officer; the users' own creation long before."""
    a = make_org(session, actor=users["officer"], name="甲方机构")
    b = make_org(session, actor=users["officer2"], name="乙方机构")
    contact = make_contact(session, actor=users["officer"], organization=a, name="祝文魁")
    organization_service.archive(session, org=b, actor=users["manager"])
    when = {
        ("organization", a.id, "create"): datetime(2026, 1, 10, 4, 0, tzinfo=UTC),
        ("organization", b.id, "create"): datetime(2026, 1, 31, 20, 0, tzinfo=UTC),  # 2026-02-01 04:00 in Shanghai
        ("contact", contact.id, "create"): datetime(2026, 2, 15, 4, 0, tzinfo=UTC),
        ("organization", b.id, "archive"): datetime(2026, 3, 1, 4, 0, tzinfo=UTC),
    }
    if session.get_bind().dialect.name == "postgresql":  # the trigger refuses changing entries (the migration)
        session.execute(text("SET LOCAL crm.audit_maintenance = 'on'"))
    session.execute(sql_update(AuditEntry).values(at=datetime(2025, 6, 1, 4, 0, tzinfo=UTC)))
    for (entity_type, entity_id, action), at in when.items():
        session.execute(sql_update(AuditEntry).where(
            AuditEntry.entity_type == entity_type, AuditEntry.entity_id == entity_id, AuditEntry.action == action,
        ).values(at=at))
    session.commit()
    return {"a": f'href="/organizations/{a.id}"', "b": f'href="/organizations/{b.id}"',
            "contact": f'href="/contacts/{contact.id}"',
            "users": [f'href="/admin/users/{user_id}/edit"' for user_id in ids.values()]}


def shown(html: str, history: dict) -> set[str]:
    found = {key for key in ("a", "b", "contact") if history[key] in html}
    if any(link in html for link in history["users"]):
        found.add("users")
    return found


FILTERS = [
    pytest.param({}, {"a", "b", "contact", "users"}, id="all"),
    pytest.param({"entity": "organization"}, {"a", "b"}, id="entity-organization"),
    pytest.param({"entity": "contact"}, {"contact"}, id="entity-contact"),
    pytest.param({"entity": "user"}, {"users"}, id="entity-user"),
    pytest.param({"action": "archive"}, {"b"}, id="action-archive"),
    pytest.param({"action": "update"}, set(), id="action-update"),
    pytest.param({"actor": "officer2"}, {"b"}, id="actor"),
    pytest.param({"actor": "officer", "entity": "organization"}, {"a"}, id="actor-and-entity"),
    pytest.param({"from": "2026-02-01"}, {"b", "contact"}, id="from"),
    pytest.param({"to": "2026-01-31"}, {"a", "users"}, id="to-is-inclusive-in-local-time"),
    pytest.param({"from": "2026-02-01", "to": "2026-02-01"}, {"b"}, id="one-day"),
    pytest.param({"from": "2026-01-01", "to": "2026-02-28", "entity": "contact"}, {"contact"}, id="range-and-entity"),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS)
def test_audit_page_filters(admin_client, history, ids, params, expected):
    params = {k: (str(ids[v]) if k == "actor" else v) for k, v in params.items()}
    response = admin_client.get("/admin/audit", params=params)
    assert response.status_code == 200
    assert shown(response.text, history) == expected


@pytest.mark.parametrize(("params", "message"), [
    ({"from": "2026-13-01"}, ("“%(value)s” is not a date: use the form 2026-12-02.", {"value": "2026-13-01"})),
    ({"to": "yesterday"}, ("“%(value)s” is not a date: use the form 2026-12-02.", {"value": "yesterday"})),
    ({"entity": "invoice"}, ("“%(value)s” is not a valid filter value.", {"value": "invoice"})),
    ({"action": "destroy"}, ("“%(value)s” is not a valid filter value.", {"value": "destroy"})),
    ({"actor": "abc"}, ("“%(value)s” is not a valid filter value.", {"value": "abc"})),
    ({"page": "0"}, ("“%(value)s” is not a page number: use a whole number from 1.", {"value": "0"})),
])
def test_audit_page_bad_filter_is_a_clear_400(admin_client, users, params, message):
    response = admin_client.get("/admin/audit", params=params)
    assert response.status_code == 400
    msgid, values = message
    assert zh(msgid, **values) in response.text


def test_audit_page_is_paginated(admin_client, app, session, users):
    app.state.settings.page_size = 3
    org_ids = [make_org(session, actor=users["officer"], name=f"分页机构{letter}").id for letter in "ABCDEFG"]
    links = [f'href="/organizations/{org_id}"' for org_id in org_ids]

    def page(number):
        response = admin_client.get("/admin/audit", params={"entity": "organization", "page": number})
        assert response.status_code == 200
        return response.text, {i for i, link in enumerate(links) if link in response.text}

    html, found = page(1)
    assert found == {6, 5, 4}  # newest first
    assert 'rel="next"' in html and 'rel="prev"' not in html
    assert "entity=organization&amp;page=2" in html  # the filter is kept in the page links
    assert zh("Page %(page)s of %(pages)s", page=1, pages=3) in html
    html, found = page(2)
    assert found == {3, 2, 1}
    assert 'rel="next"' in html and 'rel="prev"' in html
    html, found = page(3)
    assert found == {0}
    assert 'rel="next"' not in html
    html, found = page(99)  # past the end: the last page
    assert found == {0}
    assert zh("Page %(page)s of %(pages)s", page=3, pages=3) in html


# Entries cannot be changed or deleted


def all_routes(app) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, including those of included routers."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.16x keeps included routers unflattened
    except ImportError:
        routes = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    return [(route.path, set(route.methods or ())) for route in routes if getattr(route, "path", None)]


def test_no_route_changes_or_deletes_audit_entries(app, admin_client, session, users):
    routes = all_routes(app)
    assert ("/organizations", {"POST"}) in routes  # the enumeration does see form routes
    audit_routes = [(path, methods) for path, methods in routes if path.startswith("/admin/audit")]
    assert ("/admin/audit", {"GET"}) in audit_routes
    for path, methods in routes:
        if "audit" in path:
            assert not (methods & UNSAFE_METHODS), (path, methods)

    entry_id = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id))
    before = count_rows(session, AuditEntry)
    for method in sorted(UNSAFE_METHODS):
        for url in ("/admin/audit", f"/admin/audit/{entry_id}", f"/admin/audit/{entry_id}/delete"):
            response = admin_client.request(method, url, headers={"X-CSRF-Token": admin_client.csrf})
            assert response.status_code in (404, 405), (method, url)
    assert count_rows(session, AuditEntry) == before
