"""A user's own account (issue 13, 身份鉴别): changing one's password, one's active sessions and ending them; and the
security administrator's view of every active session. Every end of a session is an audit event."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm.audit import service as audit_service
from crm.auth import password_policy
from crm.auth.models import User, WebSession
from crm.auth.security import hash_password, verify_password
from crm.config import Settings
from crm.db import utcnow
from crm.i18n import Msg


class PasswordChangeError(Exception):
    def __init__(self, field: str, message: Msg) -> None:
        super().__init__(message.msgid)
        self.field = field
        self.message = message


@dataclass
class ActiveSession:
    id: str
    user: User
    device: str
    client_address: str
    created_at: datetime
    last_seen_at: datetime
    current: bool = False


_BROWSERS = [("Edg/", "Edge"), ("MicroMessenger", "WeChat"), ("DingTalk", "DingTalk"), ("QQBrowser", "QQ Browser"),
             ("UCBrowser", "UC Browser"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"),
             ("Chrome/", "Chrome"), ("CriOS/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl")]
_SYSTEMS = [("HarmonyOS", "HarmonyOS"), ("Windows", "Windows"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Android", "Android"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux")]
_TOKEN_RE = re.compile(r"[\w.\-/]+")


def device_summary(user_agent: str) -> str:
    """"Chrome · Windows" from a user agent; what cannot be recognised is shown as its first word."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser or system:
        return " · ".join(part for part in (browser, system) if part)
    match = _TOKEN_RE.search(user_agent)
    return match.group(0)[:40] if match else ""


def _active_clause(settings: Settings):
    now = utcnow()
    return (WebSession.last_seen_at >= now - timedelta(minutes=settings.session_idle_minutes),
            WebSession.created_at >= now - timedelta(hours=settings.session_max_hours))


def active_sessions(session: Session, *, settings: Settings, user_id: int | None = None,
                    current_id: str | None = None) -> list[ActiveSession]:
    """Sessions not yet expired (idle or past their lifetime), newest activity first: one user's, or everyone's."""
    stmt = (select(WebSession, User).join(User, User.id == WebSession.user_id)
            .where(*_active_clause(settings), User.is_active.is_(True))
            .order_by(WebSession.last_seen_at.desc(), WebSession.created_at.desc()))
    if user_id is not None:
        stmt = stmt.where(WebSession.user_id == user_id)
    return [ActiveSession(id=row.id, user=user, device=device_summary(row.user_agent),
                          client_address=row.client_address, created_at=row.created_at,
                          last_seen_at=row.last_seen_at, current=row.id == current_id)
            for row, user in session.execute(stmt)]


def _session_key(session_id: str) -> str:
    """How an ended session is named in the audit trail: a prefix of its id's digest, never the id itself."""
    return session_id[:12]


def _record_end(session: Session, *, event: str, actor: User, owner: User, client_address: str,
                ended: list[WebSession]) -> None:
    audit_service.record_event(
        session, event=event, actor=actor, client_address=client_address, entity_type="user", entity_id=owner.id,
        entity_label=f"{owner.display_name} ({owner.username})",
        details={"sessions": [_session_key(s.id) for s in ended],
                 "addresses": sorted({s.client_address for s in ended if s.client_address})},
    )


def end_session(session: Session, *, session_id: str, actor: User, client_address: str,
                owner_id: int | None = None) -> bool:
    """Ends one session: one of the user's own (owner_id: theirs only), or any, for the security administrator.
    False when there is no such session."""
    row = session.get(WebSession, session_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        session.rollback()
        return False
    owner = session.get(User, row.user_id)
    _record_end(session, event="session_end", actor=actor, owner=owner, client_address=client_address, ended=[row])
    session.delete(row)
    session.commit()
    return True


def end_sessions(session: Session, *, owner: User, actor: User, client_address: str, keep: str | None = None,
                 event: str = "session_end") -> int:
    """Ends every session of `owner` except `keep` (this browser's). "sign_out_everywhere" when the owner does it
    for themselves, "session_end" when the security administrator does."""
    stmt = select(WebSession).where(WebSession.user_id == owner.id)
    if keep is not None:
        stmt = stmt.where(WebSession.id != keep)
    rows = list(session.scalars(stmt))
    if rows:
        _record_end(session, event=event, actor=actor, owner=owner, client_address=client_address, ended=rows)
        session.execute(delete(WebSession).where(WebSession.id.in_([r.id for r in rows])))
    session.commit()
    return len(rows)


def sign_out(session: Session, *, session_id: str, user: User | None, client_address: str) -> None:
    """/logout: this browser's session ends, recorded as "sign_out"."""
    session.execute(delete(WebSession).where(WebSession.id == session_id))
    if user is not None:
        audit_service.record_event(session, event="sign_out", actor=user, client_address=client_address,
                                   entity_type="user", entity_id=user.id,
                                   entity_label=f"{user.display_name} ({user.username})",
                                   details={"sessions": [_session_key(session_id)]})
    session.commit()


def change_own_password(session: Session, *, user_id: int, current: str, new: str, session_id: str | None,
                        client_address: str) -> User:
    """The user's own change: the current password is required, the new one meets the policy and differs from it.
    The user's other sessions end (a stolen session does not survive the change); this one stays."""
    user = session.get(User, user_id)
    if user is None:
        raise PasswordChangeError("current_password", Msg("The current password is wrong."))
    if not verify_password(user.password_hash, current):
        session.rollback()
        raise PasswordChangeError("current_password", Msg("The current password is wrong."))
    if new == current:
        session.rollback()
        raise PasswordChangeError("new_password", Msg("The new password must differ from the current one."))
    problem = password_policy.check(session, new, username=user.username)
    if problem is not None:
        session.rollback()
        raise PasswordChangeError("new_password", problem)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    others = select(WebSession.id).where(WebSession.user_id == user.id)
    if session_id is not None:
        others = others.where(WebSession.id != session_id)
    ended = list(session.scalars(others))
    session.execute(delete(WebSession).where(WebSession.id.in_(ended)))
    audit_service.record_event(session, event="password_changed", actor=user, client_address=client_address,
                               entity_type="user", entity_id=user.id,
                               entity_label=f"{user.display_name} ({user.username})",
                               details={"other_sessions_ended": len(ended)})
    session.commit()
    return user
