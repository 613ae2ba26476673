"""Event webhooks against a real HTTP server on localhost: a change made through the pages becomes one signed
delivery whose body is the record as the API shows it to the subscription's owner; a confidential project is not
sent to an owner who may not see it; a failing receiver is retried with backoff, then failed, and the Retry button
sends it again; a private address is refused unless allowed; running the jobs twice sends nothing twice; overdue
follow-ups and readiness changes fire once."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy import update as sql_update

from crm.api import representations
from crm.auth.models import User
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.notifications.models import DeliveryStatus, Outbox
from crm.organizations.models import Organization
from crm.webhooks import service
from crm.webhooks.models import WebhookDelivery, WebhookEvent, WebhookReadiness, WebhookSubscription
from tests.conftest import login, post
from tests.factories import make_project, make_task, make_user
from tests.test_organizations import _form as organization_form


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))
        status = 500 if self.path.startswith("/fail") and self.server.failing else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.received, server.failing = [], True
    server.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def run(db, settings, *, now=None, plan=True):
    """One pass of each job, as the scheduler runs them (the audit trail sealed with no delay)."""
    now = now or datetime.now(UTC)
    if plan:
        service.plan(database=db, now=now, timezone=settings.timezone,
                     threshold=settings.major_project_threshold_wan_cny, seal_delay=timedelta(0))
    return service.deliver(database=db, settings=settings, now=now, worker="test")


def subscribe(session, owner, url, events):
    subscription, secret = service.create(session, data={"url": url, "description": "", "events": events},
                                          actor=owner, allow_private=True)
    return subscription, secret


def test_a_change_made_on_a_page_is_delivered_once_signed_with_the_apis_representation(
        client, settings, db, session, users, receiver, client_as):
    login(client, "admin")
    url = f"{receiver.base}/hook"
    form = {"url": url, "description": "市招商平台", "events": ["organization.created", "organization.changed"]}
    refused = post(client, "/admin/webhooks", form)
    assert refused.status_code == 422 and 'id="url-error"' in refused.text
    assert session.scalar(select(WebhookSubscription.id)) is None
    session.expire_all()

    settings = client.app.state.settings = settings.model_copy(update={"webhook_allow_private": True})
    created = post(client, "/admin/webhooks", form)
    assert created.status_code == 201
    secret = re.search(r'id="webhook-secret">([^<]+)<', created.text).group(1)
    subscription = session.scalar(select(WebhookSubscription))
    assert subscription.secret == secret and subscription.owner_id == users["admin"].id
    assert secret not in client.get(f"/admin/webhooks/{subscription.id}").text  # shown once

    session.expire_all()
    officer = client_as("officer")
    assert post(officer, "/organizations", organization_form(name="鲁南新材料")).status_code == 303
    result = run(db, settings)
    assert result.sent == 1, result.errors
    assert len(receiver.received) == 1
    path, headers, body = receiver.received[0]
    assert path == "/hook" and headers["Content-Type"] == "application/json"
    assert headers["X-CRM-Event"] == "organization.created"
    assert service.verify(secret, headers["X-CRM-Signature"], body)
    assert not service.verify("whsec_wrong", headers["X-CRM-Signature"], body)
    sent = json.loads(body)
    assert sent["event"] == "organization.created" and sent["delivery"] == headers["X-CRM-Delivery"]
    session.expire_all()
    org_id = session.scalar(select(Organization.id).where(Organization.name == "鲁南新材料"))
    admin = session.get(User, users["admin"].id)
    assert sent["data"] == json.loads(json.dumps(representations.load(session, "organization", org_id, admin)))

    run(db, settings)  # again: nothing new, nothing sent twice
    assert len(receiver.received) == 1
    session.expire_all()
    assert session.scalar(select(WebhookDelivery.http_status)) == 200

    page = client.get(f"/admin/webhooks/{subscription.id}")
    assert page.status_code == 200 and headers["X-CRM-Delivery"] in page.text

    # A new secret, shown once; then a test event and deactivation: what waits is cancelled, nothing more is sent.
    rotated = post(client, f"/admin/webhooks/{subscription.id}/rotate", {"version": "1"})
    new_secret = re.search(r'id="webhook-secret">([^<]+)<', rotated.text).group(1)
    session.expire_all()
    assert new_secret != secret and session.get(WebhookSubscription, subscription.id).secret == new_secret
    assert post(client, f"/admin/webhooks/{subscription.id}/test").status_code == 303
    edit = post(client, f"/admin/webhooks/{subscription.id}",
                {"url": url, "description": "", "events": ["organization.changed"], "version": "2"})
    assert edit.status_code == 303
    run(db, settings)
    assert len(receiver.received) == 1
    session.expire_all()
    assert session.scalar(select(Outbox.status).where(Outbox.occasion == "ping")) == DeliveryStatus.CANCELLED


def test_confidential_projects_only_reach_owners_who_may_see_them_and_failures_retry_with_backoff(
        client, settings, db, session, users, receiver):
    settings = settings.model_copy(update={"webhook_allow_private": True, "reminder_max_attempts": 2})
    events = ["project.created"]
    seeing, _ = subscribe(session, users["admin"], f"{receiver.base}/fail", events)
    former_admin = make_user(session, username="former", role="admin")
    blind, _ = subscribe(session, former_admin, f"{receiver.base}/ok", events)
    session.execute(sql_update(User).where(User.id == former_admin.id).values(role="officer"))  # now an officer
    session.commit()

    make_project(session, actor=users["manager"], name="公开项目")
    make_project(session, actor=users["manager"], name="保密项目", is_confidential="1")
    first = datetime.now(UTC)
    run(db, settings, now=first)
    bodies = [body.decode() for path, _, body in receiver.received if path == "/ok"]
    assert len(bodies) == 1 and "公开项目" in bodies[0] and "保密项目" not in bodies[0]
    assert session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == blind.id,
                                                           WebhookDelivery.body.contains("保密项目"))) is None

    rows = list(session.scalars(select(Outbox).join(WebhookDelivery, WebhookDelivery.id == Outbox.entity_id)
                                .where(WebhookDelivery.subscription_id == seeing.id).order_by(Outbox.id)))
    assert len(rows) == 2
    assert all(r.status == DeliveryStatus.PENDING and r.attempts == 1 for r in rows)
    assert all(r.due_at - first == timedelta(seconds=settings.reminder_retry_seconds) for r in rows)
    assert session.scalar(select(WebhookDelivery.http_status).where(WebhookDelivery.id == rows[0].entity_id)) == 500

    run(db, settings, now=first + timedelta(seconds=30), plan=False)  # not due yet
    assert sum(1 for p, _, _ in receiver.received if p == "/fail") == 2
    run(db, settings, now=first + timedelta(seconds=61), plan=False)  # the second and last attempt
    session.expire_all()
    assert [r.status for r in session.scalars(select(Outbox).where(Outbox.id.in_([r.id for r in rows])))] \
        == [DeliveryStatus.FAILED] * 2

    login(client, "admin")
    page = client.get(f"/admin/webhooks/{seeing.id}?status=failed")
    assert page.status_code == 200 and page.text.count("/retry") == 2
    receiver.failing = False
    delivery_id = rows[0].entity_id
    assert post(client, f"/admin/webhooks/{seeing.id}/deliveries/{delivery_id}/retry").status_code == 303
    assert post(client, f"/admin/webhooks/{blind.id}/deliveries/{delivery_id}/retry").status_code == 400
    run(db, settings, plan=False)
    session.expire_all()
    assert session.scalar(select(Outbox.status).where(Outbox.id == rows[0].id)) == DeliveryStatus.SENT
    assert session.scalar(select(Outbox.status).where(Outbox.id == rows[1].id)) == DeliveryStatus.FAILED

    # Sending checks the address again: once private addresses are no longer allowed, nothing goes out.
    subscription_id = seeing.id
    assert post(client, f"/admin/webhooks/{subscription_id}/test").status_code == 303
    strict = settings.model_copy(update={"webhook_allow_private": False})
    result = run(db, strict, plan=False)
    assert result.retried == 1 and "refused" in result.errors[0]

    # Deleted (after its confirmation page): the subscription, its log and what still waited in the outbox.
    assert client.get(f"/admin/webhooks/{subscription_id}/delete").status_code == 200
    outbox_ids = [r.id for r in rows]
    assert post(client, f"/admin/webhooks/{subscription_id}/delete", {"version": "1"}).status_code == 303
    session.expire_all()
    assert session.get(WebhookSubscription, subscription_id) is None
    assert session.scalar(select(Outbox.id).where(Outbox.id.in_(outbox_ids))) is None


def test_overdue_follow_ups_and_readiness_changes_fire_once(settings, db, session, users, receiver):
    settings = settings.model_copy(update={"webhook_allow_private": True})
    subscribe(session, users["admin"], f"{receiver.base}/ok", ["follow_up.overdue", "groundbreaking.readiness_changed"])
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    task = make_task(session, actor=users["officer"], due_on=today - timedelta(days=1))
    make_task(session, actor=users["officer"], due_on=today)  # not overdue yet
    project = make_project(session, actor=users["manager"])
    event = GroundbreakingEvent(name="12月集中开工", held_on=today + timedelta(days=10))
    session.add(event)
    session.flush()
    session.add(SlatedProject(event_id=event.id, project_id=project.id, position=1))
    session.commit()

    run(db, settings, now=now)  # the overdue task; the slated project's colour remembered
    run(db, settings, now=now)
    assert [json.loads(b)["event"] for _, _, b in receiver.received] == ["follow_up.overdue"]
    body = json.loads(receiver.received[0][2])
    assert body["data"]["id"] == task.id and body["change"] == {"due_on": (today - timedelta(days=1)).isoformat()}
    seen = session.get(WebhookReadiness, (event.id, project.id))
    assert seen is not None and seen.changes == 0

    actual = seen.colour
    other = "green" if actual != "green" else "red"  # as if the project had been in another state before
    session.execute(sql_update(WebhookReadiness).values(colour=other))
    session.commit()
    run(db, settings, now=now)
    run(db, settings, now=now)
    readiness = [json.loads(b) for _, _, b in receiver.received[1:]]
    assert [b["event"] for b in readiness] == ["groundbreaking.readiness_changed"]
    assert readiness[0]["data"]["id"] == project.id
    assert readiness[0]["change"] == {"groundbreaking_event_id": event.id, "readiness": [other, actual]}
    assert session.query(WebhookEvent).count() == 2
    assert date.fromisoformat(body["change"]["due_on"]) < today
