"""Event webhooks (issue 15): administrators subscribe a URL to events; each event becomes one signed delivery per
subscription, sent through the reminders' outbox (lease, renewal, retries with backoff, address checks).

Where events come from (`plan`, the `webhooks.plan` job), each in its own write transaction under one lock:
- **The audit trail.** Every change of an organization, visit, project or follow-up writes its audit entry in the
  change's own transaction. The sealer (crm/audit/chain.py) numbers committed entries (`chain_seq`) under a lock, in
  the order it seals them, with no holes; an entry whose transaction commits late is simply sealed later, with a
  higher number. So a cursor on `chain_seq` (`webhook_cursor`) never skips an entry, which a cursor on the entry's
  id would (on PostgreSQL an id is taken at insert, and a transaction that commits after a later id is already
  read would be passed over). The job seals first (`chain.seal`, idempotent), then reads after its cursor.
- **The clock.** A follow-up still open the day after its due date is overdue: once per task and due date (the
  event's key says both; a rescheduled task can fall overdue again). A project's readiness for a groundbreaking
  event it is slated for (the readiness board's colour) is compared with the last colour seen (`webhook_readiness`).

Each event is a `webhook_event` row unique on its key (`source`), so two schedulers or a restart record it once;
each (subscription, event) a `webhook_delivery` row, unique too, with the exact body to sign: the record as the API
shows it to the subscription's owner (`crm.api.representations.load`), built when the event is found. A record the
owner may not see (a confidential project) is not sent to that subscription at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time as time_module
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm.api import representations
from crm.audit import chain
from crm.audit import service as audit_service
from crm.audit.models import DATA_ACTIONS, AuditAction, AuditEntry
from crm.auth.models import User
from crm.config import Settings
from crm.db import Database, utcnow
from crm.i18n import N_, Msg
from crm.listing import Page, clamp_page
from crm.notifications import channels
from crm.notifications import service as notification_service
from crm.notifications.models import Channel, DeliveryStatus, Outbox
from crm.versioning import flush_versioned, require_version
from crm.webhooks.models import (
    WebhookCursor,
    WebhookDelivery,
    WebhookEvent,
    WebhookReadiness,
    WebhookSubscription,
)

RULE = "event_webhook"  # the outbox rows' rule
ENTITY = "webhook_delivery"  # the outbox rows' entity: the delivery they send
AUDIT_ENTITY = "webhook_subscription"
AUDIT_CURSOR = "audit"
AUDIT_BATCH = 500
OVERDUE_WINDOW_DAYS = 7  # after a downtime, tasks that fell overdue up to a week ago are still announced
_PLAN_LOCK = 0x77656268  # pg_advisory_xact_lock key ("webh"): one planner at a time
SIGNATURE_TOLERANCE_SECONDS = 300  # what docs/api.md advises receivers

EVENTS: dict[str, str] = {
    "organization.created": N_("Organization created"),
    "organization.changed": N_("Organization changed"),
    "visit.created": N_("Visit created"),
    "visit.changed": N_("Visit changed"),
    "project.created": N_("Project created"),
    "project.changed": N_("Project changed"),
    "project.stage_changed": N_("Project stage changed"),
    "project.decision_recorded": N_("Collective decision recorded"),
    "follow_up.created": N_("Follow-up created"),
    "follow_up.completed": N_("Follow-up completed"),
    "follow_up.overdue": N_("Follow-up overdue"),
    "groundbreaking.readiness_changed": N_("Groundbreaking readiness changed"),
}
TEST_EVENT = "ping"
EVENT_LABELS = {**EVENTS, TEST_EVENT: N_("Test event")}  # what the delivery log shows
AUDITED_FIELDS = ["url", "description", "events", "active"]
# audit entity type → the API's kind of record
KINDS = {"organization": "organization", "visit": "visit", "project": "project", "task": "follow_up"}


def event_of(entity_type: str, action: str, changes: dict[str, Any]) -> str | None:
    """The event an audit entry is, or None. One entry is one event, the most specific: a stage move is
    `project.stage_changed` (not also `project.changed`), a decision `project.decision_recorded`."""
    kind = KINDS.get(entity_type)
    if kind is None or action not in DATA_ACTIONS or action == AuditAction.DELETE:
        return None
    created = action == AuditAction.CREATE
    if kind == "project":
        if created:
            return "project.created"
        if "stage" in changes:
            return "project.stage_changed"
        if "decision" in changes:
            return "project.decision_recorded"
        return "project.changed"
    if kind == "follow_up":
        if created:
            return "follow_up.created"
        status = changes.get("status")
        if isinstance(status, list) and len(status) == 2 and status[1] == "done":
            return "follow_up.completed"
        return None
    return f"{kind}.created" if created else f"{kind}.changed"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-CRM-Signature header: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None,
           tolerance: int = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver does (docs/api.md): the signature matches and its time is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time_module.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _insert(session: Session, model):
    return (postgresql.insert(model) if session.get_bind().dialect.name == "postgresql" else sqlite.insert(model))


def _lock(session: Session) -> None:
    """One planner at a time: PostgreSQL an advisory lock until commit; SQLite the write session's BEGIN IMMEDIATE."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PLAN_LOCK})


