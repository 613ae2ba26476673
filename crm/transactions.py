"""The write path's one rule: a write transaction begins and ends inside one uninterrupted step.

A state-changing request runs in steps. FastAPI resolves its sync dependencies (the loaders: `task_by_id`, …)
each in a thread-pool hand-off of its own, then the handler in another; between steps the request waits for a
thread. SQLite has one write lock: a transaction that holds it across such a wait stalls every other writer
(with one thread per worker, the waiting writer even holds the thread the holder needs: every save at once stalls
for the whole busy timeout). So a request's write session works like this:

- **loading** (the dependencies): plain deferred transactions, which only read and take no lock in WAL mode;
- **handler**: the read transaction is ended before the handler runs (the loaded records stay as they were read;
  every editable record is versioned, so a save on a copy someone changed since is refused as an edit conflict),
  and the handler's own transaction begins IMMEDIATE, taking the write lock in the handler's step;
- **after** the handler returns, or as soon as it renders a page: whatever it left open is ended in its step, and
  later reads are deferred again.

`WriteStepRoute`, the route class of every router, wraps each endpoint so this happens in the endpoint's own thread
step. A transaction that wrote and is still open where a step ends (a loader that wrote, a handler that did not
commit, a render with unsaved writes) breaks the rule: it is rolled back and logged, and in tests (strict mode) it
raises `WriteLeftOpen`, so the test that reaches it fails.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("crm.transactions")

LOADING, HANDLER, AFTER = "loading", "handler", "after"
PHASE = "write_phase"
STRICT = "strict_transactions"

# The state-changing request's write session, for the steps that are not given it (the route wrapper, render()).
current_write_session: ContextVar[Session | None] = ContextVar("current_write_session", default=None)


class WriteLeftOpen(RuntimeError):
    """A write transaction was still open where its step ended (strict mode only; otherwise logged)."""


def install(factory: sessionmaker) -> None:
    """Makes `factory`'s sessions begin each transaction by the step they are in (SQLite: BEGIN or BEGIN IMMEDIATE;
    PostgreSQL begins by itself and needs no lock to be taken up front)."""

    @event.listens_for(factory, "after_begin")
    def _begin_by_phase(session: Session, _transaction, connection) -> None:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE" if session.info.get(PHASE) == HANDLER else "BEGIN")


def new_request_session(factory: sessionmaker, *, strict: bool) -> Session:
    session = factory()
    session.info[PHASE] = LOADING
    session.info[STRICT] = strict
    return session


def _has_written(session: Session) -> bool:
    return session.in_transaction() and bool(session.connection().info.get("wrote"))


def _end_open_transaction(session: Session, *, where: str, keep_writes_open: bool = False) -> None:
    """Ends the session's transaction in this step: committed when it only read (the loaded records stay loaded),
    rolled back, and reported, when it holds writes nobody committed. `keep_writes_open` (a render): outside strict
    mode such writes are only reported here, and rolled back when the step ends, so the page still renders from
    the records as they are loaded."""
    if not session.in_transaction():
        return
    if _has_written(session):
        message = f"a write transaction was left open {where} (docs/architecture.md, 'The write path')"
        if session.info.get(STRICT):
            session.rollback()
            raise WriteLeftOpen(message)
        log.error(message)
        if not keep_writes_open:
            session.rollback()
        return
    session.commit()


def enter_handler(session: Session) -> None:
    _end_open_transaction(session, where="by a dependency (loaders only read)")
    session.info[PHASE] = HANDLER


def leave_handler(session: Session) -> None:
    try:
        _end_open_transaction(session, where="when the handler returned")
    finally:
        session.info[PHASE] = AFTER


def before_render() -> None:
    """Called by crm.web.render(): a page is never rendered while the request holds the write lock."""
    session = current_write_session.get()
    if session is None or session.info.get(PHASE) != HANDLER:
        return
    if session.in_transaction():
        if _has_written(session):
            _end_open_transaction(session, where="while rendering a page", keep_writes_open=True)
            return  # not strict: the step's end rolls it back
        session.commit()
    session.info[PHASE] = AFTER  # what the page still reads, it reads without the write lock


def in_one_step(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, run as one write step: what its loaders left open ends first, what it leaves open ends last,
    both in the endpoint's own thread step."""
    if getattr(endpoint, "_in_one_step", False):
        return endpoint

    @functools.wraps(endpoint)
    def step(*args: Any, **kwargs: Any) -> Any:
        session = current_write_session.get()
        if session is None:
            return endpoint(*args, **kwargs)
        enter_handler(session)
        try:
            response = endpoint(*args, **kwargs)
        except BaseException:
            if session.in_transaction():
                session.rollback()
            session.info[PHASE] = AFTER
            raise
        leave_handler(session)
        return response

    step._in_one_step = True  # type: ignore[attr-defined]
    return step


class WriteStepRoute(APIRoute):
    """The route class of every router (crm.web.Router): each endpoint runs as one write step."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not _is_async(endpoint):
            endpoint = in_one_step(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(inspect.unwrap(func)) or inspect.isasyncgenfunction(inspect.unwrap(func))
