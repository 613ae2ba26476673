"""Scheduled work of the audit trail (registered in scheduler/jobs.py)."""

from __future__ import annotations

from crm.audit import chain
from crm.scheduling.service import JobContext


def seal(ctx: JobContext) -> str:
    """audit.seal: entries written since the last run take their place in the hash chain. The result names the
    chain's head, so the scheduler's record of runs (and its log) witnesses it outside the audit table."""
    count = chain.seal(ctx.database.write_session, now=ctx.now)
    with ctx.database.read_sessions() as session:
        seq, head = chain.head(session)
    return f"{count} entries sealed; head seq {seq} hash {head[:16]}"


def archive(ctx: JobContext) -> str:
    """audit.archive: entries older than CRM_AUDIT_RETENTION_DAYS are moved to a file with the chain's hash at the
    cut (never dropped)."""
    done = chain.archive(ctx.database.write_session, data_dir=ctx.settings.data_dir,
                         retention_days=ctx.settings.audit_retention_days, now=ctx.now)
    if done is None:
        return "nothing to archive"
    return f"{done.entries} entries archived to {done.file.name}"
