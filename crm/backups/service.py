"""Backups as the application runs them: the schedule, the run log, starting one (never two at once), running it
outside any transaction, keeping the last N, checking one, and telling the administrators when one fails.

A run is started in a short write transaction that claims the single running slot (`BackupRun.slot`, unique), and
committed; the copy itself (archive.create) runs with no transaction open; the outcome is recorded in another short
transaction. A run whose process is gone (a restart, a crash) is marked failed when the next one is asked for."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from crm import migrate
from crm.audit import service as audit_service
from crm.auth.models import User
from crm.backups import archive, messages
from crm.backups.models import BackupRun, BackupSetting, RunStatus, VerifyStatus
from crm.config import Settings
from crm.db import Database, utcnow
from crm.i18n import Msg
from crm.listing import Page, clamp_page
from crm.notifications import service as notification_service
from crm.notifications.rules import backups as backup_rule

log = logging.getLogger("crm.backups")

HOURS = range(24)
KEEP_MIN, KEEP_MAX = 1, 90
STALE_AFTER = timedelta(hours=12)  # a run still "running" this long after it started is taken for dead
INTERRUPTED = messages.dump([Msg("Interrupted: the process making it stopped before it finished.")])
GONE = Msg("The backup file is no longer in the backup folder.")
AUDIT_ENTITY = "backup"


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# The schedule

def current_settings(session: Session) -> BackupSetting:
    """The stored schedule, or the defaults (daily at 02:00, keep 7) when none was saved: reading writes nothing."""
    return session.get(BackupSetting, 1) or BackupSetting(id=1, enabled=True, hour=2, keep=7, version=0)


class StaleSettings(Exception):
    """Someone saved the schedule since this form was loaded."""


def save_settings(session: Session, *, data: dict, version: int | None, actor: User, client_address: str = "") -> BackupSetting:
    stored = session.get(BackupSetting, 1)
    current_version = stored.version if stored is not None else 0
    if version is not None and version != current_version:
        session.rollback()
        raise StaleSettings()
    if stored is None:
        stored = BackupSetting(id=1, version=0)
        session.add(stored)
    before = {"enabled": stored.enabled, "hour": stored.hour, "keep": stored.keep}
    stored.enabled, stored.hour, stored.keep = bool(data["enabled"]), int(data["hour"]), int(data["keep"])
    stored.version = current_version + 1
    stored.updated_at, stored.updated_by_id = utcnow(), actor.id
    after = {"enabled": stored.enabled, "hour": stored.hour, "keep": stored.keep}
    audit_service.record_event(session, event="update", actor=actor, client_address=client_address,
                               entity_type="backup_setting", entity_id=1, entity_label="Backup schedule",
                               details={k: [before[k], after[k]] for k in after if before[k] != after[k]})
    session.commit()
    return stored


# The run log

def runs_page(session: Session, *, page: int, per_page: int) -> Page:
    total = session.scalar(select(func.count()).select_from(BackupRun)) or 0
    page = clamp_page(page, total, per_page)
    items = list(session.scalars(select(BackupRun).options(selectinload(BackupRun.requested_by))
                                 .order_by(BackupRun.id.desc()).offset((page - 1) * per_page).limit(per_page)))
    return Page(items=items, total=total, page=page, per_page=per_page)


def get_run(session: Session, run_id: int) -> BackupRun | None:
    return session.get(BackupRun, run_id)


def running(session: Session) -> BackupRun | None:
    return session.scalar(select(BackupRun).where(BackupRun.slot.is_not(None)))


def _dead(run: BackupRun, now: datetime) -> bool:
    if now - run.started_at > STALE_AFTER:
        return True
    host, _, pid = run.runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's: only the time limit tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _expire_dead(session: Session, now: datetime) -> None:
    for run in session.scalars(select(BackupRun).where(BackupRun.slot.is_not(None))):
        if _dead(run, now):
            run.status, run.slot, run.finished_at, run.error = RunStatus.FAILED, None, now, INTERRUPTED


def start(session: Session, *, kind: str, actor: User | None, client_address: str = "",
          now: datetime | None = None) -> BackupRun | None:
    """Claims the running slot for a new run and commits; None when a backup is already running (a double click,
    a second scheduler)."""
    now = now or utcnow()
    _expire_dead(session, now)
    session.flush()
    if running(session) is not None:
        session.commit()
        return None
    run = BackupRun(kind=kind, status=RunStatus.RUNNING, slot=1, started_at=now, runner=runner_id(),
                    requested_by_id=actor.id if actor else None, file_name="", sha256="", error="",
                    verify_status=VerifyStatus.NONE, verify_error="")
    session.add(run)
    try:
        session.flush()
    except IntegrityError:  # PostgreSQL: another transaction claimed the slot at the same moment
        session.rollback()
        return None
    if actor is not None:
        audit_service.record_event(session, event="backup", actor=actor, client_address=client_address,
                                   entity_type=AUDIT_ENTITY, entity_id=run.id, entity_label=f"#{run.id}",
                                   details={"kind": kind})
    session.commit()
    return run


def file_name_for(run: BackupRun, zone: ZoneInfo) -> str:
    return f"crm-backup-{run.started_at.astimezone(zone):%Y%m%d-%H%M%S}-{run.id}.tar.gz"


@dataclass
class Outcome:
    run_id: int
    ok: bool
    message: str


def execute(*, database: Database, settings: Settings, run_id: int) -> Outcome:
    """Makes the backup of a started run, with no transaction open while it copies; then records the outcome,
    checks the new file, removes backups beyond the last N, and on failure tells the administrators."""
    zone = ZoneInfo(settings.timezone)
    with database.read_sessions() as session:
        run = session.get(BackupRun, run_id)
        if run is None or run.status != RunStatus.RUNNING:
            return Outcome(run_id, False, "not running")
        name = file_name_for(run, zone)
        session.rollback()
    directory = settings.resolved_backup_dir
    created: archive.Created | None = None
    checked: archive.Checked | None = None
    error = ""
    try:
        if not directory.is_dir():
            directory.mkdir(parents=True)
            os.chmod(directory, 0o700)  # a folder of backups is as private as the data itself
        created = archive.create(database_url=database.url, data_dir=settings.data_dir, output=directory / name,
                                 exclude=(directory,))
        checked = archive.verify(created.path)
    except archive.BackupError as failure:
        error = messages.dump([failure.message])
    except Exception as failure:  # a disk full, a folder not writable …: recorded and reported, never lost
        log.exception("backup %s failed", run_id)
        error = f"{type(failure).__name__}: {failure}"
    with database.write_session() as session:
        run = session.get(BackupRun, run_id)
        assert run is not None
        now = utcnow()
        run.slot, run.finished_at = None, now
        if created is not None:
            run.status = RunStatus.SUCCEEDED
            run.file_name, run.size_bytes, run.sha256 = name, created.size_bytes, created.sha256
            run.row_count, run.file_count, run.missing_count = created.rows, created.files, created.missing
            if checked is not None:
                run.verify_started_at, run.verified_at = now, now
                run.verify_status = VerifyStatus.OK if checked.ok else VerifyStatus.FAILED
                run.verify_error = messages.dump(checked.problems) if checked.problems else ""
        else:
            run.status, run.error = RunStatus.FAILED, error[:20000] or "failed"
            notification_service.write(session, backup_rule.failure_reminders(session, run, fire_at=now),
                                       now=now, zone=zone)
            session.flush()
        _prune(session, directory=directory, keep=current_settings(session).keep)
        session.commit()  # the outcome and the pruning together: when the slot is free, the old files are gone
    return Outcome(run_id, created is not None,
                   created.summary if created is not None else messages.readable(error, "en"))


def _prune(session: Session, *, directory: Path, keep: int) -> None:
    """Deletes the files of successful backups beyond the newest `keep` (their log rows stay, marked removed), in
    the caller's transaction."""
    old = list(session.scalars(select(BackupRun).where(BackupRun.status == RunStatus.SUCCEEDED,
                                                       BackupRun.removed_at.is_(None))
                               .order_by(BackupRun.id.desc()).offset(keep)))
    for run in old:
        if run.file_name:
            (directory / run.file_name).unlink(missing_ok=True)
        run.removed_at = utcnow()


