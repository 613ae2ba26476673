"""Rule 13, backups (crm/backups): the system administrators are told when a backup failed (once per failed run,
`failed:<run id>`: written at once when the run fails, and found again by the daily pass if that write was lost),
and when no backup has succeeded for two days while the schedule is on (once per gap: `stale:<id of the last
successful run, or 0>`; a new success ends the gap, and the next gap has a new key)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date as date_type
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.auth.models import Role, User
from crm.backups import messages
from crm.backups.models import BackupRun, BackupSetting, RunStatus
from crm.i18n import N_, Msg
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig

STALE_AFTER = timedelta(days=2)
ENTITY = "backup_run"


def administrators(session: Session, recipients: Collection[int] | None = None) -> list[int]:
    ids = list(session.scalars(select(User.id).where(User.role == Role.ADMIN, User.is_active.is_(True))
                               .order_by(User.id)))
    return [i for i in ids if recipients is None or i in recipients]


def failure_reminders(session: Session, run: BackupRun, *, fire_at: datetime,
                      recipients: Collection[int] | None = None) -> list[Reminder]:
    when = run.finished_at or run.started_at
    return [Reminder(RULE.code, ENTITY, run.id, f"failed:{run.id}", admin_id, fire_at,
                     {"kind": "failed", "at": when.isoformat(), "error": (run.error or "")[:4000]})
            for admin_id in administrators(session, recipients)]


def _last_success(session: Session) -> BackupRun | None:
    return session.scalar(select(BackupRun).where(BackupRun.status == RunStatus.SUCCEEDED)
                          .order_by(BackupRun.finished_at.desc(), BackupRun.id.desc()).limit(1))


def _schedule_on(session: Session) -> bool:
    setting = session.get(BackupSetting, 1)
    return setting is None or setting.enabled


class BackupProblems(Rule):
    code = "backup_failed"
    label = N_("Backup failed or missing")
    description = N_("System administrators are told at once when a backup fails, and each day at this time when no backup has succeeded for two days.")
    default_at = time(8, 30)

    def plan(self, session: Session, *, dates: Sequence[date_type], now: datetime, config: RuleConfig,
             recipients: Collection[int] | None = None) -> list[Reminder]:
        fire_at = config.fire_at(dates[-1])  # after downtime: the latest occasion only
        since = config.fire_at(dates[0]) - timedelta(days=1)
        reminders: list[Reminder] = []
        for run in session.scalars(select(BackupRun).where(BackupRun.status == RunStatus.FAILED,
                                                           BackupRun.finished_at >= since,
                                                           BackupRun.finished_at <= now).order_by(BackupRun.id)):
            reminders += failure_reminders(session, run, fire_at=fire_at, recipients=recipients)
        if _schedule_on(session):
            last = _last_success(session)
            if last is not None:
                gap_from = last.finished_at or last.started_at
            else:  # never succeeded: counted from the first attempt (none at all: the scheduler has not run)
                gap_from = session.scalar(select(func.min(BackupRun.started_at)))
            if gap_from is not None and now - gap_from >= STALE_AFTER:
                last_id = last.id if last is not None else 0
                reminders += [Reminder(self.code, ENTITY, last_id, f"stale:{last_id}", admin_id, fire_at,
                                       {"kind": "stale", "since": gap_from.isoformat()})
                              for admin_id in administrators(session, recipients)]
        return reminders

    def current(self, session: Session, rows: Sequence[Any], *, config: RuleConfig) -> set[int]:
        """A failure stays worth telling; a gap only while no backup has succeeded since."""
        last = _last_success(session)
        last_id = last.id if last is not None else 0
        return {row.id for row in rows if not row.occasion.startswith("stale:") or row.occasion == f"stale:{last_id}"}

    def render(self, *, entity_id: int, occasion: str, payload: dict[str, Any], locale: str) -> Rendered:
        if payload.get("kind") == "stale":
            since = str(payload.get("since", ""))[:16].replace("T", " ")
            return Rendered(subject=Msg("No backup has succeeded for two days").translate(locale),
                            lines=[Msg("No backup has succeeded since %(since)s (UTC). Check the backups page.",
                                       since=since).translate(locale)], url="/admin/backups")
        at = str(payload.get("at", ""))[:16].replace("T", " ")
        return Rendered(subject=Msg("Backup failed").translate(locale),
                        lines=[Msg("The backup started at %(at)s (UTC) failed: %(error)s", at=at,
                                   error=messages.readable(str(payload.get("error", "")), locale)).translate(locale)],
                        url="/admin/backups")


RULE = BackupProblems()
