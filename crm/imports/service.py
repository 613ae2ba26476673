"""The import wizard's use cases: upload → map columns → preview → matching → commit, the history, and undo.

Nothing is written before the commit: the upload is kept on its batch (the sheet as read, compressed, while the
batch is a draft) and every step reads it again. The commit re-checks every row, then writes in chunks sized to
take about CHUNK_SECONDS each (from COMMIT_CHUNK rows, resized after every chunk by how long it took), each its own
short transaction through the domain services (so validation, audit, search
index and duplicate checks are those of the pages), so a 50,000-row import never holds SQLite's one write lock for
long: other users' saves go through between chunks. All or nothing: when a chunk fails, the chunks already
written are taken back (the batch's own undo) before the error is shown, and the batch is marked failed.

Undo runs in one transaction: it deletes what the batch created and puts back what it changed, refused with the
list when a record was changed since (its version moved on) or a row the batch did not create refers to it.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import socket
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from crm import transactions
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.db import Base, utcnow
from crm.i18n import Msg
from crm.imports import sheet as sheets
from crm.imports.kinds import ENTITIES, load
from crm.imports.kinds.base import (
    ACTIONS,
    UNITS,
    Entity,
    ImportKind,
    Match,
    ParseContext,
    Problem,
    Row,
    ValueProblem,
    WriteContext,
)
from crm.imports.models import BatchStatus, ImportBatch, ImportMapping, ImportRecord
from crm.search.models import SearchTerm
from crm.spreadsheets import SheetProblem

log = logging.getLogger("crm.imports")

COMMIT_CHUNK = 250  # rows written by the first transaction, and the fewest any chunk writes
MAX_CHUNK = 5000
# A chunk's rows are chosen so that it holds the write lock about this long: well inside the busy timeout other
# saves wait for it (3 s, crm/db.py), yet long enough that the pause after it is a small share of the commit.
CHUNK_SECONDS = 0.8
# On SQLite, between two chunks of a background commit: the others' saves waiting for the one write lock (SQLite's
# busy handler retries every ≤ 100 ms) get it, instead of the next chunk taking it straight back and leaving them
# to time out (503). PostgreSQL's row locks need no pause.
SQLITE_CHUNK_PAUSE = 0.12
ID_CHUNK = 500  # ids per IN (…) query
DRAFT_KEPT_HOURS = 24  # a draft nobody committed is deleted after this
PREVIEW_ROWS = 20
SHOWN_PROBLEMS = 1000


class BatchConflict(Exception):
    """The batch is being committed or was committed by another request (409)."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


@dataclass
class Blocker:
    label: str
    url: str
    reason: Msg


class UndoRefused(Exception):
    def __init__(self, blockers: list[Blocker], total: int) -> None:
        super().__init__("undo refused")
        self.blockers = blockers
        self.total = total


class CommitFailed(Exception):
    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


def kinds() -> dict[str, ImportKind]:
    return load()


def kind_of(name: str) -> ImportKind | None:
    return load().get(name)


# --- reading without the write lock ------------------------------------------------------------------------------

@contextmanager
def _reading(session: Session) -> Iterator[None]:
    """Long reads (a 50,000-row check) in a plain read transaction, not the handler's write-locking one."""
    phase = session.info.get(transactions.PHASE)
    if session.in_transaction() and not session.connection().info.get("wrote"):
        session.commit()
    session.info[transactions.PHASE] = transactions.LOADING
    try:
        yield
    finally:
        if session.in_transaction() and not session.connection().info.get("wrote"):
            session.commit()
        if phase is None:
            session.info.pop(transactions.PHASE, None)
        else:
            session.info[transactions.PHASE] = phase


# --- upload --------------------------------------------------------------------------------------------------------

def _variants(kind: ImportKind) -> dict[str, str]:
    """Normalized header → field key, from each field's label (both languages) and synonyms."""
    index: dict[str, str] = {}
    for f in kind.fields:
        for name in (f.label.msgid, f.label.translate("zh_CN"), f.label.translate("en"), *f.synonyms):
            index.setdefault(sheets.normalize(name), f.key)
    index.pop("", None)
    return index


def _guess_one(parent: str, header: str, saved: dict[str, str], variants: dict[str, str]) -> str | None:
    for candidate in (f"{parent}{header}", header, parent if not header else ""):
        n = sheets.normalize(candidate)
        if not n:
            continue
        if n in saved:
            return saved[n] or None
        if n in variants:
            return variants[n]
    return None


def header_key(table: sheets.Table, index: int) -> str:
    return sheets.normalize(f"{table.parents[index]}{table.headers[index]}")


