"""The audit trail's hash chain, its verification and its archive (issue 13, 安全审计).

Entries are written by the request that made the change, in its own transaction, with no hash (the request path
pays nothing and takes no lock). A separate step, `seal`, gives them their place in the chain: under one lock (a
PostgreSQL advisory lock; on SQLite the write session's BEGIN IMMEDIATE) it reads the chain's last (seq, hash),
takes the committed entries not yet sealed, oldest id first, and sets `chain_seq` = the next number and
`chain_hash` = sha256(previous hash + canonical serialisation of the entry's fields).

Why sealing and not hashing at insert: two transactions inserting at once would both read the same predecessor
(or one would have to hold a lock across the rest of its transaction, serialising every save of the CRM behind the
audit table); and an id the sequence gave to a transaction that rolled back would leave a hole indistinguishable
from a deleted entry. The sealer sees only committed rows, so the sequence it hands out has no holes and one
predecessor each; an entry committed late (a long transaction) is simply sealed later. `chain_seq` is unique, so
even two sealers without the lock could not fork the chain. Entries are sealed by the scheduler every minute
(`audit.seal`), and before every `crm audit verify`, archive and export of the trail.

`verify` walks the archive files, then the table, by `chain_seq`: a changed field breaks that entry's hash, a
deleted entry leaves a gap in the numbers, a rewritten hash breaks the next entry's link.

`archive` moves sealed entries older than the retention (at least 180 days) to a gzip JSON-lines file under
`<data dir>/archive/audit/`, records the cut (last seq, last hash, the file's sha256) in `audit_archive`, and only
then deletes them, in the same transaction; `verify` continues from the cut.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from crm.audit.models import AuditArchive, AuditEntry

GENESIS = "0" * 64  # the "previous hash" of the first entry
SEAL_DELAY = timedelta(seconds=5)  # the scheduler seals entries at least this old (verify and export: all)
SEAL_BATCH = 2000
MIN_RETENTION_DAYS = 180  # 《网络安全法》第二十一条: logs kept no less than six months
_CHAIN_LOCK = 0x61756469  # pg_advisory_xact_lock key ("audi"): one sealer or archiver at a time
FIELDS = ("id", "at", "actor_id", "action", "entity_type", "entity_id", "entity_label", "entity_version",
          "organization_id", "changes", "outcome", "client_address", "channel", "chain_seq")


def fields_of(entry: AuditEntry) -> dict[str, Any]:
    """The entry's hashed fields as JSON values (what an archive line holds, with its hash)."""
    values = {name: getattr(entry, name) for name in FIELDS}
    values["at"] = entry.at.astimezone(UTC).isoformat(timespec="microseconds")
    values["changes"] = entry.changes or {}
    return values