def in_background(target, /, **kwargs) -> threading.Thread:
    """Runs `target(**kwargs)` on a thread of its own: a backup or check takes minutes, and must hold neither a
    request's thread nor any transaction meanwhile."""
    def run() -> None:
        try:
            target(**kwargs)
        except Exception:
            log.exception("background %s failed", getattr(target, "__name__", target))

    thread = threading.Thread(target=run, name="crm-backup", daemon=True)
    thread.start()
    return thread


# When the scheduler backs up

def due(session: Session, *, now: datetime, timezone: str) -> bool:
    """Whether today's scheduled backup is due: the schedule is on, its hour has come (local time) and no backup
    was started since."""
    setting = current_settings(session)
    if not setting.enabled:
        return False
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    slot = local.replace(hour=setting.hour, minute=0, second=0, microsecond=0)
    if local < slot:
        return False
    started_since = session.scalar(select(func.count()).select_from(BackupRun).where(BackupRun.started_at >= slot))
    return not started_since


def last_success(session: Session) -> BackupRun | None:
    return session.scalar(select(BackupRun).where(BackupRun.status == RunStatus.SUCCEEDED)
                          .order_by(BackupRun.id.desc()).limit(1))


# Checking one and handing it out

class NotAvailable(Exception):
    """The run has no file any more (failed, or removed as older than the last N)."""


