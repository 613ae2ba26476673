"""Reminder rules with the clock moved (time-machine): tasks (the day before, on the day, overdue daily, escalation),
visits (no follow-up, planned tomorrow), the digest, quiet hours; completing or moving a task before its time; a
row gone stale while it waited is dropped when claimed; downtime across a due time delivers once."""

from __future__ import annotations

import os
import time as time_module
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from crm.db import utcnow
from crm.notifications import service
from crm.notifications.models import DeliveryStatus, Notification, NotificationSetting, Outbox, RulePreference
from crm.tasks import service as task_service
from crm.tasks.models import TaskStatus
from tests.factories import make_org, make_task, make_user, make_visit

ZONE = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE)


@pytest.fixture(autouse=True, params=["UTC", "Asia/Shanghai"])
def machine_tz(request):
    """Every rule test runs with the machine's zone set to UTC and to Asia/Shanghai: only CRM_TIMEZONE matters."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time_module.tzset()
    yield request.param
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time_module.tzset()


@pytest.fixture
def clock():
    """clock(moment): from now on the test (and the code it calls) sees `moment`; time stands still."""
    travellers: list = []

    def to(moment: datetime) -> None:
        if travellers:
            travellers.pop().stop()
        traveller = time_machine.travel(moment, tick=False)
        traveller.start()
        travellers.append(traveller)

    yield to
    if travellers:
        travellers.pop().stop()


@pytest.fixture
def run(db, settings):
    """One scheduler pass: plan, then deliver (in-app only here; e-mail and webhooks have their own tests)."""

    def run_pass():
        now = utcnow()
        planned = service.plan(database=db, now=now, timezone=settings.timezone,
                               threshold=settings.major_project_threshold_wan_cny)
        return planned, service.deliver(database=db, settings=settings, now=now, worker="test")

    return run_pass


def inbox(session, user) -> list[tuple[str, str]]:
    session.expire_all()
    rows = session.execute(select(Notification.rule, Notification.occasion).where(Notification.user_id == user.id)
                           .order_by(Notification.id)).all()
    session.commit()
    return [tuple(row) for row in rows]


def outbox(session, **where) -> list[Outbox]:
    session.expire_all()
    stmt = select(Outbox).order_by(Outbox.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(Outbox, key) == value)
    rows = list(session.scalars(stmt))
    session.commit()
    return rows


def test_fire_dates_are_the_local_dates_whose_time_fell_in_the_window():
    at = time(9, 0)
    assert service.fire_dates(local(2026, 12, 1, 8), local(2026, 12, 1, 10), at, ZONE) == [date(2026, 12, 1)]
    assert service.fire_dates(local(2026, 12, 1, 9), local(2026, 12, 1, 10), at, ZONE) == []  # (since, now]
    assert service.fire_dates(local(2026, 12, 1, 10), local(2026, 12, 4, 9), at, ZONE) == [
        date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)]
    # 09:00 in Heze is 01:00 UTC: a UTC window says the same
    assert service.fire_dates(datetime(2026, 12, 1, 0, 59, tzinfo=UTC), datetime(2026, 12, 1, 1, 0, tzinfo=UTC), at,
                              ZONE) == [date(2026, 12, 1)]


def test_quiet_hours_same_day_and_overnight():
    day = NotificationSetting(quiet_start=time(12, 0), quiet_end=time(14, 0))
    assert service.after_quiet_hours(local(2026, 12, 1, 13), day, ZONE) == local(2026, 12, 1, 14)
    assert service.after_quiet_hours(local(2026, 12, 1, 14), day, ZONE) == local(2026, 12, 1, 14)
    night = NotificationSetting(quiet_start=time(22, 0), quiet_end=time(7, 0))
    assert service.after_quiet_hours(local(2026, 12, 1, 23), night, ZONE) == local(2026, 12, 2, 7)
    assert service.after_quiet_hours(local(2026, 12, 2, 6, 30), night, ZONE) == local(2026, 12, 2, 7)
    assert service.after_quiet_hours(local(2026, 12, 2, 9), night, ZONE) == local(2026, 12, 2, 9)
    assert service.after_quiet_hours(local(2026, 12, 2, 9), None, ZONE) == local(2026, 12, 2, 9)
    assert service.check_quiet_hours(time(9), time(9))  # equal: refused
    assert service.check_quiet_hours(time(9), None)  # half given: refused
    assert not service.check_quiet_hours(time(22), time(7))  # overnight: allowed


def test_task_reminders_the_day_before_on_the_day_daily_overdue_then_the_manager(session, users, clock, run):
    officer, manager = users["officer"], users["manager"]
    clock(local(2026, 11, 30, 12))
    task = make_task(session, actor=officer, title="寄送投资手册", due_on=date(2026, 12, 2))
    run()
    clock(local(2026, 12, 1, 8, 59))
    run()
    assert inbox(session, officer) == []
    clock(local(2026, 12, 1, 9, 0, ))
    run()
    assert inbox(session, officer) == [("task_due", "before:2026-12-02")]
    run()  # nothing twice
    clock(local(2026, 12, 2, 9, 5))
    run()
    clock(local(2026, 12, 3, 9, 5))
    run()
    clock(local(2026, 12, 4, 9, 5))
    run()
    assert inbox(session, officer) == [("task_due", "before:2026-12-02"), ("task_due", "due:2026-12-02"),
                                       ("task_due", "overdue:2026-12-03"), ("task_due", "overdue:2026-12-04")]
    assert inbox(session, manager) == []
    clock(local(2026, 12, 5, 9, 5))  # three days overdue: the managers are told, once
    run()
    clock(local(2026, 12, 6, 9, 5))
    run()
    assert inbox(session, manager) == [("task_due", "escalate:2026-12-02")]
    assert inbox(session, officer)[-1] == ("task_due", "overdue:2026-12-06")
    assert inbox(session, users["officer2"]) == []
    row = outbox(session, recipient_id=manager.id)[0]
    text = service.render(row, "zh_CN")
    assert "张晓明" in text.subject and "寄送投资手册" in text.subject and text.url == f"/tasks/{task.id}"
    assert "3" in service.render(row, "en").lines[0]


def test_an_overdue_follow_up_escalates_to_the_assignees_own_manager_when_they_have_one(session, users, clock, run):
    officer, manager = users["officer"], users["manager"]
    own_manager = make_user(session, username="boss", role="manager", display_name="李主任")
    officer.manager_id = own_manager.id
    session.commit()
    clock(local(2026, 11, 30, 12))
    make_task(session, actor=officer, title="回访复星", due_on=date(2026, 12, 2))
    run()
    clock(local(2026, 12, 5, 9, 5))  # three days overdue
    run()
    assert inbox(session, own_manager) == [("task_due", "escalate:2026-12-02")]
    assert inbox(session, manager) == []  # not every manager: only the one the officer reports to


def test_completing_or_moving_a_task_before_its_time_cancels_or_moves_the_reminder(session, users, clock, run):
    officer = users["officer"]
    clock(local(2026, 12, 1, 8))
    done = make_task(session, actor=officer, title="完成了", due_on=date(2026, 12, 2))
    moved = make_task(session, actor=officer, title="改期了", due_on=date(2026, 12, 2))
    run()
    task_service.set_status(session, task=task_service.get(session, done.id), status=TaskStatus.DONE, actor=officer)
    task_service.reschedule(session, task=task_service.get(session, moved.id), due_on="2026-12-10", actor=officer)
    clock(local(2026, 12, 2, 9, 30))
    run()
    assert inbox(session, officer) == []
    clock(local(2026, 12, 9, 9, 30))
    run()
    assert inbox(session, officer) == [("task_due", "before:2026-12-10")]


def test_a_row_gone_stale_while_it_waited_is_cancelled_when_claimed(session, users, clock, run, settings):
    """An e-mail kept back by quiet hours: the task is completed meanwhile, so nothing is sent."""
    officer = users["officer"]
    officer.email = "officer@example.com"
    session.add(RulePreference(user_id=officer.id, rule="task_due", in_app=False, email=True, webhook=False))
    session.add(NotificationSetting(user_id=officer.id, quiet_start=time(8, 0), quiet_end=time(10, 0)))
    session.commit()
    clock(local(2026, 12, 1, 8))
    run()
    task = make_task(session, actor=officer, due_on=date(2026, 12, 1))
    clock(local(2026, 12, 1, 9, 1))
    run()
    [row] = outbox(session)
    assert row.status == DeliveryStatus.PENDING and row.due_at == local(2026, 12, 1, 10)
    task_service.set_status(session, task=task_service.get(session, task.id), status=TaskStatus.DONE, actor=officer)
    clock(local(2026, 12, 1, 10, 1))
    _, delivered = run()
    assert delivered.cancelled == 1 and delivered.sent == 0
    assert outbox(session)[0].status == DeliveryStatus.CANCELLED


def test_downtime_across_due_times_delivers_the_latest_reminder_once(session, users, clock, run):
    officer = users["officer"]
    clock(local(2026, 12, 1, 8))
    make_task(session, actor=officer, title="停机期间到期", due_on=date(2026, 12, 2))
    run()  # then the scheduler is stopped for three days
    clock(local(2026, 12, 4, 10))
    run()
    run()
    assert inbox(session, officer) == [("task_due", "overdue:2026-12-04")]


def test_visit_without_follow_up_reminds_its_officer_after_n_days(session, users, clock, run):
    officer = users["officer"]
    org = make_org(session, actor=officer, name="复星集团")
    clock(local(2026, 12, 1, 8))
    quiet = make_visit(session, title="复星集团来访", officer=officer, organizations=[org], status="done",
                       starts_at=local(2026, 12, 1, 9, 30), ends_at=local(2026, 12, 1, 11, 30))
    followed = make_visit(session, title="有跟进的来访", officer=officer, organizations=[org], status="done",
                          starts_at=local(2026, 12, 1, 14), ends_at=local(2026, 12, 1, 15))
    make_task(session, actor=officer, title="跟进", due_on=date(2026, 12, 10), visit_id=followed.id)
    make_visit(session, title="有结果的来访", officer=officer, status="done", outcome="同意加快项目研讨",
               starts_at=local(2026, 12, 1, 16), ends_at=local(2026, 12, 1, 17))
    run()
    clock(local(2026, 12, 2, 9, 5))
    run()
    assert inbox(session, officer) == []
    clock(local(2026, 12, 3, 9, 5))
    run()
    assert inbox(session, officer) == [("visit_followup", "followup")]
    row = outbox(session, rule="visit_followup")[0]
    assert row.entity_id == quiet.id and service.render(row, "zh_CN").url == f"/visits/{quiet.id}"


def test_planned_visit_reminds_officer_and_hosts_the_day_before_with_the_itinerary(session, users, clock, run):
    from crm.visits.models import VisitHost

    officer, colleague = users["officer"], users["officer2"]
    fosun = make_org(session, actor=officer, name="复星集团")
    stops = [make_org(session, actor=officer, name=name, kind="zone_enterprise") for name in ("大唐智创", "玉皇新能源")]
    clock(local(2026, 12, 1, 8))
    visit = make_visit(session, title="复星集团考察", officer=officer, organizations=[fosun], stops=stops,
                       starts_at=local(2026, 12, 3, 9, 30), ends_at=local(2026, 12, 3, 16), place="管委会")
    session.add(VisitHost(visit_id=visit.id, user_id=colleague.id))
    session.commit()
    run()
    clock(local(2026, 12, 1, 9, 5))
    run()
    assert inbox(session, officer) == []
    clock(local(2026, 12, 2, 9, 5))
    run()
    assert inbox(session, officer) == [("visit_planned", "day_before:2026-12-03")]
    assert inbox(session, colleague) == [("visit_planned", "day_before:2026-12-03")]
    text = service.render(outbox(session, recipient_id=officer.id)[0], "zh_CN")
    assert text.lines[0].startswith("明天") and "09:30–16:00" in text.lines[0]
    assert "1. 大唐智创" in text.lines and "2. 玉皇新能源" in text.lines and any("管委会" in line for line in text.lines)


def test_the_digest_gathers_the_days_email_reminders_into_one(session, users, clock, run, db, settings):
    officer = users["officer"]
    officer.email = "officer@example.com"
    session.add(RulePreference(user_id=officer.id, rule="task_due", in_app=True, email=True, webhook=False))
    session.add(NotificationSetting(user_id=officer.id, digest=True))
    session.commit()
    clock(local(2026, 12, 1, 8))
    service.plan(database=db, now=utcnow(), timezone=settings.timezone)
    make_task(session, actor=officer, title="甲", due_on=date(2026, 12, 2))
    make_task(session, actor=officer, title="乙", due_on=date(2026, 12, 1))
    clock(local(2026, 12, 1, 8, 31))
    service.plan(database=db, now=utcnow(), timezone=settings.timezone)
    [digest] = outbox(session, rule="digest")
    assert digest.channel == "email" and digest.status == DeliveryStatus.PENDING and digest.occasion == "2026-12-01"
    items = outbox(session, digest_id=digest.id)
    assert {row.occasion for row in items} == {"before:2026-12-02", "due:2026-12-01"}
    assert all(row.status == DeliveryStatus.DIGESTED for row in items)
    composed = service.compose(session, digest, locale="zh_CN", base_url="http://crm.example")
    assert "甲" in composed.text and "乙" in composed.text and "http://crm.example/tasks/" in composed.html
    clock(local(2026, 12, 1, 9, 1))  # the rule fires: in-app reminders come one by one, no second e-mail
    service.plan(database=db, now=utcnow(), timezone=settings.timezone)
    assert len(outbox(session, channel="email")) == 3  # the digest and its two items
    assert len(outbox(session, channel="in_app")) == 2


def test_a_rule_turned_off_plans_nothing_and_a_user_can_turn_a_channel_off(session, users, clock, run):
    officer, admin = users["officer"], users["admin"]
    clock(local(2026, 12, 1, 8))
    make_task(session, actor=officer, due_on=date(2026, 12, 1))
    service.update_rule(session, code="task_due", data={"enabled": False}, actor=admin)
    run()
    clock(local(2026, 12, 1, 9, 5))
    run()
    assert inbox(session, officer) == []
    service.update_rule(session, code="task_due", data={"enabled": True}, actor=admin)
    session.add(RulePreference(user_id=officer.id, rule="task_due", in_app=False, email=False, webhook=False))
    session.commit()
    clock(local(2026, 12, 2, 9, 5))
    run()
    assert inbox(session, officer) == [] and outbox(session) == []


def test_the_first_pass_starts_from_now_and_replays_nothing_old(session, users, clock, run):
    officer = users["officer"]
    clock(local(2026, 11, 1, 8))
    make_task(session, actor=officer, due_on=date(2026, 11, 20))
    clock(local(2026, 12, 1, 9, 5))
    run()
    assert inbox(session, officer) == []
    clock(local(2026, 12, 2, 9, 5))
    run()
    assert inbox(session, officer) == [("task_due", "overdue:2026-12-02")]
    assert outbox(session)[0].fire_at == local(2026, 12, 2, 9)


TZ_NAME = "Asia/Shanghai"  # the settings' default zone (CRM_TIMEZONE), which the routes pass


def test_a_task_moved_after_nine_to_tomorrow_is_reminded_today_once(session, users, clock, run):
    """Today's 09:00 pass ran before the move: the move plans today's "due tomorrow" reminder itself."""
    officer = users["officer"]
    clock(local(2026, 12, 1, 8))
    task = make_task(session, actor=officer, title="改到明天", due_on=date(2026, 12, 10))
    run()
    clock(local(2026, 12, 1, 9, 5))
    run()
    clock(local(2026, 12, 1, 10))
    task_service.reschedule(session, task=task_service.get(session, task.id), due_on="2026-12-02", actor=officer,
                            timezone=TZ_NAME)
    [row] = outbox(session)
    assert row.occasion == "before:2026-12-02" and row.fire_at == local(2026, 12, 1, 9)
    run()
    run()
    clock(local(2026, 12, 1, 11))
    run()
    assert inbox(session, officer) == [("task_due", "before:2026-12-02")]
    clock(local(2026, 12, 2, 9, 5))  # and the next day's pass carries on as usual
    run()
    assert inbox(session, officer) == [("task_due", "before:2026-12-02"), ("task_due", "due:2026-12-02")]


def test_a_task_moved_or_created_after_nine_for_today_is_reminded_due_today(session, users, clock, run):
    officer = users["officer"]
    clock(local(2026, 12, 1, 9, 5))
    run()
    moved = make_task(session, actor=officer, title="改到今天", due_on=date(2026, 12, 10))
    clock(local(2026, 12, 1, 10))
    task_service.update(session, task=task_service.get(session, moved.id), version=moved.version, actor=officer,
                        timezone=TZ_NAME, data={"title": moved.title, "description": "", "assignee_id": officer.id,
                                                "due_on": "2026-12-01", "due_time": "", "priority": "normal"})
    created = task_service.create(session, actor=officer, timezone=TZ_NAME, data={
        "title": "今天新建", "description": "", "assignee_id": officer.id, "due_on": date(2026, 12, 1),
        "due_time": None, "priority": "normal"})
    run()
    run()
    assert sorted(inbox(session, officer)) == [("task_due", "due:2026-12-01")] * 2
    assert {row.entity_id for row in outbox(session)} == {moved.id, created.id}


def test_before_nine_a_move_plans_nothing_the_pass_at_nine_does(session, users, clock, run):
    officer = users["officer"]
    clock(local(2026, 12, 1, 8))
    run()
    task = make_task(session, actor=officer, due_on=date(2026, 12, 10))
    task_service.reschedule(session, task=task_service.get(session, task.id), due_on="2026-12-02", actor=officer,
                            timezone=TZ_NAME)
    assert outbox(session) == []
    clock(local(2026, 12, 1, 9, 5))
    run()
    run()
    assert inbox(session, officer) == [("task_due", "before:2026-12-02")]


def test_a_move_after_nine_respects_the_rule_and_completing_still_cancels(session, users, clock, run):
    officer, admin = users["officer"], users["admin"]
    clock(local(2026, 12, 1, 9, 5))
    run()
    task = make_task(session, actor=officer, due_on=date(2026, 12, 10))
    clock(local(2026, 12, 1, 10))
    service.update_rule(session, code="task_due", data={"enabled": False}, actor=admin)
    task_service.reschedule(session, task=task_service.get(session, task.id), due_on="2026-12-02", actor=officer,
                            timezone=TZ_NAME)
    assert outbox(session) == []  # rule off: nothing
    service.update_rule(session, code="task_due", data={"enabled": True, "at_time": time(11, 0)}, actor=admin)
    task_service.reschedule(session, task=task_service.get(session, task.id), due_on="2026-12-01", actor=officer,
                            timezone=TZ_NAME)
    assert outbox(session) == []  # the rule's own time (11:00) has not come yet today
    clock(local(2026, 12, 1, 11, 30))
    task_service.reschedule(session, task=task_service.get(session, task.id), due_on="2026-12-02", actor=officer,
                            timezone=TZ_NAME)
    [row] = outbox(session)
    assert row.occasion == "before:2026-12-02" and row.fire_at == local(2026, 12, 1, 11)
    task_service.set_status(session, task=task_service.get(session, task.id), status=TaskStatus.DONE, actor=officer)
    _, delivered = run()
    assert delivered.cancelled == 1 and inbox(session, officer) == []
