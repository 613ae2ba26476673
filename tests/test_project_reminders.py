"""Reminder rules 4–7, for projects, with the clock moved: a stale project (its officers, once a week; the managers'
weekly summary), the groundbreaking countdown at T-30, T-14, T-7 and T-1 (the owner and officers of slated projects
not ready, and the managers: who is red and why; by the configured major-project threshold), a permit past its
promised time limit, and a parcel's signing window (the day before it opens; the day before it closes with households
unsigned). Each is sent once: a second pass adds nothing."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update

from crm.groundbreaking import service as groundbreaking_service
from crm.notifications import service
from crm.parcels import service as parcel_service
from crm.projects import service as project_service
from crm.projects.models import ApprovalItem, Project
from tests import test_reminders
from tests.conftest import login, post
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
    assert {row.entity_id for row in outbox(session, rule="stale_project", entity_type="project")} == {quiet.id}
    text = service.render(outbox(session, rule="stale_project", entity_type="project")[0], "zh_CN")
    assert "沉寂项目" in text.subject and text.url == f"/projects/{quiet.id}"
    clock(local(2026, 11, 3, 9, 5))
    run()
    assert len(inbox(session, officer)) == 1  # once a week
    clock(local(2026, 11, 9, 9, 5))
    run()
    assert inbox(session, officer)[-1] == ("stale_project", "stale:2026-11-09")


def test_the_managers_get_one_weekly_summary_of_the_stale_projects(session, users, clock, run):
    officer, manager = users["officer"], users["manager"]
    other_manager = make_user(session, username="manager2", role="manager", display_name="王五")
    clock(local(2026, 10, 1, 10))
    names = [f"沉寂项目{i:02d}" for i in range(12)]
    for name in names:
        make_project(session, actor=officer, organizations=[make_org(session, actor=officer)], name=name)
    run()
    clock(local(2026, 11, 4, 9, 5))  # a Wednesday: the week of Monday 2 November
    run()
    run()  # twice: nothing new
    summary = ("stale_project", "summary:2026-11-02")
    assert inbox(session, manager) == [summary] and inbox(session, other_manager) == [summary]
    assert summary not in inbox(session, officer)  # officers get their own projects, one by one
    assert len(inbox(session, officer)) == 12
    rows = outbox(session, rule="stale_project", occasion="summary:2026-11-02")
    assert {(row.entity_type, row.recipient_id) for row in rows} == {("user", manager.id), ("user", other_manager.id)}
    text = service.render(rows[0], "zh_CN")
    assert "12" in text.subject and text.url == "/projects?stale=1"
    assert sum(1 for line in text.lines if "沉寂项目" in line) == 10  # the first ten by name …
    assert "2" in text.lines[-1]  # … and the two more
    clock(local(2026, 11, 6, 9, 5))
    run()
    assert inbox(session, manager) == [summary]  # once a week
    clock(local(2026, 11, 9, 9, 5))
    run()
    run()
    assert inbox(session, manager) == [summary, ("stale_project", "summary:2026-11-09")]


def test_no_stale_projects_no_summary(session, users, clock, run):
    manager = users["manager"]
    clock(local(2026, 11, 2, 8))
    make_project(session, actor=users["officer"], organizations=[make_org(session, actor=users["officer"])])
    run()
    clock(local(2026, 11, 2, 9, 5))
    run()
    assert inbox(session, manager) == []


def countdowns(session, user) -> list[tuple[str, str]]:
    return [item for item in inbox(session, user) if item[0] == "groundbreaking"]  # (the slated project goes stale)


def _slate(session, users, *, held_on: str, total: str = "8000", name: str = "储能项目"):
    officer, manager = users["officer"], users["manager"]
    project = make_project(session, actor=officer, organizations=[make_org(session, actor=officer)], name=name,
                           total_investment_wan_cny=total, officers=[users["officer2"]])
    session.execute(update(Project).where(Project.id == project.id).values(stage="permits", pipeline_stage="permits"))
    session.commit()
    event = groundbreaking_service.create(session, actor=manager, data={"name": "12月集中开工", "held_on": held_on})
    groundbreaking_service.add_project(session, event=event, project_id=project.id, actor=manager)
    return project, event


def test_the_groundbreaking_countdown_at_30_14_7_and_1_days_names_who_is_red_and_why(session, users, clock, run):
    officer, helper, manager = users["officer"], users["officer2"], users["manager"]
    clock(local(2026, 11, 25, 8))
    project, event = _slate(session, users, held_on="2026-12-31")
    run()
    countdown = []
    for day, days_before in ((date(2026, 12, 1), 30), (date(2026, 12, 17), 14), (date(2026, 12, 24), 7),
                             (date(2026, 12, 30), 1)):
        eve = day - timedelta(days=1)
        clock(local(eve.year, eve.month, eve.day, 9, 5))  # the day before a countdown day: nothing
        run()
        assert len(countdowns(session, manager)) == len(countdown)
        clock(local(day.year, day.month, day.day, 9, 5))
        run()
        run()  # a second pass sends nothing more
        countdown.append(("groundbreaking", f"countdown:2026-12-31:{days_before}"))
        assert countdowns(session, officer) == countdown  # the owner
        assert countdowns(session, helper) == countdown  # the assigned officer
        assert countdowns(session, manager) == countdown
    assert countdowns(session, users["admin"]) == []
    # the owner: what the project lacks, and why, one reason a line
    mine = service.render(outbox(session, rule="groundbreaking", recipient_id=officer.id)[-1], "zh_CN")
    assert "储能项目" in mine.subject and mine.url == f"/projects/{project.id}"
    assert any("用地" in line for line in mine.lines[1:])
    assert not any("集体决策" in line for line in mine.lines[1:])  # 8,000 is under the default threshold
    # the managers: who is red and why, not only the count
    summary = service.render(outbox(session, rule="groundbreaking", recipient_id=manager.id)[-1], "en")
    assert summary.url == f"/groundbreaking/{event.id}"
    assert "0 of 1" in summary.lines[0]
    assert "储能项目" in summary.lines[1] and "张晓明" in summary.lines[1] and "red" in summary.lines[1]
    assert "Land is not supplied" in summary.lines[1]
    zh = service.render(outbox(session, rule="groundbreaking", recipient_id=manager.id)[-1], "zh_CN")
    assert "储能项目" in zh.lines[1] and "红" in zh.lines[1]


def test_the_countdown_judges_by_the_configured_major_project_threshold(session, users, clock, db, settings):
    from decimal import Decimal

    from crm.db import utcnow

    manager = users["manager"]
    clock(local(2026, 12, 1, 8))
    _, event = _slate(session, users, held_on="2026-12-08")
    lower = settings.model_copy(update={"major_project_threshold_wan_cny": Decimal("5000")})
    service.plan(database=db, now=utcnow(), timezone=lower.timezone, threshold=lower.major_project_threshold_wan_cny)
    clock(local(2026, 12, 1, 9, 5))
    service.plan(database=db, now=utcnow(), timezone=lower.timezone, threshold=lower.major_project_threshold_wan_cny)
    summary = service.render(outbox(session, rule="groundbreaking", recipient_id=manager.id)[0], "en")
    assert "5,000.00" in summary.lines[1] and "collective decision" in summary.lines[1]  # as the board says
    board = groundbreaking_service.board(session, event=event, viewer=manager, today=date(2026, 12, 1),
                                         threshold=lower.major_project_threshold_wan_cny, stale_since=utcnow())
    assert "decision" in repr(board)


def test_the_countdown_days_follow_the_admins_first_reminder(client, session, users, clock, run):
    manager = users["manager"]
    clock(local(2026, 12, 1, 8))
    _slate(session, users, held_on="2026-12-11")
    login(client, "admin")
    page = client.get("/admin/reminders").text
    assert "第一次提醒" in page and 'value="30"' in page  # the default: T-30, T-14, T-7, T-1
    form = {"enabled": "1", "at_time": "09:00", "in_app": "1"}
    refused = post(client, "/admin/reminders/rules/groundbreaking", {**form, "days": "0"})
    assert refused.status_code == 422 and "1 到 365" in refused.text
    assert post(client, "/admin/reminders/rules/groundbreaking", {**form, "days": "10"}).status_code == 303
    run()
    for day in range(1, 12):
        clock(local(2026, 12, day, 9, 5))
        run()
    assert [occasion for _, occasion in countdowns(session, manager)] == [
        "countdown:2026-12-11:10", "countdown:2026-12-11:7", "countdown:2026-12-11:1"]


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
    run()  # a second pass: nothing new
    assert len(inbox(session, manager)) == 1
    clock(local(2026, 12, 12, 9, 5))
    run()
    assert len(inbox(session, manager)) == 1
    clock(local(2026, 12, 13, 9, 5))  # the day before the window closes
    run()
    run()
    assert inbox(session, manager) == [("parcel_window", "opens:2026-12-08"), ("parcel_window", "closes:2026-12-14")]
    assert inbox(session, other_manager)[-1] == ("parcel_window", "closes:2026-12-14")
    closing = outbox(session, rule="parcel_window", occasion="closes:2026-12-14")[0]
    assert closing.fire_at == local(2026, 12, 13, 9)
    text = service.render(closing, "zh_CN")
    assert "0" in text.lines[0] and "557" in text.lines[0] and "2026-12-14" in text.subject
    assert "2026-12-14" in service.render(closing, "en").subject
    clock(local(2026, 12, 14, 9, 5))  # the closing day itself: nothing more
    run()
    assert len(inbox(session, manager)) == 2


def test_a_fully_signed_parcel_gets_no_closing_reminder(session, users, clock, run):
    manager = users["manager"]
    clock(local(2026, 12, 1, 8))
    parcel_service.create(session, actor=manager, data={
        "code": "菏泽市2019-3", "name": "棉厂地块", "status": "expropriating", "households_total": "12",
        "households_signed": "12", "signing_starts_on": "2026-11-20", "signing_ends_on": "2026-12-03"})
    run()
    for day in (2, 3):
        clock(local(2026, 12, day, 9, 5))
        run()
    assert inbox(session, manager) == []


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
