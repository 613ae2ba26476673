"""The explicit list of scheduled jobs: name, function, trigger. A job not listed here does not run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crm.audit import jobs as audit_jobs
from crm.auth import jobs as auth_jobs
from crm.backups import jobs as backup_jobs
from crm.config import Settings
from crm.imports import jobs as import_jobs
from crm.notifications import jobs as notification_jobs
from crm.scheduling.service import JobContext
from crm.submissions import jobs as submission_jobs
from crm.webhooks import jobs as webhook_jobs


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[JobContext], object]
    trigger: Callable[[Settings, ZoneInfo], BaseTrigger]
    describe: Callable[[Settings], str]
    at_start: bool = False  # also run as soon as the scheduler starts (catching up after downtime)


JOBS: tuple[Job, ...] = (
    Job("reminders.plan", notification_jobs.plan,
        lambda s, zone: IntervalTrigger(seconds=s.scheduler_plan_seconds, timezone=zone),
        lambda s: f"every {s.scheduler_plan_seconds} s", at_start=True),
    Job("reminders.deliver", notification_jobs.deliver,
        lambda s, zone: IntervalTrigger(seconds=s.scheduler_deliver_seconds, timezone=zone),
        lambda s: f"every {s.scheduler_deliver_seconds} s", at_start=True),
    Job("sessions.purge", auth_jobs.purge_sessions,
        lambda s, zone: CronTrigger(hour=3, minute=17, timezone=zone),
        lambda s: "daily at 03:17"),
    Job("submissions.purge", submission_jobs.purge_keys,
        lambda s, zone: CronTrigger(hour=3, minute=27, timezone=zone),
        lambda s: "daily at 03:27"),
    Job("imports.purge", import_jobs.purge_drafts,
        lambda s, zone: CronTrigger(hour=3, minute=32, timezone=zone),
        lambda s: "daily at 03:32"),
    Job("audit.seal", audit_jobs.seal,
        lambda s, zone: IntervalTrigger(seconds=60, timezone=zone),
        lambda s: "every 60 s", at_start=True),
    Job("audit.archive", audit_jobs.archive,
        lambda s, zone: CronTrigger(hour=3, minute=37, timezone=zone),
        lambda s: "daily at 03:37"),
    # Hourly, and at start (catching up): it backs up once a day, when the hour the administrator set has come.
    Job("backups.daily", backup_jobs.daily,
        lambda s, zone: CronTrigger(minute=5, timezone=zone),
        lambda s: "hourly at :05 (backs up once a day, at the hour set on /admin/backups)", at_start=True),
    # Event webhooks: events found (sealing the audit trail first) and sent as often as reminders are delivered.
    Job("webhooks.plan", webhook_jobs.plan,
        lambda s, zone: IntervalTrigger(seconds=s.scheduler_deliver_seconds, timezone=zone),
        lambda s: f"every {s.scheduler_deliver_seconds} s", at_start=True),
    Job("webhooks.deliver", webhook_jobs.deliver,
        lambda s, zone: IntervalTrigger(seconds=s.scheduler_deliver_seconds, timezone=zone),
        lambda s: f"every {s.scheduler_deliver_seconds} s", at_start=True),
)
