"""The one wrapper every scheduled job runs in: it gives the job the database, the settings and the time, logs,
and records the run in `scheduler_job` (last run, next run, last error) for the admin page. A job that fails is
logged and recorded; the scheduler goes on with the next run."""

from __future__ import annotations

import logging
import os
import socket
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm.config import Settings
from crm.db import Database, retry_when_busy, utcnow
from crm.scheduling.models import SchedulerJob

log = logging.getLogger("crm.scheduler")
WORKER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class JobContext:
    database: Database
    settings: Settings
    now: datetime  # when the run started (UTC); jobs treat it as "now"
    worker: str = WORKER


def run_job(name: str, func: Callable[[JobContext], object], *, database: Database, settings: Settings,
            trigger: str = "", next_run_at: datetime | None = None) -> bool:
    """Runs `func` once and records the run; False when it raised (logged, not re-raised)."""
    started = utcnow()
    clock = time_module.monotonic()
    ok, result, error = True, "", ""
    try:
        # Users' saves come first: a job that met a busy database runs again within this pass (jobs are idempotent).
        result = str(retry_when_busy(lambda: func(JobContext(database=database, settings=settings, now=started)))
                     or "")
        log.info("%s: %s (%.2f s)", name, result, time_module.monotonic() - clock)
    except Exception as exc:  # recorded for the admin page; the scheduler carries on
        ok, error = False, f"{type(exc).__name__}: {exc}"
        log.exception("%s failed", name)
    try:
        def record() -> None:
            with database.write_session() as session:
                record_run(session, name=name, trigger=trigger, started=started, finished=utcnow(), ok=ok,
                           result=result, error=error, next_run_at=next_run_at)

        retry_when_busy(record)
    except Exception:  # the database is down: the log has it
        log.exception("could not record the run of %s", name)
    return ok


def _job_row(session: Session, name: str) -> SchedulerJob:
    """The job's row, created if absent (INSERT … ON CONFLICT DO NOTHING: two schedulers starting together on a
    fresh database both reach here, and a plain INSERT made the second fail on the primary key), then read locked
    until commit (PostgreSQL: FOR UPDATE; SQLite: the write session's BEGIN IMMEDIATE already)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(SchedulerJob).values(name=name, trigger="", last_result="", last_error="", runs=0,
                                                failures=0, host="").on_conflict_do_nothing())
    return session.scalars(select(SchedulerJob).where(SchedulerJob.name == name)
                           .with_for_update().execution_options(populate_existing=True)).one()


def record_run(session: Session, *, name: str, trigger: str, started: datetime, finished: datetime, ok: bool,
               result: str, error: str, next_run_at: datetime | None) -> None:
    job = _job_row(session, name)
    job.trigger = trigger[:120] or job.trigger
    job.last_started_at, job.last_finished_at, job.host = started, finished, WORKER[:120]
    job.runs = (job.runs or 0) + 1
    job.next_run_at = next_run_at
    if ok:
        job.last_result = result[:200]
    else:
        job.failures = (job.failures or 0) + 1
        job.last_error, job.last_error_at = error[:4000], finished
    session.commit()


def set_next_run(session: Session, *, name: str, trigger: str, next_run_at: datetime | None) -> None:
    job = _job_row(session, name)
    job.trigger, job.next_run_at = trigger[:120], next_run_at
    session.commit()


def jobs(session: Session) -> list[SchedulerJob]:
    return list(session.scalars(select(SchedulerJob).order_by(SchedulerJob.name)))
