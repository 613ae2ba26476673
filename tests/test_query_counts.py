"""A page's query count does not grow with its rows: templates never trigger a query per row."""

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from crm.tasks import service as task_service
from tests.factories import make_contact, make_org


@contextmanager
def counting(database):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    for engine in (database.engine, database.loop_engine):
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in (database.engine, database.loop_engine):
            event.remove(engine, "before_cursor_execute", count)


def _queries(client, db, url) -> int:
    client.get(url)  # warm: first-request work (flash cookie, session touch) is not the page's
    with counting(db) as statements:
        assert client.get(url).status_code == 200
    return len(statements)


def _add(session, users, n, start):
    officer = users["officer"]
    for i in range(start, start + n):
        org = make_org(session, actor=officer, name=f"计数机构{i:03d}", tags=f"标签{i % 3}")
        make_contact(session, actor=officer, organization=org, name=f"联系人{i:03d}")
        task_service.create(session, actor=officer, data={
            "title": f"跟进{i}", "description": "", "assignee_id": officer.id, "due_on": "2026-12-01",
            "due_time": None, "priority": "normal", "organization_id": org.id, "contact_id": None})


@pytest.mark.parametrize("username, url", [
    ("officer", "/organizations"), ("officer", "/organizations?q=%E8%AE%A1%E6%95%B0"), ("officer", "/contacts"),
    ("officer", "/tasks"), ("manager", "/tasks?team=1"), ("officer", "/search?q=%E8%AE%A1%E6%95%B0"),
    ("officer", "/"), ("admin", "/admin/audit"),
])
def test_query_count_is_the_same_for_5_and_50_rows(client, db, session, users, username, url):
    from tests.conftest import login

    login(client, username)
    _add(session, users, 5, 0)
    few = _queries(client, db, url)
    _add(session, users, 45, 5)
    many = _queries(client, db, url)
    assert few == many, f"{url}: {few} queries for 5 rows, {many} for 50"
