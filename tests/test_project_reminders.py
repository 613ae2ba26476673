"""Reminder rules 4–7, for projects, with the clock moved: a stale project (its officers, once a week), the
groundbreaking countdown (slated projects not ready, and the managers' count), a permit past its promised time
limit, and a parcel's signing window (the day before it opens; the day it closes with households unsigned)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update

from crm.groundbreaking import service as groundbreaking_service
from crm.notifications import service
from crm.parcels import service as parcel_service
from crm.projects import service as project_service
from crm.projects.models import ApprovalItem, Project
from tests import test_reminders
from tests.factories import make_org, make_project, make_task, make_user
from tests.test_reminders import inbox, local, outbox

clock, run = test_reminders.clock, test_reminders.run  # the reminder tests' fixtures (moving clock, one pass)


def test_a_stale_project_reminds_its_officers_once_a_week(session, users, clock, run):
    officer, helper = users["officer"], users["officer2"]
    clock(local(2026, 10, 1, 10))
    quiet = make_project(session, actor=officer, organizations=[make_org(session, actor=officer)], name="沉寂项目",
                         officers=[helper])
    busy = make_project(session, actor=officer, organizations=[make_org(session, actor=officer)], name="活跃项目")
    clock(local(2026, 11, 2, 8))
    make_task(session, actor=officer, title="跟进活跃项目", project_id=busy.id, due_on=date(2026, 11, 20))
    run()
    clock(local(2026, 11, 2, 9, 5))  # a Monday
    run()
    assert inbox(session, officer) == [("stale_project", "stale:2026-11-02")]
    assert inbox(session, helper) == [("stale_project", "stale:2026-11-02")]
    assert {row.entity_id for row in outbox(session, rule="stale_project")} == {quiet.id}
    text = service.render(outbox(session, rule="stale_project")[0], "zh_CN")
    assert "沉寂项目" in text.subject and text.url == f"/projects/{quiet.id}"
    clock(local(2026, 11, 3, 9, 5))
    run()
    assert len(inbox(session, officer)) == 1  # once a week
    clock(local(2026, 11, 9, 9, 5))
    run()
    assert inbox(session, officer)[-1] == ("stale_project", "stale:2026-11-09")


def test_the_groundbreaking_countdown_names_what_is_missing(session, users, clock, run):
    officer, manager = users["officer"], users["manager"]
    clock(local(2026, 12, 1, 8))
    project = make_project(session, actor=officer, organizations=[make_org(session, actor=officer)], name="储能项目",
                           total_investment_wan_cny="8000")
    session.execute(update(Project).where(Project.id == project.id).values(stage="permits", pipeline_stage="permits"))
    session.commit()
    event = groundbreaking_service.create(session, actor=manager, data={"name": "12月集中开工", "held_on": "2026-12-20"})
    groundbreaking_service.add_project(session, event=event, project_id=project.id, actor=manager)
    run()
    clock(local(2026, 12, 13, 9, 5))
    run()
    assert inbox(session, officer) == [("groundbreaking", "countdown:2026-12-20:7")]
    assert inbox(session, manager) == [("groundbreaking", "countdown:2026-12-20:7")]
    mine = service.render(outbox(session, rule="groundbreaking", recipient_id=officer.id)[0], "zh_CN")
    assert "储能项目" in mine.subject and "用地" in mine.lines[0] and mine.url == f"/projects/{project.id}"
    summary = service.render(outbox(session, rule="groundbreaking", recipient_id=manager.id)[0], "zh_CN")
    assert "0" in summary.lines[0] and summary.url == f"/groundbreaking/{event.id}"
    clock(local(2026, 12, 19, 9, 5))
    run()
    assert inbox(session, officer)[-1] == ("groundbreaking", "countdown:2026-12-20:1")


def test_a_permit_past_its_promised_time_limit_is_reported_once(session, users, clock, run):
    officer = users["officer"]
    clock(local(2026, 11, 2, 8))
    project = make_project(session, actor=officer, organizations=[make_org(session, actor=officer)], name="冷链项目")
    item = session.scalar(select(ApprovalItem).where(ApprovalItem.project_id == project.id,
                                                     ApprovalItem.code == "environmental"))
    project_service.update_approval(session, project=project, item=item, actor=officer, today=date(2026, 11, 2), data={
        "status": "accepted", "submitted_on": "2026-11-02", "accepted_on": "2026-11-02", "promised_days": "5",
        "assistant": "王倩"})
    assert item.overdue_on == date(2026, 11, 10)  # five working days used on the 9th; overdue from the 10th
    run()
    clock(local(2026, 11, 9, 9, 5))  # 5 working days used: not yet overdue
    run()
    assert inbox(session, officer) == []
    clock(local(2026, 11, 10, 9, 5))
    run()
    assert inbox(session, officer) == [("permit_overdue", "overdue:2026-11-02")]
    text = service.render(outbox(session, rule="permit_overdue")[0], "zh_CN")
    assert "环评" in text.subject and any("王倩" in line for line in text.lines)
    clock(local(2026, 11, 11, 9, 5))
    run()
    assert len(inbox(session, officer)) == 1


def test_a_parcel_signing_window_reminds_the_managers(session, users, clock, run):
    manager = users["manager"]
    other_manager = make_user(session, username="manager2", role="manager")
    clock(local(2026, 12, 1, 8))
    parcel_service.create(session, actor=manager, data={
        "code": "菏泽市2019-2", "name": "纱厂地块", "status": "expropriating", "households_total": "557",
        "households_signed": "0", "signing_starts_on": "2026-12-08", "signing_ends_on": "2026-12-14"})
    run()
    clock(local(2026, 12, 7, 9, 5))
    run()
    assert inbox(session, manager) == [("parcel_window", "opens:2026-12-08")]
    assert inbox(session, other_manager) == [("parcel_window", "opens:2026-12-08")]
    assert inbox(session, users["officer"]) == []
    clock(local(2026, 12, 14, 9, 5))
    run()
    assert inbox(session, manager)[-1] == ("parcel_window", "closes:2026-12-14")
    text = service.render(outbox(session, rule="parcel_window", occasion="closes:2026-12-14")[0], "zh_CN")
    assert "0" in text.lines[0] and "557" in text.lines[0]


def test_the_stored_overdue_day_is_the_first_day_the_item_counts_as_overdue():
    from datetime import timedelta

    from crm.projects import gates

    for offset in range(14):  # every weekday to start on, twice
        start = date(2026, 11, 2) + timedelta(days=offset)
        for days in range(0, 25):
            item = ApprovalItem(status="accepted", submitted_on=start, accepted_on=start, promised_days=days)
            first = gates.overdue_from(item)
            assert gates.is_overdue(item, first) and not gates.is_overdue(item, first - timedelta(days=1))
    assert gates.overdue_from(ApprovalItem(status="approved", accepted_on=date(2026, 11, 2), promised_days=5)) is None
    assert gates.overdue_from(ApprovalItem(status="accepted", accepted_on=date(2026, 11, 2))) is None
