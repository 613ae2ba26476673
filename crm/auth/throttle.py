"""Sign-in throttling per client address and per account, with growing delays instead of a lock-out.

Every failed password or second-factor code counts on two keys: the client address ("ip:1.2.3.4": one address
trying many usernames is slowed down) and the account ("user:manager": many addresses trying one account are
slowed down). After the free failures of a key each new try must wait `login_first_delay_seconds`, doubling with
each further failure and never more than `login_max_delay_seconds`; counts are forgotten `login_forget_minutes`
after a key's last failure. A success clears the account's counts (the address's count only decays).

Why a stranger cannot keep the real user out: the account's delay is applied to each address on its own
("user+ip:manager|5.6.7.8"). An address refused only because of others' failures on the account is given its turn
when the delay then running ends (at most the cap away), and keeps that turn for one more cap even when the
attacker has meanwhile started a new delay on the account. So a user with the right password, from an address
that is not itself throttled, waits at most `login_max_delay_seconds`, however the attacker times their failures;
an attacker gets one try per address per account delay, and their own address's delay on top.

The rows live in the database, so every web worker (and machine) agrees. Callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm.audit.models import AuditEntry
from crm.auth.models import LoginThrottle
from crm.config import Settings
from crm.db import utcnow

ADDRESS = "ip:"
ACCOUNT = "user:"
ACCOUNT_AT_ADDRESS = "user+ip:"


def username_key(username: str) -> str:
    return username.strip().lower()[:40]


def _keys(username: str, address: str) -> tuple[str, str, str]:
    name, address = username_key(username), (address or "-")[:64]
    return f"{ADDRESS}{address}", f"{ACCOUNT}{name}", f"{ACCOUNT_AT_ADDRESS}{name}|{address}"


def delay_seconds(failures: int, free: int, settings: Settings) -> int:
    """0 for the free failures, then first_delay, doubling, capped."""
    if failures <= free:
        return 0
    return min(settings.login_first_delay_seconds * 2 ** min(failures - free - 1, 20), settings.login_max_delay_seconds)


def _remaining(until: datetime | None, now: datetime) -> int:
    if until is None or until <= now:
        return 0
    return max(1, int((until - now).total_seconds() + 0.999))


def _rows(session: Session, keys: list[str], *, create: bool) -> dict[str, LoginThrottle]:
    if create:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(LoginThrottle).values([{"key": k, "failures": 0} for k in keys])
                        .on_conflict_do_nothing())
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)).with_for_update()
                           .execution_options(populate_existing=True))
    return {row.key: row for row in rows}


def check(session: Session, *, username: str, address: str, settings: Settings) -> int:
    """Seconds this address must still wait before trying this account; 0 when it may try now.
    May record this address's turn on the account (the caller commits)."""
    now = utcnow()
    ip_key, user_key, pair_key = _keys(username, address)
    rows = _rows(session, [ip_key, user_key, pair_key], create=False)
    ip_row, user_row, pair_row = rows.get(ip_key), rows.get(user_key), rows.get(pair_key)
    if ip_row is not None and (wait := _remaining(ip_row.blocked_until, now)):
        return wait
    if pair_row is not None and (wait := _remaining(pair_row.blocked_until, now)):
        return wait
    if user_row is None or not _remaining(user_row.blocked_until, now):
        return 0
    cap = timedelta(seconds=settings.login_max_delay_seconds)
    if pair_row is not None and pair_row.blocked_until is not None and pair_row.blocked_until > now - cap:
        return 0  # this address waited its turn: others' later failures do not push it back
    pair_row = _rows(session, [pair_key], create=True)[pair_key]
    pair_row.blocked_until = min(user_row.blocked_until, now + cap)
    pair_row.last_failure_at = now
    return _remaining(pair_row.blocked_until, now)


def record_failure(session: Session, *, username: str, address: str, settings: Settings) -> int:
    """Counts a failed password or code; returns the seconds to wait before the next try."""
    now = utcnow()
    ip_key, user_key, pair_key = _keys(username, address)
    rows = _rows(session, [ip_key, user_key, pair_key], create=True)
    forget = timedelta(minutes=settings.login_forget_minutes)
    free = {ip_key: settings.login_free_failures_per_address, user_key: settings.login_free_failures,
            pair_key: settings.login_free_failures}
    for key in (ip_key, user_key, pair_key):
        row = rows[key]
        if row.last_failure_at is None or now - row.last_failure_at > forget or row.first_failure_at is None:
            row.failures, row.first_failure_at = 0, now
        row.failures += 1
        row.last_failure_at = now
        if key != pair_key:
            delay = delay_seconds(row.failures, free[key], settings)
            row.blocked_until = now + timedelta(seconds=delay) if delay else None
    # This address's next try on the account waits out the account's delay.
    rows[pair_key].blocked_until = rows[user_key].blocked_until
    session.execute(delete(LoginThrottle).where(
        LoginThrottle.last_failure_at < now - forget,
        or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
    ))
    return max(_remaining(rows[ip_key].blocked_until, now), _remaining(rows[user_key].blocked_until, now))


def clear_account(session: Session, *, username: str) -> None:
    """After a complete sign-in (password and, when set up, second factor): the account's counts are cleared."""
    name = username_key(username)
    session.execute(delete(LoginThrottle).where(or_(
        LoginThrottle.key == f"{ACCOUNT}{name}",
        LoginThrottle.key.startswith(f"{ACCOUNT_AT_ADDRESS}{name}|", autoescape=True),
    )))


@dataclass
class Burst:
    """Recent failures on one account or from one address, for the security administrator's page."""

    name: str
    failures: int
    first_at: datetime | None
    last_at: datetime | None
    wait_seconds: int


def bursts(session: Session, *, settings: Settings) -> tuple[list[Burst], list[Burst]]:
    """(by account, by address): keys with failures not yet forgotten, most recent first."""
    now = utcnow()
    rows = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.failures > 0,
               LoginThrottle.last_failure_at >= now - timedelta(minutes=settings.login_forget_minutes),
               or_(LoginThrottle.key.startswith(ACCOUNT), LoginThrottle.key.startswith(ADDRESS)))
        .order_by(LoginThrottle.last_failure_at.desc())
        .limit(400)
    )
    accounts, addresses = [], []
    for row in rows:
        prefix = ACCOUNT if row.key.startswith(ACCOUNT) else ADDRESS
        burst = Burst(name=row.key[len(prefix):], failures=row.failures, first_at=row.first_failure_at,
                      last_at=row.last_failure_at, wait_seconds=_remaining(row.blocked_until, now))
        (accounts if prefix == ACCOUNT else addresses).append(burst)
    return accounts, addresses


FAILURE_EVENTS = ("sign_in_failed", "second_factor_failed", "sign_in_throttled")


def recent_failures(session: Session, *, limit: int = 50) -> list[AuditEntry]:
    """The latest failed and refused sign-ins from the audit trail (who tried which username from where)."""
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action.in_(FAILURE_EVENTS))
                                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)))
