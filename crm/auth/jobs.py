"""Scheduled work of the auth domain (registered in scheduler/jobs.py)."""

from __future__ import annotations

from crm.auth import service
from crm.scheduling.service import JobContext


def purge_sessions(ctx: JobContext) -> str:
    """sessions.purge: sign-in sessions idle past their limit are deleted."""
    with ctx.database.write_session() as session:
        removed = service.purge_expired_sessions(session, settings=ctx.settings)
    return f"{removed} expired sessions removed"