def guess(kind: ImportKind, table: sheets.Table, saved: ImportMapping | None) -> tuple[dict[str, str], dict[str, str]]:
    """({column index: field key}, {column index: unit}) guessed from the headers, the user's saved mapping first."""
    variants = _variants(kind)
    known = {f.key for f in kind.fields}
    remembered = {h: k for h, k in (saved.headers if saved else {}).items() if k in known or k == ""}
    columns: dict[str, str] = {}
    units: dict[str, str] = {}
    used: set[str] = set()
    for i, (header, parent) in enumerate(zip(table.headers, table.parents, strict=True)):
        key = _guess_one(parent, header, remembered, variants)
        if key is None or key in used:
            continue
        used.add(key)
        columns[str(i)] = key
        if kind.field(key).unit:
            unit = sheets.unit_in(f"{parent}{header}") or (saved.units.get(header_key(table, i)) if saved else None)
            if unit in UNITS:
                units[str(i)] = unit
    return columns, units


def _saved(session: Session, user: User, kind: ImportKind) -> ImportMapping | None:
    return session.scalar(select(ImportMapping).where(ImportMapping.user_id == user.id, ImportMapping.kind == kind.name))


def start(session: Session, *, user: User, kind: ImportKind, file_name: str, data: bytes, sheet: int = 0
          ) -> ImportBatch:
    """Reads the upload (raises SheetProblem when the file as a whole is unusable) and keeps it as a draft batch,
    with the columns guessed. Nothing else is written."""
    with _reading(session):
        saved = _saved(session, user, kind)
    known = [name for f in kind.fields
             for name in (f.label.msgid, f.label.translate("zh_CN"), f.label.translate("en"), *f.synonyms)]
    known += [h for h, k in (saved.headers if saved else {}).items() if k]
    table = sheets.read(data, file_name, known, sheet=sheet)
    columns, units = guess(kind, table, saved)
    batch = ImportBatch(user_id=user.id, kind=kind.name, file_name=(file_name or "upload")[:255],
                        file_sha256=hashlib.sha256(data).hexdigest(), status=BatchStatus.DRAFT,
                        sheet_data=_pack(table), rows_read=len(table.rows),
                        mapping={"columns": columns, "units": units, "mapped": False, "default_action": "skip",
                                 "row_actions": {}})
    session.add(batch)
    session.commit()
    return batch


def _pack(table: sheets.Table) -> bytes:
    return zlib.compress(json.dumps(table.to_json(), ensure_ascii=False, default=str).encode(), 6)


def table_of(batch: ImportBatch) -> sheets.Table:
    if batch.sheet_data is None:
        raise SheetProblem(Msg("This import's file is no longer kept. Upload it again."))
    return sheets.Table.from_json(json.loads(zlib.decompress(batch.sheet_data)))


def drafts_for(session: Session, *, user: User, batch_id: int) -> ImportBatch | None:
    """The user's own batch (any status); None for another user's."""
    batch = session.get(ImportBatch, batch_id)
    return batch if batch is not None and batch.user_id == user.id else None


# --- the mapping step ----------------------------------------------------------------------------------------------

@dataclass
class ColumnInfo:
    index: int
    letter: str
    header: str
    samples: list[str]
    field_key: str
    unit: str
    unit_in_header: str | None
    needs_unit: bool


def columns_of(kind: ImportKind, batch: ImportBatch, table: sheets.Table, *, chosen: dict[str, str] | None = None,
               units: dict[str, str] | None = None) -> list[ColumnInfo]:
    """The mapping page's rows: the batch's mapping, or `chosen`/`units` as posted (a form shown again)."""
    mapping = dict(batch.mapping or {})
    if chosen is not None:
        mapping["columns"], mapping["units"] = chosen, units or {}
    out = []
    for i, (header, parent) in enumerate(zip(table.headers, table.parents, strict=True)):
        key = mapping.get("columns", {}).get(str(i), "")
        shown = f"{parent} {header}".strip() if parent else header
        samples = [str(cells[i]) for _n, cells in table.rows[:3] if i < len(cells) and cells[i] not in (None, "")]
        in_header = sheets.unit_in(f"{parent}{header}")
        needs = bool(key) and kind.field(key).unit is not None and in_header is None
        out.append(ColumnInfo(i, sheets.column_letter(i), shown, samples, key,
                              mapping.get("units", {}).get(str(i), "") or (in_header or ""), in_header, needs))
    return out


