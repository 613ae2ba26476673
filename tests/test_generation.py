"""The data generation (crm/generation.py, issue 17): every write a page may show changes it in its own transaction,
so the board, the readiness board, the dashboard and the header search, kept per generation in each worker process,
show a write made by any process on the next request to any other; bookkeeping writes and GETs leave it alone; a
database without its row caches nothing. On both databases."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select, text, update

from crm import generation
from crm.auth.models import WebSession
from crm.generation import DataGeneration
from crm.groundbreaking.models import GroundbreakingEvent
from crm.projects.models import Project
from tests.factories import make_org, make_project, make_user
from tests.server_process import Browser, ServerProcess, module_server
from tests.test_route_matrix import ROLES, SECRET_PARAMS, app_routes, build_world, concrete, sign_in


def tags(session) -> list[tuple[int, int]]:
    session.expire_all()  # ends the test session's transaction: its next read sees what the server committed
    found = [tuple(row) for row in session.execute(select(DataGeneration.slot, DataGeneration.tag)
                                                   .order_by(DataGeneration.slot))]
    session.expire_all()  # and holds no snapshot (SQLite: a later write from it would meet the server's commits)
    return found


def test_which_statements_bump():
    assert generation.bumps("INSERT INTO project (name) VALUES (?)")
    assert generation.bumps('UPDATE "project" SET name=%(name)s')
    assert generation.bumps("DELETE FROM task WHERE task.id = ?")
    assert generation.bumps("INSERT OR IGNORE INTO visit_host VALUES (?, ?)")
    assert not generation.bumps("UPDATE web_session SET last_seen_at=? WHERE web_session.id = ?")
    assert not generation.bumps("INSERT INTO audit_entry (action) VALUES (?)")
    assert not generation.bumps("update api_request_count set count = count + 1")
    assert generation.bumps("WITH moved AS (SELECT 1) UPDATE project SET stage = ?") is True  # unread table: counts


def test_a_write_bumps_in_its_transaction_a_rollback_and_bookkeeping_do_not(db, session, users):
    project = make_project(session, actor=users["officer"], name="代际光伏项目")
    before = tags(session)
    assert before, "a write leaves a generation row"
    session.execute(update(Project).where(Project.id == project.id).values(name="代际光伏项目二期"))
    session.rollback()
    assert tags(session) == before
    session.execute(update(WebSession).values(user_agent="bookkeeping"))
    session.commit()
    assert tags(session) == before
    session.execute(update(Project).where(Project.id == project.id).values(name="代际光伏项目三期"))
    session.commit()
    assert tags(session) != before


def test_no_row_means_nothing_is_kept(db, session, users):
    make_project(session, actor=users["officer"])
    kept = generation.Kept("test")
    calls = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    with db.read_sessions() as reader:
        assert kept.get(reader, "k", compute) == 1
    with db.read_sessions() as reader:
        assert kept.get(reader, "k", compute) == 1  # kept under the same generation
    # Rows gone (an emptied table; the tests' clean-up does this): computed every time until the next write
    with db.engine.connect() as connection:  # the raw DBAPI cursor: no event, so no bump re-creates the row
        cursor = connection.connection.dbapi_connection.cursor()
        cursor.execute("DELETE FROM data_generation")
        connection.connection.dbapi_connection.commit()
    with db.read_sessions() as reader:
        assert generation.current(reader) is None
        assert kept.get(reader, "k", compute) == 2
    with db.read_sessions() as reader:
        assert kept.get(reader, "k", compute) == 3
    make_project(session, actor=users["officer"])  # the next write makes a new row, with a tag never used before
    with db.read_sessions() as reader:
        assert kept.get(reader, "k", compute) == 4
        assert kept.get(reader, "k", compute) == 4


def test_the_cache_key_names_the_database(db, session, users):
    make_project(session, actor=users["officer"])
    with db.read_sessions() as reader:
        found = generation.current(reader)
    assert found[0] == str(db.engine.url)


def test_no_get_bumps_the_generation(app, session, users, settings):
    """Every GET route of the app, as every role (tests/test_route_matrix.py's world), writes nothing a kept page
    shows: last-seen times, download records, refusals and read marks are bookkeeping."""
    world_users = {**users, "security_admin": make_user(session, username="security", role="security_admin"),
                   "audit_admin": make_user(session, username="auditor", role="audit_admin")}
    world = build_world(session, world_users, settings)
    clients = {role: sign_in(app, role) for role in ROLES}
    try:
        before = tags(session)
        assert before
        bumped = []
        for method, path in app_routes(app):
            if method != "GET":
                continue
            for secret in (False, True) if SECRET_PARAMS & set(re.findall(r"\{([^}]+)\}", path)) else (False,):
                url = concrete(path, world, secret=secret)
                for role in ROLES:
                    clients[role].get(url)
                    now = tags(session)
                    if now != before:
                        bumped.append(f"{role} GET {url}")
                        before = now
        assert not bumped, "GETs that changed the data generation:\n" + "\n".join(bumped)
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)


# Across processes: `crm serve --workers 2`, each request on a new connection (the kernel hands it to either worker)

@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory) -> Iterator[ServerProcess]:
    yield from module_server(database_url, tmp_path_factory.mktemp("generation"))


REQUESTS = 12  # per check, each on a connection of its own: with two workers, both answer some of them


def every_answer(browser: Browser, path: str, *, htmx: bool = False) -> list[str]:
    bodies = []
    for _ in range(REQUESTS):
        fresh = Browser(browser.port, cookies=dict(browser.cookies), csrf=browser.csrf)
        reply = fresh.request("GET", path, headers={"HX-Request": "true"} if htmx else None)
        fresh.close()
        assert reply.status == 200, (path, reply.status, reply.body[:300])
        bodies.append(reply.body)
    return bodies


def test_a_write_in_one_process_is_seen_by_the_next_request_to_any_other(server, session, users):
    officer = users["officer"]
    investor = make_org(session, actor=officer, name="代际新能源投资")
    slated = make_project(session, actor=officer, organizations=[investor], name="代际储能电站项目", stage="negotiating")
    session.execute(update(Project).where(Project.id == slated.id).values(stage="permits", pipeline_stage="permits"))
    event = GroundbreakingEvent(name="代际集中开工", held_on=date.today() + timedelta(days=20), place="园区")
    session.add(event)
    session.commit()
    slated_id, event_id = slated.id, event.id
    assert tags(session), "no generation row: the server would keep nothing, and this test would prove nothing"
    browser = Browser(server.port).sign_in("manager")
    pages = {"board": "/projects/board", "readiness": f"/groundbreaking/{event_id}", "dashboard": "/",
             "search": "/search?q=%E9%87%8F%E5%AD%90%E5%82%A8%E8%83%BD"}  # 量子储能

    def seen(name: str, text_: str, *, within: str = "") -> list[bool]:
        bodies = every_answer(browser, pages[name], htmx=name == "search")
        if within:  # only that section of the page
            bodies = [body.split(within, 1)[1].split("</section>", 1)[0] if within in body else "" for body in bodies]
        return [text_ in body for body in bodies]

    link = f'href="/projects/{slated_id}"'
    groundbreaking = 'id="next-groundbreaking"'
    # Both workers keep every page (each asked REQUESTS times), then the test process itself writes
    assert not any(seen("search", "/projects/"))
    assert not any(seen("readiness", f"slate-{slated_id}"))
    assert not any(seen("dashboard", link, within=groundbreaking))
    assert all(seen("board", "代际储能电站项目"))
    session.expire_all()
    found = make_project(session, actor=officer, organizations=[investor], name="量子储能示范项目", stage="lead")
    assert all(seen("search", f'href="/projects/{found.id}"'))
    session.expire_all()
    session.execute(update(Project).where(Project.id == slated_id).values(name="代际储能电站二期"))
    session.commit()
    assert all(seen("board", "代际储能电站二期")) and not any(seen("board", "代际储能电站项目"))

    # A write through one worker (the manager slates the project over HTTP): every later answer, from either, shows it
    reply = browser.post(f"/groundbreaking/{event_id}/slate", {"project_id": str(slated_id)})
    assert reply.status == 303, reply.body[:300]
    assert all(seen("readiness", f"slate-{slated_id}"))
    assert all(seen("dashboard", link, within=groundbreaking))  # not ready: named under the next groundbreaking
    reply = browser.post(f"/groundbreaking/{event_id}/slate/{slated_id}/drop")
    assert reply.status == 303, reply.body[:300]
    assert not any(seen("readiness", f"slate-{slated_id}"))
    assert not any(seen("dashboard", link, within=groundbreaking))


def test_a_page_kept_for_a_manager_is_not_served_to_an_officer(server, session, users):
    secret = make_project(session, actor=users["officer"], name="代际保密氢能项目", is_confidential="1")
    manager, other = Browser(server.port).sign_in("manager"), Browser(server.port).sign_in("officer2")
    link = f'href="/projects/{secret.id}"'
    for path, htmx in (("/projects/board", False), ("/search?q=%E4%BB%A3%E9%99%85%E4%BF%9D%E5%AF%86", True)):
        assert all(link in body for body in every_answer(manager, path, htmx=htmx))
        assert not any(link in body for body in every_answer(other, path, htmx=htmx))


def test_the_tests_clean_up_bumps_the_generation(db, session, users):
    make_project(session, actor=users["officer"])
    before = tags(session)
    session.close()
    with db.engine.begin() as connection:  # as tests/conftest.py empties the tables: DELETE, then commit
        connection.execute(delete(Project.__table__).where(text("1 = 0")))
        connection.execute(text("DELETE FROM data_generation"))
        connection.execute(delete(WebSession.__table__))
    with db.read_sessions() as reader:
        after = generation.current(reader)
    assert after is not None and after[1:] != tuple(before)


def test_one_request_computes_a_missing_value_while_the_others_wait_for_it(db, session, users):
    make_project(session, actor=users["officer"])
    kept = generation.Kept("test")
    calls, started = [], threading.Event()

    def compute() -> str:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return "figures"

    def ask() -> str:
        with db.read_sessions() as reader:
            return kept.get(reader, "k", compute)

    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(ask)
        started.wait(5)
        others = [pool.submit(ask) for _ in range(3)]
        assert [f.result() for f in [first, *others]] == ["figures"] * 4
    assert len(calls) == 1


def test_values_of_an_older_generation_are_dropped_when_a_newer_one_is_kept(db, session, users):
    project = make_project(session, actor=users["officer"])
    kept = generation.Kept("test")
    with db.read_sessions() as reader:
        kept.get(reader, "a", lambda: 1)
        kept.get(reader, "b", lambda: 2)
    assert len(kept._kept) == 2
    session.execute(update(Project).where(Project.id == project.id).values(name="代际新名称"))
    session.commit()
    with db.read_sessions() as reader:
        assert kept.get(reader, "a", lambda: 3) == 3
    assert len(kept._kept) == 1
