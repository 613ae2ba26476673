"""Private calendar feeds: each user may have one feed URL with a random token (only its SHA-256 is stored); the
feed is built on every request from the user's planned visits (as officer or attendee) and open follow-ups, so it
changes when they do. Revoking the token ends the URL; a new one can be made at any time."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Event, vUri
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.auth.models import User
from crm.db import utcnow
from crm.feeds.models import FeedToken
from crm.i18n import Msg
from crm.tasks.models import Task, TaskStatus
from crm.visits import calendar
from crm.visits import service as visit_service
from crm.visits.models import VisitStatus

LOOKBACK = timedelta(days=30)  # the feed shows from a month ago on
LIMIT = 1000  # visits, and follow-ups, at most
TOUCH_EVERY = timedelta(hours=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def active_token(session: Session, *, user_id: int) -> FeedToken | None:
    return session.scalar(select(FeedToken).where(FeedToken.user_id == user_id, FeedToken.revoked_at.is_(None))
                          .order_by(FeedToken.id.desc()).limit(1))


def create_token(session: Session, *, user: User) -> str:
    """A new feed token for `user` (any earlier one is revoked). The token itself is returned once, never stored."""
    _revoke_all(session, user_id=user.id)
    token = secrets.token_urlsafe(32)
    session.add(FeedToken(user_id=user.id, token_hash=_digest(token)))
    session.commit()
    return token


def _revoke_all(session: Session, *, user_id: int) -> int:
    return session.execute(update(FeedToken).where(FeedToken.user_id == user_id, FeedToken.revoked_at.is_(None))
                           .values(revoked_at=utcnow())).rowcount or 0


def revoke(session: Session, *, user: User) -> int:
    revoked = _revoke_all(session, user_id=user.id)
    session.commit()
    return revoked


def user_for_token(session: Session, *, token: str) -> User | None:
    """The active user whose unrevoked token this is."""
    if not token or len(token) > 100:
        return None
    row = session.execute(select(FeedToken, User).join(User, User.id == FeedToken.user_id).where(
        FeedToken.token_hash == _digest(token), FeedToken.revoked_at.is_(None), User.is_active.is_(True))).first()
    return row[1] if row else None


def _task_event(task: Task, *, host: str, base: str, now: datetime, timezone: str, locale: str) -> Event:
    """A follow-up on its due date: at its due time in the zone's time (TZID, with the zone's VTIMEZONE), else all
    day."""
    event = Event()
    event.add("uid", f"task-{task.id}@{host}")
    event.add("dtstamp", now.astimezone(UTC))
    if task.due_time is not None:
        starts = datetime.combine(task.due_on, task.due_time, tzinfo=ZoneInfo(timezone))
        event.add("dtstart", starts)
        event.add("dtend", starts + timedelta(minutes=30))
    else:
        event.add("dtstart", task.due_on)
        event.add("dtend", task.due_on + timedelta(days=1))
    event.add("summary", calendar.clean_text(Msg("Follow-up: %(title)s", title=task.title).translate(locale)))
    if task.description.strip():
        event.add("description", calendar.clean_text(task.description.strip()))
    event.add("transp", "TRANSPARENT")
    event.add("sequence", max(0, (task.version or 1) - 1))
    event.add("last-modified", task.updated_at.astimezone(UTC))
    event.add("url", vUri(f"{base}/tasks/{task.id}"))
    return event


def feed(session: Session, *, user: User, now: datetime, host: str, base_url: str, timezone: str, name: str) -> str:
    """The user's calendar: planned visits (crm.visits.calendar) and open follow-ups' due dates."""
    locale = user.locale
    visits = visit_service.for_export(session, flt=visit_service.VisitFilter(
        officer_id=user.id, status=VisitStatus.PLANNED, since=now - LOOKBACK), limit=LIMIT)
    cal = calendar.to_calendar(visits, host=host, timezone=timezone, now=now, locale=locale, base_url=base_url,
                               name=name)
    tasks = session.scalars(select(Task).where(
        Task.assignee_id == user.id, Task.status == TaskStatus.OPEN,
        Task.due_on >= (now - LOOKBACK).astimezone(ZoneInfo(timezone)).date()).order_by(Task.due_on, Task.id).limit(LIMIT))
    for task in tasks:
        cal.add_component(_task_event(task, host=host, base=base_url.rstrip("/"), now=now, timezone=timezone,
                                      locale=locale))
    return calendar.serialize(cal)


def touch(session: Session, *, token: str, now: datetime) -> None:
    """Remembers when the feed was last fetched (at most hourly: calendar apps poll often)."""
    session.execute(update(FeedToken).where(
        FeedToken.token_hash == _digest(token),
        (FeedToken.last_used_at.is_(None)) | (FeedToken.last_used_at < now - TOUCH_EVERY)).values(last_used_at=now))
    session.commit()
