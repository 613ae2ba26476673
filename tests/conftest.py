"""Test fixtures: every test runs against SQLite and PostgreSQL, each in a database the tests create and drop.

PostgreSQL is at CRM_TEST_POSTGRES_URL (default: the local server, trust auth, user postgres). Without it the
PostgreSQL half is skipped and the run says so, unless CRM_REQUIRE_POSTGRES=1 (CI), which makes it an error.
Between tests every table is emptied (the seeded industry chains are kept), so no test sees another's rows.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from crm import migrate
from crm.auth.security import use_cheap_hashing
from crm.config import Settings
from crm.db import Database
from crm.main import create_app
from crm.models import Base

use_cheap_hashing()

POSTGRES_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("CRM_REQUIRE_POSTGRES") == "1"
# seeded by the migrations
KEPT_TABLES = {"industry_chain", "approval_template", "responsible_department", "scheduling_setting"}


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


POSTGRES_AVAILABLE = _postgres_available()
if REQUIRE_POSTGRES and not POSTGRES_AVAILABLE:
    raise pytest.UsageError(f"CRM_REQUIRE_POSTGRES=1 but PostgreSQL is not reachable at {POSTGRES_URL}")
BACKENDS = ["sqlite", "postgresql"]


def pytest_report_header(config):
    if POSTGRES_AVAILABLE:
        return f"database backends: sqlite, postgresql ({make_url(POSTGRES_URL).render_as_string(hide_password=True)})"
    return "database backends: sqlite only — PostgreSQL not reachable, its half of the suite is SKIPPED"


def _create_postgres_database() -> tuple[str, str]:
    name = f"crm_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "postgresql":
        if not POSTGRES_AVAILABLE:
            pytest.skip("PostgreSQL not reachable")
        name, url = _create_postgres_database()
        try:
            migrate.upgrade(url)
            yield url
        finally:
            _drop_postgres_database(name)
    else:
        path = tmp_path_factory.mktemp("sqlite") / "crm-test.sqlite3"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def database(database_url) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def _empty_all_tables(db: Database) -> None:
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in KEPT_TABLES]
    # DELETE, not TRUNCATE: on a handful of rows it is ten times faster on PostgreSQL.
    with db.engine.begin() as conn:
        if not db.is_sqlite:  # audit entries may be deleted only by the archiver and this (crm/audit/chain.py)
            conn.exec_driver_sql("SET LOCAL crm.audit_maintenance = 'on'")
        for table in tables:
            conn.execute(table.delete())


@pytest.fixture
def db(database) -> Iterator[Database]:
    """The test's database, emptied after the test."""
    try:
        yield database
    finally:
        _empty_all_tables(database)


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(env="test", database_url=database_url, data_dir=tmp_path, secret_key="t" * 40)


@pytest.fixture
def app(settings, db):
    return create_app(settings, database=db)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


class TestSession(Session):
    """The test's own view of the database.

    Its transactions begin DEFERRED, so its reads never block the app's writers, and expire_all() also ends
    the transaction, so the next read sees what the app committed meanwhile (a SQLite snapshot is per
    transaction). Tests call session.expire_all() before re-reading rows changed over HTTP."""

    def expire_all(self) -> None:
        self.rollback()
        super().expire_all()


@pytest.fixture
def other_client(app) -> Iterator[TestClient]:
    """A second browser on the same app, for another user."""
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture
def client_as(app):
    """client_as(username) → another signed-in browser session in the same test."""
    clients = []

    def make(username: str) -> TestClient:
        client = TestClient(app, base_url="http://testserver", follow_redirects=False)
        clients.append(client.__enter__())
        login(client, username)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def session(db):
    with TestSession(bind=db.engine, expire_on_commit=False) as s:
        yield s


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: TestClient, username: str, password: str = "secret-pass-1") -> None:
    page = client.get("/login")
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_from(page.text), "next": "/"}
    )
    assert response.status_code == 303, response.text
    # The token is bound to the new session; `/` sends the security and audit administrators to their own page.
    client.csrf = csrf_from(client.get("/", follow_redirects=True).text)


def post(client: TestClient, url: str, data: dict | None = None, **kwargs):
    """A form post carrying the signed-in session's CSRF token."""
    return client.post(url, data={"csrf_token": client.csrf, **(data or {})}, **kwargs)


@pytest.fixture
def users(session):
    from tests import factories

    return {
        "officer": factories.make_user(session, username="officer", role="officer", display_name="张晓明"),
        "officer2": factories.make_user(session, username="officer2", role="officer", display_name="李四"),
        "manager": factories.make_user(session, username="manager", role="manager", display_name="练建军"),
        "admin": factories.make_user(session, username="admin", role="admin", display_name="管理员"),
    }


@pytest.fixture
def officer_client(client, users):
    login(client, "officer")
    return client


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def counting_server():
    """(port, hits): a real HTTP server on 127.0.0.1 that records every request and answers with a redirect to
    file:///etc/passwd — a render that fetched anything, or followed the redirect, would show here."""
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], hits
    server.shutdown()
