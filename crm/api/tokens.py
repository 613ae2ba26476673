"""Personal access tokens: create (the secret shown once, its hash kept), look up, revoke, and the per-minute budget."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload

from crm.api.models import DEFAULT_REQUESTS_PER_MINUTE, ApiRequestCount, ApiToken
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.db import utcnow
from crm.i18n import N_, Msg

log = logging.getLogger("crm.api")

PREFIX = "crm_pat_"  # recognisable (secret scanners, logs): a CRM personal access token
SHOWN_PREFIX_LENGTH = len(PREFIX) + 6
SCOPES = ("read", "write")
SCOPE_LABELS = {"read": N_("Read"), "write": N_("Read and write")}
EXPIRY_CHOICES = {"30": N_("30 days"), "90": N_("90 days"), "365": N_("1 year"), "never": N_("Never")}
MAX_NAME_LENGTH = 60
MAX_REQUESTS_PER_MINUTE = 100_000
_SECRET = re.compile(r"crm_pat_[A-Za-z0-9_-]{20,100}")
_DURATION = re.compile(r"(\d{1,5})([dh]?)")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_duration(text: str) -> timedelta | None:
    """"90d", "12h", "30" (days) → a timedelta; None when it is no such thing."""
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        return None
    amount = int(match.group(1))
    return timedelta(hours=amount) if match.group(2) == "h" else timedelta(days=amount)


def scopes_for(scope: str) -> str:
    """The stored scopes for a chosen scope: write implies read."""
    return "read,write" if scope == "write" else "read"


def check_name(name: str) -> Msg | None:
    if not name.strip():
        return Msg("This field is required.")
    if len(name.strip()) > MAX_NAME_LENGTH:
        return Msg("At most %(max)s characters (you entered %(n)s).", max=MAX_NAME_LENGTH, n=len(name.strip()))
    return None


def create(session: Session, *, user: User, name: str, scope: str, expires_at: datetime | None,
           actor: User | None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and its secret (never stored, never shown again)."""
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip()[:MAX_NAME_LENGTH], token_hash=hash_secret(secret),
                     prefix=secret[:SHOWN_PREFIX_LENGTH], scopes=scopes_for(scope), expires_at=expires_at,
                     requests_per_minute=DEFAULT_REQUESTS_PER_MINUTE, created_at=utcnow())
    session.add(token)
    session.flush()
    audit_service.record(session, actor=actor, action=AuditAction.CREATE, entity_type="api_token", entity_id=token.id,
                         entity_label=f"{user.username}: {token.name}", entity_version=1,
                         changes={"name": [None, token.name], "scopes": [None, token.scopes],
                                  "expires_at": [None, expires_at.isoformat() if expires_at else None]})
    session.commit()
    return token, secret


def get(session: Session, token_id: int) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.id == token_id).options(joinedload(ApiToken.user)))


def for_user(session: Session, *, user_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())))


def every_token(session: Session, *, limit: int = 500) -> list[ApiToken]:
    """For the administrators' page: every token, the usable ones first, newest first."""
    return list(session.scalars(select(ApiToken).options(joinedload(ApiToken.user))
                                .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
                                .limit(limit)))


def can_manage(user: User, token: ApiToken) -> bool:
    """Its owner, and the system administrator (who sees and revokes every token)."""
    return token.user_id == user.id or user.is_admin


def revoke(session: Session, *, token: ApiToken, actor: User) -> None:
    if token.revoked_at is not None:
        session.rollback()
        return
    token.revoked_at = utcnow()
    token.revoked_by_id = actor.id
    audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type="api_token", entity_id=token.id,
                         entity_label=token.name, entity_version=1,
                         changes={"revoked_at": [None, token.revoked_at.isoformat()]})
    session.commit()


def set_budget(session: Session, *, token: ApiToken, requests_per_minute: int, actor: User) -> None:
    before = token.requests_per_minute
    if before == requests_per_minute:
        session.rollback()
        return
    token.requests_per_minute = requests_per_minute
    audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type="api_token", entity_id=token.id,
                         entity_label=token.name, entity_version=1,
                         changes={"requests_per_minute": [before, requests_per_minute]})
    session.commit()


@dataclass(frozen=True)
class Bearer:
    """What a request's token resolved to (read on the event loop's own connection, like a web session)."""

    token_id: int
    user: User  # detached, without its password hash
    can_write: bool
    requests_per_minute: int


_USER_COLUMNS = [c for c in User.__table__.c if c.key != "password_hash"]
_TOKEN_QUERY = (
    select(ApiToken.id.label("token_id"), ApiToken.scopes, ApiToken.expires_at, ApiToken.revoked_at,
           ApiToken.requests_per_minute, *_USER_COLUMNS)
    .join(User, User.id == ApiToken.user_id)
)


def resolve(connection, *, secret: str, now: datetime) -> Bearer | None:
    """The token for a secret, when it is well formed, known, not revoked, not expired, and its user is active:
    one Core query, as it runs on the event loop for every API request."""
    if not _SECRET.fullmatch(secret):
        return None
    row = connection.execute(_TOKEN_QUERY.where(ApiToken.token_hash == hash_secret(secret))).first()
    if row is None or row.revoked_at is not None or not row.is_active:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    user = User(**{c.key: row._mapping[c.key] for c in _USER_COLUMNS})
    return Bearer(token_id=row.token_id, user=user, can_write="write" in row.scopes.split(","),
                  requests_per_minute=row.requests_per_minute)


def count_request(session: Session, *, token_id: int, now: datetime) -> int | None:
    """Counts one request against the token's current minute, in one short transaction of its own, and returns the
    minute's count so far; None when the database was too busy to count (the request is let through: a busy
    database must not turn a read into an error). On the minute's first request the token's last use is noted and
    its counts of earlier minutes are removed."""
    minute = int(now.timestamp()) // 60
    dialect = session.get_bind().dialect.name
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = make_insert(ApiRequestCount).values(token_id=token_id, minute=minute, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["token_id", "minute"], set_={"count": ApiRequestCount.count + 1}
    ).returning(ApiRequestCount.count)
    try:
        count = session.execute(statement).scalar_one()
        if count == 1:
            session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
            session.execute(delete(ApiRequestCount).where(ApiRequestCount.token_id == token_id,
                                                          ApiRequestCount.minute < minute))
        session.commit()
        return count
    except Exception as exc:
        session.rollback()
        log.warning("API request of token %s not counted (%s); let through", token_id, exc)
        return None


def seconds_to_next_minute(now: datetime) -> int:
    return 60 - int(now.timestamp()) % 60
