"""Saves that never stall each other, against `crm serve` as a real process with two workers, on both databases:
different records saved at the same instant all succeed at once; the same record twice is one save and one 409;
a page loads while another transaction holds the write lock; a busy database answers 503 and writes nothing; a
double-submitted create form makes one record."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, func, select, text, update

from crm.auth.models import WebSession
from crm.organizations.models import Organization
from crm.projects.models import Project
from crm.tasks.models import Task
from tests.factories import make_org, make_project, make_task, make_user
from tests.server_process import KEY_RE, Browser, Reply, ServerProcess, module_server

FAST_SECONDS = 1.5  # a save that waited for another's lock past its step would take the busy timeout (3 s) or more


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory) -> Iterator[ServerProcess]:
    yield from module_server(database_url, tmp_path_factory.mktemp("served"),
                             refused=("WriteLeftOpen", "Exception in ASGI application"))


def at_once(*calls: Callable[[], Reply]) -> list[Reply]:
    """Runs the calls at the same instant (released together from a barrier)."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Reply]) -> Reply:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def signed_in(server: ServerProcess, username: str) -> Browser:
    return Browser(server.port).sign_in(username)


def test_two_officers_complete_their_own_follow_ups_at_the_same_instant(server, session, users):
    first = make_task(session, actor=users["officer"], title="回访复星")
    second = make_task(session, actor=users["officer2"], title="回访精进")
    one, two = signed_in(server, "officer"), signed_in(server, "officer2")
    replies = at_once(lambda: one.post(f"/tasks/{first.id}/complete"), lambda: two.post(f"/tasks/{second.id}/complete"))
    assert [r.status for r in replies] == [303, 303], [r.body[:300] for r in replies]
    assert max(r.seconds for r in replies) < FAST_SECONDS, [r.seconds for r in replies]
    session.expire_all()
    assert {t.status for t in session.scalars(select(Task))} == {"done"}


def test_a_project_move_and_an_organization_create_at_the_same_instant(server, session, users):
    project = make_project(session, actor=users["manager"], total_investment_wan_cny="800")
    manager, officer = signed_in(server, "manager"), signed_in(server, "officer")
    move = lambda: manager.post(f"/projects/{project.id}/move", {"stage": "contact", "version": project.version})  # noqa: E731
    create = lambda: officer.post("/organizations", {"name": "菏泽并发新材料有限公司", "kind": "investor"})  # noqa: E731
    replies = at_once(move, create)
    assert [r.status for r in replies] == [303, 303], [r.body[:300] for r in replies]
    assert max(r.seconds for r in replies) < FAST_SECONDS, [r.seconds for r in replies]
    session.expire_all()
    assert session.get(Project, project.id).stage == "contact"
    assert session.scalar(select(func.count()).where(Organization.name == "菏泽并发新材料有限公司")) == 1


def test_six_managers_move_six_projects_at_the_same_instant_while_a_page_loads(server, session, users):
    managers = [make_user(session, username=f"leader{i}", role="manager") for i in range(6)]
    projects = [make_project(session, actor=users["manager"], name=f"并发项目{i}", total_investment_wan_cny="800")
                for i in range(6)]
    browsers = [signed_in(server, m.username) for m in managers]
    reader = signed_in(server, "officer")
    calls = [lambda b=b, p=p: b.post(f"/projects/{p.id}/move", {"stage": "contact", "version": p.version})
             for b, p in zip(browsers, projects, strict=True)]
    replies = at_once(*calls, lambda: reader.get("/organizations"))
    assert [r.status for r in replies] == [303] * 6 + [200], [r.body[:300] for r in replies if r.status >= 400]
    assert max(r.seconds for r in replies) < FAST_SECONDS * 2, [round(r.seconds, 2) for r in replies]
    session.expire_all()
    assert {p.stage for p in session.scalars(select(Project))} == {"contact"}


def test_the_same_follow_up_completed_twice_at_the_same_instant_is_one_save_and_no_500(server, session, users):
    task = make_task(session, actor=users["officer"], title="同一事项")
    officer, manager = signed_in(server, "officer"), signed_in(server, "manager")
    for _ in range(3):
        session.execute(update(Task).where(Task.id == task.id).values(status="open", completed_at=None))
        session.commit()
        replies = at_once(lambda: officer.post(f"/tasks/{task.id}/complete"),
                          lambda: manager.post(f"/tasks/{task.id}/complete"))
        statuses = sorted(r.status for r in replies)
        assert statuses in ([303, 303], [303, 409]), [(r.status, r.body[:300]) for r in replies]
        conflict = next((r for r in replies if r.status == 409), None)
        if conflict is not None:
            assert "已有他人修改" in conflict.body
        session.expire_all()
        assert session.get(Task, task.id).status == "done"


def test_the_same_organization_saved_twice_from_one_version_is_one_save_and_one_409(server, session, users):
    org = make_org(session, actor=users["officer"], name="玉皇新能源科技有限公司")
    one, two = signed_in(server, "officer"), signed_in(server, "manager")
    edit = {"name": org.name, "kind": "investor", "version": org.version}
    replies = at_once(lambda: one.post(f"/organizations/{org.id}", {**edit, "city": "菏泽"}),
                      lambda: two.post(f"/organizations/{org.id}", {**edit, "city": "济南"}))
    assert sorted(r.status for r in replies) == [303, 409], [(r.status, r.body[:300]) for r in replies]
    saved = next(r for r in replies if r.status == 303)
    session.expire_all()
    assert session.get(Organization, org.id).city == ("菏泽" if saved is replies[0] else "济南")


