"""Reminders: planning rows from the rules, claiming and delivering them exactly once, the in-app inbox, each user's
choices and the administrator's settings.

Planning (`plan`) runs each rule of the registry over the local dates whose time of day fell since the rule was
last planned (`reminder_rule.planned_until`, a watermark in the database), and writes one outbox row per reminder
and channel with INSERT … ON CONFLICT DO NOTHING on the deterministic key. Delivering (`deliver`) claims due rows —
`FOR UPDATE SKIP LOCKED` on PostgreSQL, inside the write session's `BEGIN IMMEDIATE` on SQLite — drops the ones no
longer true, writes in-app notifications in the claiming transaction itself, and sends e-mail and webhooks after it,
recording the outcome. See docs/architecture.md, "Reminders".
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.config import Settings
from crm.db import Database, utcnow
from crm.i18n import Msg, normalize_locale
from crm.listing import Page, clamp_page
from crm.notifications import channels
from crm.notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationSetting,
    Outbox,
    RulePreference,
    RuleSetting,
)
from crm.notifications.rules import (
    ALL,
    AUDIT_IDS,
    BY_CODE,
    DIGEST,
    RULES,
    Reminder,
    Rendered,
    Rule,
    RuleConfig,
    task_due,
)
from crm.notifications.rules.base import DEFAULT_THRESHOLD

CHANNELS = (Channel.IN_APP, Channel.EMAIL, Channel.WEBHOOK)
MAX_CATCH_UP_DAYS = 14  # after a longer downtime, only the last two weeks' dates are planned
FIRST_RUN_LOOKBACK = timedelta(0)  # a rule never planned before starts from now: nothing old is replayed
CLAIM_BATCH = 500
LEASE = timedelta(minutes=5)  # a claimed row not reported back by then (a scheduler died) may be claimed again
EXTERNAL = (Channel.EMAIL, Channel.WEBHOOK)
SENDS_PER_LEASE = 1 / 3  # a batch of e-mails or webhooks, each at its full timeout, takes at most a third of the lease
AUDITED_RULE_FIELDS = ["enabled", "days", "at_time", "in_app", "email", "webhook"]


# The administrator's settings per rule

def _default_setting(rule: Rule) -> RuleSetting:
    in_app, email, webhook = rule.default_channels
    return RuleSetting(code=rule.code, enabled=True, days=rule.default_days, at_time=rule.default_at, in_app=in_app,
                       email=email, webhook=webhook, planned_until=None)


def rule_settings(session: Session) -> dict[str, RuleSetting]:
    """Every rule's settings; a rule never saved shows its defaults (not stored: reading writes nothing)."""
    stored = {s.code: s for s in session.scalars(select(RuleSetting))}
    return {rule.code: stored.get(rule.code) or _default_setting(rule) for rule in ALL}


def _config(setting: RuleSetting, zone: ZoneInfo, threshold: Decimal = DEFAULT_THRESHOLD) -> RuleConfig:
    return RuleConfig(days=setting.days, at_time=setting.at_time, zone=zone, threshold=threshold)


def _insert(session: Session, model):
    return (postgresql.insert(model) if session.get_bind().dialect.name == "postgresql" else sqlite.insert(model))


def _locked_setting(session: Session, rule: Rule) -> RuleSetting:
    """The rule's row, created with its defaults if missing, locked until commit so that two schedulers plan a
    rule one after the other (PostgreSQL: FOR UPDATE; SQLite: the write session's BEGIN IMMEDIATE already)."""
    default = _default_setting(rule)
    session.execute(_insert(session, RuleSetting).values(
        code=rule.code, enabled=True, days=default.days, at_time=default.at_time, in_app=default.in_app,
        email=default.email, webhook=default.webhook, updated_at=utcnow()).on_conflict_do_nothing())
    return session.scalars(select(RuleSetting).where(RuleSetting.code == rule.code)
                           .with_for_update().execution_options(populate_existing=True)).one()


# Time

def fire_dates(since: datetime, now: datetime, at: time, zone: ZoneInfo) -> list[date]:
    """The local dates whose `at` o'clock lies in (since, now]."""
    first, last = since.astimezone(zone).date(), now.astimezone(zone).date()
    first = max(first, last - timedelta(days=MAX_CATCH_UP_DAYS))
    dates = []
    day = first
    while day <= last:
        moment = datetime.combine(day, at, tzinfo=zone)
        if since < moment <= now:
            dates.append(day)
        day += timedelta(days=1)
    return dates


def after_quiet_hours(moment: datetime, setting: NotificationSetting | None, zone: ZoneInfo) -> datetime:
    """`moment`, or the end of the user's quiet hours when it falls inside them. Quiet hours whose end is before
    their start run overnight (22:00–07:00: from 22:00 to 07:00 the next morning)."""
    if setting is None or setting.quiet_start is None or setting.quiet_end is None:
        return moment
    start, end = setting.quiet_start, setting.quiet_end
    local = moment.astimezone(zone)
    now = local.time()
    if start < end:
        if not start <= now < end:
            return moment
        ends = datetime.combine(local.date(), end, tzinfo=zone)
    else:
        if not (now >= start or now < end):
            return moment
        ends = datetime.combine(local.date() + timedelta(days=1 if now >= start else 0), end, tzinfo=zone)
    return ends.astimezone(UTC)