# Finding events

def _active(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).join(User, User.id == WebhookSubscription.owner_id)
                                .where(WebhookSubscription.active.is_(True), User.is_active.is_(True))
                                .order_by(WebhookSubscription.id)))


def _body(*, event: str, delivery: str, occurred_at: datetime, data: Any, change: dict[str, Any]) -> str:
    body: dict[str, Any] = {"event": event, "delivery": delivery,
                            "occurred_at": occurred_at.astimezone(UTC).isoformat(), "data": data}
    if change:
        body["change"] = change
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def record_event(session: Session, *, source: str, event: str, kind: str, entity_id: int, occurred_at: datetime,
                 subscriptions: Sequence[WebhookSubscription], now: datetime, change: dict[str, Any] | None = None,
                 data: Callable[[User], Any] | None = None) -> int:
    """Records the event once (its `source` key is unique) and one delivery, with its outbox row, for each of the
    `subscriptions` that wants it and whose owner may see the record; returns how many deliveries. `data(owner)`
    gives the body's data; by default the record as the API shows it to the owner (None: not theirs to see)."""
    event_id = session.execute(_insert(session, WebhookEvent).values(
        source=source, event=event, entity_type=kind, entity_id=entity_id, change=change or {},
        occurred_at=occurred_at, created_at=now).on_conflict_do_nothing().returning(WebhookEvent.id)).scalar()
    if event_id is None:
        return 0  # found before (another scheduler, a rerun)
    load = data or (lambda owner: representations.load(session, kind, entity_id, owner))
    seen: dict[int, Any] = {}
    made = 0
    for subscription in subscriptions:
        if event not in subscription.events and event != TEST_EVENT:
            continue
        owner = subscription.owner
        if owner.id not in seen:
            seen[owner.id] = load(owner)
        if seen[owner.id] is None:
            continue
        delivery_id = str(uuid.uuid4())
        delivery = WebhookDelivery(subscription_id=subscription.id, event_id=event_id, uuid=delivery_id, event=event,
                                   body=_body(event=event, delivery=delivery_id, occurred_at=occurred_at,
                                              data=seen[owner.id], change=change or {}), created_at=now)
        session.add(delivery)
        session.flush()
        session.add(Outbox(rule=RULE, entity_type=ENTITY, entity_id=delivery.id, occasion=event[:40],
                           recipient_id=owner.id, channel=Channel.EVENT, status=DeliveryStatus.PENDING, fire_at=now,
                           due_at=now, payload={"subscription_id": subscription.id}, created_at=now))
        made += 1
    session.flush()
    return made


@dataclass
class PlanResult:
    audit_entries: int = 0
    deliveries: int = 0
    overdue: int = 0
    readiness: int = 0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.audit_entries} audit entries read, {self.overdue} overdue follow-ups, "
                f"{self.readiness} readiness changes; {self.deliveries} deliveries")


