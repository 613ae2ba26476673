"""Notifications over HTTP: the bell and its unread count, the list, opening one (read, then its record), mark read
and all read; each user's settings (channels per rule, quiet hours, digest, webhook) with their bad input; the
admin's rules, jobs and outbox with retry; the private calendar feed (validated with the icalendar package)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import icalendar
from sqlalchemy import select

from crm.audit.models import AuditEntry
from crm.db import utcnow
from crm.feeds.models import FeedToken
from crm.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationSetting,
    Outbox,
    RulePreference,
    RuleSetting,
)
from crm.scheduling.models import SchedulerJob
from tests.conftest import post
from tests.factories import make_org, make_task, make_visit
from tests.helpers import field_error


def notify(session, user, *, title="寄送投资手册", task_id=1, read=False) -> Notification:
    n = Notification(user_id=user.id, rule="task_due", entity_type="task", entity_id=task_id,
                     occasion="due:2026-12-02", payload={"title": title, "due_on": "2026-12-02", "days": 0},
                     read_at=utcnow() if read else None)
    session.add(n)
    session.commit()
    return n


def hx(client) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": client.csrf}


def test_the_bell_counts_unread_and_the_list_links_each_to_its_record(officer_client, session, users):
    task = make_task(session, actor=users["officer"], title="寄送投资手册")
    first = notify(session, users["officer"], task_id=task.id)
    notify(session, users["officer"], title="已读的", task_id=task.id, read=True)
    notify(session, users["officer2"], title="别人的", task_id=task.id)
    page = officer_client.get("/").text
    assert 'hx-get="/notifications/bell"' in page
    bell = officer_client.get("/notifications/bell", headers={"HX-Request": "true"})
    assert '<span class="bell-count">1</span>' in bell.text and 'hx-trigger="every 60s"' in bell.text
    html = officer_client.get("/notifications").text
    assert "今天到期的跟进：寄送投资手册" in html and "别人的" not in html and "全部标为已读" in html
    assert f'href="/notifications/{first.id}"' in html
    opened = officer_client.get(f"/notifications/{first.id}")
    assert opened.status_code == 303 and opened.headers["location"] == f"/tasks/{task.id}"
    assert '<span class="bell-count">' not in officer_client.get("/notifications/bell").text
    other = session.scalar(select(Notification).where(Notification.user_id == users["officer2"].id))
    assert officer_client.get(f"/notifications/{other.id}").status_code == 404
    assert post(officer_client, f"/notifications/{other.id}/read").status_code == 404


def test_mark_read_with_htmx_and_all_read(officer_client, session, users):
    one, _two = notify(session, users["officer"]), notify(session, users["officer"])
    response = officer_client.post(f"/notifications/{one.id}/read", headers=hx(officer_client))
    assert response.status_code == 200 and 'class="notification"' in response.text and "标为已读" not in response.text
    assert "(1)" in officer_client.get("/notifications").text  # unread tab
    response = post(officer_client, "/notifications/read-all")
    assert response.status_code == 303
    session.expire_all()
    assert all(n.read_at for n in session.scalars(select(Notification)))
    assert "没有通知" in officer_client.get("/notifications?unread=1").text


def test_settings_save_channels_quiet_hours_digest_and_webhook(officer_client, session, users):
    page = officer_client.get("/notifications/settings")
    assert page.status_code == 200 and "免打扰时段" in page.text and "日历订阅" in page.text
    response = post(officer_client, "/notifications/settings", {
        "task_due-in_app": "1", "task_due-webhook": "1", "visit_planned-in_app": "1", "quiet_start": "22:00",
        "quiet_end": "07:00", "digest": "1", "webhook_url": "https://1.2.3.4/cgi-bin/webhook/send?key=x"})
    assert response.status_code == 303, response.text
    session.expire_all()
    setting = session.get(NotificationSetting, users["officer"].id)
    assert (setting.quiet_start, setting.quiet_end, setting.digest) == (time(22), time(7), True)
    prefs = {p.rule: (p.in_app, p.email, p.webhook) for p in session.scalars(select(RulePreference))}
    assert prefs["task_due"] == (True, False, True) and prefs["visit_followup"] == (False, False, False)
    html = officer_client.get("/notifications/settings").text
    assert 'name="task_due-webhook" value="1" aria-label="跟进事项到期或逾期: Webhook" checked' in html.replace("Webhook", "Webhook")


def test_settings_refuse_bad_input_with_the_error_beside_the_field(officer_client, session, users):
    cases = [
        ({"quiet_start": "09:00", "quiet_end": "09:00"}, "quiet_end", "结束时间"),
        ({"quiet_start": "09:00"}, "quiet_end", "都填或都不填"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start", "不是时间"),
        ({"webhook_url": "ftp://example.com/hook"}, "webhook_url", "http://"),
        ({"webhook_url": "http://192.168.1.10/hook"}, "webhook_url", "内网"),
        ({"webhook_url": "http://169.254.169.254/latest"}, "webhook_url", "内网"),
        ({"webhook_url": "http://127.0.0.1:9/hook"}, "webhook_url", "内网"),
        ({"task_due-webhook": "1"}, "webhook_url", "Webhook 地址"),
    ]
    for data, name, words in cases:
        response = officer_client.post("/notifications/settings", data={"csrf_token": officer_client.csrf, **data},
                                       headers={"HX-Request": "true"})
        assert response.status_code == 422, data
        assert words in (field_error(response.text, name) or ""), (data, field_error(response.text, name))
        assert "<html" not in response.text  # the form fragment only
    response = post(officer_client, "/notifications/settings", {"task_due-email": "1"})
    assert response.status_code == 422 and "没有电子邮箱" in response.text
    assert session.scalar(select(NotificationSetting)) is None


def test_admin_sets_rules_sees_jobs_and_the_outbox_and_retries_a_failed_delivery(officer_client, client_as, session,
                                                                                   users):
    assert officer_client.get("/admin/reminders").status_code == 403
    assert officer_client.get("/admin/reminders/outbox").status_code == 403
    client = client_as("admin")
    session.add(SchedulerJob(name="reminders.deliver", trigger="every 15 s", last_finished_at=utcnow(),
                             next_run_at=utcnow() + timedelta(seconds=15), last_result="3 sent", last_error="boom",
                             last_error_at=utcnow(), runs=3, failures=1))
    failed = Outbox(rule="task_due", entity_type="task", entity_id=7, occasion="due:2026-12-02",
                    recipient_id=users["officer"].id, channel="email", status=DeliveryStatus.FAILED,
                    fire_at=utcnow(), due_at=utcnow(), payload={"title": "x", "due_on": "2026-12-02"}, attempts=5,
                    last_error="SMTP smtp.example:587: ConnectionRefusedError")
    session.add(failed)
    session.commit()
    html = client.get("/admin/reminders").text
    assert "跟进事项到期或逾期" in html and "每日汇总" in html and "reminders.deliver" in html and "boom" in html
    assert "失败</a>: 1" in html
    response = post(client, "/admin/reminders/rules/task_due", {"enabled": "1", "at_time": "08:00", "days": "0"})
    assert response.status_code == 422 and "1 到 365" in response.text
    response = post(client, "/admin/reminders/rules/task_due", {"at_time": "08:00", "days": "5", "email": "1"})
    assert response.status_code == 303
    session.expire_all()
    setting = session.get(RuleSetting, "task_due")
    assert (setting.enabled, setting.at_time, setting.days, setting.in_app, setting.email) == (False, time(8), 5, False, True)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "reminder_rule"))
    assert entry.changes["days"] == [3, 5] and entry.changes["enabled"] == [True, False]
    assert post(client, "/admin/reminders/rules/nope", {"at_time": "08:00"}).status_code == 404
    outbox = client.get("/admin/reminders/outbox?status=failed").text
    assert "ConnectionRefusedError" in outbox and f"/admin/reminders/outbox/{failed.id}/retry" in outbox
    assert post(client, f"/admin/reminders/outbox/{failed.id}/retry").status_code == 303
    session.expire_all()
    row = session.get(Outbox, failed.id)
    assert row.status == DeliveryStatus.PENDING and row.attempts == 0
    assert post(client, f"/admin/reminders/outbox/{failed.id}/retry").status_code == 400  # not failed any more
    assert client.get("/admin/reminders/outbox?status=bogus").status_code == 400


FEED_URL = re.compile(r'id="feed-url" readonly value="(http://testserver/feeds/([^"]+)\.ics)"')


def test_calendar_feed_has_planned_visits_and_due_dates_and_can_be_revoked(officer_client, client_as, session, users):
    officer = users["officer"]
    fosun = make_org(session, actor=officer, name="复星集团")
    plant = make_org(session, actor=officer, name="大唐智创", kind="zone_enterprise")
    soon = datetime.now(UTC) + timedelta(days=3)
    visit = make_visit(session, title="复星集团考察", officer=officer, organizations=[fosun], stops=[plant],
                       starts_at=soon, place="管委会；一号会议室")
    make_visit(session, title="别人的来访", officer=users["officer2"], starts_at=soon)
    task = make_task(session, actor=officer, title="寄送投资手册, 附件", due_on=date.today() + timedelta(days=2))
    timed = make_task(session, actor=officer, title="电话回访", due_on=date.today() + timedelta(days=1), due_time="15:30")
    make_task(session, actor=users["officer2"], title="别人的跟进")

    response = officer_client.post("/notifications/feed", headers=hx(officer_client))
    _url, token = FEED_URL.search(response.text).groups()
    assert session.scalar(select(FeedToken.token_hash)) != token  # only its hash is kept
    anonymous = client_as("officer2")  # another browser: the token, not the session, opens the feed
    anonymous.cookies.clear()
    feed = anonymous.get(f"/feeds/{token}.ics")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(feed.content)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {f"visit-{visit.id}@testserver", f"task-{task.id}@testserver", f"task-{timed.id}@testserver"}
    assert str(events[f"visit-{visit.id}@testserver"]["LOCATION"]) == "管委会；一号会议室"
    assert "大唐智创" in str(events[f"visit-{visit.id}@testserver"]["DESCRIPTION"])
    all_day = events[f"task-{task.id}@testserver"]
    assert all_day["DTSTART"].dt == task.due_on and str(all_day["SUMMARY"]) == "跟进：寄送投资手册, 附件"
    assert events[f"task-{timed.id}@testserver"]["DTSTART"].dt.astimezone(UTC).hour == 7  # 15:30 in Heze
    assert str(all_day["URL"]) == f"http://testserver/tasks/{task.id}"

    post(officer_client, f"/tasks/{task.id}/complete")  # the feed follows the records
    after = icalendar.Calendar.from_ical(anonymous.get(f"/feeds/{token}.ics").content)
    assert f"task-{task.id}@testserver" not in {str(e["UID"]) for e in after.walk("VEVENT")}

    assert "你已有日历订阅地址" in officer_client.get("/notifications/settings").text
    response = post(officer_client, "/notifications/feed/revoke")
    assert response.status_code == 303
    gone = anonymous.get(f"/feeds/{token}.ics")
    assert gone.status_code == 404 and "已撤销" in gone.text
    assert anonymous.get("/feeds/not-a-token.ics").status_code == 404
    response = officer_client.post("/notifications/feed", headers=hx(officer_client))
    _, new_token = FEED_URL.search(response.text).groups()
    assert new_token != token and anonymous.get(f"/feeds/{new_token}.ics").status_code == 200


def test_the_bells_fast_path_answers_as_its_route_and_falls_back_for_anything_else(client_as, session, users):
    """The bell's common case is answered before FastAPI (crm/front.py, issue 17): the same bytes as its route (a query
    string sends a request the normal way); an account step owed, a session ended elsewhere and a non-business role
    are answered as the route answers them, on the very next request."""
    from sqlalchemy import delete, update

    from crm.auth.models import User, WebSession
    from crm.auth.password_policy import CHANGE_PASSWORD_URL
    from crm.security_headers import CONTENT_SECURITY_POLICY
    from tests.factories import make_user

    officer = client_as("officer")
    notify(session, users["officer"])
    htmx = {"HX-Request": "true"}
    fast = officer.get("/notifications/bell", headers=htmx)
    routed = officer.get("/notifications/bell?by=route", headers=htmx)
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content and '<span class="bell-count">1</span>' in fast.text
    assert fast.headers.multi_items() == routed.headers.multi_items()
    assert fast.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert fast.headers["cache-control"] == "no-store" and fast.headers["x-frame-options"] == "DENY"

    session.execute(update(User).where(User.id == users["officer"].id).values(must_change_password=True))
    session.commit()
    owed = officer.get("/notifications/bell", headers=htmx)
    assert owed.status_code == 401 and owed.headers["HX-Redirect"] == CHANGE_PASSWORD_URL
    session.execute(update(User).where(User.id == users["officer"].id).values(must_change_password=False))
    session.execute(delete(WebSession).where(WebSession.user_id == users["officer"].id))  # signed out elsewhere
    session.commit()
    ended = officer.get("/notifications/bell", headers=htmx)
    assert ended.status_code == 401 and ended.headers["HX-Redirect"].startswith("/login")
    assert "crm_session=" in ended.headers["set-cookie"]  # the dead cookie cleared, as on any page

    make_user(session, username="security", role="security_admin")
    assert client_as("security").get("/notifications/bell", headers=htmx).status_code == 403