def canonical(values: dict[str, Any]) -> str:
    return json.dumps([values.get(name) for name in FIELDS], ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"), default=str)


def link_hash(previous: str, values: dict[str, Any]) -> str:
    return hashlib.sha256((previous + "\n" + canonical(values)).encode()).hexdigest()


def _lock(session: Session) -> None:
    """One sealer/archiver at a time. SQLite: the write session's BEGIN IMMEDIATE already holds the database's write
    lock. PostgreSQL: an advisory lock held until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})


def head(session: Session) -> tuple[int, str]:
    """The chain's last (seq, hash): the newest sealed entry, else the last archive's cut, else the start."""
    row = session.execute(select(AuditEntry.chain_seq, AuditEntry.chain_hash).where(AuditEntry.chain_seq.is_not(None))
                          .order_by(AuditEntry.chain_seq.desc()).limit(1)).first()
    if row is not None:
        return row[0], row[1]
    cut = session.execute(select(AuditArchive.through_seq, AuditArchive.last_hash)
                          .order_by(AuditArchive.through_seq.desc()).limit(1)).first()
    return (cut[0], cut[1]) if cut is not None else (0, GENESIS)


def seal(session_factory, *, now: datetime | None = None, delay: timedelta = SEAL_DELAY,
         batch: int = SEAL_BATCH) -> int:
    """Seals every committed entry older than `delay` (zero: all), in batches of one transaction each, each under the
    chain's lock. `session_factory()` gives a write session (Database.write_session). Returns how many."""
    sealed = 0
    while True:
        with session_factory() as session:
            _lock(session)
            cutoff = (now or datetime.now(UTC)) - delay
            entries = list(session.scalars(
                select(AuditEntry).where(AuditEntry.chain_seq.is_(None), AuditEntry.at <= cutoff)
                .order_by(AuditEntry.id).limit(batch)))
            if not entries:
                session.rollback()
                return sealed
            seq, previous = head(session)
            rows = []
            for entry in entries:
                seq += 1
                values = fields_of(entry)
                values["chain_seq"] = seq
                previous = link_hash(previous, values)
                rows.append({"id": entry.id, "chain_seq": seq, "chain_hash": previous})
            session.expunge_all()
            session.execute(update(AuditEntry), rows)
            session.commit()
            sealed += len(rows)
            if len(entries) < batch:
                return sealed


@dataclass
class Broken:
    entry_id: int | None
    seq: int | None
    problem: str  # what differs, in English (an operator's message)


@dataclass
class Verification:
    checked: int = 0  # entries whose link was checked (archived ones included)
    archived: int = 0
    files: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    unsealed: int = 0
    broken: Broken | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None


def archive_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "archive" / "audit"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _archived_lines(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _check(result: Verification, values: dict[str, Any], stored_hash: str | None) -> bool:
    """Checks one link against result's head; advances the head. False (and result.broken set) on a break."""
    seq, entry_id = values.get("chain_seq"), values.get("id")
    if seq != result.head_seq + 1:
        gap = f"{result.head_seq + 1}–{seq - 1}" if isinstance(seq, int) and seq > result.head_seq + 1 else ""
        result.broken = Broken(entry_id, seq, f"entries missing from the chain before this one (expected seq "
                                               f"{result.head_seq + 1}, found {seq}{'; missing ' + gap if gap else ''})")
        return False
    computed = link_hash(result.head_hash, values)
    if computed != stored_hash:
        result.broken = Broken(entry_id, seq, (
            "the entry's fields or its hash were changed after it was sealed: stored hash "
            f"{stored_hash}, computed from its fields and the previous entry's hash {computed}"))
        return False
    result.checked += 1
    result.head_seq, result.head_hash = seq, computed
    return True


def verify(session: Session, *, data_dir: Path) -> Verification:
    """Walks the archives (each file's content, its sha256 and its cut), then the table in chain order; stops at the
    first broken link. Entries not yet sealed are counted, not checked (callers seal first)."""
    result = Verification()
    for cut in session.scalars(select(AuditArchive).order_by(AuditArchive.through_seq)):
        path = archive_dir(data_dir) / cut.file_name
        if not path.exists():
            result.broken = Broken(None, cut.first_seq, f"archive file {path} is missing (entries {cut.first_seq}–"
                                                        f"{cut.through_seq})")
            return result
        if _file_sha256(path) != cut.file_sha256:
            result.broken = Broken(None, cut.first_seq, f"archive file {path} was changed (its sha256 differs "
                                                        "from the one recorded when it was written)")
            return result
        for values in _archived_lines(path):
            stored = values.pop("chain_hash", None)
            if not _check(result, values, stored):
                return result
            result.archived += 1
        if (result.head_seq, result.head_hash) != (cut.through_seq, cut.last_hash):
            result.broken = Broken(None, result.head_seq, f"archive file {path} ends at seq {result.head_seq}, "
                                                          f"its record says {cut.through_seq}")
            return result
        result.files += 1
    stmt = (select(AuditEntry).where(AuditEntry.chain_seq.is_not(None)).order_by(AuditEntry.chain_seq)
            .execution_options(yield_per=2000))
    for entry in session.scalars(stmt):
        if not _check(result, fields_of(entry), entry.chain_hash):
            return result
    result.unsealed = session.scalar(select(func.count()).select_from(AuditEntry)
                                     .where(AuditEntry.chain_seq.is_(None))) or 0
    return result


@dataclass
class Archived:
    file: Path
    entries: int
    first_seq: int
    through_seq: int


def archive(session_factory, *, data_dir: Path, retention_days: int, now: datetime | None = None) -> Archived | None:
    """Moves the sealed entries older than `retention_days` (at least 180) into one gzip JSON-lines file and records
    the cut; None when there is nothing to move. The file is written (and synced) before the rows are deleted, in
    the transaction that records the cut: a failure leaves the rows where they were."""
    retention_days = max(retention_days, MIN_RETENTION_DAYS)
    now = now or datetime.now(UTC)
    seal(session_factory, now=now)
    cutoff = now - timedelta(days=retention_days)
    with session_factory() as session:
        _lock(session)
        first_young = session.scalar(select(func.min(AuditEntry.chain_seq)).where(AuditEntry.at >= cutoff))
        old = select(func.max(AuditEntry.chain_seq)).where(AuditEntry.at < cutoff, AuditEntry.chain_seq.is_not(None))
        if first_young is not None:
            old = old.where(AuditEntry.chain_seq < first_young)  # the cut never skips a younger entry
        through = session.scalar(old)
        first = session.scalar(select(func.min(AuditEntry.chain_seq)).where(AuditEntry.chain_seq.is_not(None)))
        if through is None or first is None:
            session.rollback()
            return None
        folder = archive_dir(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"audit-{first:010d}-{through:010d}.jsonl.gz"
        path, partial = folder / name, folder / f".{name}.partial"
        count, last_hash = 0, None
        with gzip.open(partial, "wt", encoding="utf-8") as handle:
            stmt = (select(AuditEntry).where(AuditEntry.chain_seq <= through).order_by(AuditEntry.chain_seq)
                    .execution_options(yield_per=2000))
            for entry in session.scalars(stmt):
                line = fields_of(entry) | {"chain_hash": entry.chain_hash}
                handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True, default=str) + "\n")
                count, last_hash = count + 1, entry.chain_hash
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, path)
        if session.get_bind().dialect.name == "postgresql":  # the trigger lets the archiver delete (the migration)
            session.execute(text("SET LOCAL crm.audit_maintenance = 'on'"))
        session.expunge_all()
        session.execute(delete(AuditEntry).where(AuditEntry.chain_seq <= through))
        session.add(AuditArchive(first_seq=first, through_seq=through, last_hash=last_hash or GENESIS, entries=count,
                                 older_than=cutoff, file_name=name, file_sha256=_file_sha256(path), archived_at=now))
        session.commit()
    return Archived(file=path, entries=count, first_seq=first, through_seq=through)