def plan(*, database: Database, now: datetime, timezone: str, threshold: Any, seal_delay: timedelta | None = None,
         ) -> PlanResult:
    """One planning pass: seal the audit trail, read it after the cursor, then the overdue follow-ups and the
    readiness of slated projects."""
    result = PlanResult()
    chain.seal(database.write_session, now=now, **({"delay": seal_delay} if seal_delay is not None else {}))
    while True:
        with database.write_session() as session:
            read, made = plan_audit(session, now=now)
            session.commit()
        result.audit_entries += read
        result.deliveries += made
        if read < AUDIT_BATCH:
            break
    zone = ZoneInfo(timezone)
    with database.write_session() as session:
        result.overdue, made = plan_overdue(session, now=now, zone=zone)
        session.commit()
    result.deliveries += made
    with database.write_session() as session:
        result.readiness, made = plan_readiness(session, now=now, zone=zone, threshold=threshold)
        session.commit()
    result.deliveries += made
    return result


def plan_audit(session: Session, *, now: datetime, batch: int = AUDIT_BATCH) -> tuple[int, int]:
    """Reads up to `batch` sealed audit entries after the cursor and turns those that are events into deliveries;
    moves the cursor. A cursor made for the first time starts at the chain's head: history is not replayed."""
    _lock(session)
    cursor = session.get(WebhookCursor, AUDIT_CURSOR)
    if cursor is None:
        head, _hash = chain.head(session)
        session.add(WebhookCursor(name=AUDIT_CURSOR, position=head, updated_at=now))
        session.flush()
        return 0, 0
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.chain_seq > cursor.position)
                                   .order_by(AuditEntry.chain_seq).limit(batch)))
    if not entries:
        return 0, 0
    subscriptions = _active(session)
    made = 0
    if subscriptions:
        for entry in entries:
            event = event_of(entry.entity_type, entry.action, entry.changes or {})
            if event is None or entry.entity_id is None or not any(event in s.events for s in subscriptions):
                continue
            made += record_event(session, source=f"audit:{entry.id}", event=event, kind=KINDS[entry.entity_type],
                                 entity_id=entry.entity_id, occurred_at=entry.at, subscriptions=subscriptions, now=now)
    cursor.position, cursor.updated_at = entries[-1].chain_seq or cursor.position, now
    return len(entries), made


def plan_overdue(session: Session, *, now: datetime, zone: ZoneInfo) -> tuple[int, int]:
    """`follow_up.overdue` for each open task whose due date passed (within the window), once per due date."""
    from crm.tasks.models import Task, TaskStatus

    _lock(session)
    subscriptions = [s for s in _active(session) if "follow_up.overdue" in s.events]
    if not subscriptions:
        return 0, 0
    today = now.astimezone(zone).date()
    rows = session.execute(select(Task.id, Task.due_on).where(
        Task.status == TaskStatus.OPEN, Task.due_on < today,
        Task.due_on >= today - timedelta(days=OVERDUE_WINDOW_DAYS)).order_by(Task.due_on, Task.id)).all()
    sources = {f"overdue:{row.id}:{row.due_on.isoformat()}": row for row in rows}
    known = set(session.scalars(select(WebhookEvent.source).where(WebhookEvent.source.in_(list(sources))))) \
        if sources else set()
    found = made = 0
    for source, row in sources.items():
        if source in known:
            continue
        found += 1
        made += record_event(session, source=source, event="follow_up.overdue", kind="follow_up", entity_id=row.id,
                             occurred_at=now, subscriptions=subscriptions, now=now,
                             change={"due_on": row.due_on.isoformat()})
    return found, made


def readiness_colours(session: Session, *, today: Any, threshold: Any, now: datetime) -> dict[tuple[int, int], str]:
    """(event id, project id) → the readiness board's colour, for every project slated for an event not yet held
    (as the board computes it: crm.groundbreaking.service.board, here for every project)."""
    from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
    from crm.projects import gates, pipeline

    slots = session.execute(select(SlatedProject.event_id, SlatedProject.project_id)
                            .join(GroundbreakingEvent, GroundbreakingEvent.id == SlatedProject.event_id)
                            .where(GroundbreakingEvent.held_on >= today)).all()
    ids = sorted({row.project_id for row in slots})
    if not ids:
        return {}
    found = pipeline.card_rows(session, ids, now, with_investors=False)
    views = pipeline.judged(session, [project for project, _ in found], every_item=True)
    colour = {pid: gates.readiness(view, threshold=threshold, today=today).colour for pid, view in views.items()}
    return {(row.event_id, row.project_id): colour[row.project_id] for row in slots if row.project_id in colour}