def _hold_write_lock(database_url: str, ready: threading.Event, release: threading.Event) -> None:
    """Another program's transaction holding the write lock (SQLite) or the tables' locks (PostgreSQL)."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            connection.exec_driver_sql("UPDATE organization SET city = city")
        else:
            connection.execute(text("LOCK TABLE organization, web_session IN EXCLUSIVE MODE"))
        ready.set()
        release.wait(30)
        connection.rollback()
    engine.dispose()


@contextmanager
def write_lock(database_url: str) -> Iterator[None]:
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(database_url, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        yield
    finally:
        release.set()
        holder.join()


def test_a_page_loads_normally_while_another_transaction_holds_the_write_lock(server, session, users,
                                                                               database_url):
    make_org(session, actor=users["officer"], name="大唐智创")
    browser = signed_in(server, "officer")
    # The session's last-seen time is due to be written: that bookkeeping must not make the page wait.
    session.execute(update(WebSession).values(last_seen_at=func.now() - text("INTERVAL '1 hour'"))
                    if session.bind.dialect.name == "postgresql"
                    else update(WebSession).values(last_seen_at=text("datetime('now', '-1 hour')")))
    session.commit()
    with write_lock(database_url):
        reply = browser.get("/organizations")
    assert reply.status == 200 and "大唐智创" in reply.body
    assert reply.seconds < FAST_SECONDS


@pytest.fixture(scope="module")
def impatient_server(database_url, tmp_path_factory) -> Iterator[ServerProcess]:
    """A server whose saves wait at most 300 ms for a lock."""
    process = ServerProcess(database_url=database_url, data_dir=tmp_path_factory.mktemp("impatient"), workers=1,
                            env={"CRM_DB_BUSY_TIMEOUT_MS": "300"})
    try:
        yield process.wait_ready()
    finally:
        process.stop()
    assert "Exception in ASGI application" not in process.output()


def test_a_database_busy_past_the_bound_answers_503_with_retry_after_and_writes_nothing(
        impatient_server, session, users, database_url):
    browser = signed_in(impatient_server, "officer")
    with write_lock(database_url):
        reply = browser.post("/organizations", {"name": "繁忙时新建的企业", "kind": "investor"})
        assert reply.status == 503, reply.body[:300]
        assert reply.headers.get("retry-after") == "2"
        assert "系统繁忙" in reply.body
        assert browser.get("/tasks").status == 200  # the same connection goes on serving
    session.expire_all()
    assert session.scalar(select(func.count()).where(Organization.name == "繁忙时新建的企业")) == 0
    assert browser.post("/organizations", {"name": "繁忙时新建的企业", "kind": "investor"}).status == 303


def test_a_double_submitted_create_form_makes_one_record_and_both_see_it(server, session, users):
    browser = signed_in(server, "officer")
    page = browser.get("/organizations/new")
    key = KEY_RE.search(page.body).group(1)
    form = {"name": "复星医药(菏泽)有限公司", "kind": "investor", "submission_key": key}
    second = Browser(server.port, cookies=dict(browser.cookies), csrf=browser.csrf)  # the same user, another tab
    replies = at_once(lambda: browser.post("/organizations", form), lambda: second.post("/organizations", form))
    assert [r.status for r in replies] == [303, 303], [(r.status, r.body[:300]) for r in replies]
    session.expire_all()
    created = session.scalars(select(Organization).where(Organization.name == form["name"])).all()
    assert len(created) == 1
    assert {r.headers["location"] for r in replies} == {f"/organizations/{created[0].id}"}
    # Back, and submitted again later: still the one record, shown.
    later = browser.post("/organizations", form)
    assert later.status == 303 and later.headers["location"] == f"/organizations/{created[0].id}"
    assert "已经提交" in browser.get(later.headers["location"]).body
    session.expire_all()
    assert session.scalar(select(func.count()).where(Organization.name == form["name"])) == 1


def test_a_refused_create_keeps_its_key_unused(server, session, users):
    browser = signed_in(server, "officer")
    key = KEY_RE.search(browser.get("/tasks/new").body).group(1)
    refused = browser.post("/tasks", {"title": "", "assignee_id": users["officer"].id, "due_on": "2026-12-09",
                                      "priority": "normal", "submission_key": key})
    assert refused.status == 422
    saved = browser.post("/tasks", {"title": "送达投资协议", "assignee_id": users["officer"].id, "due_on": "2026-12-09",
                                    "priority": "normal", "submission_key": key})
    assert saved.status == 303
    session.expire_all()
    assert session.scalar(select(func.count()).where(Task.title == "送达投资协议")) == 1


def test_the_server_keeps_serving_quickly_after_many_saves(server, session, users):
    """Twenty saves from four users in a burst: no 5xx, each well under the busy timeout."""
    tasks = [make_task(session, actor=users["officer"], title=f"批量{i}") for i in range(20)]
    browsers = [signed_in(server, "officer") for _ in range(4)]
    started = time.monotonic()

    def complete_five(n: int) -> list[Reply]:  # each user on their own connection
        return [browsers[n].post(f"/tasks/{task.id}/complete") for task in tasks[n::4]]

    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = [reply for replies in pool.map(complete_five, range(4)) for reply in replies]
    assert [r.status for r in replies] == [303] * 20
    assert time.monotonic() - started < 20 * FAST_SECONDS