# Planning

@dataclass
class PlanResult:
    reminders: int = 0  # reminders the rules found (before channels and the unique key)
    digests: int = 0
    rules: list[str] = field(default_factory=list)  # rules that had a date to plan
    seconds: dict[str, float] = field(default_factory=dict)  # each rule's time, planning and writing (for the bench)

    def __str__(self) -> str:
        return f"{self.reminders} reminders from {', '.join(self.rules) or 'no rule'}; {self.digests} digests"


def plan(*, database: Database, now: datetime, timezone: str,
         threshold: Decimal = DEFAULT_THRESHOLD) -> PlanResult:
    """One planning pass: each rule in its own transaction, then the digest. `threshold`: the settings' major-project
    threshold (the readiness board's), for the groundbreaking countdown."""
    zone, result = ZoneInfo(timezone), PlanResult()
    for rule in RULES:
        started = perf_counter()
        with database.write_session() as session:
            found = plan_rule(session, rule=rule, now=now, zone=zone, threshold=threshold)
        result.seconds[rule.code] = perf_counter() - started
        if found is not None:
            result.rules.append(rule.code)
            result.reminders += found
    with database.write_session() as session:
        result.digests = plan_digest(session, now=now, zone=zone, threshold=threshold)
    return result


def plan_rule(session: Session, *, rule: Rule, now: datetime, zone: ZoneInfo,
              threshold: Decimal = DEFAULT_THRESHOLD) -> int | None:
    """Plans `rule` from its watermark to `now` and moves the watermark; None when no date was due."""
    setting = _locked_setting(session, rule)
    since = setting.planned_until or now - FIRST_RUN_LOOKBACK
    found = None
    if setting.enabled and since < now:
        dates = fire_dates(since, now, setting.at_time, zone)
        if dates:
            reminders = rule.plan(session, dates=dates, now=now, config=_config(setting, zone, threshold))
            write(session, reminders, now=now, zone=zone)
            found = len(reminders)
    if setting.planned_until is None or setting.planned_until < now:
        setting.planned_until = now  # never backwards: a slower scheduler's older "now" does not undo a later pass
    session.commit()
    return found


def plan_task_now(session: Session, *, task_id: int, now: datetime, timezone: str) -> int:
    """A follow-up just created, moved or edited after today's time of rule 1 (09:00) has passed: its "due
    tomorrow" or "due today" reminder of today is planned now, in the caller's transaction (not committed here),
    since today's planning pass has already run without it. The rule's own plan, restricted to the task, and the
    same deterministic keys: a later pass (or a scheduler that had not planned today yet) finds the key taken.
    Before the time, or with the rule off, nothing: the pass at the time does it. Returns the outbox rows written."""
    rule = task_due.RULE
    setting = rule_settings(session)[rule.code]
    zone = ZoneInfo(timezone)
    config = _config(setting, zone)
    today = config.local_date(now)
    if not setting.enabled or config.fire_at(today) > now:
        return 0
    reminders = [r for r in rule.plan(session, dates=[today], now=now, config=config, task_ids=[task_id])
                 if r.occasion.split(":", 1)[0] in ("before", "due")]  # overdue and escalations: the passes' own
    return write(session, reminders, now=now, zone=zone)


@dataclass
class _Recipients:
    users: dict[int, tuple[bool, str]]  # id: (active, e-mail)
    prefs: dict[tuple[int, str], tuple[bool, bool, bool]]
    settings: dict[int, NotificationSetting]


def _recipients(session: Session, user_ids: Iterable[int]) -> _Recipients:
    ids = list(set(user_ids))
    users, prefs, settings = {}, {}, {}
    for chunk in (ids[i:i + 1000] for i in range(0, len(ids), 1000)):
        users.update({uid: (active, email) for uid, active, email in session.execute(
            select(User.id, User.is_active, User.email).where(User.id.in_(chunk)))})
        prefs.update({(p.user_id, p.rule): (p.in_app, p.email, p.webhook) for p in session.scalars(
            select(RulePreference).where(RulePreference.user_id.in_(chunk)))})
        settings.update({s.user_id: s for s in session.scalars(
            select(NotificationSetting).where(NotificationSetting.user_id.in_(chunk)))})
    return _Recipients(users, prefs, settings)


