"""Kept pages (crm/kept_pages.py, issue 17): a list page or an organization's page asked again by the same reader in
the same data generation is answered from what was kept, before FastAPI — with the same bytes but the reader's own
CSRF token, never to another reader, never past a write, a sign-out, a deactivation, a flash message or a change of
language. In process (TestClient) and across two worker processes. On both databases."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import update

from crm.auth.models import User
from crm.kept_pages import KEPT_PATHS, KeptPages
from tests.conftest import csrf_from, login, post
from tests.factories import make_contact, make_org, make_project, make_task
from tests.server_process import Browser, ServerProcess, module_server
from tests.test_generation import every_answer

PAGES = ("/organizations", "/contacts", "/visits", "/tasks", "/projects")


def kept_pages(app) -> KeptPages:
    for middleware in app.user_middleware:
        if "kept_pages" in middleware.kwargs:
            return middleware.kwargs["kept_pages"]
    raise AssertionError("the app keeps no pages")


def test_the_kept_paths_are_the_goal_pages():
    for path in (*PAGES, "/organizations/12"):
        assert KEPT_PATHS.match(path), path
    for path in ("/organizations/new", "/organizations/12/edit", "/projects/board", "/", "/tasks/3", "/visits/new",
                 "/organizations/1/timeline", "/notifications"):
        assert not KEPT_PATHS.match(path), path


def test_a_page_asked_again_is_the_kept_one_with_the_readers_own_csrf_token(app, client, session, users,
                                                                           client_as):
    officer = users["officer"]
    org = make_org(session, actor=officer, name="代际精进电动")
    make_contact(session, actor=officer, organization=org, name="祝文魁")
    make_task(session, actor=officer, title="代际回访精进电动")
    login(client, "officer")
    kept = kept_pages(app)
    for path in (*PAGES, f"/organizations/{org.id}", "/organizations?q=%E7%B2%BE%E8%BF%9B"):
        first = client.get(path)
        assert first.status_code == 200, path
        hits = kept.kept.hits
        again = client.get(path)
        assert kept.kept.hits == hits + 1, f"{path}: not answered from the kept page"
        assert again.text == first.text, path
        # the same headers (the security headers included), in any order
        assert sorted(again.headers.multi_items()) == sorted(first.headers.multi_items()), path
        assert again.headers["content-length"] == str(len(again.content))
    # The same officer in another browser: the kept page, with that session's token, which its forms then pass
    second = client_as("officer")
    page = second.get(f"/organizations/{org.id}")
    assert csrf_from(page.text) == second.csrf != client.csrf
    assert client.csrf not in page.text
    reply = post(second, "/language", {"locale": "zh_CN", "next": "/organizations"})
    assert reply.status_code == 303


def test_a_write_shows_at_once(app, client, session, users):
    officer = users["officer"]
    login(client, "officer")
    assert "代际玉皇新能源" not in client.get("/organizations").text
    client.get("/organizations")
    org = make_org(session, actor=officer, name="代际玉皇新能源")  # another process's write, as far as the app knows
    assert "代际玉皇新能源" in client.get("/organizations").text
    assert "代际大唐智创" not in client.get(f"/organizations/{org.id}").text
    reply = post(client, "/organizations", {"name": "代际大唐智创", "kind": "zone_enterprise", "ownership": "private"})
    assert reply.status_code == 303, reply.text[:500]
    assert "代际大唐智创" in client.get("/organizations").text


def test_nothing_kept_for_one_reader_is_served_to_another(app, client, session, users, client_as):
    secret = make_project(session, actor=users["officer"], name="代际保密氢能项目", is_confidential="1")
    login(client, "officer")
    link = f'href="/projects/{secret.id}"'
    assert link in client.get("/projects").text and link in client.get("/projects").text
    other = client_as("officer2")
    assert link not in other.get("/projects").text and link not in other.get("/projects").text
    manager = client_as("manager")
    assert link in manager.get("/projects").text
    # my tasks are the reader's own
    make_task(session, actor=users["officer"], title="代际只给张晓明的跟进")
    assert "代际只给张晓明的跟进" in client.get("/tasks").text
    assert "代际只给张晓明的跟进" not in other.get("/tasks").text


def test_a_sign_out_or_a_deactivation_holds_at_the_next_request(app, client, session, users, client_as):
    login(client, "officer")
    client.get("/organizations")
    assert client.get("/organizations").status_code == 200
    assert post(client, "/logout").status_code == 303
    gone = client.get("/organizations")
    assert gone.status_code in (302, 303) and "/login" in gone.headers["location"]

    other = client_as("officer2")
    other.get("/contacts")
    assert other.get("/contacts").status_code == 200
    session.execute(update(User).where(User.id == users["officer2"].id).values(is_active=False))
    session.commit()
    gone = other.get("/contacts")
    assert gone.status_code in (302, 303) and "/login" in gone.headers["location"]


def test_a_flash_message_is_shown_once_over_a_kept_page(app, client, session, users):
    """A form submitted twice (a double click, a retry): the second answer creates nothing (no write, the same data
    generation) and sends the reader to the first one's page with a message, which the kept page must not hide."""
    login(client, "officer")
    form = client.get("/organizations/new").text
    key = re.search(r'name="submission_key" value="([^"]+)"', form).group(1)
    data = {"name": "代际大唐智创", "kind": "zone_enterprise", "ownership": "private", "submission_key": key}
    first = post(client, "/organizations", data)
    assert first.status_code == 303, first.text[:500]
    url = first.headers["location"]
    assert "代际大唐智创" in client.get(url).text  # the creation's flash, then
    plain = client.get(url).text  # kept
    assert client.get(url).text == plain
    again = post(client, "/organizations", data)
    assert again.status_code == 303 and again.headers["location"] == url
    shown = client.get(url).text
    assert "此表单已经提交过" in shown and "此表单已经提交过" not in plain
    assert client.get(url).text == plain  # shown once


