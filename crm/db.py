"""Engine, sessions and the declarative Base shared by every domain."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Request
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from crm import transactions

log = logging.getLogger("crm.db")
T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

WRITE_OPTIONS = {"sqlite_begin": "BEGIN IMMEDIATE"}
# A request's write session begins each transaction itself, by the step it is in (crm/transactions.py).
REQUEST_WRITE_OPTIONS = {"sqlite_begin": ""}
# How long a statement waits for another transaction's lock before the database gives up: SQLite's busy timeout,
# PostgreSQL's lock_timeout. Every write transaction is one short step (docs/architecture.md, "The write path"),
# so a wait this long means the database is overloaded, and the request is answered 503 rather than left hanging.
DEFAULT_BUSY_TIMEOUT_MS = 3000
# Bookkeeping (a session's last-seen time) is worth a short wait at most: when the database is busy it is skipped.
BOOKKEEPING_BUSY_TIMEOUT_MS = 50


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite hands back naive values, so they are re-tagged."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 10,
                busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False},
                               pool_size=pool_size, max_overflow=max_overflow)
        _configure_sqlite(engine, busy_timeout_ms)
        _track_writes(engine)
        return engine
    engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow,
                           connect_args={"options": f"-c lock_timeout={int(busy_timeout_ms)}"})
    _track_writes(engine)
    return engine


# SQLSTATEs of a PostgreSQL transaction that lost a wait: lock_not_available (lock_timeout), serialization_failure,
# deadlock_detected. None of them wrote anything; trying again later may succeed.
_PG_BUSY_STATES = {"55P03", "40001", "40P01"}


def is_busy(error: BaseException) -> bool:
    """Whether `error` says the database stayed busy past its bound (not that the statement was wrong)."""
    if not isinstance(error, DBAPIError):
        return False
    original = error.orig
    if getattr(original, "sqlstate", None) in _PG_BUSY_STATES:
        return True
    message = str(original).lower()
    return "database is locked" in message or "database is busy" in message or "database table is locked" in message


def retry_when_busy(func: Callable[[], T], *, attempts: int = 5, first_wait_seconds: float = 0.2) -> T:
    """`func()`, tried again (after 0.2, 0.4, 0.8 … s) while the database answers busy: for the scheduler's jobs,
    whose work is idempotent and has no user waiting for it. Any other error, or the last busy one, is raised."""
    for attempt in range(attempts):
        try:
            return func()
        except DBAPIError as error:
            if not is_busy(error) or attempt == attempts - 1:
                raise
            log.info("database busy (%s); trying again", error.orig)
            time.sleep(first_wait_seconds * 2**attempt)
    raise AssertionError("unreachable")


_WRITE_VERBS = ("insert", "update", "delete", "replace", "upsert")


def _track_writes(engine: Engine) -> None:
    """Marks a connection whose open transaction has written (connection.info["wrote"]), for the write path's
    checks (crm/transactions.py): a transaction that wrote must be committed or rolled back by its own step.
    A transaction that wrote what a page may show (connection.info["bumps"]) changes the data generation as its
    last statement before the commit (crm/generation.py)."""
    from crm import generation

    @event.listens_for(engine, "before_cursor_execute")
    def _note_write(connection, _cursor, statement, _parameters, _context, _executemany):
        if statement.lstrip()[:7].lower().startswith(_WRITE_VERBS):
            connection.info["wrote"] = True
            if "bumps" not in connection.info and generation.bumps(statement.lstrip()):
                connection.info["bumps"] = True

    @event.listens_for(engine, "commit")
    def _commit(connection):
        # fires before the DBAPI commit: the bump is part of the transaction it marks
        connection.info.pop("wrote", None)
        if connection.info.pop("bumps", None):
            generation.bump(connection)

    @event.listens_for(engine, "rollback")
    def _clear(connection):
        connection.info.pop("wrote", None)
        connection.info.pop("bumps", None)


SQLITE_MMAP_BYTES = 256 * 1024 * 1024


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Read the file through the OS page cache instead of copying pages into each connection's 2 MB cache:
        # on a multi-gigabyte database the busiest timeline query went from 11 to 4 ms (docs/performance.md).
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A deferred transaction that later writes fails at once with "database is locked"
        # when another writer holds the lock; write sessions therefore begin IMMEDIATE. A request's write session
        # ("") says BEGIN itself, by its step (crm/transactions.py).
        begin = connection.get_execution_options().get("sqlite_begin", "BEGIN")
        if begin:
            connection.exec_driver_sql(begin)


class Database:
    """One engine and its two session factories: read (deferred) and write (immediate)."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        # Route handlers run in the thread pool (up to 40 threads); SQLite connections are cheap, so the pool
        # covers them all. PostgreSQL keeps a smaller pool per worker; handlers wait for a connection in their thread.
        sqlite = url.startswith("sqlite")
        self.engine = make_engine(url, echo=echo, pool_size=20 if sqlite else 10, max_overflow=20 if sqlite else 10,
                                  busy_timeout_ms=busy_timeout_ms)
        # Code that runs on the event loop itself (the session lookup, crm/front.py) must never wait for a
        # connection held by a handler: while the loop waits, no handler can finish and give one back. It gets an
        # engine of its own; one connection suffices, as the loop runs that code one request at a time.
        self.loop_engine = make_engine(url, echo=echo, pool_size=1, max_overflow=0, busy_timeout_ms=busy_timeout_ms)
        # Best-effort bookkeeping writes wait briefly for the lock, then give up (bookkeeping_sessions).
        self.bookkeeping_engine = make_engine(url, echo=echo, pool_size=1, max_overflow=4,
                                              busy_timeout_ms=min(busy_timeout_ms, BOOKKEEPING_BUSY_TIMEOUT_MS))
        self.bookkeeping_sessions = sessionmaker(
            self.bookkeeping_engine, expire_on_commit=False, execution_options=WRITE_OPTIONS)
        self.read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = sessionmaker(
            self.engine, expire_on_commit=False, execution_options=WRITE_OPTIONS
        )
        # A state-changing request's session: its loaders read, its handler writes, each step's transaction ends
        # with the step (crm/transactions.py).
        self.request_write_sessions = sessionmaker(
            self.engine, expire_on_commit=False, execution_options=REQUEST_WRITE_OPTIONS
        )
        transactions.install(self.request_write_sessions)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """For the CLI and jobs: a write session that rolls back on error."""
        with self.write_sessions() as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
        self.loop_engine.dispose()
        self.bookkeeping_engine.dispose()


UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


async def get_session(request: Request):
    # An async generator dependency: creating a Session does no I/O, so it needs no
    # thread-pool hand-off. State-changing requests get a write session, run in steps (crm/transactions.py).
    database: Database = request.app.state.database
    if request.method not in UNSAFE_METHODS:
        with database.read_sessions() as session:
            yield session
        return
    session = transactions.new_request_session(database.request_write_sessions,
                                               strict=getattr(request.app.state, "strict_transactions", False))
    transactions.current_write_session.set(session)
    try:
        yield session
    finally:
        transactions.current_write_session.set(None)
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]

# A record id in a URL path: anything else (letters, 0, beyond the INTEGER range) is an unknown record, a 404.
RecordId = Annotated[int, Path(ge=1, le=2_147_483_647)]
