"""Scheduled work of the imports domain (registered in scheduler/jobs.py)."""

from __future__ import annotations

from crm.imports import service
from crm.scheduling.service import JobContext


def purge_drafts(ctx: JobContext) -> str:
    """imports.purge: uploads nobody committed within a day (and failed ones) are deleted with their kept file."""
    with ctx.database.write_session() as session:
        removed = service.purge_drafts(session, now=ctx.now)
    return f"{removed} old import drafts removed"