def test_each_language_and_each_htmx_fragment_is_kept_apart(app, client, session, users):
    make_org(session, actor=users["officer"], name="代际现代医药港")
    login(client, "officer")
    chinese = client.get("/organizations").text
    assert "<html" in chinese and 'lang="zh' in chinese
    fragment = client.get("/organizations", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and "代际现代医药港" in fragment
    assert client.get("/organizations").text == chinese
    assert post(client, "/language", {"locale": "en", "next": "/organizations"}).status_code == 303
    english = client.get("/organizations").text
    assert 'lang="en' in english and english != chinese


def test_settings_changed_in_place_are_honoured(app, client, session, users):
    for n in range(3):
        make_org(session, actor=users["officer"], name=f"代际企业{n}")
    login(client, "officer")
    assert client.get("/organizations").text.count('href="/organizations/') >= 3
    app.state.settings.page_size = 1
    assert client.get("/organizations").text.count("代际企业") == 1


# Across processes: `crm serve --workers 2`, each request on a new connection (the kernel hands it to either worker)

@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory) -> Iterator[ServerProcess]:
    yield from module_server(database_url, tmp_path_factory.mktemp("kept"))


def test_a_write_through_either_worker_shows_in_both(server, session, users):
    officer = users["officer"]
    org = make_org(session, actor=officer, name="代际复星医药")
    browser = Browser(server.port).sign_in("officer")
    for path in ("/organizations", f"/organizations/{org.id}", "/contacts"):
        assert not any("祝文魁代际" in body for body in every_answer(browser, path))
    session.expire_all()
    make_contact(session, actor=officer, organization=org, name="祝文魁代际")
    for path in ("/organizations", f"/organizations/{org.id}", "/contacts"):
        bodies = every_answer(browser, path)
        if path != "/organizations":
            assert all("祝文魁代际" in body for body in bodies), path
        assert all(csrf_from(body) == browser.csrf for body in bodies)
    # Signed out through one worker: neither serves the kept pages again
    assert browser.post("/logout").status == 303
    fresh = Browser(server.port, cookies=dict(browser.cookies))
    assert fresh.request("GET", "/contacts").status in (302, 303)


def test_readers_at_the_same_time_as_a_writer_never_see_a_page_older_than_a_save_they_waited_for(server, session,
                                                                                                     users):
    """Four readers keep asking for the organization list (kept pages, on keep-alive connections spread over both
    workers) while a writer creates organizations one by one: every answer is a 200, and each shows every
    organization whose creation had been answered before that read was sent."""
    writer = Browser(server.port).sign_in("officer")
    created = 0  # creations answered so far (read by the readers before each request)
    lock = threading.Lock()
    problems: list[str] = []
    done = threading.Event()

    def read() -> int:
        reader = Browser(server.port, cookies={k: v for k, v in writer.cookies.items() if k == "crm_session"})
        reads = 0
        try:
            while not done.is_set() and not problems:
                with lock:
                    before = created
                reply = reader.get("/organizations")
                reads += 1
                if reply.status != 200:
                    problems.append(f"status {reply.status}: {reply.body[:200]}")
                missing = [i for i in range(before) if f"代际并发{i:02d}" not in reply.body]
                if missing:
                    problems.append(f"a read sent after {before} creations misses {missing}")
        finally:
            reader.close()
        return reads

    with ThreadPoolExecutor(4) as pool:
        readers = [pool.submit(read) for _ in range(4)]
        try:
            for i in range(20):
                reply = writer.post("/organizations", {"name": f"代际并发{i:02d}", "kind": "zone_enterprise",
                                                       "ownership": "private"})
                assert reply.status == 303, reply.body[:300]
                with lock:
                    created = i + 1
                time.sleep(0.02)
        finally:
            done.set()
        reads = sum(future.result() for future in readers)
    assert not problems, problems[:5]
    assert reads > 40