def save_mapping(session: Session, *, batch: ImportBatch, kind: ImportKind, user: User,
                 chosen: dict[int, str], units: dict[int, str]) -> dict[int, Msg]:
    """Keeps the user's mapping on the batch and as their mapping for next time; {column index: error} when it
    cannot be used (a field twice, a required field missing, an amount column without its unit)."""
    table = table_of(batch)
    known = {f.key for f in kind.fields}
    errors: dict[int, Msg] = {}
    seen: dict[str, int] = {}
    for i in range(len(table.headers)):
        key = chosen.get(i, "")
        if not key:
            continue
        if key not in known:
            errors[i] = Msg("Choose a field from the list.")
            continue
        if key in seen:
            errors[i] = Msg("“%(field)s” is already chosen for column %(column)s.", field=kind.field(key).label,
                            column=sheets.column_letter(seen[key]))
            continue
        seen[key] = i
        if kind.field(key).unit and not sheets.unit_in(f"{table.parents[i]}{table.headers[i]}") \
                and units.get(i) not in UNITS:
            errors[i] = Msg("Say which unit this column's amounts are in: the header does not say.")
    missing = [f for f in kind.fields if f.required and f.key not in seen]
    if missing:
        errors[-1] = Msg("Choose a column for: %(fields)s.", fields="、".join(str(f.label.translate("zh_CN"))
                                                                             for f in missing))
    if errors:
        return errors
    column_map = {str(i): k for i, k in chosen.items() if k}
    unit_map = {}
    for i, k in chosen.items():
        if k and kind.field(k).unit:
            unit_map[str(i)] = sheets.unit_in(f"{table.parents[i]}{table.headers[i]}") or units[i]
    batch.mapping = {**batch.mapping, "columns": column_map, "units": unit_map, "mapped": True}
    saved = _saved(session, user, kind)
    if saved is None:
        saved = ImportMapping(user_id=user.id, kind=kind.name, headers={}, units={})
        session.add(saved)
    headers = dict(saved.headers)
    saved_units = dict(saved.units)
    for i in range(len(table.headers)):
        name = header_key(table, i)
        if not name:
            continue
        headers[name] = chosen.get(i, "")
        if str(i) in unit_map and not sheets.unit_in(f"{table.parents[i]}{table.headers[i]}"):
            saved_units[name] = unit_map[str(i)]
    saved.headers, saved.units, saved.updated_at = headers, saved_units, utcnow()
    session.commit()
    return {}


# --- preview and matching ------------------------------------------------------------------------------------------

@dataclass
class Preview:
    kind: ImportKind
    table: sheets.Table
    fields: list[tuple[int, Any]]  # (column index, Field) in sheet order
    rows: list[Row]
    problems: list[Problem]
    matches: dict[int, Match]
    blank_rows: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # field key → the column's header, for problems

    @property
    def ok(self) -> bool:
        return not self.problems


def build_preview(session: Session, *, batch: ImportBatch, kind: ImportKind, user: User, locale: str,
                  today: Any = None) -> Preview:
    """Every row parsed as it would be stored, every problem, and the rows that match existing records.
    Reads only (in a plain read transaction)."""
    table = table_of(batch)
    mapping = batch.mapping or {}
    fields = sorted(((int(i), kind.field(k)) for i, k in mapping.get("columns", {}).items()), key=lambda p: p[0])
    units = {int(i): u for i, u in mapping.get("units", {}).items()}
    with _reading(session):
        ctx = ParseContext(session=session, actor=user, locale=locale, today=today)
        rows: list[Row] = []
        blank = 0
        for number, cells in table.rows:
            row = Row(number, {}, {})
            before = len(ctx.problems)
            for index, f in fields:
                cell = cells[index] if index < len(cells) else None
                row.raw[f.key] = cell
                if cell is None or (isinstance(cell, str) and not cell.strip()):
                    row.values[f.key] = None
                    continue
                error = sheets.cell_error(cell)
                if error:
                    ctx.problem(number, f.key, Msg(
                        "The cell holds a formula whose value was never calculated: open the file in Excel or WPS, "
                        "save it again and upload that copy.") if error == "uncalculated" else Msg(
                        "The cell holds a formula error (%(error)s).", error=error))
                    row.values[f.key] = None
                    continue
                ctx.unit = units.get(index)
                try:
                    row.values[f.key] = f.parser(cell, ctx)
                except ValueProblem as problem:
                    ctx.problem(number, f.key, problem.message)
                    row.values[f.key] = None
            ctx.unit = None
            flagged = {p.field_key for p in ctx.problems[before:]}
            if not flagged and all(v is None for v in row.values.values()):
                blank += 1  # nothing in the mapped columns (a row of notes in other columns)
                continue
            for _i, f in fields:
                if f.required and row.values.get(f.key) in (None, "") and f.key not in flagged:
                    ctx.problem(number, f.key, Msg("Required: this cell is empty."))
            rows.append(row)
        kind.check(session, rows, ctx)
        matches = kind.match(session, rows, ctx)
    headers = {f.key: (table.headers[i] if not table.parents[i] else f"{table.parents[i]} {table.headers[i]}")
               for i, f in fields}
    problems = sorted(ctx.problems, key=lambda p: (p.row, p.field_key or ""))
    return Preview(kind, table, fields, rows, problems, matches, blank, headers)


