"""The event webhooks' scheduled jobs (registered in scheduler/jobs.py)."""

from __future__ import annotations

from crm.notifications.service import DeliveryResult
from crm.scheduling.service import JobContext
from crm.webhooks import service


def plan(ctx: JobContext) -> service.PlanResult:
    """webhooks.plan: events since the last pass (the audit trail after its cursor, overdue follow-ups, readiness
    changes) as one delivery per subscription."""
    return service.plan(database=ctx.database, now=ctx.now, timezone=ctx.settings.timezone,
                        threshold=ctx.settings.major_project_threshold_wan_cny)


def deliver(ctx: JobContext) -> DeliveryResult:
    """webhooks.deliver: claims the due event deliveries from the outbox and sends them, signed."""
    return service.deliver(database=ctx.database, settings=ctx.settings, now=ctx.now, worker=ctx.worker)
