"""Many requests at once against the real HTTP stack: more than the connection pool holds, none may hang or fail."""

import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from urllib.parse import urlencode

from crm.main import create_app
from tests.factories import PASSWORD, make_org
from tests.live_server import LiveServer


def _signed_in_opener(base: str):
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urlencode({"username": "officer", "password": PASSWORD, "csrf_token": token}).encode()
    opener.open(f"{base}/login", data=data, timeout=10)
    cookie = next(c for c in jar if c.name == "crm_session")
    return f"crm_session={cookie.value}"


def test_more_concurrent_requests_than_pooled_connections_all_succeed(settings, db, session, users):
    for i in range(30):
        make_org(session, actor=users["officer"], name=f"并发机构{i}")
    server = LiveServer(create_app(settings, database=db))
    server.start_and_wait()
    try:
        cookie = _signed_in_opener(server.url)
        pool_limit = db.engine.pool.size() + db.engine.pool._max_overflow

        def fetch(i: int) -> int:
            url = f"{server.url}/organizations?q=%E5%B9%B6%E5%8F%91" if i % 2 else f"{server.url}/organizations"
            request = urllib.request.Request(url, headers={"Cookie": cookie})
            with urllib.request.urlopen(request, timeout=20) as response:  # a deadlock would hit this timeout
                return response.status

        with ThreadPoolExecutor(max_workers=pool_limit + 10) as workers:
            statuses = list(workers.map(fetch, range(3 * (pool_limit + 10))))
        assert statuses == [200] * len(statuses)
    finally:
        server.stop()