def write(session: Session, reminders: Sequence[Reminder], *, now: datetime, zone: ZoneInfo,
          only_channels: Sequence[str] = CHANNELS) -> int:
    """One outbox row per reminder and channel its recipient reads (their choice, or the rule's defaults), inserted
    unless its key is already there. E-mail and webhook wait for the end of quiet hours, or are held for the digest."""
    if not reminders:
        return 0
    settings = rule_settings(session)
    digest_on = settings[DIGEST.code].enabled
    who = _recipients(session, (r.recipient_id for r in reminders))
    rows = []
    for reminder in reminders:
        active, email = who.users.get(reminder.recipient_id, (False, ""))
        if not active:
            continue
        setting = settings[reminder.rule]
        chosen = who.prefs.get((reminder.recipient_id, reminder.rule), (setting.in_app, setting.email, setting.webhook))
        personal = who.settings.get(reminder.recipient_id)
        for channel, on in zip(CHANNELS, chosen, strict=True):
            if not on or channel not in only_channels:
                continue
            if channel == Channel.EMAIL and not email:
                continue
            if channel == Channel.WEBHOOK and not (personal and personal.webhook_url):
                continue
            status, due_at = DeliveryStatus.PENDING, reminder.fire_at
            if channel != Channel.IN_APP:
                if digest_on and personal is not None and personal.digest:
                    status = DeliveryStatus.HELD
                else:
                    due_at = after_quiet_hours(reminder.fire_at, personal, zone)
            rows.append({"rule": reminder.rule, "entity_type": reminder.entity_type, "entity_id": reminder.entity_id,
                         "occasion": reminder.occasion, "recipient_id": reminder.recipient_id, "channel": channel.value,
                         "status": status.value, "fire_at": reminder.fire_at, "due_at": due_at,
                         "payload": reminder.payload, "attempts": 0, "last_error": "", "claimed_by": "",
                         "created_at": now})
    stmt = _insert(session, Outbox).on_conflict_do_nothing()
    for start in range(0, len(rows), 2000):
        session.execute(stmt, rows[start:start + 2000])
    return len(rows)


def plan_digest(session: Session, *, now: datetime, zone: ZoneInfo, threshold: Decimal = DEFAULT_THRESHOLD) -> int:
    """At the digest's time: the day's e-mail and webhook reminders of those who chose the digest, gathered into one
    message per user and channel (rules are asked for the whole day, so reminders due later that day come too;
    when their rule fires, their key is taken and nothing more is sent). Held rows of users who no longer want
    the digest are released to be sent on their own."""
    setting = _locked_setting(session, DIGEST)
    since = setting.planned_until or now - FIRST_RUN_LOOKBACK
    settings = rule_settings(session)
    made = 0
    if not setting.enabled:
        _release_held(session, now=now, zone=zone, user_ids=None)
    elif since < now and (dates := fire_dates(since, now, setting.at_time, zone)):
        day = dates[-1]
        digest_users = set(session.scalars(
            select(NotificationSetting.user_id).join(User, User.id == NotificationSetting.user_id)
            .where(NotificationSetting.digest.is_(True), User.is_active.is_(True))))
        if digest_users:
            for rule in RULES:
                if settings[rule.code].enabled:
                    reminders = rule.plan(session, dates=[day], now=now, config=_config(settings[rule.code], zone, threshold),
                                          recipients=digest_users)
                    write(session, reminders, now=now, zone=zone, only_channels=(Channel.EMAIL, Channel.WEBHOOK))
        made = _gather(session, day=day, now=now, zone=zone, digest_users=digest_users)
    if setting.planned_until is None or setting.planned_until < now:
        setting.planned_until = now  # never backwards: a slower scheduler's older "now" does not undo a later pass
    session.commit()
    return made


def _release_held(session: Session, *, now: datetime, zone: ZoneInfo, user_ids: set[int] | None) -> None:
    stmt = select(Outbox).where(Outbox.status == DeliveryStatus.HELD)
    if user_ids is not None:
        stmt = stmt.where(Outbox.recipient_id.in_(user_ids))
    held = list(session.scalars(stmt))
    personal = _recipients(session, (row.recipient_id for row in held)).settings
    for row in held:
        row.status = DeliveryStatus.PENDING
        row.due_at = after_quiet_hours(max(row.fire_at, now), personal.get(row.recipient_id), zone)


