"""Whole pages kept per reader and data generation, served before FastAPI (issue 17; docs/architecture.md "Kept
pages").

The list pages (organizations, contacts, visits, my tasks, the project table) and an organization's page are read
far more often than the zone's data changes. After the page was rendered once for a reader, the same request from
the same reader, in the same data generation (crm/generation.py: any process's write a page may show changes it),
on the same zone date and within `MAX_AGE` seconds, is answered with the same bytes, their CSRF token excepted,
by `crm.front.Front` before the session middleware, FastAPI and the route: one read of the session row (every
request: a sign-out or a revocation holds at once, in every worker), one of the generation, a dictionary look-up.

**What the key holds.** Everything the page's bytes depend on but the data: the path and query string; the htmx
headers (a fragment or the whole page); the reader (the user's id: nothing kept for one reader is ever served to
another, so visibility holds whatever the page shows); the language; the zone's date ("today", overdue, days in a
stage); the settings object and its revision (the tests change settings in place). The reader's CSRF token is the
one per-session value in these pages: kept as a per-process random marker and put back per request.

**What is never kept or served.** Anything but a GET of a kept path, answered 200 as HTML without a cookie set;
a request carrying a flash message; a request whose session is unknown, dead or due for its last-seen touch, or
whose user owes an account step (crm/auth/gate.py): those take the normal way, which answers them as before. A page
is stored under the generation read BEFORE it was rendered (crm/generation.py's rule), so a write committed while it
rendered can only make it be discarded, never served for newer data.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from starlette.types import Message, Scope

from crm import generation
from crm.auth import service as auth_service
from crm.auth.middleware import request_cookies, settled_session
from crm.auth.security import csrf_token_for
from crm.i18n import normalize_locale
from crm.web import FLASH_COOKIE

log = logging.getLogger("crm.kept_pages")

# The goal pages of issue 17: the list pages and an organization's page.
KEPT_PATHS = re.compile(r"/(?:organizations(?:/\d{1,18})?|contacts|visits|tasks|projects)\Z")
SIZE = 256  # pages per worker process (a list page is 20–110 KB)
MAX_BODY = 512 * 1024  # bytes: a bigger answer is not kept (256 of them would hold too much memory)
MAX_AGE = 60.0  # seconds: relative times and "now" move with the clock, not with writes


@dataclass(frozen=True, slots=True)
class KeptPage:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]  # the route's own headers, without Content-Length
    body: bytes  # the reader's CSRF token replaced by the marker


@dataclass(slots=True)
class Lookup:
    """A request a kept page may answer: its key, the generation read for it, the reader's CSRF token; `page` when
    one is kept."""
    generation: tuple
    key: Hashable
    user_id: int
    csrf_token: bytes
    page: KeptPage | None


class KeptPages:
    def __init__(self, paths: re.Pattern[str] = KEPT_PATHS, *, size: int = SIZE, max_age: float = MAX_AGE) -> None:
        self.paths = paths
        self.kept = generation.Kept("pages", size=size, max_age=max_age)
        self._marker = secrets.token_hex(16).encode()  # per process: no reader can type it into a record

    def lookup(self, scope: Scope) -> Lookup | None:
        """For a GET of a kept path (the caller checks both, and the input check): the look-up, or None when the
        normal way must answer (see the module's docstring)."""
        if FLASH_COOKIE in request_cookies(scope):
            return None
        settings = scope["app"].state.settings
        engine = scope["app"].state.database.loop_engine
        try:
            row = settled_session(scope, auth_service.SESSION_READ)
            if row is None:
                return None
            found = generation.current_on(engine)
        except DBAPIError as exc:  # a busy database: the normal way answers (a 503 page when it is still busy)
            log.debug("kept page look-up skipped: %s", exc)
            return None
        if found is None:
            return None
        htmx = tuple((name, value) for name, value in scope["headers"] if name.startswith(b"hx-"))
        today = datetime.now(ZoneInfo(settings.timezone)).date()
        key = (scope["path"], scope.get("query_string", b""), htmx, row.id, normalize_locale(row.locale),
               today, id(settings), settings.revision)
        csrf = csrf_token_for(settings.resolved_secret_key, f"session:{row.session_id}").encode()
        return Lookup(found, key, row.id, csrf, self.kept.peek(found, key))

    def answer(self, lookup: Lookup) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        page = lookup.page
        assert page is not None
        body = page.body.replace(self._marker, lookup.csrf_token)
        return page.status, [*page.headers, (b"content-length", str(len(body)).encode())], body

    def keep(self, lookup: Lookup, scope: Scope, start: Message, body: bytes) -> None:
        """Keeps the page the normal way answered for `lookup`'s request, when it may be served again."""
        if start["status"] != 200 or len(body) > MAX_BODY or scope.get("state", {}).get("user") is None:
            return
        if scope["state"]["user"].id != lookup.user_id:
            return  # the session changed hands between the look-up and the route (a sign-in in between)
        headers = []
        for name, value in start.get("headers", ()):
            if name == b"set-cookie":
                return
            if name == b"content-type" and not value.startswith(b"text/html"):
                return
            if name != b"content-length":
                headers.append((name, value))
        self.kept.keep(lookup.generation, lookup.key,
                       KeptPage(200, tuple(headers), body.replace(lookup.csrf_token, self._marker)))
