"""Reminders are rows: the outbox (one row per reminder and channel, unique on its deterministic key), the in-app
inbox, the admin's settings per rule and each user's choices."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    WEBHOOK = "webhook"
    EVENT = "event"  # an event webhook's delivery (crm/webhooks): entity webhook_delivery, recipient its owner


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waits for due_at (its time, the end of quiet hours, or a retry's backoff)
    HELD = "held"  # kept for the recipient's daily digest
    SENDING = "sending"  # claimed by one scheduler until claimed_until; after that another may claim it again
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt; an admin can retry it
    CANCELLED = "cancelled"  # no longer true when its time came (task done or rescheduled, rule turned off, ...)
    DIGESTED = "digested"  # went out inside a digest (digest_id)


class Outbox(Base):
    """One reminder for one recipient on one channel. The key (rule, entity_type, entity_id, occasion, recipient_id,
    channel) is deterministic and unique, so planning the same reminder twice — two schedulers, a restart, a
    digest that gathered it first — inserts it once."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("rule", "entity_type", "entity_id", "occasion", "recipient_id", "channel",
                         name="uq_outbox_key"),
        Index("ix_outbox_status_due", "status", "due_at", "id"),
        Index("ix_outbox_recipient", "recipient_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(30))
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    occasion: Mapped[str] = mapped_column(String(40))  # which reminder of the record: "due:2026-12-02", ...
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING)
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the rule says it falls due
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it may be sent (quiet hours, backoff)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what the message says, as data
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    claimed_by: Mapped[str] = mapped_column(String(80), default="")
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    recipient: Mapped[User] = relationship(lazy="raise")

    @property
    def key(self) -> str:
        return f"{self.rule}/{self.entity_type}:{self.entity_id}/{self.occasion}/{self.recipient_id}/{self.channel}"


class Notification(Base):
    """An in-app notification (the header's bell). Its text is rendered when shown, in the reader's language."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"), unique=True)
    rule: Mapped[str] = mapped_column(String(30))
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    occasion: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RuleSetting(Base):
    """The administrator's settings for one rule of the registry (crm/notifications/rules), created with the
    rule's defaults the first time it is read; planned_until is how far the scheduler has planned it."""

    __tablename__ = "reminder_rule"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    days: Mapped[int | None] = mapped_column(Integer)  # the rule's N, when it has one
    at_time: Mapped[time] = mapped_column(Time)  # local time of day it fires
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)  # default channels, until a user chooses
    email: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook: Mapped[bool] = mapped_column(Boolean, default=False)
    planned_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RulePreference(Base):
    """A user's channels for one rule (no row: the administrator's defaults)."""

    __tablename__ = "reminder_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(30), primary_key=True)
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook: Mapped[bool] = mapped_column(Boolean, default=False)


class NotificationSetting(Base):
    """A user's quiet hours, daily digest and webhook URL (no row: none, off, none)."""

    __tablename__ = "notification_setting"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)  # before quiet_start: the quiet hours run overnight
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_url: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