def _gather(session: Session, *, day: date, now: datetime, zone: ZoneInfo, digest_users: set[int]) -> int:
    until = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    held = list(session.scalars(select(Outbox).where(Outbox.status == DeliveryStatus.HELD, Outbox.fire_at < until)
                                .order_by(Outbox.recipient_id, Outbox.channel, Outbox.fire_at, Outbox.id)))
    _release_held(session, now=now, zone=zone, user_ids={r.recipient_id for r in held} - digest_users)
    held = [row for row in held if row.recipient_id in digest_users]
    still = _still_current(session, held, zone=zone)
    groups: dict[tuple[int, str], list[Outbox]] = defaultdict(list)
    for row in held:
        if row.id in still:
            groups[row.recipient_id, row.channel].append(row)
        else:
            row.status = DeliveryStatus.CANCELLED
    personal = _recipients(session, digest_users).settings
    fire_at = datetime.combine(day, rule_settings(session)[DIGEST.code].at_time, tzinfo=zone).astimezone(UTC)
    made = 0
    for (user_id, channel), items in groups.items():
        session.execute(_insert(session, Outbox).values(
            rule=DIGEST.code, entity_type="user", entity_id=user_id, occasion=day.isoformat(), recipient_id=user_id,
            channel=channel, status=DeliveryStatus.PENDING, fire_at=fire_at,
            due_at=after_quiet_hours(max(fire_at, now), personal.get(user_id), zone), payload={"count": len(items)},
            attempts=0, last_error="", claimed_by="", created_at=now).on_conflict_do_nothing())
        digest_id = session.scalar(select(Outbox.id).where(
            Outbox.rule == DIGEST.code, Outbox.entity_type == "user", Outbox.entity_id == user_id,
            Outbox.occasion == day.isoformat(), Outbox.recipient_id == user_id, Outbox.channel == channel))
        for row in items:
            row.status, row.digest_id = DeliveryStatus.DIGESTED, digest_id
        made += 1
    return made


# Delivering

def _still_current(session: Session, rows: Sequence[Outbox], *, zone: ZoneInfo) -> set[int]:
    """The ids of `rows` still true now: their rule is on and says so (digests always are)."""
    settings = rule_settings(session)
    by_rule: dict[str, list[Outbox]] = defaultdict(list)
    for row in rows:
        by_rule[row.rule].append(row)
    still: set[int] = set()
    for code, group in by_rule.items():
        rule, setting = BY_CODE.get(code), settings.get(code)
        if rule is None or setting is None or not setting.enabled:
            continue
        if rule is DIGEST:
            still.update(row.id for row in group)
        else:
            still |= rule.current(session, group, config=_config(setting, zone))
    return still


@dataclass
class DeliveryResult:
    in_app: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0  # quiet hours
    taken_over: int = 0  # leases that ran out before the send: another scheduler sends them
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.in_app} in-app, {self.sent} sent, {self.retried} to retry, {self.failed} failed, "
                f"{self.cancelled} cancelled, {self.deferred} deferred"
                + (f", {self.taken_over} taken over by another scheduler" if self.taken_over else ""))


def send_batch(settings: Settings, batch: int = CLAIM_BATCH) -> int:
    """How many e-mail and webhook rows one claim takes: few enough that, each at its full timeout, they are sent
    well within the lease (10 at the defaults: 10 × 10 s against 300 s)."""
    slowest = max(settings.smtp_timeout_seconds, settings.webhook_timeout_seconds, 0.001)
    return max(1, min(batch, int(settings.reminder_lease_seconds * SENDS_PER_LEASE / slowest)))


class _Clock:
    """The pass's `now` moved on by the time the pass has taken: leases are measured with it, so a lease taken an
    hour into a pass started at `now` does not run out at `now` + 5 minutes (and a test's frozen `now` still
    works)."""

    def __init__(self, now: datetime) -> None:
        self.now, self.started = now, perf_counter()

    def elapsed(self) -> float:
        return perf_counter() - self.started

    def __call__(self) -> datetime:
        return self.now + timedelta(seconds=self.elapsed())