def plan_readiness(session: Session, *, now: datetime, zone: ZoneInfo, threshold: Any) -> tuple[int, int]:
    """`groundbreaking.readiness_changed` when a slated project's colour differs from the last one seen. The first
    time a project is seen on a slate its colour is only remembered (nothing changed yet)."""
    _lock(session)
    subscriptions = [s for s in _active(session) if "groundbreaking.readiness_changed" in s.events]
    if not subscriptions:
        return 0, 0
    today = now.astimezone(zone).date()
    colours = readiness_colours(session, today=today, threshold=threshold, now=now)
    known = {(r.event_id, r.project_id): r for r in session.scalars(select(WebhookReadiness))}
    changed = made = 0
    for key, colour in colours.items():
        seen = known.get(key)
        if seen is None:
            session.add(WebhookReadiness(event_id=key[0], project_id=key[1], colour=colour, changes=0, updated_at=now))
            continue
        if seen.colour == colour:
            continue
        before = seen.colour
        seen.colour, seen.changes, seen.updated_at = colour, seen.changes + 1, now
        changed += 1
        made += record_event(session, source=f"readiness:{key[0]}:{key[1]}:{seen.changes}",
                             event="groundbreaking.readiness_changed", kind="project", entity_id=key[1],
                             occurred_at=now, subscriptions=subscriptions, now=now,
                             change={"groundbreaking_event_id": key[0], "readiness": [before, colour]})
    gone = [key for key in known if key not in colours]
    for event_id, project_id in gone:  # off the slate, or the event is past: forget it
        session.execute(delete(WebhookReadiness).where(WebhookReadiness.event_id == event_id,
                                                       WebhookReadiness.project_id == project_id))
    session.flush()
    return changed, made


# Sending

def current(session: Session, rows: Sequence[Outbox]) -> set[int]:
    """The outbox rows still to send: their delivery exists and its subscription is active, its owner too."""
    ids = {row.entity_id: row.id for row in rows if row.rule == RULE and row.entity_type == ENTITY}
    if not ids:
        return set()
    alive = session.scalars(select(WebhookDelivery.id)
                            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                            .join(User, User.id == WebhookSubscription.owner_id)
                            .where(WebhookDelivery.id.in_(list(ids)), WebhookSubscription.active.is_(True),
                                   User.is_active.is_(True)))
    return {ids[delivery_id] for delivery_id in alive}


def sender(database: Database, settings: Settings) -> notification_service.Send:
    """Sends one outbox row's delivery: the stored body, signed now with the subscription's secret."""
    def send(row: Outbox) -> tuple[str | None, Callable[[Session], None] | None]:
        with database.read_sessions() as session:
            found = session.execute(select(WebhookDelivery.id, WebhookDelivery.uuid, WebhookDelivery.event,
                                           WebhookDelivery.body, WebhookSubscription.url, WebhookSubscription.secret)
                                    .join(WebhookSubscription,
                                          WebhookSubscription.id == WebhookDelivery.subscription_id)
                                    .where(WebhookDelivery.id == row.entity_id)).first()
        if found is None:
            return "the subscription was deleted", None
        body = found.body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "zhaoshang-crm-webhooks/1",
                   "X-CRM-Event": found.event, "X-CRM-Delivery": found.uuid,
                   "X-CRM-Signature": sign(found.secret, int(time_module.time()), body)}
        status: int | None = None
        started = perf_counter()
        try:
            status, _answer = channels.post(settings, url=found.url, body=body, headers=headers)
            error = None if 200 <= status < 300 else f"webhook answered HTTP {status}"
        except channels.SendError as failure:
            error = str(failure)[:1000]
        elapsed = round((perf_counter() - started) * 1000)

        def log(session: Session) -> None:
            session.execute(sql_update(WebhookDelivery).where(WebhookDelivery.id == found.id).values(
                http_status=status, response_ms=elapsed, last_attempt_at=utcnow()))

        return error, log

    return send


