from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    OFFICER = "officer"
    MANAGER = "manager"
    ADMIN = "admin"  # the system administrator: users, settings, reference data
    SECURITY_ADMIN = "security_admin"  # password and sign-in policy, second-factor resets, ending sessions
    AUDIT_ADMIN = "audit_admin"  # reads and exports the audit trail, nothing else


ADMIN_ROLES = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})


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
    """Failed sign-ins per username, shared by every web worker through the database."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(40), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