def save_actions(session: Session, *, batch: ImportBatch, default_action: str, row_actions: dict[int, str]) -> None:
    default_action = default_action if default_action in ACTIONS else "skip"
    batch.mapping = {**batch.mapping, "default_action": default_action,
                     "row_actions": {str(n): a for n, a in row_actions.items() if a in ACTIONS and a != default_action}}
    session.commit()


def action_for(batch: ImportBatch, row_number: int) -> str:
    mapping = batch.mapping or {}
    return mapping.get("row_actions", {}).get(str(row_number)) or mapping.get("default_action", "skip")


def plan_counts(batch: ImportBatch, preview: Preview) -> dict[str, int]:
    counts = {"create": 0, "skip": 0, "fill": 0, "update": 0}
    for row in preview.rows:
        if row.note is not None:
            continue
        match = preview.matches.get(row.number)
        counts["create" if match is None else action_for(batch, row.number)] += 1
    return counts


# --- commit --------------------------------------------------------------------------------------------------------

def commit(session: Session, *, batch_id: int, user: User, key: str | None, locale: str, today: Any = None
           ) -> ImportBatch:
    """Claims, checks and writes the batch in this thread (the CLI, a script); the pages run the write in a
    background thread instead (crm/imports/running.py)."""
    batch, claimed = claim_commit(session, batch_id=batch_id, user=user, key=key)
    if not claimed:
        if batch.status == BatchStatus.COMMITTING:
            raise BatchConflict(Msg("This import is being committed right now, in another window or by a double click."))
        return batch
    preview = prepare_commit(session, batch=batch, user=user, locale=locale, today=today)
    return write_claimed(session, batch_id=batch_id, user=user, preview=preview, locale=locale, today=today)


def _running_values(status: str) -> dict[str, Any]:
    return {"status": status, "worker": worker_id(), "heartbeat_at": utcnow(), "message": ""}


def claim_commit(session: Session, *, batch_id: int, user: User, key: str | None) -> tuple[ImportBatch, bool]:
    """(batch, True) when this request claimed the draft (status → committing, in its own short transaction: of
    two at once, one wins). (batch, False) when it is being committed already (a double click, a second tab) or
    the same form was sent twice: the caller shows its page. Any other commit of it is a BatchConflict."""
    claimed = session.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id, ImportBatch.user_id == user.id, ImportBatch.status == BatchStatus.DRAFT)
        .values(**_running_values(BatchStatus.COMMITTING), submission_key=key, rows_done=0)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    batch = session.get(ImportBatch, batch_id)
    session.refresh(batch)
    if claimed:
        return batch, True
    if batch.status == BatchStatus.COMMITTING or (key and batch.submission_key == key):
        return batch, False
    raise BatchConflict(Msg("This import was already committed. Its result is on its page."))


def prepare_commit(session: Session, *, batch: ImportBatch, user: User, locale: str, today: Any = None) -> Preview:
    """The claimed batch's rows checked again (reads only); a problem puts it back to draft (CommitFailed)."""
    kind = kind_of(batch.kind)
    assert kind is not None
    batch_id = batch.id
    try:
        preview = build_preview(session, batch=batch, kind=kind, user=user, locale=locale, today=today)
    except Exception:
        _reset(session, batch_id, BatchStatus.DRAFT)
        raise
    if preview.problems:
        _reset(session, batch_id, BatchStatus.DRAFT)
        raise CommitFailed(Msg("Some rows have problems (see the preview): nothing was written."))
    return preview


def write_claimed(session: Session, *, batch_id: int, user: User, preview: Preview, locale: str, today: Any = None,
                  pause: float = 0.0) -> ImportBatch:
    """Writes the claimed, checked batch chunk by chunk, all or nothing: when anything fails, what was written is
    taken back and the batch is marked failed with the reason (CommitFailed). `pause`: seconds between chunks,
    outside any transaction (SQLITE_CHUNK_PAUSE)."""
    kind = preview.kind
    try:
        with _collector_spared():
            counts = _write(session, batch_id=batch_id, kind=kind, preview=preview, user=user, locale=locale,
                            today=today, pause=pause)
        batch = session.get(ImportBatch, batch_id)
        batch.status = BatchStatus.COMMITTED
        batch.committed_at = utcnow()
        batch.created_count, batch.updated_count = counts["created"], counts["updated"]
        batch.skipped_count, batch.rows_done = counts["skipped"], batch.rows_read
        batch.sheet_data = None
        audit_service.record(session, actor=user, action=AuditAction.CREATE, entity_type="import_batch",
                             entity_id=batch.id, entity_label=batch.file_name, entity_version=1,
                             changes={"kind": [None, batch.kind], "file_sha256": [None, batch.file_sha256],
                                      "rows_read": [None, batch.rows_read], "created": [None, counts["created"]],
                                      "updated": [None, counts["updated"]], "skipped": [None, counts["skipped"]]})
        session.commit()
        return batch
    except Exception as error:  # a row the services refused, a busy database: take back what was written
        session.rollback()
        log.warning("import %s failed, taking back what it wrote: %r", batch_id, error)
        message = _failure_message(error)
        _take_back(session, batch_id=batch_id, actor=user, message=str(message.translate(locale)))
        raise CommitFailed(message) from error


