"""Sign-in with throttling, database-backed sessions, and user administration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction, AuditOutcome
from crm.auth import password_policy, throttle
from crm.auth.models import NON_BUSINESS_ROLES, Role, User, WebSession
from crm.auth.schemas import ROLE_LABELS, check_username
from crm.auth.security import hash_password, new_token, token_digest, verify_password
from crm.config import Settings
from crm.db import utcnow
from crm.fast_read import PreparedRead
from crm.i18n import Msg

USER_AUDIT_FIELDS = ["username", "display_name", "title", "email", "role", "locale", "department", "manager_id",
                     "is_active"]


class LoginRefused(Exception):
    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


class UserError(Exception):
    def __init__(self, field: str, message: Msg) -> None:
        super().__init__(message.msgid)
        self.field = field
        self.message = message


def wait_message(seconds: float) -> Msg:
    return Msg("Too many failed sign-ins: wait %(seconds)s seconds before trying again.", seconds=int(seconds))


def authenticate(session: Session, *, username: str, password: str, settings: Settings,
                 client_address: str = "") -> User:
    """The user whose password this is, or LoginRefused. Failures are throttled per client address and per
    account with growing delays (crm/auth/throttle.py); every failure and refusal is in the audit trail. The
    sign-in is not complete yet: the caller asks for the second factor or calls second_factor.sign_in()."""
    key = throttle.username_key(username)
    if wait := throttle.check(session, username=key, address=client_address, settings=settings):
        audit_service.record_event(session, event="sign_in_throttled", actor=None, outcome=AuditOutcome.REFUSED,
                                   client_address=client_address, details={"username": key, "wait_seconds": wait})
        session.commit()
        raise LoginRefused(wait_message(wait))

    user = session.scalar(select(User).where(func.lower(User.username) == key))
    ok = verify_password(user.password_hash if user else None, password)
    if ok and user is not None and user.is_active:
        return user

    wait = throttle.record_failure(session, username=key, address=client_address, settings=settings)
    audit_service.record_event(
        session, event="sign_in_failed", actor=None, outcome=AuditOutcome.FAILURE, client_address=client_address,
        entity_type="user" if user else "", entity_id=user.id if user else None,
        entity_label=f"{user.display_name} ({user.username})" if user else "",
        details={"username": key, "reason": "deactivated" if ok else "password"},
    )
    session.commit()
    if ok and user is not None and not user.is_active:
        raise LoginRefused(Msg("This account has been deactivated. Ask an administrator."))
    if wait:
        raise LoginRefused(Msg(
            "Wrong username or password. Too many failed sign-ins: wait %(seconds)s seconds before trying again.",
            seconds=wait,
        ))
    raise LoginRefused(Msg("Wrong username or password."))


def start_session(session: Session, *, user: User, user_agent: str, client_address: str = "") -> str:
    """Creates a session row; returns the token for the cookie (only its digest is stored)."""
    token = new_token()
    session.add(WebSession(id=token_digest(token), user_id=user.id, user_agent=user_agent[:255],
                           client_address=client_address[:64]))
    session.commit()
    return token


@dataclass
class ResolvedSession:
    session_id: str
    user: User
    needs_touch: bool


# Everything the app shows of the signed-in user; never the password hash (the TOTP secret is not in this table).
_SESSION_USER_COLUMNS = [c for c in User.__table__.c if c.key != "password_hash"]
SESSION_QUERY = (
    select(WebSession.id.label("session_id"), WebSession.last_seen_at, WebSession.created_at.label("signed_in_at"),
           *_SESSION_USER_COLUMNS)
    .join(User, User.id == WebSession.user_id)
    # Built once with its parameter: SQLAlchemy memoizes a statement's cache key, so each request only binds the
    # digest (building `WebSession.id == digest` anew cost a third of the lookup: the operator and the cache key).
    .where(WebSession.id == bindparam("digest"))
)
_SESSION_USER_KEYS = tuple(c.key for c in _SESSION_USER_COLUMNS)
_USER_MANAGER = User._sa_class_manager


SESSION_READ = PreparedRead(SESSION_QUERY)


def session_usable(row: Any, settings: Settings, now: datetime) -> bool:
    """Whether a session row (SESSION_READ's, or a statement adding columns to SESSION_QUERY) is still good: its
    user active, neither idle too long nor past the absolute lifetime."""
    return (row.is_active and now - row.last_seen_at <= timedelta(minutes=settings.session_idle_minutes)
            and now - row.signed_in_at <= timedelta(hours=settings.session_max_hours))


def session_needs_touch(row: Any, settings: Settings, now: datetime) -> bool:
    return (now - row.last_seen_at).total_seconds() > settings.session_touch_seconds


def resolve_session(engine: Engine, *, token: str, settings: Settings) -> ResolvedSession | None:
    """The session's user, or None when the token is unknown, idle too long, or the user deactivated.

    Runs on the event loop for every request, so it is one statement at the driver's cost (crm/fast_read.py: a
    tenth of Core's, a fiftieth of the ORM's), always read from the database — a sign-out or a revocation holds on
    the next request in every worker process; the user comes back as a detached User holding no password hash."""
    if not token or len(token) > 100:
        return None
    row = SESSION_READ.first(engine, digest=token_digest(token))
    if row is None:
        return None
    now = utcnow()
    if not session_usable(row, settings, now):
        return None
    # Built as the ORM builds a loaded object (no __init__, no attribute events: 1 µs instead of 14): a transient,
    # detached User whose columns are the row's; never added to a session.
    user = _USER_MANAGER.new_instance()
    user.__dict__.update(zip(_SESSION_USER_KEYS, (getattr(row, key) for key in _SESSION_USER_KEYS), strict=True))
    return ResolvedSession(session_id=row.session_id, user=user, needs_touch=session_needs_touch(row, settings, now))


def touch_session(session: Session, *, session_id: str) -> None:
    web_session = session.get(WebSession, session_id)
    if web_session is not None:
        web_session.last_seen_at = utcnow()
        session.commit()


def end_session(session: Session, *, session_id: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == session_id))
    session.commit()


def purge_expired_sessions(session: Session, *, settings: Settings) -> int:
    now = utcnow()
    result = session.execute(delete(WebSession).where(or_(
        WebSession.last_seen_at < now - timedelta(minutes=settings.session_idle_minutes),
        WebSession.created_at < now - timedelta(hours=settings.session_max_hours))))
    session.commit()
    return result.rowcount or 0


# Users

def list_users(session: Session, *, include_inactive: bool = True) -> list[User]:
    stmt = select(User).order_by(User.is_active.desc(), User.role, User.username)
    if not include_inactive:
        stmt = stmt.where(User.is_active.is_(True))
    return list(session.scalars(stmt))


def active_users(session: Session) -> list[User]:
    """Who may own, host, be assigned or follow up the zone's records: every active user but the security and the
    audit administrator, who do not work with business data (so no picker offers them, no form accepts them)."""
    return [u for u in list_users(session, include_inactive=False)
            if u.role not in NON_BUSINESS_ROLES]


# The same people as active_users(), in the same order, as plain (id, display_name) rows: what a picker or a list's
# filter shows. Building ~440 User objects for a filter's options cost a list page more than its own rows (issue 17).
_USER_CHOICES = (select(User.id, User.display_name)
                 .where(User.is_active.is_(True), User.role.not_in(sorted(NON_BUSINESS_ROLES)))
                 .order_by(User.role, User.username))


def user_choices(session: Session) -> list[Any]:
    """active_users() as rows with `.id` and `.display_name` only: for the options of a select."""
    return list(session.execute(_USER_CHOICES))


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def _audit_user(session: Session, *, actor: User | None, action: AuditAction, user: User, before: dict) -> None:
    session.flush()
    after = audit_service.snapshot(user, USER_AUDIT_FIELDS)
    audit_service.record(
        session,
        actor=actor,
        action=action,
        entity_type="user",
        entity_id=user.id,
        entity_label=f"{user.display_name} ({user.username})",
        entity_version=user.version,
        changes=audit_service.diff(before, after),
    )


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str,
    role: Role | str,
    actor: User | None,
    title: str = "",
    email: str = "",
    locale: str = "zh_CN",
    department: str = "",
    manager_id: int | None = None,
) -> User:
    problem = check_username(username)
    if problem:
        raise UserError("username", problem)
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise UserError("username", Msg("This username is taken."))
    if (problem := password_policy.check(session, password, username=username)) is not None:
        raise UserError("password", problem)
    _check_manager(session, manager_id, user_id=None)
    user = User(
        username=username,
        display_name=display_name,
        title=title,
        email=email,
        role=Role(role).value,
        locale=locale,
        department=department,
        manager_id=manager_id,
        password_hash=hash_password(password),
        must_change_password=actor is not None,  # set by an administrator: changed at the next sign-in
        password_changed_at=utcnow(),
    )
    session.add(user)
    _audit_user(session, actor=actor, action=AuditAction.CREATE, user=user, before={})
    session.commit()
    return user


def _check_manager(session: Session, manager_id: int | None, *, user_id: int | None) -> None:
    """A user reports to an active manager (or administrator), never to themselves or in a circle."""
    if manager_id is None:
        return
    if manager_id == user_id:
        raise UserError("manager_id", Msg("A user cannot report to themselves."))
    manager = session.get(User, manager_id)
    if manager is None or not manager.is_active or not manager.is_manager:
        raise UserError("manager_id", Msg("Choose an active manager from the list."))
    seen, current = set(), manager
    while current is not None and current.manager_id is not None and current.id not in seen:
        if current.manager_id == user_id:
            raise UserError("manager_id", Msg("That would make a circle: this manager reports to this user."))
        seen.add(current.id)
        current = session.get(User, current.manager_id)


def managers(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.is_active.is_(True), User.role.in_([Role.MANAGER, Role.ADMIN]))
                                .order_by(User.display_name)))


def update_user(session: Session, *, user: User, actor: User, data: dict, version: int | None) -> User:
    if version is None or version != user.version:
        raise UserError("version", Msg("Someone else changed this user after you opened it. Reload and try again."))
    if user.id == actor.id and (data.get("role") != user.role or not data.get("is_active", True)):
        raise UserError("role", Msg("You cannot change your own role or deactivate yourself."))
    if "manager_id" in data:
        _check_manager(session, data["manager_id"], user_id=user.id)
    before = audit_service.snapshot(user, USER_AUDIT_FIELDS)
    for key in ("display_name", "title", "email", "role", "locale", "department", "manager_id", "is_active"):
        if key in data:
            setattr(user, key, data[key])
    action = AuditAction.UPDATE
    if before["is_active"] and not user.is_active:
        action = AuditAction.ARCHIVE
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    elif not before["is_active"] and user.is_active:
        action = AuditAction.RESTORE
    _audit_user(session, actor=actor, action=action, user=user, before=before)
    session.commit()
    return user


def reset_password(session: Session, *, user: User, actor: User | None, password: str) -> None:
    if (problem := password_policy.check(session, password, username=user.username)) is not None:
        raise UserError("password", problem)
    user.password_hash = hash_password(password)
    user.must_change_password = actor is not None  # set by an administrator: changed at the next sign-in
    user.password_changed_at = utcnow()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    throttle.clear_account(session, username=user.username)
    audit_service.record(
        session,
        actor=actor,
        action=AuditAction.UPDATE,
        entity_type="user",
        entity_id=user.id,
        entity_label=f"{user.display_name} ({user.username})",
        entity_version=user.version + 1,
        changes={"password": ["***", "***"]},
    )
    user.updated_at = utcnow()
    session.commit()


def set_locale(session: Session, *, user_id: int, locale: str) -> None:
    user = session.get(User, user_id)
    if user is not None and user.locale != locale:
        user.locale = locale
        session.commit()


# How the history reads: a user's role, and users' ids as their names wherever an entry holds one.
def display_names(session: Session, ids: set, locale: str) -> dict[int, str]:
    wanted = [i for i in ids if isinstance(i, int)]
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all()) if wanted else {}


audit_labels.register("user", values={"role": ROLE_LABELS})
audit_labels.register(audit_labels.ANY, reference={name: audit_labels.Reference(display_names)
                                                   for name in ("owner_id", "assignee_id", "officer_id")})
