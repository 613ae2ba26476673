"""Builds the APScheduler scheduler from scheduler/jobs.py, or runs every job once.

- `coalesce=True`: runs missed while the process was busy or suspended are run once, not once per missed run.
- `misfire_grace_time=None`: a late run is never skipped, however late (a daily purge due at 03:17 while the
  machine slept still runs when it wakes).
- `max_instances=1`: a job still running when its next run comes is not started twice in this process.
- One worker thread: jobs run one after the other, in the order listed when due together (at start: plan, then
  deliver), and never compete with each other for SQLite's write lock.
- Interval jobs also run at start. Downtime itself is not APScheduler's business: its job store is memory, and
  what fell due while the scheduler was stopped is found from the watermarks in the database
  (`reminder_rule.planned_until`) on the first pass after it starts again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.util import undefined

from crm.config import Settings
from crm.db import Database, retry_when_busy
from crm.scheduling.service import run_job, set_next_run
from scheduler.jobs import JOBS, Job

log = logging.getLogger("crm.scheduler")
JOB_DEFAULTS = {"coalesce": True, "misfire_grace_time": None, "max_instances": 1}
OVERLAP_MESSAGES = ("maximum number of running instances reached", "was missed by")


class HarmlessOverlap(logging.Filter):
    """APScheduler logs a WARNING when a job's time comes while its last run is still going (max_instances=1) or
    a run came late: expected here and harmless (the run is skipped or coalesced; the next one does the work,
    jobs are idempotent). Said plainly instead, as one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if record.levelno == logging.WARNING and any(part in message for part in OVERLAP_MESSAGES):
            job = record.args[0] if isinstance(record.args, tuple) and record.args else None
            log.info("%s: still running from its last time, or late; this run is skipped (harmless)",
                     getattr(job, "id", None) or getattr(job, "name", None) or "a job")
            return False
        return True


def quiet_overlaps() -> None:
    """Installs HarmlessOverlap on the loggers APScheduler writes those warnings to (once)."""
    for name in ("apscheduler.scheduler", "apscheduler.executors.default"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, HarmlessOverlap) for f in logger.filters):
            logger.addFilter(HarmlessOverlap())


def _next_run(job: Job, settings: Settings, zone: ZoneInfo) -> datetime | None:
    now = datetime.now(zone)
    return job.trigger(settings, zone).get_next_fire_time(None, now)


def _run(job: Job, database: Database, settings: Settings) -> None:
    zone = ZoneInfo(settings.timezone)
    run_job(job.name, job.func, database=database, settings=settings, trigger=job.describe(settings),
            next_run_at=_next_run(job, settings, zone))


def build(settings: Settings, database: Database, *, background: bool) -> BaseScheduler:
    quiet_overlaps()
    zone = ZoneInfo(settings.timezone)
    scheduler: BaseScheduler = (BackgroundScheduler if background else BlockingScheduler)(
        timezone=zone, job_defaults=JOB_DEFAULTS, executors={"default": ThreadPoolExecutor(max_workers=1)})
    now = datetime.now(zone)
    for job in JOBS:
        scheduler.add_job(_run, trigger=job.trigger(settings, zone), args=[job, database, settings], id=job.name,
                          name=job.name, next_run_time=now if job.at_start else undefined)
    return scheduler


def announce(settings: Settings, database: Database) -> None:
    """Records each job's trigger and next run for the admin page before the first run."""
    zone = ZoneInfo(settings.timezone)
    try:
        for job in JOBS:
            def record(job: Job = job) -> None:
                with database.write_session() as session:
                    set_next_run(session, name=job.name, trigger=job.describe(settings),
                                 next_run_at=datetime.now(zone) if job.at_start else _next_run(job, settings, zone))

            retry_when_busy(record)
    except Exception:  # the scheduler still starts; the page just lacks the next runs
        log.exception("could not record the jobs' next runs")


def run_once(settings: Settings, database: Database) -> bool:
    """One run of every job, in the listed order (`--once`); True when none failed."""
    ok = True
    for job in JOBS:
        ok = run_job(job.name, job.func, database=database, settings=settings, trigger=job.describe(settings),
                     next_run_at=None) and ok
    return ok
