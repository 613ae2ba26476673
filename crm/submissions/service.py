"""Claiming a create form's one-time key, in the transaction that creates the record."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from crm.db import utcnow
from crm.submissions.models import FormSubmission

FIELD = "submission_key"
KEPT_DAYS = 7  # a form resubmitted later than this creates a record again
_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_key() -> str:
    return secrets.token_urlsafe(24)


def key_from(raw: Any) -> str | None:
    """The form's key, when it carries a well-formed one (forms from before keys, and API clients, carry none)."""
    return raw if isinstance(raw, str) and _KEY.fullmatch(raw) else None


@dataclass
class Claim:
    """The key of a submission being saved now; `record` is the first new `creates` flushed in its transaction."""

    key: str
    user_id: int
    creates: type
    url: Callable[[Any], str]
    record: Any = None
    saved: bool = False


def wait_for_the_same_key(session: Session, *, key: str) -> None:
    """Two submissions of one form at the same instant take turns: the later one waits here until the earlier's
    transaction ends, then finds its key (earlier_result) and answers as a replay — instead of running its use case
    beside the first and being refused by what the first just saved ("a similar organization exists"). On
    PostgreSQL a transaction-scoped advisory lock on the key; SQLite's one write lock already serializes them."""
    if session.get_bind().dialect.name == "postgresql":
        lock_id = int.from_bytes(hashlib.sha256(f"form-submission:{key}".encode()).digest()[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(lock_id)))


def earlier_result(session: Session, *, key: str, user_id: int) -> str | None:
    """The address of what an earlier submission with this key created ("" when it created nothing to show)."""
    row = session.scalar(select(FormSubmission).where(FormSubmission.key == key))
    if row is None:
        return None
    return row.result_url if row.user_id == user_id else ""


def claim(session: Session, *, key: str, user_id: int, creates: type, url: Callable[[Any], str]) -> None:
    """Saves the key with the record this session's use case creates, in its commit (the address taken from the
    first new `creates` flushed). Nothing is added before that commit, so a use case that refuses its input leaves
    no trace of the key. Two submissions racing on PostgreSQL meet on the key's primary key: the later one fails
    with an IntegrityError, answered by crm.main as a replay."""
    state = Claim(key=key, user_id=user_id, creates=creates, url=url)

    @event.listens_for(session, "after_flush")
    def _note_record(flushed: Session, _context) -> None:
        if state.record is None:
            state.record = next((obj for obj in flushed.new if isinstance(obj, state.creates)), None)

    @event.listens_for(session, "before_commit")
    def _save_key(committing: Session) -> None:
        if state.saved:
            return
        committing.flush()
        if state.record is None or state.record.id is None:
            return  # this commit created nothing of the kind (yet): the key waits for the one that does
        state.saved = True
        committing.add(FormSubmission(key=state.key, user_id=state.user_id, created_at=utcnow(),
                                      result_url=state.url(state.record)[:500]))
        committing.flush()


def is_key_conflict(error: BaseException) -> bool:
    """Whether an IntegrityError is two submissions of one key meeting (PostgreSQL: the later one waited)."""
    text = str(getattr(error, "orig", error))
    return "form_submission" in text and ("pk_form_submission" in text or "form_submission.key" in text)


def purge(session: Session, *, now=None) -> int:
    cutoff = (now or utcnow()) - timedelta(days=KEPT_DAYS)
    removed = session.execute(delete(FormSubmission).where(FormSubmission.created_at < cutoff)).rowcount
    session.commit()
    return removed or 0
