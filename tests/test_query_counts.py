"""A page's query count does not grow with its rows: templates never trigger a query per row."""

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, update

from crm.organizations.models import Organization
from crm.projects.models import Project
from crm.tasks import service as task_service
from crm.visits import service as visit_service
from tests.factories import make_contact, make_org, make_project


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
    # The password policy's maximum age is re-read every CACHE_SECONDS by whichever request comes then: time, not rows.
    return len([statement for statement in statements if "password_policy" not in statement])


def _hub(session, users):
    """The zone enterprise every counted visit tours: its timeline grows with the rows."""
    hub = session.scalar(select(Organization).where(Organization.name == "计数园区企业"))
    return hub or make_org(session, actor=users["officer"], name="计数园区企业", kind="zone_enterprise")


# The visits are dated in the past, so each timeline page mixes the same kinds of entries (the hub's own creation
# is the newest), whatever the number of rows: the count compares like with like.
def _add(session, users, n, start):
    session.rollback()  # a fresh snapshot: the pages counted may have written (a download is audited), and SQLite
    # refuses a write from a read transaction older than another's commit
    officer = users["officer"]
    hub = _hub(session, users)
    for i in range(start, start + n):
        org = make_org(session, actor=officer, name=f"计数机构{i:03d}", tags=f"标签{i % 3}")
        contact = make_contact(session, actor=officer, organization=org, name=f"联系人{i:03d}")
        task_service.create(session, actor=officer, data={
            "title": f"跟进{i}", "description": "", "assignee_id": officer.id, "due_on": "2026-12-01",
            "due_time": None, "priority": "normal", "organization_id": org.id, "contact_id": None})
        visit_service.create(session, actor=officer, timezone="Asia/Shanghai", visit_input=visit_service.VisitInput(
            data={"title": f"计数考察{i}", "kind": "inbound", "status": "planned", "starts_at": "2020-12-02T09:00",
                  "ends_at": "2020-12-02T12:00", "summary": "计数", "officer_id": officer.id, "estimated_investment": ""},
            organization_ids=[org.id], member_ids=[contact.id], host_ids=[officer.id],
            stops=[(0, {"organization_id": hub.id, "starts_at": "", "host": "", "shown": "计数", "note": ""})]))
        project = make_project(session, actor=officer, organizations=[org, hub], name=f"计数项目{i}",
                               stage=("lead", "negotiating")[i % 2], total_investment_wan_cny=str(1000 * i),
                               is_confidential="1" if i % 5 == 0 else "")
        session.execute(update(Project).where(Project.id == project.id).values(  # in the past, like the visits
            created_at=datetime(2020, 12, 1, tzinfo=UTC)))
        session.commit()


@pytest.mark.parametrize("username, url", [
    ("officer", "/organizations"), ("officer", "/organizations?q=%E8%AE%A1%E6%95%B0"), ("officer", "/contacts"),
    ("officer", "/tasks"), ("manager", "/tasks?team=1"), ("officer", "/search?q=%E8%AE%A1%E6%95%B0"),
    ("officer", "/"), ("manager", "/admin/audit"), ("officer", "/visits"), ("officer", "/visits?q=%E8%AE%A1%E6%95%B0"),
    ("officer", "/visits/calendar?month=2020-12"), ("officer", "/visits/export.ics?from=2020-12-01"),
    ("officer", "/organizations/{hub}"), ("officer", "/organizations/{hub}/timeline"),
    ("officer", "/projects"), ("officer", "/projects/board"), ("manager", "/projects?q=%E8%AE%A1%E6%95%B0"),
    ("officer", "/projects/export.csv"),
])
def test_query_count_is_the_same_for_5_and_50_rows(client, db, session, users, username, url):
    from tests.conftest import login

    login(client, username)
    _add(session, users, 5, 0)
    url = url.format(hub=_hub(session, users).id)
    few = _queries(client, db, url)
    _add(session, users, 45, 5)
    many = _queries(client, db, url)
    assert few == many, f"{url}: {few} queries for 5 rows, {many} for 50"
