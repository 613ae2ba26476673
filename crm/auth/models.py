from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    OFFICER = "officer"
    MANAGER = "manager"
    ADMIN = "admin"  # the system administrator: users, settings, reference data
    SECURITY_ADMIN = "security_admin"  # password and sign-in policy, second-factor resets, ending sessions
    AUDIT_ADMIN = "audit_admin"  # reads and exports the audit trail, nothing else


ADMIN_ROLES = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})
# Who works on the system, not on the zone's business: no business page, never an owner, host or assignee.
NON_BUSINESS_ROLES = frozenset({Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    role: Mapped[str] = mapped_column(String(20), default=Role.OFFICER)
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    department: Mapped[str] = mapped_column(String(60), default="", server_default="")  # 科室, for targets
    # Whom overdue follow-ups escalate to; without one they go to every manager.
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    password_hash: Mapped[str] = mapped_column(String(255))
    # When the user's second factor (crm/auth/second_factor.py) was set up; None: none. Its secret is elsewhere.
    second_factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(default=True)
    # A password an administrator set (on creating the account or resetting it) is changed at the next sign-in;
    # so is one older than the policy's maximum age (crm/auth/password_policy.py).
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_manager(self) -> bool:
        return self.role in (Role.MANAGER, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        """The system administrator (the role named "admin")."""
        return self.role == Role.ADMIN

    @property
    def is_security_admin(self) -> bool:
        return self.role == Role.SECURITY_ADMIN

    @property
    def is_audit_admin(self) -> bool:
        return self.role == Role.AUDIT_ADMIN


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    client_address: Mapped[str] = mapped_column(String(64), default="", server_default="")


class LoginThrottle(Base):
    """Failed sign-ins, shared by every web worker through the database (crm/auth/throttle.py). One row per key:
    "ip:<address>" (every failure from a client address), "user:<username>" (every failure on an account), and
    "user+ip:<username>|<address>" (when that address may next try that account while others keep it throttled)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasswordPolicy(Base):
    """The password rules the security administrator sets: one row (id 1); without it the defaults apply."""

    __tablename__ = "password_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    min_length: Mapped[int] = mapped_column(Integer, default=8)
    require_classes: Mapped[bool] = mapped_column(default=True)  # at least 3 of upper, lower, digit, symbol
    max_age_days: Mapped[int | None] = mapped_column(Integer)  # None: passwords do not expire
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class SecondFactor(Base):
    """A user's TOTP secret (RFC 6238). Kept out of user_account, so it is never loaded with the signed-in user;
    shown only while the set-up is unconfirmed (confirmed_at None)."""

    __tablename__ = "second_factor"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)  # a code of this time step or earlier is refused


class RecoveryCode(Base):
    """A one-time code that stands in for the TOTP code; only its SHA-256 is stored."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInChallenge(Base):
    """A sign-in waiting for its second factor: the password was right, the session not yet made. Bound to the
    browser by a cookie holding a random token (only its SHA-256 is stored); short-lived, with bounded attempts."""

    __tablename__ = "sign_in_challenge"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    next_url: Mapped[str] = mapped_column(String(500), default="/")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
