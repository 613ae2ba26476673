"""The reminders' scheduled jobs (registered in scheduler/jobs.py)."""

from __future__ import annotations

from crm.notifications import service
from crm.scheduling.service import JobContext


def plan(ctx: JobContext) -> service.PlanResult:
    """reminders.plan: what fell due since the last pass, as outbox rows (and the daily digests at their time)."""
    return service.plan(database=ctx.database, now=ctx.now, timezone=ctx.settings.timezone,
                        threshold=ctx.settings.major_project_threshold_wan_cny)


def deliver(ctx: JobContext) -> service.DeliveryResult:
    """reminders.deliver: claims the due outbox rows and delivers them."""
    return service.deliver(database=ctx.database, settings=ctx.settings, now=ctx.now, worker=ctx.worker,
                           batch=ctx.settings.reminder_claim_batch)