def backup_path(settings: Settings, run: BackupRun) -> Path:
    if run.status != RunStatus.SUCCEEDED or run.removed_at is not None or not run.file_name:
        raise NotAvailable()
    path = settings.resolved_backup_dir / run.file_name
    if "/" in run.file_name or not path.is_file():
        raise NotAvailable()
    return path


def start_verify(session: Session, *, run: BackupRun, settings: Settings, actor: User,
                 client_address: str = "") -> bool:
    """Marks the run's check as started (False when one is already running); the caller runs `verify_run`."""
    backup_path(settings, run)
    now = utcnow()
    if run.verify_status == VerifyStatus.RUNNING and run.verify_started_at and now - run.verify_started_at < STALE_AFTER:
        session.rollback()
        return False
    run.verify_status, run.verify_started_at, run.verify_error = VerifyStatus.RUNNING, now, ""
    audit_service.record_event(session, event="backup_verify", actor=actor, client_address=client_address,
                               entity_type=AUDIT_ENTITY, entity_id=run.id, entity_label=run.file_name)
    session.commit()
    return True


def verify_run(*, database: Database, settings: Settings, run_id: int) -> bool:
    with database.read_sessions() as session:
        run = session.get(BackupRun, run_id)
        try:
            path = backup_path(settings, run) if run is not None else None
        except NotAvailable:
            path = None
        session.rollback()
    checked = archive.verify(path) if path is not None else None
    with database.write_session() as session:
        run = session.get(BackupRun, run_id)
        if run is None:
            return False
        ok = checked is not None and checked.ok
        run.verify_status = VerifyStatus.OK if ok else VerifyStatus.FAILED
        run.verified_at = utcnow()
        run.verify_error = messages.dump(checked.problems if checked is not None else [GONE]) if not ok else ""
        session.commit()
        return ok


def known_revisions(database_url: str) -> set[str]:
    """Every migration revision this version of the application has (a backup from a later one is refused)."""
    script = ScriptDirectory.from_config(migrate.alembic_config(database_url))
    return {revision.revision for revision in script.walk_revisions()}
