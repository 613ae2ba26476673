"""Engine, sessions and the declarative Base shared by every domain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

WRITE_OPTIONS = {"sqlite_begin": "BEGIN IMMEDIATE"}


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


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False},
                               pool_size=pool_size, max_overflow=max_overflow)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


SQLITE_MMAP_BYTES = 256 * 1024 * 1024


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Read the file through the OS page cache instead of copying pages into each connection's 2 MB cache:
        # on a multi-gigabyte database the busiest timeline query went from 11 to 4 ms (docs/performance.md).
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A deferred transaction that later writes fails at once with "database is locked"
        # when another writer holds the lock; write sessions therefore begin IMMEDIATE.
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


class Database:
    """One engine and its two session factories: read (deferred) and write (immediate)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        # Route handlers run in the thread pool (up to 40 threads); SQLite connections are cheap, so the pool
        # covers them all. PostgreSQL keeps a smaller pool per worker; handlers wait for a connection in their thread.
        sqlite = url.startswith("sqlite")
        self.engine = make_engine(url, echo=echo, pool_size=20 if sqlite else 10, max_overflow=20 if sqlite else 10)
        # Code that runs on the event loop itself (the session lookup in SessionMiddleware) must never wait for a
        # connection held by a handler: while the loop waits, no handler can finish and give one back. It gets an
        # engine of its own; one connection suffices, as the loop runs that code one request at a time.
        self.loop_engine = make_engine(url, echo=echo, pool_size=1, max_overflow=0)
        self.read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = sessionmaker(
            self.engine, expire_on_commit=False, execution_options=WRITE_OPTIONS
        )

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


UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


async def get_session(request: Request):
    # An async generator dependency: creating a Session does no I/O, so it needs no
    # thread-pool hand-off. State-changing requests get a write session.
    database: Database = request.app.state.database
    factory = database.write_sessions if request.method in UNSAFE_METHODS else database.read_sessions
    session = factory()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]

# A record id in a URL path: anything else (letters, 0, beyond the INTEGER range) is an unknown record, a 404.
RecordId = Annotated[int, Path(ge=1, le=2_147_483_647)]
