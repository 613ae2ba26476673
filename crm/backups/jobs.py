"""The backups' scheduled job (registered in scheduler/jobs.py)."""

from __future__ import annotations

from crm.backups import service
from crm.scheduling.service import JobContext


def daily(ctx: JobContext) -> str:
    """backups.daily: when the administrator's hour has come and no backup was started since, makes one; a failure
    is recorded on the run, told to the administrators (crm/notifications/rules/backups.py), and raised so the
    scheduler's page shows it too."""
    with ctx.database.write_session() as session:
        if not service.due(session, now=ctx.now, timezone=ctx.settings.timezone):
            session.rollback()
            return "not due"
        run = service.start(session, kind="scheduled", actor=None, now=ctx.now)
    if run is None:
        return "a backup is already running"
    outcome = service.execute(database=ctx.database, settings=ctx.settings, run_id=run.id)
    if not outcome.ok:
        raise RuntimeError(f"backup #{run.id} failed: {outcome.message}")
    return f"backup #{run.id}: {outcome.message}"
