"""Reminders of major-project scheduling (rules 9–11, crm/notifications/rules/major_projects.py), with the clock
moved: the monthly report three days before the month's reporting closes and on the closing day (nothing for a
project that reported), a coordination item past its deadline (once, then weekly while open) to the leader in charge
and the managers, a meeting's agenda the day before to its attendees; confidential projects only to those who may see
them; each sent once. And the manager dashboard's 调度表 counts, each a link. Both databases."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from crm.major_projects import service as major_service
from crm.major_projects.models import CoordinationItem
from crm.notifications import service
from crm.notifications.rules import BY_CODE
from tests import test_reminders
from tests.conftest import post
from tests.factories import make_project
from tests.test_reminders import inbox, local, outbox

clock, run = test_reminders.clock, test_reminders.run  # the reminder tests' fixtures (moving clock, one pass)


def _major(session, users, name, *, leader="manager", confidential=False, officers=(), planned="1200"):
    project = make_project(session, actor=users["manager"], owner=users["officer"], name=name,
                           officers=[users[o] for o in officers],
                           **({"is_confidential": "1"} if confidential else {}))
    major_service.mark(session, project=project, data={"is_city": "1", "listed_year": "2026",
                                                       "leader_id": users[leader].id},
                       version=None, actor=users["manager"])
    major_service.set_plan(session, project=project, year=2026, planned=Decimal(planned), actor=users["manager"])
    return project


def _report(session, users, project, on: date, month=11):
    major_service.file_report(session, project=project, year=2026, month=month, actor=users["officer"], today=on,
                              data={"completed_wan_cny": "100", "progress": "主体施工", "problems": ""})


def _item(session, users, project, need, deadline: date, on: date) -> CoordinationItem:
    return major_service.raise_item(session, project=project, actor=users["officer"], today=on, data={
        "need": need, "department_id": None, "department_other": "自然资源局", "deadline_on": deadline.isoformat()})


def _mine(session, user, rule):
    return [row for row in inbox(session, user) if row[0] == rule]


def test_officers_are_reminded_before_and_on_the_closing_day_unless_they_reported(session, users, clock, run):
    officer, helper, manager = users["officer"], users["officer2"], users["manager"]
    clock(local(2026, 12, 1, 8))
    silent = _major(session, users, "未报项目", officers=["officer2"])
    reported = _major(session, users, "已报项目")
    late_filer = _major(session, users, "晚报项目")
    _report(session, users, reported, date(2026, 12, 1))
    run()
    clock(local(2026, 12, 2, 9, 5))  # the 5th closes November's reporting: three days before
    run()
    run()  # twice: nothing new
    before = ("major_report_due", "report:2026-11:before")
    assert _mine(session, officer, "major_report_due") == [before, before]  # 未报项目 and 晚报项目
    assert _mine(session, helper, "major_report_due") == [before]
    assert _mine(session, manager, "major_report_due") == []
    assert {row.entity_id for row in outbox(session, rule="major_report_due")} == {silent.id, late_filer.id}
    text = service.render(outbox(session, rule="major_report_due", entity_id=silent.id)[0], "zh_CN")
    assert "未报项目" in text.subject and "2026-12-05" in text.lines[0] and text.url == f"/projects/{silent.id}"
    clock(local(2026, 12, 3, 9, 5))
    run()
    assert len(_mine(session, officer, "major_report_due")) == 2
    _report(session, users, late_filer, date(2026, 12, 4))
    clock(local(2026, 12, 5, 9, 5))  # the closing day
    run()
    run()
    close = ("major_report_due", "report:2026-11:close")
    assert _mine(session, officer, "major_report_due") == [before, before, close]  # 晚报项目 reported since
    assert _mine(session, helper, "major_report_due") == [before, close]
    assert [row.entity_id for row in outbox(session, rule="major_report_due", occasion="report:2026-11:close")] == [
        silent.id, silent.id]
    assert not outbox(session, rule="major_report_due", entity_id=reported.id)
    english = service.render(outbox(session, rule="major_report_due", occasion="report:2026-11:close")[0], "en")
    assert "closes today" in english.subject


def test_a_report_filed_before_the_reminder_is_sent_cancels_it(session, users, clock, run, db, settings):
    clock(local(2026, 12, 1, 8))
    project = _major(session, users, "补报项目")
    run()
    clock(local(2026, 12, 2, 9, 5))
    service.plan(database=db, now=local(2026, 12, 2, 9, 5), timezone=settings.timezone)  # planned, not sent yet
    rows = outbox(session, rule="major_report_due")
    config = service._config(service.rule_settings(session)["major_report_due"], ZoneInfo(settings.timezone))
    assert BY_CODE["major_report_due"].current(session, rows, config=config) == {rows[0].id}
    _report(session, users, project, date(2026, 12, 2))
    assert BY_CODE["major_report_due"].current(session, rows, config=config) == set()
    run()
    assert _mine(session, users["officer"], "major_report_due") == []


def test_an_overdue_item_tells_the_leader_and_managers_once_then_weekly(session, users, clock, run):
    officer, leader, manager = users["officer"], users["officer2"], users["manager"]
    clock(local(2026, 11, 10, 10))
    project = _major(session, users, "协调项目", leader="officer2")
    secret = _major(session, users, "保密项目", leader="officer2", confidential=True)
    item = _item(session, users, project, "用地指标调剂", date(2026, 11, 15), date(2026, 11, 10))
    hidden = _item(session, users, secret, "保密事项", date(2026, 11, 15), date(2026, 11, 10))
    clock(local(2026, 11, 15, 8))
    run()
    clock(local(2026, 11, 15, 9, 5))  # the deadline itself: not overdue yet
    run()
    assert _mine(session, manager, "coordination_overdue") == []
    clock(local(2026, 11, 16, 9, 5))
    run()
    run()
    first = ("coordination_overdue", "overdue:2026-11-15:0")
    assert _mine(session, manager, "coordination_overdue") == [first, first]  # both items
    assert _mine(session, leader, "coordination_overdue") == [first]  # not the confidential one
    assert _mine(session, officer, "coordination_overdue") == []
    assert {row.entity_id for row in outbox(session, rule="coordination_overdue", recipient_id=leader.id)} == {item.id}
    assert {row.entity_id for row in outbox(session, rule="coordination_overdue", recipient_id=manager.id)} == {
        item.id, hidden.id}
    text = service.render(outbox(session, rule="coordination_overdue", entity_id=item.id)[0], "zh_CN")
    assert "用地指标调剂" in text.subject and text.url == f"/scheduling/items/{item.id}"
    for day in (17, 18, 22):
        clock(local(2026, 11, day, 9, 5))
        run()
    assert _mine(session, leader, "coordination_overdue") == [first]  # once, until a week has passed
    clock(local(2026, 11, 23, 9, 5))
    run()
    run()
    weekly = ("coordination_overdue", "overdue:2026-11-15:1")
    assert _mine(session, leader, "coordination_overdue") == [first, weekly]
    assert _mine(session, manager, "coordination_overdue") == [first, first, weekly, weekly]
    fresh = session.get(CoordinationItem, item.id)
    major_service.update_item(session, item=fresh, version=fresh.version,
                              actor=users["manager"], today=date(2026, 11, 24),
                              data={"status": "resolved", "deadline_on": "2026-11-15", "note": "已解决"})
    clock(local(2026, 11, 30, 9, 5))
    run()
    assert _mine(session, leader, "coordination_overdue") == [first, weekly]  # resolved: no more
    assert _mine(session, manager, "coordination_overdue")[-1] == ("coordination_overdue", "overdue:2026-11-15:2")
    assert {row.entity_id for row in outbox(session, rule="coordination_overdue", occasion="overdue:2026-11-15:2")} \
        == {hidden.id}


def test_attendees_get_the_agenda_the_day_before_as_far_as_they_may_see(session, users, clock, run):
    officer2, manager = users["officer2"], users["manager"]
    clock(local(2026, 11, 10, 10))
    project = _major(session, users, "公开项目")
    secret = _major(session, users, "保密项目", confidential=True)
    _item(session, users, project, "供电线路迁改", date(2026, 11, 12), date(2026, 11, 10))
    _item(session, users, secret, "保密协调事项", date(2026, 11, 30), date(2026, 11, 10))
    meeting = major_service.create_meeting(session, data={"title": "党政联席会议", "held_on": "2026-11-20"},
                                           attendee_ids=[officer2.id, manager.id], actor=manager)
    clock(local(2026, 11, 19, 8))
    run()
    assert _mine(session, manager, "meeting_agenda") == []
    clock(local(2026, 11, 19, 9, 5))
    run()
    run()
    agenda = ("meeting_agenda", "agenda:2026-11-20")
    assert _mine(session, officer2, "meeting_agenda") == [agenda]
    assert _mine(session, manager, "meeting_agenda") == [agenda]
    assert _mine(session, users["officer"], "meeting_agenda") == []  # not an attendee
    seen = {row.recipient_id: service.render(row, "zh_CN") for row in outbox(session, rule="meeting_agenda")}
    officer_text, manager_text = "\n".join(seen[officer2.id].lines), "\n".join(seen[manager.id].lines)
    assert "供电线路迁改" in officer_text and "保密协调事项" not in officer_text and "保密项目" not in officer_text
    assert "供电线路迁改" in manager_text and "保密协调事项" in manager_text
    assert seen[manager.id].url == f"/scheduling/meetings/{meeting.id}" and "党政联席会议" in seen[manager.id].subject
    clock(local(2026, 11, 20, 9, 5))
    run()
    assert _mine(session, manager, "meeting_agenda") == [agenda]


def test_the_rules_are_listed_on_the_admin_page_in_both_languages(client_as, users):
    admin = client_as("admin")
    page = admin.get("/admin/reminders").text
    for label in ("月度调度报送提醒", "需协调事项逾期", "明日调度会议程"):
        assert label in page
    post(admin, "/language", {"locale": "en"})
    english = admin.get("/admin/reminders").text
    for label in ("Monthly report due", "Coordination item overdue", "Scheduling meeting tomorrow"):
        assert label in english


def test_the_manager_dashboard_counts_the_month_each_a_link(client_as, session, users):
    _major(session, users, "仪表盘项目")
    manager = client_as("manager")
    page = manager.get("/").text
    counts = major_service.dashboard_counts(session, viewer=users["manager"], today=_today())
    assert counts["total"] == 1 and counts["missing"] == 1  # no report for last month yet
    section = page.split('id="major-scheduling"', 1)[1].split("</section>", 1)[0]
    for key, href in (("green", "/scheduling?colour=green"), ("amber", "/scheduling?colour=amber"),
                      ("red", "/scheduling?colour=red"), ("missing", "/scheduling?missing=1"),
                      ("overdue", "/scheduling/items?overdue=1")):
        link = section.split(f'href="{href}" id="scheduling-{key}"', 1)[1].split("</a>", 1)[0]
        assert f"<strong>{counts[key]}</strong>" in link
        assert manager.get(href).status_code == 200
    colour = next(c for c in ("green", "amber", "red") if counts[c])
    assert "仪表盘项目" in manager.get(f"/scheduling?colour={colour}").text
    assert "仪表盘项目" in manager.get("/scheduling?missing=1").text
    assert 'id="major-scheduling"' not in client_as("officer").get("/").text


def _today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def test_the_manager_dashboard_query_count_does_not_grow_with_major_projects(client_as, db, session, users):
    from tests.test_query_counts import counting

    manager = client_as("manager")

    def queries() -> int:
        manager.get("/")
        with counting(db) as statements:
            assert manager.get("/").status_code == 200
        return len(statements)

    for i in range(2):
        project = _major(session, users, f"计数重点项目{i}", confidential=i == 1)
        _item(session, users, project, f"计数事项{i}", date(2020, 1, 1), date(2020, 1, 1))
    few = queries()
    for i in range(2, 12):
        project = _major(session, users, f"计数重点项目{i}", confidential=i % 3 == 0)
        _item(session, users, project, f"计数事项{i}", date(2020, 1, 1), date(2020, 1, 1))
    assert queries() == few


def test_the_new_rules_leave_the_older_rules_audit_numbers_as_they_were():
    """An audit entry of a rule's settings names it by number: adding rules must not renumber the digest (9)."""
    from crm.notifications.rules import AUDIT_IDS
    assert [AUDIT_IDS[code] for code in ("task_due", "export_missing", "digest")] == [1, 8, 9]
    assert sorted(AUDIT_IDS.values()) == list(range(1, len(AUDIT_IDS) + 1))