def deliver(*, database: Database, settings: Settings, now: datetime, worker: str) -> notification_service.DeliveryResult:
    return notification_service.deliver_outside(
        database=database, settings=settings, now=now, worker=worker, channel=Channel.EVENT, current=current,
        send=sender(database, settings), batch=settings.reminder_claim_batch)


# The administrator's pages

class InvalidSubscription(Exception):
    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def get(session: Session, subscription_id: int) -> WebhookSubscription | None:
    return session.get(WebhookSubscription, subscription_id)


def failed_counts(session: Session) -> dict[int, int]:
    """Failed deliveries per subscription (the list's warning)."""
    return dict(session.execute(
        select(WebhookDelivery.subscription_id, func.count(Outbox.id))
        .join(Outbox, (Outbox.rule == RULE) & (Outbox.entity_type == ENTITY) & (Outbox.entity_id == WebhookDelivery.id))
        .where(Outbox.status == DeliveryStatus.FAILED).group_by(WebhookDelivery.subscription_id)).all())


def _check(data: dict[str, Any], *, allow_private: bool) -> dict[str, Msg]:
    errors: dict[str, Msg] = {}
    url = data.get("url", "")
    if not url:
        errors["url"] = Msg("Give the address to send the events to.")
    else:
        refused = channels.check_webhook_url(url, allow_private=allow_private)
        if refused is not None:
            errors["url"] = refused
    if not data.get("events"):
        errors["events"] = Msg("Tick at least one event.")
    elif any(e not in EVENTS for e in data["events"]):
        errors["events"] = Msg("There is no such event.")
    return errors


def _audit(session: Session, *, subscription: WebhookSubscription, actor: User, action: AuditAction,
           changes: dict[str, Any]) -> None:
    audit_service.record(session, actor=actor, action=action, entity_type=AUDIT_ENTITY, entity_id=subscription.id,
                         entity_label=subscription.url[:200], entity_version=subscription.version, changes=changes)


def _snapshot(subscription: WebhookSubscription) -> dict[str, Any]:
    values = audit_service.snapshot(subscription, AUDITED_FIELDS)
    values["events"] = ", ".join(subscription.events or [])
    return values


def create(session: Session, *, data: dict[str, Any], actor: User, allow_private: bool) -> tuple[WebhookSubscription, str]:
    """A new active subscription owned by `actor`; returns it with its secret (shown once)."""
    errors = _check(data, allow_private=allow_private)
    if errors:
        session.rollback()
        raise InvalidSubscription(errors)
    secret, now = new_secret(), utcnow()
    subscription = WebhookSubscription(url=data["url"], description=data.get("description", ""),
                                       events=sorted(data["events"], key=list(EVENTS).index), owner_id=actor.id,
                                       active=True, secret=secret, created_at=now, updated_at=now)
    session.add(subscription)
    session.flush()
    if session.get(WebhookCursor, AUDIT_CURSOR) is None:  # the first subscription: events start from here
        session.execute(_insert(session, WebhookCursor).values(
            name=AUDIT_CURSOR, position=chain.head(session)[0], updated_at=now).on_conflict_do_nothing())
    _audit(session, subscription=subscription, actor=actor, action=AuditAction.CREATE,
           changes=audit_service.diff({}, {k: v for k, v in _snapshot(subscription).items() if v not in (None, "")}))
    session.commit()
    return subscription, secret


def update(session: Session, *, subscription: WebhookSubscription, data: dict[str, Any], version: int | None,
           actor: User, allow_private: bool) -> WebhookSubscription:
    require_version(session, record=subscription, entity_type=AUDIT_ENTITY, version=version)
    errors = _check(data, allow_private=allow_private)
    if errors:
        session.rollback()
        raise InvalidSubscription(errors)
    before = _snapshot(subscription)
    subscription.url, subscription.description = data["url"], data.get("description", "")
    subscription.events = sorted(data["events"], key=list(EVENTS).index)
    subscription.active = bool(data.get("active"))
    changes = audit_service.diff(before, _snapshot(subscription))
    if not changes:
        session.rollback()
        return subscription
    subscription.updated_at = utcnow()
    flush_versioned(session, record=subscription, entity_type=AUDIT_ENTITY, version=version, reload=get)
    _audit(session, subscription=subscription, actor=actor, action=AuditAction.UPDATE, changes=changes)
    session.commit()
    return subscription