def deliver(*, database: Database, settings: Settings, now: datetime, worker: str, batch: int = CLAIM_BATCH,
            max_batches: int = 20) -> DeliveryResult:
    """Claims due rows and delivers them, in two steps so that e-mail never holds up the in-app inbox:
    1. in-app rows, `batch` at a time, each written in the claiming transaction (exactly once by construction);
    2. e-mail and webhook rows in small batches (`send_batch`), each row's lease renewed right before it is sent
       (a row whose lease another scheduler took over is left to it) and its outcome recorded right after.
       After `reminder_send_seconds` no more is started: what is left waits for the next pass, unclaimed."""
    result = DeliveryResult()
    zone = ZoneInfo(settings.timezone)
    clock = _Clock(now)
    lease = timedelta(seconds=settings.reminder_lease_seconds)
    for _ in range(max_batches):
        with database.write_session() as session:
            claimed, _ids = claim(session, now=now, worker=worker, zone=zone, limit=batch, result=result,
                                  channels_=(Channel.IN_APP,), at=clock(), lease=lease)
            session.commit()
        if claimed < batch:
            break
    size = send_batch(settings, batch)
    with channels.Mailer(settings) as mailer:
        for _ in range(max_batches * max(1, batch // size)):
            if clock.elapsed() >= settings.reminder_send_seconds:
                break
            with database.write_session() as session:
                claimed, outside = claim(session, now=now, worker=worker, zone=zone, limit=size, result=result,
                                         channels_=EXTERNAL, at=clock(), lease=lease)
                session.commit()
            if outside:
                _send_all(database, settings, outside, now=now, worker=worker, result=result, clock=clock,
                          lease=lease, mailer=mailer)
            if claimed < size:
                break
    return result


Current = Callable[[Session, Sequence[Outbox]], set[int]]  # which claimed rows are still wanted (their ids)
Send = Callable[[Outbox], tuple[str | None, Callable[[Session], None] | None]]


def deliver_outside(*, database: Database, settings: Settings, now: datetime, worker: str, channel: Channel,
                    current: Current, send: Send, batch: int = CLAIM_BATCH, max_batches: int = 20) -> DeliveryResult:
    """Delivers the due rows of another outside channel (the event webhooks, crm/webhooks) exactly as the
    reminders' e-mails and webhooks go: claimed in small batches under a lease, each row's lease renewed right
    before it is sent, the outcome recorded right after with the same backoff and last attempt (`record_outcomes`),
    and nothing more started after `reminder_send_seconds`. `current(session, rows)` keeps the rows still wanted
    (the others are cancelled); `send(row)` sends one and returns its error (None: sent) and, optionally, what to
    write with the outcome, in the same transaction (the delivery log's HTTP status and response time)."""
    result = DeliveryResult()
    zone, clock = ZoneInfo(settings.timezone), _Clock(now)
    lease = timedelta(seconds=settings.reminder_lease_seconds)
    size = send_batch(settings, batch)
    for _ in range(max_batches * max(1, batch // size)):
        if clock.elapsed() >= settings.reminder_send_seconds:
            break
        with database.write_session() as session:
            claimed, ids = claim(session, now=now, worker=worker, zone=zone, limit=size, result=result,
                                 channels_=(channel,), at=clock(), lease=lease, current=current)
            session.commit()
        with database.read_sessions() as session:
            rows = list(session.scalars(select(Outbox).where(Outbox.id.in_(ids)).order_by(Outbox.id))) if ids else []
        for row in rows:
            if clock.elapsed() >= settings.reminder_send_seconds:
                _release(database, row.id, worker=worker)
                continue
            if not _renew(database, row.id, worker=worker, at=clock(), lease=lease):
                result.taken_over += 1
                continue
            error, after = send(row)
            with database.write_session() as session:
                record_outcomes(session, {row.id: error}, attempts={row.id: row.attempts}, now=now, worker=worker,
                                settings=settings, result=result)
                if after is not None:
                    after(session)
                session.commit()
        if claimed < size:
            break
    return result


def claim(session: Session, *, now: datetime, worker: str, zone: ZoneInfo, limit: int,
          result: DeliveryResult | None = None, channels_: Sequence[str] = CHANNELS, at: datetime | None = None,
          lease: timedelta = LEASE, current: Current | None = None) -> tuple[int, list[int]]:
    """In the caller's write transaction: rows of `channels_` due by `now`, locked against other schedulers; stale
    ones cancelled, quiet hours respected, in-app ones delivered, the rest marked as being sent by `worker` until
    `at` + `lease` (their ids returned). `at` is the current time (`now` unless the pass has gone on a while).
    `current` says which rows are still wanted (default: the reminder rules'); quiet hours are a person's, so they
    hold back reminders' e-mails and webhooks only, not the event webhooks (Channel.EVENT)."""
    result = result if result is not None else DeliveryResult()
    at = at or now
    session.execute(update(Outbox).where(Outbox.status == DeliveryStatus.SENDING, Outbox.claimed_until < at)
                    .values(status=DeliveryStatus.PENDING, claimed_by=""))
    wanted = [Channel(c).value for c in channels_]
    stmt = select(Outbox).where(Outbox.status == DeliveryStatus.PENDING, Outbox.due_at <= now)
    if len(wanted) < len(CHANNELS):
        stmt = stmt.where(Outbox.channel.in_(wanted))
    rows = list(session.scalars(stmt.order_by(Outbox.due_at, Outbox.id).limit(limit)
                                .with_for_update(skip_locked=True)))
    if not rows:
        return 0, []
    still = current(session, rows) if current is not None else _still_current(session, rows, zone=zone)
    personal = _recipients(session, {r.recipient_id for r in rows if r.channel in EXTERNAL}).settings
    in_app, cancelled, outside = [], [], []
    for row in rows:
        if row.id not in still:
            cancelled.append(row.id)
        elif row.channel == Channel.IN_APP:
            in_app.append(row)
        else:
            later = after_quiet_hours(now, personal.get(row.recipient_id), zone) if row.channel in EXTERNAL else now
            if later > now:
                row.due_at = later
                result.deferred += 1
            else:
                outside.append(row.id)
    if cancelled:
        session.execute(update(Outbox).where(Outbox.id.in_(cancelled)).values(status=DeliveryStatus.CANCELLED))
    if in_app:
        session.execute(_insert(session, Notification).on_conflict_do_nothing(), [
            {"user_id": row.recipient_id, "outbox_id": row.id, "rule": row.rule, "entity_type": row.entity_type,
             "entity_id": row.entity_id, "occasion": row.occasion, "payload": row.payload, "created_at": now}
            for row in in_app])
        session.execute(update(Outbox).where(Outbox.id.in_([row.id for row in in_app]))
                        .values(status=DeliveryStatus.SENT, sent_at=now, attempts=Outbox.attempts + 1))
    if outside:
        session.execute(update(Outbox).where(Outbox.id.in_(outside)).values(
            status=DeliveryStatus.SENDING, claimed_by=worker, claimed_until=at + lease, attempts=Outbox.attempts + 1))
    result.in_app += len(in_app)
    result.cancelled += len(cancelled)
    return len(rows), outside


@dataclass
class Composed:
    subject: str
    text: str
    html: str


def compose(session: Session, row: Outbox, *, locale: str, base_url: str) -> Composed:
    """The message of a row in `locale`: a rule's reminder, or a digest with its items."""
    base = base_url.rstrip("/")
    if row.rule == DIGEST.code:
        head = DIGEST.render(entity_id=row.entity_id, occasion=row.occasion, payload=row.payload, locale=locale)
        items = session.scalars(select(Outbox).where(Outbox.digest_id == row.id).order_by(Outbox.fire_at, Outbox.id))
        parts = [render(item, locale) for item in items]
        text = "\n\n".join(f"• {p.subject}\n" + "".join(f"  {line}\n" for line in p.lines) + f"  {base}{p.url}"
                           for p in parts)
        html = "".join(f'<li><a href="{escape(base + p.url)}">{escape(p.subject)}</a>'
                       + "".join(f"<br>{escape(line)}" for line in p.lines) + "</li>" for p in parts)
        footer = Msg("All your notifications: %(url)s", url=f"{base}/notifications").translate(locale)
        return Composed(subject=head.subject, text=f"{text}\n\n{footer}\n",
                        html=f"<ul>{html}</ul><p>{escape(footer)}</p>")
    rendered = render(row, locale)
    link = Msg("Open in the CRM: %(url)s", url=f"{base}{rendered.url}").translate(locale)
    text = "\n".join(rendered.lines) + f"\n\n{link}\n"
    html = "".join(f"<p>{escape(line)}</p>" for line in rendered.lines)
    html += f'<p><a href="{escape(base + rendered.url)}">{escape(Msg("Open in the CRM").translate(locale))}</a></p>'
    return Composed(subject=rendered.subject, text=text, html=html)


def render(row: Outbox | Notification, locale: str) -> Rendered:
    rule = BY_CODE.get(row.rule)
    if rule is None:
        return Rendered(subject=row.rule)
    return rule.render(entity_id=row.entity_id, occasion=row.occasion, payload=row.payload or {}, locale=locale)


def _message_id(row: Outbox, base_url: str) -> str:
    digest = hashlib.sha256(row.key.encode()).hexdigest()[:32]
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "crm"
    return f"<reminder-{digest}@{host}>"


def _send_all(database: Database, settings: Settings, ids: list[int], *, now: datetime, worker: str,
              result: DeliveryResult, clock: _Clock | None = None, lease: timedelta = LEASE,
              mailer: channels.Mailer | None = None) -> None:
    with database.read_sessions() as session:
        rows = list(session.scalars(select(Outbox).where(Outbox.id.in_(ids)).order_by(Outbox.id)))
        users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({r.recipient_id for r in rows})))}
        personal = {s.user_id: s for s in session.scalars(select(NotificationSetting).where(
            NotificationSetting.user_id.in_(list(users))))}
        messages = {}
        for row in rows:
            user = users[row.recipient_id]
            messages[row.id] = (row, user, compose(session, row, locale=normalize_locale(user.locale),
                                                   base_url=settings.base_url))
    clock = clock or _Clock(now)
    own_mailer = mailer is None
    mailer = mailer or channels.Mailer(settings)
    try:
        for row_id, (row, user, message) in messages.items():
            late = clock.elapsed() >= settings.reminder_send_seconds
            if late or (row.channel == Channel.EMAIL and mailer.down is not None):
                _release(database, row_id, worker=worker)  # not tried: back in the queue, no attempt counted
                continue
            if not _renew(database, row_id, worker=worker, at=clock(), lease=lease):
                result.taken_over += 1  # its lease ran out and another scheduler has it now: not sent here
                continue
            try:
                if row.channel == Channel.EMAIL:
                    mailer.send(to=user.email, subject=message.subject, text=message.text, html=message.html,
                                message_id=_message_id(row, settings.base_url))
                else:
                    setting = personal.get(user.id)
                    channels.send_webhook(settings, url=setting.webhook_url if setting else "",
                                          content=f"{message.subject}\n{message.text}")
                error = None
            except channels.SendError as failure:
                error = str(failure)[:1000]
            with database.write_session() as session:
                record_outcomes(session, {row_id: error}, attempts={row_id: row.attempts}, now=now, worker=worker,
                                settings=settings, result=result)
                session.commit()
    finally:
        if own_mailer:
            mailer.close()


def _renew(database: Database, row_id: int, *, worker: str, at: datetime, lease: timedelta) -> bool:
    """Right before a send: the row's lease is extended if the row is still being sent by this worker. A lease that
    ran out may have been taken over (another claim set the row back to pending and then to its own worker): that
    row is not sent here. The update waits for such a claim's row lock (PostgreSQL) or write lock (SQLite)."""
    with database.write_session() as session:
        done = session.execute(update(Outbox).where(
            Outbox.id == row_id, Outbox.status == DeliveryStatus.SENDING, Outbox.claimed_by == worker)
            .values(claimed_until=at + lease)).rowcount
        session.commit()
    return bool(done)


def _release(database: Database, row_id: int, *, worker: str) -> None:
    """A claimed row this pass will not try after all goes back to the queue as it was."""
    with database.write_session() as session:
        session.execute(update(Outbox).where(
            Outbox.id == row_id, Outbox.status == DeliveryStatus.SENDING, Outbox.claimed_by == worker).values(
            status=DeliveryStatus.PENDING, claimed_by="", claimed_until=None, attempts=Outbox.attempts - 1))
        session.commit()


def record_outcomes(session: Session, outcomes: dict[int, str | None], *, attempts: dict[int, int], now: datetime,
                    worker: str, settings: Settings, result: DeliveryResult) -> None:
    """Sent, or back to pending with a backoff (retry_seconds · 2^(attempt−1)), or failed after the last attempt.
    Only rows still claimed by this worker are touched (a lease that ran out belongs to whoever claimed it since)."""
    mine = (Outbox.status == DeliveryStatus.SENDING) & (Outbox.claimed_by == worker)
    for row_id, error in outcomes.items():
        if error is None:
            values: dict[str, Any] = {"status": DeliveryStatus.SENT, "sent_at": now, "claimed_until": None,
                                      "last_error": ""}
            result.sent += 1
        elif attempts[row_id] >= settings.reminder_max_attempts:
            values = {"status": DeliveryStatus.FAILED, "claimed_until": None, "last_error": error}
            result.failed += 1
            result.errors.append(error)
        else:
            backoff = timedelta(seconds=settings.reminder_retry_seconds * 2 ** (attempts[row_id] - 1))
            values = {"status": DeliveryStatus.PENDING, "due_at": now + backoff, "claimed_until": None,
                      "last_error": error}
            result.retried += 1
            result.errors.append(error)
        session.execute(update(Outbox).where(Outbox.id == row_id, mine).values(**values))


# The in-app inbox

@dataclass
class InboxItem:
    notification: Notification
    rendered: Rendered


# Built once (its cache key is memoized): the bell asks for it every minute from every open tab.
_UNREAD = select(func.count(Notification.id)).where(Notification.user_id == bindparam("user_id"),
                                                    Notification.read_at.is_(None))


def unread_count(session: Session, *, user_id: int) -> int:
    return session.scalar(_UNREAD, {"user_id": user_id}) or 0


def inbox_page(session: Session, *, user_id: int, locale: str, page: int, per_page: int,
               unread_only: bool = False) -> Page:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    total = session.scalar(stmt.with_only_columns(func.count(Notification.id)).order_by(None)) or 0
    page = clamp_page(page, total, per_page)
    rows = session.scalars(stmt.order_by(Notification.id.desc()).offset((page - 1) * per_page).limit(per_page))
    items = [InboxItem(notification=n, rendered=render(n, locale)) for n in rows]
    return Page(items=items, total=total, page=page, per_page=per_page)


def get_notification(session: Session, *, user_id: int, notification_id: int) -> Notification | None:
    return session.scalar(select(Notification).where(Notification.id == notification_id,
                                                     Notification.user_id == user_id))


def mark_read(session: Session, *, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = utcnow()
        session.commit()
    return notification


def mark_all_read(session: Session, *, user_id: int) -> int:
    done = session.execute(update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
                           .values(read_at=utcnow())).rowcount
    session.commit()
    return done or 0


def link_for(notification: Notification) -> str:
    return render(notification, "en").url


# A user's choices

@dataclass
class Preferences:
    channels: dict[str, tuple[bool, bool, bool]]  # rule code: (in-app, e-mail, webhook)
    customized: set[str]  # rules the user chose for (the others follow the administrator's defaults)
    quiet_start: time | None
    quiet_end: time | None
    digest: bool
    webhook_url: str


def preferences(session: Session, *, user_id: int) -> Preferences:
    settings = rule_settings(session)
    chosen = {p.rule: (p.in_app, p.email, p.webhook) for p in session.scalars(
        select(RulePreference).where(RulePreference.user_id == user_id))}
    personal = session.get(NotificationSetting, user_id)
    return Preferences(
        channels={code: chosen.get(code, (s.in_app, s.email, s.webhook)) for code, s in settings.items()
                  if code != DIGEST.code},
        customized=set(chosen), quiet_start=personal.quiet_start if personal else None,
        quiet_end=personal.quiet_end if personal else None, digest=bool(personal and personal.digest),
        webhook_url=personal.webhook_url if personal else "")


class InvalidPreferences(Exception):
    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def check_quiet_hours(start: time | None, end: time | None) -> dict[str, Msg]:
    if (start is None) != (end is None):
        return {"quiet_end" if end is None else "quiet_start": Msg("Give both the start and the end of the quiet hours, or neither.")}
    if start is not None and start == end:
        return {"quiet_end": Msg("Quiet hours must end at another time than they start. To be quiet overnight, end them the next morning (22:00 to 07:00).")}
    return {}


def save_preferences(session: Session, *, user: User, channels_by_rule: dict[str, tuple[bool, bool, bool]],
                     quiet_start: time | None, quiet_end: time | None, digest: bool, webhook_url: str,
                     allow_private_webhooks: bool) -> None:
    errors = check_quiet_hours(quiet_start, quiet_end)
    if webhook_url:
        refused = channels.check_webhook_url(webhook_url, allow_private=allow_private_webhooks)
        if refused is not None:
            errors["webhook_url"] = refused
    if not webhook_url and any(c[2] for c in channels_by_rule.values()):
        errors["webhook_url"] = Msg("Give a webhook address, or untick the webhook boxes.")
    if any(c[1] for c in channels_by_rule.values()) and not user.email:
        errors["email"] = Msg("You have no e-mail address on file: ask an administrator to add it, or untick the e-mail boxes.")
    if errors:
        session.rollback()
        raise InvalidPreferences(errors)
    existing = {p.rule: p for p in session.scalars(select(RulePreference).where(RulePreference.user_id == user.id))}
    for code, (in_app, email, webhook) in channels_by_rule.items():
        if code not in BY_CODE or code == DIGEST.code:
            continue
        pref = existing.get(code) or RulePreference(user_id=user.id, rule=code)
        pref.in_app, pref.email, pref.webhook = in_app, email, webhook
        session.add(pref)
    personal = session.get(NotificationSetting, user.id) or NotificationSetting(user_id=user.id)
    personal.quiet_start, personal.quiet_end, personal.digest = quiet_start, quiet_end, digest
    personal.webhook_url, personal.updated_at = webhook_url, utcnow()
    session.add(personal)
    session.commit()


# The administrator's pages

def update_rule(session: Session, *, code: str, data: dict[str, Any], actor: User) -> RuleSetting:
    """Turns a rule on or off, tunes its N days and time, and sets the default channels; audited."""
    rule = BY_CODE[code]
    setting = session.get(RuleSetting, code)
    if setting is None:
        setting = _default_setting(rule)
        session.add(setting)
    before = audit_service.snapshot(setting, AUDITED_RULE_FIELDS)
    for key in AUDITED_RULE_FIELDS:
        if key in data and (key != "days" or rule.days_label):
            setattr(setting, key, data[key])
    changes = audit_service.diff(before, audit_service.snapshot(setting, AUDITED_RULE_FIELDS))
    if changes:
        setting.updated_at = utcnow()
        session.flush()
        audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type="reminder_rule",
                             entity_id=AUDIT_IDS[rule.code], entity_label=code, entity_version=1, changes=changes)
    session.commit()
    return setting


def outbox_counts(session: Session) -> dict[str, int]:
    counts = {status: n for status, n in session.execute(
        select(Outbox.status, func.count(Outbox.id)).group_by(Outbox.status))}
    return {status.value: counts.get(status.value, 0) for status in DeliveryStatus}


def outbox_page(session: Session, *, status: str, page: int, per_page: int) -> Page:
    stmt = select(Outbox)
    if status:
        stmt = stmt.where(Outbox.status == status)
    total = session.scalar(stmt.with_only_columns(func.count(Outbox.id)).order_by(None)) or 0
    page = clamp_page(page, total, per_page)
    rows = session.scalars(stmt.options(joinedload(Outbox.recipient)).order_by(Outbox.id.desc())
                           .offset((page - 1) * per_page).limit(per_page))
    return Page(items=list(rows), total=total, page=page, per_page=per_page)


class NotRetryable(Exception):
    pass


def retry(session: Session, *, outbox_id: int, actor: User) -> Outbox:
    """A failed delivery goes back to the queue, with its attempts counted afresh."""
    row = session.get(Outbox, outbox_id)
    if row is None or row.status != DeliveryStatus.FAILED:
        session.rollback()
        raise NotRetryable()
    row.status, row.attempts, row.due_at, row.claimed_by = DeliveryStatus.PENDING, 0, utcnow(), ""
    audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type="outbox", entity_id=row.id,
                         entity_label=row.key[:200], entity_version=1,
                         changes={"status": [DeliveryStatus.FAILED.value, DeliveryStatus.PENDING.value]})
    session.commit()
    return row