def _take_back(session: Session, *, batch_id: int, actor: User, message: str) -> None:
    """A commit that stopped: the chunks it wrote are taken back and the batch marked failed with `message`."""
    try:
        _undo_writes(session, batch_id=batch_id, actor=actor, check=False)
    except Exception:
        session.rollback()
        log.exception("import %s: taking back a failed commit failed", batch_id)
    _reset(session, batch_id, BatchStatus.FAILED, message=message)


# --- who runs a batch, and batches left running by a process that is gone -------------------------------------------

STALE_AFTER = timedelta(minutes=15)  # no chunk written for this long: its process is taken to be gone


def _process_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def worker_id(pid: int | None = None) -> str:
    """This process as "host|pid|start time" (the start time tells a reused pid from the process that had it)."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()[:80]}|{pid}|{_process_start(pid)}"


def _worker_alive(worker: str | None) -> bool | None:
    """True/False for a process of this host; None (unknown) for another host's."""
    host, _, rest = (worker or "").partition("|")
    pid, _, start = rest.partition("|")
    if host != socket.gethostname()[:80] or not pid.isdigit():
        return None
    if start and Path("/proc").is_dir():
        return _process_start(int(pid)) == start
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted(session: Session, *, locale: str = "zh_CN") -> int:
    """Batches left committing or undoing by a process that is gone (its pid is dead on this host, or, from
    another host, no chunk written for STALE_AFTER): a commit's written chunks are taken back and the batch
    marked failed; an undo (one transaction, rolled back by the database) is marked committed again. Each batch
    is taken over with a conditional UPDATE first, so two processes starting at once never both recover it, and
    a batch a live process is running is never touched."""
    now = utcnow()
    candidates = session.execute(select(ImportBatch.id, ImportBatch.status, ImportBatch.worker,
                                        ImportBatch.heartbeat_at, ImportBatch.user_id)
                                 .where(ImportBatch.status.in_([BatchStatus.COMMITTING, BatchStatus.UNDOING]))).all()
    session.rollback()
    recovered = 0
    for batch_id, status, worker, heartbeat, user_id in candidates:
        alive = _worker_alive(worker)
        if alive or (alive is None and heartbeat is not None and now - heartbeat < STALE_AFTER):
            continue
        taken = session.execute(update(ImportBatch).where(
            ImportBatch.id == batch_id, ImportBatch.status == status,
            ImportBatch.worker == worker if worker is not None else ImportBatch.worker.is_(None))
            .values(worker=worker_id(), heartbeat_at=utcnow()).execution_options(synchronize_session=False)).rowcount
        session.commit()
        if not taken:
            continue
        recovered += 1
        log.warning("import %s was left %s by a process that is gone (%s): recovering it", batch_id, status, worker)
        if status == BatchStatus.UNDOING:
            _reset(session, batch_id, BatchStatus.COMMITTED, message=str(Msg(
                "The undo was interrupted (the server stopped): nothing was undone. Undo it again.").translate(locale)))
            continue
        actor = session.get(User, user_id)
        _take_back(session, batch_id=batch_id, actor=actor, message=str(Msg(
            "The import was interrupted (the server stopped while writing it): what it had written was taken back; "
            "nothing was imported. Import the file again.").translate(locale)))
    return recovered


