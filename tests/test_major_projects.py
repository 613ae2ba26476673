"""Major-project scheduling (issue 18): marking, plans, monthly reports (late, corrected), the cumulative figure and
the 红黄绿 judgement with its reasons, coordination items and the meeting's agenda, bad input refused beside the
field, and confidential projects only for those who may see them. Both databases."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crm.major_projects import service
from crm.major_projects.models import CoordinationItem, MonthlyReport, ReportRevision, ResponsibleDepartment
from tests.factories import make_project
from tests.helpers import count_rows

HX = {"HX-Request": "true"}


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def month_before(d: date, n: int = 1) -> tuple[int, int]:
    y, m = d.year, d.month
    for _ in range(n):
        y, m = service.previous_month(y, m)
    return y, m


def major(session, users, *, planned="1200", confidential=False, owner="officer"):
    project = make_project(session, actor=users["manager"], owner=users[owner], name="复星医药产业园",
                           total_investment_wan_cny="50000", **({"is_confidential": "1"} if confidential else {}))
    service.mark(session, project=project, data={"is_city": "1", "listed_year": str(today().year),
                                                 "leader_id": users["manager"].id}, version=None,
                 actor=users["manager"])
    if planned is not None:
        service.set_plan(session, project=project, year=today().year, planned=Decimal(planned),
                         actor=users["manager"])
    return project


def report(session, users, project, year, month, amount, *, on: date | None = None, who="officer"):
    return service.file_report(session, project=project, year=year, month=month, actor=users[who],
                               data={"completed_wan_cny": amount, "progress": "主体结构封顶", "problems": ""},
                               today=on or today())


def test_the_judgement_rules():
    kw = {"month": 6, "margin_points": Decimal("10"), "month_label": "2026-06"}
    green = service.judge(planned=Decimal(1200), cumulative=Decimal(600), overdue_days=[], report_missing=False, **kw)
    assert green.colour == "green" and "50.0%" in green.reasons[0].msgid % green.reasons[0].params
    amber = service.judge(planned=Decimal(1200), cumulative=Decimal(540), overdue_days=[], report_missing=False, **kw)
    assert amber.colour == "amber"  # 45% against 50%: 5 points behind, within the margin
    red = service.judge(planned=Decimal(1200), cumulative=Decimal(400), overdue_days=[], report_missing=False, **kw)
    assert red.colour == "red"
    assert service.judge(planned=Decimal(1200), cumulative=Decimal(600), overdue_days=[3], report_missing=False,
                         **kw).colour == "amber"
    assert service.judge(planned=Decimal(1200), cumulative=Decimal(600), overdue_days=[31], report_missing=False,
                         **kw).colour == "red"
    missing = service.judge(planned=Decimal(1200), cumulative=Decimal(900), overdue_days=[], report_missing=True, **kw)
    assert missing.colour == "red" and missing.reasons[0].msgid == "No report for %(month)s."


def test_close_dates():
    assert service.close_date(2026, 11, 5) == date(2026, 12, 5)
    assert service.close_date(2026, 12, 5) == date(2027, 1, 5)
    assert service.close_date(2026, 1, 31) == date(2026, 2, 28)
    assert not service.is_closed(2026, 11, date(2026, 12, 5), 5)
    assert service.is_closed(2026, 11, date(2026, 12, 6), 5)


def test_cumulative_figure_and_colour_with_late_and_corrected_reports(session, users):
    project = major(session, users, planned="1200")
    now = today()
    y, m = month_before(now)
    # Reports for every month of the report year up to last month, on time, 100 a month (plan 1200: on pace)
    ry = y
    for month in range(1, m):
        report(session, users, project, ry, month, "100", on=service.close_date(ry, month, 5))
    # last month filed late (after its close day) at 100: still accepted, marked late
    late = report(session, users, project, ry, m, "100", on=service.close_date(ry, m, 5) + timedelta(days=1))
    assert late.is_late
    service.set_plan(session, project=project, year=ry, planned=Decimal("1200"), actor=users["manager"])
    board = service.board(session, viewer=users["manager"], year=ry, month=m, today=now)
    row = board.rows[0]
    assert row.cumulative == Decimal(100 * m)
    assert row.judgement.colour == "green", row.judgement.reasons
    # a correction of last month to 0: the figure is replaced, the revision kept, the colour follows
    service.correct_report(session, project=project, report=late, version=late.version, actor=users["officer"],
                           data={"completed_wan_cny": "0", "progress": "停工待料", "problems": "缺少用电指标"})
    session.expire_all()
    row = service.board(session, viewer=users["manager"], year=ry, month=m, today=now).rows[0]
    assert row.cumulative == Decimal(100 * (m - 1))
    assert row.judgement.colour in ("amber", "red") and row.report.revision == 2 and row.report.is_late
    assert [r.revision for r in service.revisions(session, late.id)] == [2, 1]
    assert count_rows(session, ReportRevision) == m + 1


def test_a_missing_report_for_a_closed_month_is_red(session, users):
    project = major(session, users)
    now = today()
    y, m = month_before(now, 2)  # two months ago: its reporting closed by now
    board = service.board(session, viewer=users["manager"], year=y, month=m, today=now)
    assert board.closed and board.rows[0].judgement.colour == "red"
    assert board.rows[0].judgement.reasons[0].msgid == "No report for %(month)s."
    assert project.id == board.rows[0].project.id


@pytest.mark.parametrize("year_month, amount, field, msgid", [
    ("this", "10", "month", "%(month)s is not over yet: report a month once it has ended."),
    ("last", "-5", "completed_wan_cny", "Enter an amount of 0 or more."),
])
def test_bad_reports_are_refused_by_the_service(session, users, year_month, amount, field, msgid):
    project = major(session, users)
    now = today()
    y, m = (now.year, now.month) if year_month == "this" else month_before(now)
    with pytest.raises(service.InvalidInput) as bad:
        report(session, users, project, y, m, amount)
    assert bad.value.errors[field].msgid == msgid
    assert count_rows(session, MonthlyReport) == 0


def test_two_reports_for_one_month_are_refused(session, users):
    project = major(session, users)
    y, m = month_before(today())
    report(session, users, project, y, m, "10")
    with pytest.raises(service.InvalidInput) as bad:
        report(session, users, project, y, m, "20")
    assert "month" in bad.value.errors and count_rows(session, MonthlyReport) == 1


def test_the_agenda_from_the_items(session, users):
    project = major(session, users)
    now = today()
    dept = {d.name_zh: d for d in session.scalars(select(ResponsibleDepartment))}
    assert {"自然资源局", "住建局", "生态环境局", "供电公司", "税务局", "行政审批服务局"} <= set(dept)
    power = service.raise_item(session, project=project, actor=users["officer"], today=now - timedelta(days=40),
                               data={"need": "解决10千伏临时用电", "department_id": dept["供电公司"].id,
                                     "deadline_on": (now - timedelta(days=35)).isoformat()})
    land = service.raise_item(session, project=project, actor=users["officer"], today=now,
                              data={"need": "办理用地预审", "department_id": dept["自然资源局"].id,
                                    "deadline_on": (now + timedelta(days=10)).isoformat()})
    done = service.raise_item(session, project=project, actor=users["officer"], today=now,
                              data={"need": "已解决的事项", "department_id": dept["税务局"].id,
                                    "deadline_on": (now + timedelta(days=10)).isoformat()})
    service.update_item(session, item=done, version=done.version, actor=users["officer"], today=now,
                        data={"status": "resolved", "note": "已办结", "deadline_on": done.deadline_on.isoformat()})
    meeting = service.create_meeting(session, data={"title": "党政联席会议", "held_on": now.isoformat()},
                                     attendee_ids=[users["manager"].id], actor=users["manager"])
    agenda = service.agenda(session, meeting=meeting, viewer=users["manager"], today=now)
    assert [(g, [i.id for i in its]) for g, its in agenda.groups] == [("供电公司", [power.id]),
                                                                      ("自然资源局", [land.id])]
    assert [r.project.id for r in agenda.behind] == [project.id]  # an item overdue 35 days: red
    assert agenda.behind[0].judgement.colour == "red"
    item = service.get_item(session, power.id, users["manager"])
    service.record_decision(session, meeting=meeting, item=item, actor=users["manager"], today=now,
                            data={"decision": "供电公司本周内完成接电", "deadline_on": (now + timedelta(days=7)).isoformat(),
                                  "status": "in_progress"})
    session.expire_all()
    agenda = service.agenda(session, meeting=meeting, viewer=users["manager"], today=now)
    assert agenda.decisions[power.id].decision == "供电公司本周内完成接电"
    item = service.get_item(session, power.id, users["manager"])
    assert item.deadline_on == now + timedelta(days=7) and item.status == "in_progress"
    assert item.log[-1].note == "供电公司本周内完成接电" and item.log[-1].meeting_id == meeting.id


def test_confidential_major_projects_only_for_those_who_may_see_them(session, users):
    secret = major(session, users, confidential=True, owner="officer")
    now = today()
    service.raise_item(session, project=secret, actor=users["officer"], today=now,
                       data={"need": "保密项目事项", "department_other": "党政办",
                             "deadline_on": (now - timedelta(days=1)).isoformat()})
    y, m = month_before(now)
    assert [r.project.id for r in service.board(session, viewer=users["officer"], year=y, month=m, today=now).rows] \
        == [secret.id]
    assert service.board(session, viewer=users["officer2"], year=y, month=m, today=now).rows == []
    assert service.items(session, viewer=users["officer2"], today=now) == []
    meeting = service.create_meeting(session, data={"title": "调度会", "held_on": now.isoformat()},
                                     attendee_ids=[], actor=users["manager"])
    agenda = service.agenda(session, meeting=meeting, viewer=users["officer2"], today=now)
    assert agenda.groups == [] and agenda.behind == []
    assert len(service.agenda(session, meeting=meeting, viewer=users["manager"], today=now).groups) == 1
    assert service.dashboard_counts(session, viewer=users["officer2"], today=now)["overdue"] == 0
    assert service.dashboard_counts(session, viewer=users["manager"], today=now)["overdue"] == 1
    _ = CoordinationItem


# --- over HTTP -------------------------------------------------------------------------------------------------

def test_pages_mark_report_board_items_and_meeting_decision(client_as, session, users):
    from tests.conftest import post
    from tests.helpers import field_error

    manager, officer = client_as("manager"), client_as("officer")
    project = make_project(session, actor=users["manager"], owner=users["officer"], name="精进电动二期",
                           total_investment_wan_cny="30000")
    year_now = str(today().year)
    assert manager.get(f"/projects/{project.id}").status_code == 200
    refused = post(manager, f"/scheduling/projects/{project.id}/mark", {"listed_year": year_now,
                                                                        "leader_name": "练建军"})
    assert refused.status_code == 422 and field_error(refused.text, "is_province")
    assert post(manager, f"/scheduling/projects/{project.id}/mark", {
        "is_city": "1", "listed_year": year_now, "leader_name": "练建军"}).status_code == 303
    assert post(officer, f"/scheduling/projects/{project.id}/plan", {"year": year_now,
                                                                     "planned_wan_cny": "1200"}).status_code == 403
    assert post(manager, f"/scheduling/projects/{project.id}/plan", {"year": year_now,
                                                                     "planned_wan_cny": "1200"}).status_code == 303
    form = officer.get(f"/scheduling/projects/{project.id}/reports/new")
    assert form.status_code == 200 and 'name="submission_key"' in form.text
    y, m = month_before(today())
    good = {"month": f"{y}-{m:02d}", "completed_wan_cny": "100", "progress": "厂房主体完工", "problems": "用电"}
    now_month = f"{today().year}-{today().month:02d}"
    for overrides, field in (({"month": now_month}, "month"), ({"completed_wan_cny": "-1"}, "completed_wan_cny")):
        bad = post(officer, f"/scheduling/projects/{project.id}/reports", {**good, **overrides})
        assert bad.status_code == 422 and field_error(bad.text, field), field
        assert "厂房主体完工" in bad.text  # the input is kept
    created = post(officer, f"/scheduling/projects/{project.id}/reports", good)
    assert created.status_code == 303
    twice = post(officer, f"/scheduling/projects/{project.id}/reports", good)
    assert twice.status_code == 422 and field_error(twice.text, "month")
    assert count_rows(session, MonthlyReport) == 1
    board = manager.get(f"/scheduling?month={y}-{m:02d}")
    assert board.status_code == 200 and "精进电动二期" in board.text and "练建军" in board.text
    assert "精进电动二期" not in manager.get(f"/scheduling?month={y}-{m:02d}&level=province").text
    report_id = session.scalar(select(MonthlyReport.id))
    dept = session.scalar(select(ResponsibleDepartment).where(ResponsibleDepartment.name_zh == "供电公司"))
    raised = post(officer, f"/scheduling/projects/{project.id}/items", {
        "report_id": str(report_id), "need": "临时用电接入", "department_id": str(dept.id),
        "deadline_on": (today() - timedelta(days=3)).isoformat()})
    assert raised.status_code == 303
    items = manager.get("/scheduling/items")
    assert "临时用电接入" in items.text and "供电公司" in items.text
    meeting = post(manager, "/scheduling/meetings", {"title": "党政联席会议", "held_on": today().isoformat(),
                                                     "attendees": str(users["manager"].id)})
    assert meeting.status_code == 303
    page = manager.get(meeting.headers["location"])
    assert "临时用电接入" in page.text
    session.expire_all()
    item_id = session.scalar(select(CoordinationItem.id))
    meeting_id = meeting.headers["location"].rsplit("/", 1)[1]
    empty = post(manager, f"/scheduling/meetings/{meeting_id}/items/{item_id}", {"decision": ""}, headers=HX)
    assert empty.status_code == 422 and field_error(empty.text, "decision")
    decided = post(manager, f"/scheduling/meetings/{meeting_id}/items/{item_id}",
                   {"decision": "三日内完成接电", "status": "in_progress"}, headers=HX)
    assert decided.status_code == 200 and "三日内完成接电" in decided.text and f'id="item-{item_id}"' in decided.text
    assert "<html" not in decided.text
    assert post(officer, f"/scheduling/meetings/{meeting_id}/items/{item_id}",
                {"decision": "x"}).status_code == 403


def test_a_confidential_major_project_is_hidden_over_http(client_as, session, users):
    secret = major(session, users, confidential=True, owner="officer")
    other = client_as("officer2")
    assert secret.name not in other.get("/scheduling").text
    assert other.get(f"/scheduling/projects/{secret.id}").status_code == 404
    assert other.get(f"/scheduling/projects/{secret.id}/reports/new").status_code == 404
    assert secret.name in client_as("officer").get("/scheduling").text
