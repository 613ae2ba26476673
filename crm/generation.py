"""The data generation: a tag the database changes in the same transaction as every write a page may show, so
that a worker process can keep a heavy page's figures (the board, the readiness board, the dashboard, the header
search) and still see, on its next request, what any other process wrote (issue 17, docs/architecture.md "The data
generation").

**Bump.** `crm.db._track_writes` notes each write statement's table; when the transaction wrote a table that is
not BOOKKEEPING, its engine's `commit` event (which fires before the DBAPI commit) writes a fresh random tag into
one row of `data_generation` through the raw DBAPI cursor: the new tag becomes visible exactly when the data does,
and a rolled-back transaction leaves no trace. A tag, not a counter: a fresh random 62-bit value per bump, so a
table emptied (the tests), a database restored from a backup or re-created at the same path never brings back a
generation some process keeps figures under for other data (a restored state brings back its own tags, under which
the same data was cached).

**Rows.** The bump comes last, right before the commit, so its row lock is held only for the commit itself. On
PostgreSQL, where writers commit concurrently, the tag lives in SLOTS rows and each commit bumps one of them at
random: two saves wait for each other's commit only one time in SLOTS. SQLite has one writer at a time and uses
one row. Per-domain rows were not worth it: each cached page reads nearly every business table (the board alone
reads projects, tasks, visits, organizations, users, parcels, decisions and permits).

**Read.** `current(session)` reads every row (a few, one page) once per request, and a cache stores its value
under the generation it read BEFORE computing it: data written after that read can only make the value newer than
its key says, so such a value is only ever discarded (every later request reads the newer generation), never served
for older data. No row (a new or emptied database, before its first write) means: do not cache.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Integer, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm.db import Base
from crm.fast_read import PreparedRead

T = TypeVar("T")

TABLE = "data_generation"
SLOTS = 8  # PostgreSQL; SQLite uses slot 0 only

# Tables whose writes no cached page shows, and which reads or background jobs write often: a GET touching a
# session's last-seen time, an API call counting its token's budget, the audit trail (downloads and refusals are
# recorded on GET; the sealer fills hashes every minute), the reminder and webhook machinery (the scheduler every
# 15 s), notifications (read marks), briefing and backup jobs. A write to any other table bumps the generation.
BOOKKEEPING = frozenset({
    TABLE, "web_session", "login_throttle", "sign_in_challenge", "api_request_count", "api_idempotency_key",
    "audit_entry", "audit_archive", "scheduler_job", "outbox", "notification", "reminder_rule", "form_submission",
    "briefing_file", "backup_run", "webhook_event", "webhook_delivery", "webhook_cursor",
})

_WRITTEN_TABLE = re.compile(
    r'\s*(?:insert\s+(?:or\s+\w+\s+)?into|update(?:\s+or\s+\w+)?|delete\s+from|replace\s+into)\s+"?(\w+)"?',
    re.IGNORECASE)


class DataGeneration(Base):
    __tablename__ = TABLE

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tag: Mapped[int] = mapped_column(BigInteger)


def bumps(statement: str) -> bool:
    """Whether a write statement changes what a cached page may show: any table but BOOKKEEPING (a write whose
    table cannot be read off the statement counts)."""
    match = _WRITTEN_TABLE.match(statement)
    return match is None or match.group(1).lower() not in BOOKKEEPING


_UPSERT = ("INSERT INTO data_generation (slot, tag) VALUES ({0}, {0}) "
           "ON CONFLICT (slot) DO UPDATE SET tag = excluded.tag")
_present: set[str] = set()  # the engines (by URL) whose database has the table


def _presence_query(dialect_name: str) -> str:
    if dialect_name == "sqlite":
        return "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'data_generation'"
    return ("SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'data_generation' "
            "AND schemaname = ANY (current_schemas(false))")


def _has_table(cursor, dialect_name: str, url: str) -> bool:
    if url in _present:
        return True
    cursor.execute(_presence_query(dialect_name))
    found = cursor.fetchone() is not None
    if found:  # a database without it (not yet migrated) is asked again: nothing caches there meanwhile
        _present.add(url)
    return found


def bump(connection) -> None:
    """Called by the engine's `commit` event of a transaction that wrote (crm.db._track_writes): a new tag in one
    row, in the same transaction, through the DBAPI cursor (no SQLAlchemy events, no new transaction)."""
    sqlite = connection.dialect.name == "sqlite"
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        if not _has_table(cursor, connection.dialect.name, str(connection.engine.url)):
            return
        slot = 0 if sqlite else secrets.randbelow(SLOTS)
        cursor.execute(_UPSERT.format("?" if sqlite else "%s"), (slot, secrets.randbits(62)))
    finally:
        cursor.close()


_TAGS = PreparedRead(select(DataGeneration.slot, DataGeneration.tag).order_by(DataGeneration.slot))


def current_on(engine: Engine) -> tuple | None:
    """`current` on the event loop, for what runs before any session exists (crm/kept_pages.py): the same value."""
    url = str(engine.url)
    if url not in _present:
        with engine.connect() as connection:
            if connection.execute(text(_presence_query(engine.dialect.name))).first() is None:
                return None
        _present.add(url)
    rows = _TAGS.all(engine)
    return (url, *((row.slot, row.tag) for row in rows)) if rows else None


def current(session: Session) -> tuple | None:
    """The database's identity and its generation now, or None (no row: do not cache). Read it BEFORE computing
    what is kept under it."""
    transaction = session.get_transaction()
    memo = session.info.get("data_generation")
    if transaction is not None and memo is not None and memo[0] is transaction:
        return memo[1]  # read in this same transaction already (read before anything kept under it was computed)
    bind = session.get_bind()
    url = str(bind.url)
    if url not in _present:
        if session.execute(text(_presence_query(bind.dialect.name))).first() is None:
            return None
        _present.add(url)
    rows = session.execute(text("SELECT slot, tag FROM data_generation ORDER BY slot")).all()
    found = (url, *((slot, tag) for slot, tag in rows)) if rows else None
    session.info["data_generation"] = (session.get_transaction(), found)
    return found


class Kept:
    """Values kept per (generation, key), the least recently used dropped beyond `size`, none older than
    `max_age` seconds (a page's "now": days in a stage, a project turning stale, next week's visits, move with the
    clock, not with writes; and a change made behind the application's back, an SQL fix, shows within that time).
    One request computes a missing value while the others asking for the same one wait for it (16 clients meeting a
    new generation would otherwise compute the dashboard 16 times at once); a value only aged past `max_age` is
    still served, for the same generation, while one request computes it anew.
    The key must hold everything the value depends on besides the data: who reads it when visibility matters (a
    manager sees every project: "all"; anyone else: their user id), the language when the value holds text, the
    zone's date when it shows "today" or overdue."""

    def __init__(self, name: str, *, size: int = 256, max_age: float = 60.0) -> None:
        self.name = name
        self.size = size
        self.max_age = max_age
        self._kept: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
        self._computing: dict[tuple, threading.Event] = {}
        self._latest: dict[str, tuple] = {}  # per database (URL), the generation a value was last stored under
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        generation = current(session)  # first: see the module's docstring
        if generation is None:
            return compute()
        full = (generation, key)
        with self._lock:
            found = self._kept.get(full)
            if found is not None:
                self._kept.move_to_end(full)
            fresh = found is not None and time.monotonic() - found[0] < self.max_age
            busy = self._computing.get(full)
            if fresh or (found is not None and busy is not None):
                # fresh; or only aged (same data) while another request computes it anew: no pile-up of recomputes
                self.hits += 1
                return found[1]
            if busy is None:
                self._computing[full] = mine = threading.Event()
        if busy is not None:  # the same value is being computed by another request: wait for it, not compute it again
            busy.wait(timeout=30)
            with self._lock:
                found = self._kept.get(full)
            if found is not None:
                self.hits += 1
                return found[1]
            return compute()  # theirs failed
        self.misses += 1
        try:
            value = compute()
            self.keep(generation, key, value)
            return value
        finally:
            with self._lock:
                self._computing.pop(full, None)
            mine.set()

    def peek(self, generation: tuple, key: Hashable) -> Any:
        """The value kept under (generation, key) and still fresh, or None; computes nothing (for a value kept
        from outside, by `keep`: crm/kept_pages.py)."""
        full = (generation, key)
        with self._lock:
            found = self._kept.get(full)
            if found is None or time.monotonic() - found[0] >= self.max_age:
                self.misses += 1
                return None
            self._kept.move_to_end(full)
            self.hits += 1
            return found[1]

    def keep(self, generation: tuple, key: Hashable, value: Any) -> None:
        """Keeps `value` under (generation, key): `generation` must have been read before the value was computed."""
        full = (generation, key)
        with self._lock:
            if self._latest.get(generation[0], generation) != generation:
                # a new generation of this database: what was kept under the others is dead weight
                for old in [k for k in self._kept if k[0][0] == generation[0] and k[0] != generation]:
                    del self._kept[old]
            self._latest[generation[0]] = generation
            self._kept[full] = (time.monotonic(), value)
            self._kept.move_to_end(full)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


def visibility(user) -> str | int:
    """Whose view of the projects a value is: "all" for managers and admins (projects.service.visible_to lets them
    see every project), the user's id for anyone else."""
    return "all" if user.is_manager else user.id


# A page part kept as HTML: rendered from what every reader of its key sees alike, with the reader's CSRF token put
# in afterwards (the one per-reader value such a part may hold: its forms' hidden field).
CSRF_PLACEHOLDER = "crm-kept-part-csrf-token-placeholder"


def part_context(request) -> dict[str, Any]:
    """What a kept part's template may use besides its own data: the reader's language and the zone's time zone
    (crm.web.base_context without the user, the flashes and the CSRF token)."""
    from crm.i18n import bound_gettext

    locale = getattr(request.state, "locale", "zh_CN")
    gettext, ngettext = bound_gettext(locale)
    settings = request.app.state.settings
    return {"locale": locale, "_": gettext, "ngettext": ngettext, "timezone": settings.timezone,
            "zone_name": settings.zone_name_zh if locale.startswith("zh") else settings.zone_name_en,
            "csrf_token": CSRF_PLACEHOLDER}


def render_part(template_name: str, block: str, context: dict[str, Any]) -> str:
    from jinja2_fragments import render_block

    from crm.web import templates

    return render_block(templates, template_name, block, context)


def with_csrf(html: str, request) -> Any:
    """The kept part's HTML for this reader: their CSRF token where the placeholder stands."""
    from markupsafe import Markup, escape

    return Markup(html.replace(CSRF_PLACEHOLDER, str(escape(getattr(request.state, "csrf_token", "")))))  # noqa: S704
