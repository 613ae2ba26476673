"""An import's commit and undo, run off the request.

Why: on SQLite a server worker answers one request at a time, and a 50,000-row commit takes a minute or two; run
inside its request, every other request routed to that worker would wait for it. So the request only claims the
batch (status committing/undoing, a conditional UPDATE: a double click or a second tab finds it claimed and is
shown its progress), checks it (reads), hands it to a thread of this process and answers at once with the batch's
page, which shows the rows written so far and polls itself until the result (crm/imports/routes.py `show`).

The thread has its own session; each chunk is its own short write transaction inside the thread, as the
write-path rule asks (docs/architecture.md). The batch row, not the thread, is the truth: the chunk transactions
also record the rows done and a heartbeat, and the row names the process running it (service.worker_id). A
process stopped mid-commit leaves its batch committing; the next start of the app takes back what it wrote and
marks it failed (`recover_interrupted`, from the lifespan in crm/main.py) — only batches whose process is gone.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from crm.auth.models import User
from crm.db import Database
from crm.imports import service

log = logging.getLogger("crm.imports")

THREADS = 2  # batches written at once by one process; more wait their turn (their page says "being written")


def _commit_job(database: Database, batch_id: int, user_id: int, preview: service.Preview, locale: str,
                today: Any) -> None:
    try:
        with database.write_session() as session:
            user = session.get(User, user_id)
            service.write_claimed(session, batch_id=batch_id, user=user, preview=preview, locale=locale, today=today,
                                  pause=service.SQLITE_CHUNK_PAUSE if database.is_sqlite else 0.0)
    except service.CommitFailed:
        pass  # the batch says why; what it wrote was taken back
    except Exception:
        log.exception("import %s: the commit's thread failed", batch_id)


def _undo_job(database: Database, batch_id: int, user_id: int, locale: str) -> None:
    try:
        with database.write_session() as session:
            service.undo_claimed(session, batch_id=batch_id, actor=session.get(User, user_id), locale=locale)
    except service.UndoRefused:
        pass  # the batch is committed again, with the reason
    except Exception:
        log.exception("import %s: the undo's thread failed", batch_id)


class Runner:
    """The threads, and which batches this process is running now."""

    def __init__(self, threads: int = THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="import")
        self._running: dict[int, Future] = {}
        self._lock = threading.Lock()

    def _submit(self, batch_id: int, function, *args) -> Future:
        future = self._pool.submit(function, *args)
        with self._lock:
            self._running[batch_id] = future
        future.add_done_callback(lambda _f: self._forget(batch_id, future))
        return future

    def _forget(self, batch_id: int, future: Future) -> None:
        with self._lock:
            if self._running.get(batch_id) is future:
                del self._running[batch_id]

    def commit(self, *, database: Database, batch_id: int, user_id: int, preview: service.Preview, locale: str,
               today: Any) -> Future:
        return self._submit(batch_id, _commit_job, database, batch_id, user_id, preview, locale, today)

    def undo(self, *, database: Database, batch_id: int, user_id: int, locale: str) -> Future:
        return self._submit(batch_id, _undo_job, database, batch_id, user_id, locale)

    def wait(self, batch_id: int, timeout: float | None = None) -> None:
        """Until this process's work on the batch is over (tests, the CLI); at once when there is none."""
        with self._lock:
            future = self._running.get(batch_id)
        if future is not None:
            future.result(timeout=timeout)


_shared: Runner | None = None
_shared_lock = threading.Lock()


def shared() -> Runner:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Runner()
        return _shared


def recover_interrupted(database: Database) -> int:
    """At start-up: batches a process that is gone left committing or undoing are taken back and marked failed
    (service.recover_interrupted). A database not yet migrated is left alone (logged)."""
    try:
        with database.write_session() as session:
            count = service.recover_interrupted(session)
    except Exception as error:  # the app still starts
        log.warning("could not recover interrupted imports: %s", error)
        return 0
    if count:
        log.info("%s import(s) interrupted by a stopped process recovered", count)
    return count