def rotate_secret(session: Session, *, subscription: WebhookSubscription, version: int | None, actor: User) -> str:
    """A new secret (the old one stops working at once); returns it, to be shown once. The audit entry says that
    it changed, never what it is."""
    require_version(session, record=subscription, entity_type=AUDIT_ENTITY, version=version)
    secret = new_secret()
    subscription.secret, subscription.updated_at = secret, utcnow()
    flush_versioned(session, record=subscription, entity_type=AUDIT_ENTITY, version=version, reload=get)
    _audit(session, subscription=subscription, actor=actor, action=AuditAction.UPDATE,
           changes={"secret": ["…", N_("replaced")]})
    session.commit()
    return secret


def _outbox_rows(subscription_id: int):
    return select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == subscription_id)


def remove(session: Session, *, subscription: WebhookSubscription, version: int | None, actor: User) -> None:
    """Deletes the subscription, its delivery log and its outbox rows not yet sent."""
    require_version(session, record=subscription, entity_type=AUDIT_ENTITY, version=version)
    _audit(session, subscription=subscription, actor=actor, action=AuditAction.DELETE,
           changes=audit_service.diff(_snapshot(subscription), {k: None for k in AUDITED_FIELDS}))
    session.execute(delete(Outbox).where(Outbox.rule == RULE, Outbox.entity_type == ENTITY,
                                         Outbox.entity_id.in_(_outbox_rows(subscription.id))))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id))
    session.delete(subscription)
    session.commit()


def send_test(session: Session, *, subscription: WebhookSubscription, actor: User) -> int:
    """A `ping` event for this subscription alone, sent at the next delivery pass."""
    now = utcnow()
    made = record_event(session, source=f"test:{uuid.uuid4()}", event=TEST_EVENT, kind=AUDIT_ENTITY,
                        entity_id=subscription.id, occurred_at=now, subscriptions=[subscription], now=now,
                        data=lambda owner: {"subscription_id": subscription.id, "sent_by": actor.display_name})
    session.commit()
    return made


@dataclass
class DeliveryRow:
    delivery: WebhookDelivery
    outbox_id: int | None
    status: str
    attempts: int
    due_at: datetime | None
    last_error: str


def deliveries_page(session: Session, *, subscription_id: int, page: int, per_page: int, status: str = "") -> Page:
    """The subscription's delivery log, newest first: event, status, HTTP status, response time, attempts, next
    try (the outbox row's due time while pending)."""
    stmt = (select(WebhookDelivery, Outbox.id, Outbox.status, Outbox.attempts, Outbox.due_at, Outbox.last_error)
            .outerjoin(Outbox, (Outbox.rule == RULE) & (Outbox.entity_type == ENTITY)
                       & (Outbox.entity_id == WebhookDelivery.id))
            .where(WebhookDelivery.subscription_id == subscription_id))
    if status:
        stmt = stmt.where(Outbox.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    page = clamp_page(page, total, per_page)
    rows = session.execute(stmt.order_by(WebhookDelivery.id.desc()).offset((page - 1) * per_page).limit(per_page))
    items = [DeliveryRow(delivery=d, outbox_id=oid, status=st or DeliveryStatus.CANCELLED, attempts=att or 0,
                         due_at=due, last_error=err or "") for d, oid, st, att, due, err in rows]
    return Page(items=items, total=total, page=page, per_page=per_page)


def retry(session: Session, *, subscription: WebhookSubscription, delivery_id: int, actor: User) -> None:
    """A failed delivery of this subscription goes back to the queue (the outbox's retry: attempts afresh)."""
    outbox_id = session.scalar(select(Outbox.id).join(WebhookDelivery, WebhookDelivery.id == Outbox.entity_id).where(
        Outbox.rule == RULE, Outbox.entity_type == ENTITY, WebhookDelivery.id == delivery_id,
        WebhookDelivery.subscription_id == subscription.id))
    if outbox_id is None:
        session.rollback()
        raise notification_service.NotRetryable()
    notification_service.retry(session, outbox_id=outbox_id, actor=actor)