@contextmanager
def _collector_spared() -> Iterator[None]:
    """While a commit writes, what already lives — the preview's 50,000 rows, the app's own objects — is set aside
    from Python's cyclic garbage collector (gc.freeze), so each of its full passes (one every few chunks, as the
    records written become garbage) does not walk it all again: a 50,000-row commit 108 → 67 s. Garbage made
    meanwhile is collected as usual; what was set aside is handed back afterwards (a concurrent request's objects
    included: they are only looked at later, never lost)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _failure_message(error: Exception) -> Msg:
    from crm.organizations.service import DuplicateOrganization

    if isinstance(error, DuplicateOrganization):
        return Msg("While importing, someone else saved an organization that a row names (%(name)s): nothing was "
                   "written. Check the file again and import it anew.", name=error.existing.name)
    return Msg("The import could not be written (%(error)s): nothing was written. Try again.",
               error=type(error).__name__)


def _reset(session: Session, batch_id: int, status: str, message: str = "") -> None:
    session.rollback()
    session.execute(update(ImportBatch).where(ImportBatch.id == batch_id)
                    .values(status=status, message=message[:500], submission_key=None)
                    .execution_options(synchronize_session=False))
    session.commit()


def _write(session: Session, *, batch_id: int, kind: ImportKind, preview: Preview, user: User, locale: str,
           today: Any, pause: float = 0.0) -> dict[str, int]:
    batch = session.get(ImportBatch, batch_id)
    counts = {"created": 0, "updated": 0, "skipped": 0}
    ctx = WriteContext(session=session, actor=user, locale=locale, today=today)
    rows = preview.rows
    skipped_rows: set[int] = set()
    start, size = 0, COMMIT_CHUNK
    while start < len(rows):
        began = time.monotonic()
        items = []
        for row in rows[start:start + size]:
            match = preview.matches.get(row.number)
            action = "create" if match is None else action_for(batch, row.number)
            if row.merged_into is not None:  # a later row of a record named earlier: follows that row
                if row.merged_into in skipped_rows:
                    continue
                action = "create"
            elif action == "skip":
                counts["skipped"] += 1
                skipped_rows.add(row.number)
                continue
            items.append((row, match, action))
        kind.write_many(session, items, ctx)
        by_row: dict[int | None, list] = defaultdict(list)
        for w in ctx.written:
            by_row[w.row].append(w)
        for row, _match, _action in items:
            if row.merged_into is not None:
                continue
            mine = [w for w in by_row.get(row.number, []) if w.entity_type == kind.entity_type]
            if any(w.action == "created" for w in mine):
                counts["created"] += 1
            elif mine or by_row.get(row.number):
                counts["updated"] += 1
            else:
                counts["skipped"] += 1  # matched, and nothing to fill in
        session.flush()
        if ctx.written:
            session.execute(insert(ImportRecord), [
                {"batch_id": batch_id, "entity_type": w.entity_type, "record_id": w.record_id, "action": w.action,
                 "prior": w.prior, "version": w.version} for w in ctx.written])
            ctx.written.clear()
        session.execute(update(ImportBatch).where(ImportBatch.id == batch_id)
                        .values(rows_done=min(start + size, len(rows)), heartbeat_at=utcnow())
                        .execution_options(synchronize_session=False))
        session.commit()
        start += size
        size = _next_chunk_size(size, time.monotonic() - began)
        if pause:
            time.sleep(pause)
    return counts


def _next_chunk_size(size: int, seconds: float) -> int:
    """The next chunk's rows: as many as this chunk's pace writes in CHUNK_SECONDS, at most doubling at a time."""
    wanted = size * CHUNK_SECONDS / max(seconds, 1e-3)
    return max(COMMIT_CHUNK, min(MAX_CHUNK, 2 * size, int(wanted)))


# --- history and undo ----------------------------------------------------------------------------------------------

def history(session: Session, *, user: User, page: int, per_page: int):
    from crm.listing import Page, clamp_page

    stmt = select(ImportBatch).where(ImportBatch.status != BatchStatus.DRAFT)
    if not user.is_manager:
        stmt = stmt.where(ImportBatch.user_id == user.id)
    from sqlalchemy import func

    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = clamp_page(page, total, per_page)
    items = list(session.scalars(stmt.order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc())
                                 .offset((page - 1) * per_page).limit(per_page)))
    users = dict(session.execute(select(User.id, User.display_name)
                                 .where(User.id.in_({b.user_id for b in items} or {0}))).all())
    return Page(items=items, total=total, page=page, per_page=per_page), users


def drafts(session: Session, *, user: User) -> list[ImportBatch]:
    return list(session.scalars(select(ImportBatch).where(ImportBatch.user_id == user.id,
                                                          ImportBatch.status == BatchStatus.DRAFT)
                                .order_by(ImportBatch.id.desc()).limit(20)))


def can_see(user: User, batch: ImportBatch) -> bool:
    return batch.user_id == user.id or user.is_manager


def written_records(session: Session, *, batch: ImportBatch, limit: int = 50) -> list[tuple[str, str, str]]:
    """(action, label, url) of the first records the batch wrote, for its page."""
    out = []
    records = session.execute(select(ImportRecord.entity_type, ImportRecord.record_id, ImportRecord.action)
                              .where(ImportRecord.batch_id == batch.id).order_by(ImportRecord.id).limit(limit)).all()
    for entity_type, record_id, action in records:
        entity = ENTITIES.get(entity_type)
        if entity is None:
            continue
        record = session.get(entity.model, record_id)
        if record is not None:
            out.append((action, entity.label(record), entity.url(record_id)))
    return out


def _records(session: Session, batch_id: int) -> list:
    """The batch's records as plain rows (entity_type, record_id, action, prior, version): 100,000 of them load
    in a fraction of the time ORM objects take."""
    return list(session.execute(
        select(ImportRecord.entity_type, ImportRecord.record_id, ImportRecord.action, ImportRecord.prior,
               ImportRecord.version).where(ImportRecord.batch_id == batch_id).order_by(ImportRecord.id)))


def _chunks(items: list) -> Iterator[list]:
    for i in range(0, len(items), ID_CHUNK):
        yield items[i:i + ID_CHUNK]


def undo(session: Session, *, batch: ImportBatch, actor: User) -> None:
    """Takes the batch back in this thread, all or nothing; raises UndoRefused with the records in the way."""
    batch_id = batch.id
    claim_undo(session, batch=batch)
    check_undo(session, batch_id=batch_id)
    undo_claimed(session, batch_id=batch_id, actor=actor)


def claim_undo(session: Session, *, batch: ImportBatch) -> None:
    """committed → undoing in its own short transaction (of two at once, one wins); BatchConflict otherwise."""
    if batch.status != BatchStatus.COMMITTED:
        raise BatchConflict(Msg("Only a committed import can be undone."))
    batch_id = batch.id
    claimed = session.execute(
        update(ImportBatch).where(ImportBatch.id == batch_id, ImportBatch.status == BatchStatus.COMMITTED)
        .values(**_running_values(BatchStatus.UNDOING)).execution_options(synchronize_session=False)).rowcount
    session.commit()
    if not claimed:
        raise BatchConflict(Msg("This import is being undone or was undone already."))


def check_undo(session: Session, *, batch_id: int) -> None:
    """Reads only: UndoRefused (and the batch committed again) when a record is in the way."""
    expected, created, _updated, _order = _plan(_records(session, batch_id))
    with _reading(session):
        blockers = _blockers(session, expected, created)
    if blockers:
        _reset(session, batch_id, BatchStatus.COMMITTED)
        raise UndoRefused(blockers[:100], len(blockers))


def undo_claimed(session: Session, *, batch_id: int, actor: User, locale: str = "zh_CN") -> None:
    """The claimed undo's one transaction (checked again inside it). When refused or failed, the batch is
    committed again, with the reason."""
    try:
        _undo_writes(session, batch_id=batch_id, actor=actor, check=True)
    except UndoRefused:
        session.rollback()
        _reset(session, batch_id, BatchStatus.COMMITTED, message=str(Msg(
            "Not undone: a record was changed meanwhile. Open Undo again to see which.").translate(locale)))
        raise
    except BaseException as error:
        session.rollback()
        log.warning("undo of import %s failed: %r", batch_id, error)
        _reset(session, batch_id, BatchStatus.COMMITTED, message=str(Msg(
            "The undo could not be written (%(error)s): nothing was undone. Try again.",
            error=type(error).__name__).translate(locale)))
        raise


def _plan(records: list) -> tuple[dict, dict, dict, list]:
    expected: dict[tuple[str, int], int | None] = {}
    created: dict[str, list[int]] = defaultdict(list)
    updated: dict[str, list] = defaultdict(list)
    order: list[str] = []
    for r in records:
        expected[(r.entity_type, r.record_id)] = r.version
        if r.entity_type not in order:
            order.append(r.entity_type)
        if r.action == "created":
            created[r.entity_type].append(r.record_id)
        else:
            updated[r.entity_type].append(r)
    return expected, created, updated, order


def _undo_writes(session: Session, *, batch_id: int, actor: User, check: bool) -> None:
    expected, created, updated, order = _plan(_records(session, batch_id))
    if check:
        with _reading(session):
            blockers = _blockers(session, expected, created)
        if blockers:
            raise UndoRefused(blockers[:100], len(blockers))
    created_ids = {t: set(ids) for t, ids in created.items()}
    parents: dict[str, set[int]] = defaultdict(set)
    position = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
    order.sort(key=lambda t: position[ENTITIES[t].model.__table__.name], reverse=True)  # children first
    for entity_type in order:
        entity = ENTITIES[entity_type]
        for r in reversed(updated.get(entity_type, [])):
            if r.record_id in created_ids.get(entity_type, set()):
                continue  # created by the batch too: deleted below
            record = session.get(entity.model, r.record_id)
            if record is None:
                continue
            if entity.restore is not None:
                entity.restore(session, record, r.prior or {}, actor)
            else:
                for k, v in (r.prior or {}).items():
                    setattr(record, k, v)
                session.flush()
        ids = sorted(created_ids.get(entity_type, set()))
        if not ids:
            continue
        session.flush()
        table = entity.model.__table__
        for chunk in _chunks(ids):
            if entity.parent is not None:
                parents[entity_type].update(session.scalars(select(entity.parent).where(table.c.id.in_(chunk))))
            for column in entity.owned:
                session.execute(delete(column.table).where(column.in_(chunk)))
            if entity.search_kind:
                session.execute(delete(SearchTerm).where(SearchTerm.kind == entity.search_kind,
                                                         SearchTerm.record_id.in_(chunk)))
            session.execute(delete(table).where(table.c.id.in_(chunk)))
        session.expire_all()
    for entity_type, parent_ids in parents.items():
        entity = ENTITIES[entity_type]
        target = next(iter(entity.parent.foreign_keys)).column.table
        gone = {i for t, ids in created_ids.items() if ENTITIES[t].model.__table__ is target for i in ids}
        alive = sorted(parent_ids - gone)
        if entity.after_undo and alive:
            entity.after_undo(session, alive)
    batch = session.get(ImportBatch, batch_id)
    if not check:  # a failed commit taken back: it wrote nothing
        session.execute(delete(ImportRecord).where(ImportRecord.batch_id == batch_id))
    else:
        batch.status = BatchStatus.UNDONE
        batch.message = ""
        batch.undone_at = utcnow()
        batch.undone_by_id = actor.id
        audit_service.record(session, actor=actor, action=AuditAction.DELETE, entity_type="import_batch",
                             entity_id=batch.id, entity_label=batch.file_name, entity_version=2,
                             changes={"status": [BatchStatus.COMMITTED, BatchStatus.UNDONE],
                                      "created": [batch.created_count, 0], "updated": [batch.updated_count, 0]})
    session.commit()


def _blockers(session: Session, expected: dict[tuple[str, int], int | None],
              created: dict[str, list[int]]) -> list[Blocker]:
    blockers: list[Blocker] = []
    by_type: dict[str, list[int]] = defaultdict(list)
    for (entity_type, record_id) in expected:
        by_type[entity_type].append(record_id)
    created_sets = {t: set(ids) for t, ids in created.items()}
    for entity_type, ids in by_type.items():
        entity = ENTITIES[entity_type]
        model = entity.model
        if not hasattr(model, "version"):
            continue
        for chunk in _chunks(sorted(ids)):
            moved = [record_id for record_id, version in session.execute(
                select(model.id, model.version).where(model.id.in_(chunk)))
                if version != expected[(entity_type, record_id)]]
            for record in session.scalars(select(model).where(model.id.in_(moved))) if moved else ():
                blockers.append(Blocker(entity.label(record), entity.url(record.id),
                                        Msg("changed since the import")))
    tables = {ENTITIES[t].model.__table__.name: t for t in created}
    for entity_type, ids in created.items():
        entity = ENTITIES[entity_type]
        target = entity.model.__table__
        owned = {(c.table.name, c.key) for c in entity.owned}
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                if fk.column.table is not target or (fk.ondelete or "").upper() == "CASCADE":
                    continue
                if (table.name, fk.parent.name) in owned:
                    continue
                mine = created_sets.get(tables.get(table.name, ""), set())
                pk = next(iter(table.primary_key.columns))
                for chunk in _chunks(sorted(ids)):
                    for ref_id, target_id in session.execute(select(pk, fk.parent).where(fk.parent.in_(chunk))):
                        if table.name in tables and ref_id in mine:
                            continue
                        record = session.get(entity.model, target_id)
                        blockers.append(Blocker(entity.label(record) if record else str(target_id),
                                                entity.url(target_id),
                                                Msg("referred to by a record added since (%(table)s)",
                                                    table=table.name)))
    return blockers


def purge_drafts(session: Session, *, now=None) -> int:
    """Drafts nobody committed within DRAFT_KEPT_HOURS, and the kept files of failed batches, are removed."""
    cutoff = (now or utcnow()) - timedelta(hours=DRAFT_KEPT_HOURS)
    removed = session.execute(delete(ImportBatch).where(ImportBatch.status.in_([BatchStatus.DRAFT, BatchStatus.FAILED]),
                                                        ImportBatch.created_at < cutoff)).rowcount
    session.commit()
    return removed or 0


def discard(session: Session, *, batch: ImportBatch) -> None:
    if batch.status in (BatchStatus.DRAFT, BatchStatus.FAILED):
        session.delete(batch)
        session.commit()


def entity_of(entity_type: str) -> Entity | None:
    return ENTITIES.get(entity_type)
