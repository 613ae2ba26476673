"""`crm audit verify|archive|seal`: the shell side of the audit trail's hash chain (crm/audit/chain.py)."""

from __future__ import annotations

from crm.audit import chain
from crm.config import Settings
from crm.db import Database


def verify(settings: Settings, database: Database, *, seal: bool = True) -> int:
    """Seals what is committed, then checks every link: 0 when intact, 1 with the first broken link."""
    if seal:
        chain.seal(database.write_session, delay=chain.timedelta(0))
    with database.read_sessions() as session:
        result = chain.verify(session, data_dir=settings.data_dir)
    if result.broken is not None:
        where = f"entry {result.broken.entry_id}" if result.broken.entry_id is not None else "archive"
        print(f"BROKEN: audit trail broken at {where} (chain seq {result.broken.seq}): {result.broken.problem}")
        print(f"{result.checked} entries checked before it")
        return 1
    print(f"intact: {result.checked} entries ({result.archived} of them archived in {result.files} files); "
          f"head seq {result.head_seq} hash {result.head_hash}"
          + (f"; {result.unsealed} not yet sealed" if result.unsealed else ""))
    return 0


def archive(settings: Settings, database: Database) -> int:
    done = chain.archive(database.write_session, data_dir=settings.data_dir,
                         retention_days=settings.audit_retention_days)
    if done is None:
        print(f"nothing to archive (entries are kept {settings.audit_retention_days} days)")
    else:
        print(f"archived {done.entries} entries (chain seq {done.first_seq}–{done.through_seq}) to {done.file}")
    return 0


def seal(database: Database) -> int:
    print(f"sealed {chain.seal(database.write_session, delay=chain.timedelta(0))} entries")
    return 0
