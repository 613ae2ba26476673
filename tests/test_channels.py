"""E-mail against a real SMTP server (aiosmtpd) and webhooks against a real HTTP server, both on localhost: delivered
once, in the recipient's language; a server that is down, answers 500, refuses the message or is too slow gets
retried with backoff while other deliveries go on, then the row is marked failed; the admin's retry sends it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time as time_module
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from crm.notifications import channels, service
from crm.notifications.models import DeliveryStatus, NotificationSetting, Outbox, RulePreference
from tests.factories import make_task, make_user

NINE = datetime(2026, 12, 2, 1, 1, tzinfo=UTC)  # 09:01 in Heze on the task's due date


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server.received.append(json.loads(body))
        mode = server.modes.pop(0) if server.modes else "ok"
        if mode == "slow":
            time_module.sleep(1.0)
        status, reply = {"500": (500, b"oops"), "errcode": (200, b'{"errcode": 93000, "errmsg": "invalid webhook url"}')
                         }.get(mode, (200, b'{"errcode": 0, "errmsg": "ok"}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.received, server.modes = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=test"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def channel_settings(settings, smtp):
    return settings.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none", "smtp_sender": "crm@zone.example",
        "webhook_allow_private": True, "webhook_timeout_seconds": 0.5, "reminder_retry_seconds": 60,
        "reminder_max_attempts": 3, "base_url": "https://crm.zone.example"})


def subscribe(session, user, *, email: bool = False, webhook: str = "", in_app: bool = True) -> None:
    if email:
        user.email = f"{user.username}@zone.example"
    session.add(RulePreference(user_id=user.id, rule="task_due", in_app=in_app, email=email, webhook=bool(webhook)))
    if webhook:
        session.add(NotificationSetting(user_id=user.id, webhook_url=webhook))
    session.commit()


def cycle(db, settings, now: datetime):
    """A scheduler pass at `now`, after one ten minutes earlier (the first pass of a rule only sets its watermark)."""
    service.plan(database=db, now=now - timedelta(minutes=10), timezone=settings.timezone)
    service.plan(database=db, now=now, timezone=settings.timezone)
    return service.deliver(database=db, settings=settings, now=now, worker="test")


def rows(session, channel: str) -> list[Outbox]:
    session.expire_all()
    found = list(session.scalars(select(Outbox).where(Outbox.channel == channel).order_by(Outbox.id)))
    session.commit()
    return found


def test_email_goes_out_once_in_each_recipients_language(db, session, users, smtp, channel_settings):
    chinese = users["officer"]
    english = make_user(session, username="jane", display_name="Jane", locale="en")
    subscribe(session, chinese, email=True)
    subscribe(session, english, email=True)
    make_task(session, actor=chinese, title="寄送投资手册", due_on=date(2026, 12, 2))
    make_task(session, actor=english, title="Send the brochure", due_on=date(2026, 12, 2))
    result = cycle(db, channel_settings, NINE)
    assert result.sent == 2 and result.in_app == 2
    cycle(db, channel_settings, NINE + timedelta(minutes=1))
    assert len(smtp.messages) == 2
    by_to = {to[0]: message for to, message in smtp.messages}
    zh, en = by_to["officer@zone.example"], by_to["jane@zone.example"]
    assert zh["Subject"] == "今天到期的跟进：寄送投资手册" and en["Subject"] == "Follow-up due today: Send the brochure"
    assert zh["From"] == "crm@zone.example" and zh["Message-ID"].startswith("<reminder-")
    plain = en.get_body(("plain",)).get_content()
    html = en.get_body(("html",)).get_content()
    assert "is due today, 2026-12-02" in plain and "https://crm.zone.example/tasks/" in plain
    assert '<a href="https://crm.zone.example/tasks/' in html
    assert all(row.status == DeliveryStatus.SENT and row.attempts == 1 for row in rows(session, "email"))


def test_smtp_down_is_retried_with_backoff_then_sent_and_in_app_is_not_held_up(db, session, users, channel_settings):
    officer = users["officer"]
    subscribe(session, officer, email=True)
    make_task(session, actor=officer, due_on=date(2026, 12, 2))
    down = channel_settings.model_copy(update={"smtp_port": free_port()})  # nothing listens there
    result = cycle(db, down, NINE)
    assert result.in_app == 1 and result.retried == 1 and "ConnectionRefused" in result.errors[0]
    [row] = rows(session, "email")
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1 and row.due_at == NINE + timedelta(seconds=60)
    assert "ConnectionRefused" in row.last_error
    assert service.deliver(database=db, settings=down, now=NINE + timedelta(seconds=30), worker="t").retried == 0
    result = service.deliver(database=db, settings=channel_settings, now=NINE + timedelta(seconds=61), worker="t")
    assert result.sent == 1
    [row] = rows(session, "email")
    assert row.status == DeliveryStatus.SENT and row.attempts == 2 and row.last_error == ""


def test_starttls_refused_by_the_server_is_a_clear_failure(db, session, users, channel_settings):
    officer = users["officer"]
    subscribe(session, officer, email=True)
    make_task(session, actor=officer, due_on=date(2026, 12, 2))
    result = cycle(db, channel_settings.model_copy(update={"smtp_security": "starttls"}), NINE)
    assert result.retried == 1 and "STARTTLS" in result.errors[0]


def test_webhook_posts_the_robot_text_message_once(db, session, users, hook, channel_settings):
    officer = users["officer"]
    subscribe(session, officer, webhook=hook.url, in_app=False)
    make_task(session, actor=officer, title="寄送投资手册", due_on=date(2026, 12, 2))
    assert cycle(db, channel_settings, NINE).sent == 1
    cycle(db, channel_settings, NINE + timedelta(minutes=5))
    assert len(hook.received) == 1
    message = hook.received[0]
    assert message["msgtype"] == "text" and set(message) == {"msgtype", "text"}
    assert message["text"]["content"].startswith("今天到期的跟进：寄送投资手册\n")
    assert "https://crm.zone.example/tasks/" in message["text"]["content"]


def test_webhook_500_timeout_and_refusal_are_retried_then_failed_and_an_admin_retry_sends(db, session, users, hook,
                                                                                          channel_settings):
    officer = users["officer"]
    subscribe(session, officer, webhook=hook.url, in_app=False)
    make_task(session, actor=officer, due_on=date(2026, 12, 2))
    hook.modes[:] = ["500", "slow", "errcode"]
    started = time_module.monotonic()
    first = cycle(db, channel_settings, NINE)
    assert first.retried == 1 and "HTTP 500" in first.errors[0]
    second = service.deliver(database=db, settings=channel_settings, now=NINE + timedelta(seconds=60), worker="t")
    assert second.retried == 1 and "timed out" in second.errors[0]
    [row] = rows(session, "webhook")
    assert row.due_at == NINE + timedelta(seconds=60 + 120)  # backoff doubles
    third = service.deliver(database=db, settings=channel_settings, now=NINE + timedelta(seconds=180), worker="t")
    assert third.failed == 1 and "93000" in third.errors[0]
    assert time_module.monotonic() - started < 5  # the slow server was given up on after the timeout
    [row] = rows(session, "webhook")
    assert row.status == DeliveryStatus.FAILED and row.attempts == 3 and "93000" in row.last_error
    assert service.deliver(database=db, settings=channel_settings, now=NINE + timedelta(hours=1), worker="t").sent == 0
    service.retry(session, outbox_id=row.id, actor=users["admin"])
    assert service.deliver(database=db, settings=channel_settings, now=datetime.now(UTC), worker="t").sent == 1
    assert len(hook.received) == 4 and rows(session, "webhook")[0].status == DeliveryStatus.SENT


def test_a_failing_webhook_does_not_hold_up_another_users_email(db, session, users, hook, smtp, channel_settings):
    subscribe(session, users["officer"], webhook=hook.url, in_app=False)
    subscribe(session, users["officer2"], email=True, in_app=False)
    make_task(session, actor=users["officer"], due_on=date(2026, 12, 2))
    make_task(session, actor=users["officer2"], due_on=date(2026, 12, 2))
    hook.modes[:] = ["500"]
    result = cycle(db, channel_settings, NINE)
    assert result.sent == 1 and result.retried == 1 and len(smtp.messages) == 1


def test_webhook_to_a_private_address_is_refused_unless_allowed(db, session, users, hook, channel_settings):
    officer = users["officer"]
    subscribe(session, officer, webhook=hook.url, in_app=False)
    make_task(session, actor=officer, due_on=date(2026, 12, 2))
    result = cycle(db, channel_settings.model_copy(update={"webhook_allow_private": False}), NINE)
    assert result.retried == 1 and "refused" in result.errors[0] and hook.received == []


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://oapi.dingtalk.com/robot/send?access_token=x", True),  # a public host (not resolved here)
    ("http://93.184.216.34/hook", True),
    ("ftp://example.com/hook", False), ("javascript:alert(1)", False), ("file:///etc/passwd", False),
    ("http://user:pw@93.184.216.34/", False), ("http://127.0.0.1:8000/", False), ("http://localhost/", False),
    ("http://10.1.2.3/", False), ("http://172.16.0.1/", False), ("http://192.168.1.1/", False),
    ("http://169.254.169.254/latest/meta-data", False), ("http://[::1]/", False), ("http://[fe80::1]/", False),
    ("http://[fd00::1]/", False), ("http://0.0.0.0/", False), ("http://93.184.216.34:99999/", False),
])
def test_webhook_addresses_are_checked(url, allowed):
    resolve = "dingtalk" not in url  # no DNS on a test machine: a public name is taken on trust here
    assert (channels.check_webhook_url(url, allow_private=False, resolve=resolve) is None) == allowed, url
    if url.startswith("http://127.") or url.startswith("http://10."):
        assert channels.check_webhook_url(url, allow_private=True) is None


@pytest.mark.parametrize(("url", "allowed"), [
    ("http://[64:ff9b::7f00:1]/", False), ("http://[64:ff9b::a00:1]/", False),  # NAT64 to 127.0.0.1 / 10.0.0.1
    ("http://[::ffff:127.0.0.1]/", False), ("http://[::ffff:a9fe:a9fe]/", False), ("http://[::127.0.0.1]/", False),
    ("http://[2002:7f00:1::1]/", False), ("http://[::]/", False),  # 6to4 around 127.0.0.1; unspecified
    ("http://[64:ff9b::5db8:d822]/", True),  # NAT64 to 93.184.216.34, a public address
])
def test_ipv6_addresses_embedding_ipv4_are_checked_as_that_ipv4(url, allowed):
    assert (channels.check_webhook_url(url, allow_private=False) is None) == allowed, url


class HostHook(Hook):
    def do_POST(self):
        self.server.hosts.append(self.headers["Host"])
        super().do_POST()


def test_a_webhook_host_name_is_resolved_once_when_sending_and_refused_if_private(channel_settings):
    """The name is looked up when sending and the connection goes to the address checked (not to whatever a second
    lookup answers); a name resolving to a private address is refused at send time too, not only when saved."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostHook)
    server.received, server.modes, server.hosts = [], [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://localhost:{server.server_address[1]}/robot?key=k"
    try:
        strict = channel_settings.model_copy(update={"webhook_allow_private": False})
        with pytest.raises(channels.SendError, match=r"refused: localhost resolves to .*127\.0\.0\.1"):
            channels.send_webhook(strict, url=url, content="x")
        channels.send_webhook(channel_settings, url=url, content="hello")
    finally:
        server.shutdown()
        server.server_close()
    assert server.received == [{"msgtype": "text", "text": {"content": "hello"}}]
    assert server.hosts == [f"localhost:{server.server_address[1]}"]


class SlowInbox(Inbox):
    """An SMTP server that takes a while over each message."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.seconds)
        return await super().handle_DATA(server, session, envelope)


def email_reminders(session, users, count: int) -> None:
    for n in range(count):
        person = make_user(session, username=f"mail{n}")
        subscribe(session, person, email=True)
        make_task(session, actor=person, title=f"任务{n:02d}", due_on=date(2026, 12, 2))


def test_two_deliverers_with_a_short_lease_and_a_slow_server_send_each_mail_once(db, session, users, channel_settings):
    """Eight e-mails at 0.25 s each take twice the 1-second lease: the deliverers renew each row's lease before its
    send and take small batches, so neither sends what the other has."""
    inbox = SlowInbox(0.25)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings = channel_settings.model_copy(update={
            "smtp_port": controller.port, "reminder_lease_seconds": 1, "smtp_timeout_seconds": 2})
        assert service.send_batch(settings) == 1
        email_reminders(session, users, 8)
        service.plan(database=db, now=NINE - timedelta(minutes=10), timezone=settings.timezone)
        service.plan(database=db, now=NINE, timezone=settings.timezone)
        results = {}

        def run(worker: str) -> None:
            results[worker] = service.deliver(database=db, settings=settings, now=NINE, worker=worker)

        threads = [threading.Thread(target=run, args=(w,)) for w in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        # later passes, after every lease has run out, find nothing left to send
        for later in (NINE + timedelta(minutes=1), NINE + timedelta(minutes=10)):
            assert service.deliver(database=db, settings=settings, now=later, worker="c").sent == 0
    finally:
        controller.stop()
    ids = [message["Message-ID"] for _to, message in inbox.messages]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert results["a"].sent + results["b"].sent == 8 and not results["a"].errors and not results["b"].errors
    assert all(row.status == DeliveryStatus.SENT and row.attempts == 1 for row in rows(session, "email"))


def test_a_deliverer_whose_lease_ran_out_mid_batch_does_not_send_what_was_taken_over(db, session, users, smtp,
                                                                                      channel_settings):
    """Worker a claims five e-mails and stalls past its lease; b takes them over and sends them; when a goes on with
    its batch, each row's lease check before the send finds it is no longer a's: nothing is sent twice."""
    settings = channel_settings.model_copy(update={"reminder_lease_seconds": 1})
    email_reminders(session, users, 5)
    service.plan(database=db, now=NINE - timedelta(minutes=10), timezone=settings.timezone)
    service.plan(database=db, now=NINE, timezone=settings.timezone)
    with db.write_session() as s:
        _claimed, ids = service.claim(s, now=NINE, worker="a", zone=ZoneInfo(settings.timezone), limit=10,
                                      lease=timedelta(seconds=1))
        s.commit()
    assert len(ids) == 5
    taken = service.deliver(database=db, settings=settings, now=NINE + timedelta(seconds=2), worker="b")
    assert taken.sent == 5 and len(smtp.messages) == 5
    late = service.DeliveryResult()
    service._send_all(db, settings, ids, now=NINE, worker="a", result=late)
    assert late.taken_over == 5 and late.sent == 0 and len(smtp.messages) == 5
    assert {row.claimed_by for row in rows(session, "email")} == {"b"}


@pytest.fixture
def blackhole():
    """A TCP port that accepts connections and never says a word (a firewalled SMTP server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def test_a_blackholed_smtp_server_does_not_hold_up_in_app_notifications(db, session, users, blackhole,
                                                                       channel_settings):
    settings = channel_settings.model_copy(update={"smtp_port": blackhole, "smtp_timeout_seconds": 1.5})
    email_reminders(session, users, 6)  # each also in-app
    service.plan(database=db, now=NINE - timedelta(minutes=10), timezone=settings.timezone)
    service.plan(database=db, now=NINE, timezone=settings.timezone)
    results = []
    thread = threading.Thread(target=lambda: results.append(
        service.deliver(database=db, settings=settings, now=NINE, worker="t")))
    started = time_module.monotonic()
    thread.start()
    deadline = started + 1.2  # before the first e-mail's timeout
    def all_in_app_delivered() -> bool:
        in_app = rows(session, "in_app")
        return len(in_app) == 6 and all(row.status == DeliveryStatus.SENT for row in in_app)

    while time_module.monotonic() < deadline and not all_in_app_delivered():
        time_module.sleep(0.05)
    in_app = rows(session, "in_app")
    assert len(in_app) == 6 and all(row.status == DeliveryStatus.SENT for row in in_app)
    assert thread.is_alive()  # still waiting on the silent server
    thread.join(30)
    took = time_module.monotonic() - started
    [result] = results
    # one e-mail waited for the timeout and will be retried; the server is given up on for this pass, the other
    # five go back to the queue untried instead of each waiting 1.5 s
    assert result.in_app == 6 and result.retried == 1 and "timed out" in result.errors[0] and took < 4
    emails = rows(session, "email")
    assert sorted(row.attempts for row in emails) == [0, 0, 0, 0, 0, 1]
    assert all(row.status == DeliveryStatus.PENDING for row in emails)
    assert [row.claimed_by for row in emails if row.attempts == 0] == [""] * 5
