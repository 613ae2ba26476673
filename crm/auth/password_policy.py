"""The password policy (issue 13, 身份鉴别): the rules every password set anywhere must meet, which the security
administrator sets at /admin/security/policy, and the account-gate check that sends a user whose password an
administrator set, or whose password is older than the maximum age, to /account/password before any other page."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request

from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth import gate
from crm.auth.models import PasswordPolicy, User
from crm.db import utcnow
from crm.i18n import N_, Msg
from crm.versioning import flush_versioned, require_version

POLICY_ID = 1
CHANGE_PASSWORD_URL = "/account/password"  # noqa: S105 - a page, not a password
MIN_LENGTH_RANGE = (8, 64)  # below 8 would not meet 二级
MAX_AGE_RANGE = (1, 3650)
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
POLICY_AUDIT_FIELDS = ["min_length", "require_classes", "max_age_days"]


@dataclass(frozen=True)
class Rules:
    min_length: int = 8
    require_classes: bool = True
    max_age_days: int | None = None
    version: int = 0  # 0: the defaults, never saved

    @classmethod
    def of(cls, policy: PasswordPolicy | None) -> Rules:
        if policy is None:
            return cls()
        return cls(min_length=policy.min_length, require_classes=policy.require_classes,
                   max_age_days=policy.max_age_days, version=policy.version)


class PolicyError(Exception):
    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def character_classes(password: str) -> int:
    return (any(c.isupper() for c in password) + any(c.islower() for c in password)
            + any(c.isdigit() for c in password) + any(not c.isalnum() for c in password))


def problem(rules: Rules, password: str, *, username: str) -> Msg | None:
    """What is wrong with the password under these rules, in the reader's language; None when it is acceptable."""
    if len(password) < rules.min_length:
        return Msg("A password has at least %(n)s characters.", n=rules.min_length)
    if rules.require_classes and character_classes(password) < 3:
        return Msg("Use at least three of: upper-case letters, lower-case letters, digits, symbols.")
    if username and username.lower() in password.lower():
        return Msg("A password must not contain the username.")
    if password.lower() in common_passwords():
        return Msg("This password is one of the most common ones; choose another.")
    return None


def summary(rules: Rules) -> Msg:
    """The rules in one sentence, shown beside every password field."""
    if rules.require_classes:
        return Msg("At least %(n)s characters, from at least three of: upper-case letters, lower-case letters, "
                   "digits, symbols; not the username nor a common password.", n=rules.min_length)
    return Msg("At least %(n)s characters; not the username nor a common password.", n=rules.min_length)


def rules(session: Session) -> Rules:
    return Rules.of(session.get(PasswordPolicy, POLICY_ID))


def check(session: Session, password: str, *, username: str) -> Msg | None:
    return problem(rules(session), password, username=username)


def _parse_int(raw: str, *, low: int, high: int) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and low <= int(raw) <= high else None


def save(session: Session, *, data: dict[str, str], version: int | None, actor: User) -> PasswordPolicy:
    """Validates and stores the rules (one row, versioned: a save on a copy someone changed since is refused with
    StaleEdit), audited as a change of the "password_policy" record."""
    errors: dict[str, Msg] = {}
    min_length = _parse_int(data.get("min_length", ""), low=MIN_LENGTH_RANGE[0], high=MIN_LENGTH_RANGE[1])
    if min_length is None:
        errors["min_length"] = Msg("A whole number from %(low)s to %(high)s.", low=MIN_LENGTH_RANGE[0],
                                   high=MIN_LENGTH_RANGE[1])
    max_age: int | None = None
    if data.get("max_age_days", "").strip():
        max_age = _parse_int(data["max_age_days"], low=MAX_AGE_RANGE[0], high=MAX_AGE_RANGE[1])
        if max_age is None:
            errors["max_age_days"] = Msg("A whole number from %(low)s to %(high)s, or empty for no limit.",
                                         low=MAX_AGE_RANGE[0], high=MAX_AGE_RANGE[1])
    if errors:
        raise PolicyError(errors)
    policy = session.get(PasswordPolicy, POLICY_ID)
    if policy is None:
        if version != 0:  # someone saved the first version meanwhile
            session.rollback()
            policy = session.get(PasswordPolicy, POLICY_ID)
            require_version(session, record=policy or PasswordPolicy(id=POLICY_ID, version=0),
                            entity_type="password_policy", version=version)
        policy = PasswordPolicy(id=POLICY_ID)
        session.add(policy)
        before: dict = dict.fromkeys(POLICY_AUDIT_FIELDS)
        before.update(min_length=Rules().min_length, require_classes=Rules().require_classes)
    else:
        require_version(session, record=policy, entity_type="password_policy", version=version)
        before = audit_service.snapshot(policy, POLICY_AUDIT_FIELDS)
    policy.min_length = min_length
    policy.require_classes = data.get("require_classes") == "1"
    policy.max_age_days = max_age
    flush_versioned(session, record=policy, entity_type="password_policy", version=version,
                    reload=lambda s, i: s.get(PasswordPolicy, i))
    audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type="password_policy",
                         entity_id=POLICY_ID, entity_label="password policy", entity_version=policy.version,
                         changes=audit_service.diff(before, audit_service.snapshot(policy, POLICY_AUDIT_FIELDS)))
    session.commit()
    forget_cached()
    return policy


# The account gate asks on every request whether the password has expired: the maximum age is kept in memory for
# CACHE_SECONDS (a change made in another worker takes effect within that time, in this one at once).
CACHE_SECONDS = 30.0
_cached: dict[int, tuple[float, int | None]] = {}


def forget_cached() -> None:
    _cached.clear()


def _max_age_days(request: Request) -> int | None:
    database = request.app.state.database
    key = id(database)
    hit = _cached.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    with database.loop_engine.connect() as connection:
        max_age = connection.scalar(select(PasswordPolicy.max_age_days).where(PasswordPolicy.id == POLICY_ID))
    _cached[key] = (now + CACHE_SECONDS, max_age)
    return max_age


def password_expired(user: User, max_age_days: int | None) -> bool:
    if not max_age_days:
        return False
    changed = user.password_changed_at or user.created_at
    return changed is not None and utcnow() - changed > timedelta(days=max_age_days)


def must_change(request: Request, user: User) -> str | None:
    """The account gate's check: a password an administrator set, or an expired one, is changed first."""
    if user.must_change_password or password_expired(user, _max_age_days(request)):
        return CHANGE_PASSWORD_URL
    return None


gate.register(must_change)

audit_labels.register("password_policy", label=N_("Password policy"), url="/admin/security/policy", fields={"min_length": N_("Minimum length"),
                                                 "require_classes": N_("Three kinds of characters"),
                                                 "max_age_days": N_("Maximum age (days)")})
