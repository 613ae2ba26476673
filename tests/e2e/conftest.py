"""Real-browser fixtures: the app served by uvicorn on a free 127.0.0.1 port, driven by Debian's headless Chromium.

One server per database backend (it follows the session-scoped, sqlite/postgresql-parametrized `database`
fixture of tests/conftest.py); each test's rows are removed afterwards by that conftest's `db` fixture.
Without /usr/bin/chromium every browser test is skipped, and the run says why — unless CRM_REQUIRE_BROWSER=1
(CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.live_server import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("CRM_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 5_000
SHOTS_DIR = Path("/tmp/e2e-shots")  # screenshots are for people to look at; they stay out of the repository


def _no_browser(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"CRM_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason} (`make browser-deps` installs Chromium)")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        _no_browser(f"{CHROMIUM} does not exist")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        _no_browser("the playwright Python package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def live_server(browser, database, database_url, tmp_path_factory) -> Iterator[str]:
    """The base URL of the real app on this backend's test database."""
    from crm.config import Settings
    from crm.main import create_app

    settings = Settings(env="test", database_url=database_url, data_dir=tmp_path_factory.mktemp("e2e-data"),
                        secret_key="e" * 40)
    server = LiveServer(create_app(settings, database=database))
    server.start_and_wait()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def backend(database) -> str:
    return "sqlite" if database.is_sqlite else "postgresql"


@pytest.fixture
def new_page(browser, live_server, db) -> Iterator[Callable]:
    """new_page(width=1280, height=900) → a Page in a fresh browser context (no cookies), Chinese locale.

    Depends on `db`, so contexts are closed (no request in flight) before the test's rows are removed.
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    contexts = []

    def make(width: int = 1280, height: int = 900, **options):
        context = browser.new_context(base_url=live_server, viewport={"width": width, "height": height},
                                      locale="zh-CN", timezone_id="Asia/Shanghai", **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def officer(db):
    from tests import factories

    with db.write_sessions() as s:
        return factories.make_user(s, username="officer", role="officer", display_name="张晓明")


@pytest.fixture
def shots_dir() -> Path:
    SHOTS_DIR.mkdir(parents=True, exist_ok=True)
    return SHOTS_DIR
