"""Scheduled work of the submissions domain (registered in scheduler/jobs.py)."""

from __future__ import annotations

from crm.scheduling.service import JobContext
from crm.submissions import service


def purge_keys(ctx: JobContext) -> str:
    """submissions.purge: one-time form keys older than a week are deleted."""
    with ctx.database.write_session() as session:
        removed = service.purge(session, now=ctx.now)
    return f"{removed} old form keys removed"
