"""The demo's major projects (重点项目调度), loaded through the services after the demo's projects.

The seed says only that the 党政联席会议 of 2021-12-06 (the anchor) met; everything here is INVENTED, plausible data:
which of the demo's projects are major and at which level, their leaders in charge (练建军 is the demo's manager;
王志刚 and 刘海燕 are typed names of leaders without an account), the annual plans, the monthly figures, progress and
problems, the coordination items with their departments, deadlines and log, and the meeting's decisions. Never
present it as fact. The figures are chosen so that the 调度表 of the month being reported (the month before the
anchor) has green, amber and red rows: one project ahead of plan, one a little behind, one with an item overdue
under 30 days (amber), one with an item overdue more than 30 days and one far behind without that month's report
(red); the confidential project is major too, seen only by who may see it. Loading is deterministic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.auth.models import User
from crm.major_projects import service as major_service
from crm.major_projects.models import (
    CoordinationItem,
    CoordinationLog,
    MonthlyReport,
    ReportRevision,
    ResponsibleDepartment,
)
from crm.projects import service as project_service
from crm.projects.models import Project

# INVENTED. factor: the year's completed investment against the plan (1.1 ahead; under 1 behind); skip_last: no
# report for the month being reported; late: months (counted back from it, 0 = that month) reported late.
MAJOR = [
    {"name": "恒远物流华东分拨中心项目", "levels": ("is_province", "is_city"), "leader": "manager", "plan": "12000",
     "factor": "1.1", "late": (), "progress": "主体结构封顶，分拣中心钢结构安装完成{pct}（演示数据，虚构）。"},
    {"name": "华盛功能性纤维项目", "levels": ("is_district",), "leader_name": "王志刚", "plan": "3000",
     "factor": "0.95", "late": (0,), "progress": "二期纺丝车间设备安装调试中{pct}（演示数据，虚构）。"},
    {"name": "鲁能光伏二期扩产项目", "levels": ("is_city",), "leader": "manager", "plan": "20000",
     "factor": "1.02", "late": (2,), "progress": "场地平整完成，桩基施工中{pct}（演示数据，虚构）。"},
    {"name": "菏泽精工精密加工二期项目", "levels": ("is_district",), "leader_name": "刘海燕", "plan": "8000",
     "factor": "0.9", "late": (1,), "progress": "厂房基础施工{pct}（演示数据，虚构）。"},
    {"name": "牡丹生物制剂生产线扩建项目", "levels": ("is_district",), "leader_name": "王志刚", "plan": "6000",
     "factor": "0.3", "late": (1, 2), "skip_last": True, "progress": "洁净车间设计调整，设备采购招标中{pct}（演示数据，虚构）。"},
    {"name": "星辰电驱零部件生产基地项目", "levels": ("is_city",), "leader": "manager", "plan": "5000",
     "factor": "1.05", "late": (), "progress": "前期设计及土地手续办理中{pct}（演示数据，虚构）。"},
]

# INVENTED coordination items: (project, need, department code or a typed office, raised / deadline in days from
# the anchor, owner, log notes, resolved)
ITEMS = [
    ("恒远物流华东分拨中心项目", "施工许可证办结（审批服务局已受理）", "approval_service", -20, 20, "officer",
     ["已提交全部材料，审批服务局帮办代办跟进。"], False),
    ("恒远物流华东分拨中心项目", "分拨中心东侧规划道路临时通行", "housing_construction", -70, -40, "manager",
     ["住建局同意临时通行方案。"], True),
    ("鲁能光伏二期扩产项目", "双回路供电接入方案批复", "power_supply", -40, -12, "officer",
     ["已与供电公司对接两次，方案待市公司审核。", "催办：供电公司答复本周内出具意见。"], False),
    ("菏泽精工精密加工二期项目", "二期用地不动产权证办理", "natural_resources", -75, -45, "officer",
     ["地块权籍调查已完成，待自然资源局登簿。"], False),
    ("星辰电驱零部件生产基地项目", "环评审批前置咨询", "ecology_environment", -10, 10, "officer", [], False),
    ("华盛功能性纤维项目", "二期厂区污水管网接入", "开发区规划建设部（虚构）", -15, 25, "officer", [], False),
]

# INVENTED decisions of the anchor's 党政联席会议 on items (the project's need, the decision)
DECISIONS = [
    ("二期用地不动产权证办理", "由包保领导牵头，自然资源局两周内完成登簿发证，每周报告进展。"),
    ("双回路供电接入方案批复", "请供电公司十日内出具接入意见，招商专员每周跟进。"),
]


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _months(year: int, month: int) -> list[tuple[int, int]]:
    return [(year, m) for m in range(1, month + 1)]


def load(session: Session, *, anchor: date, users: dict[str, User]) -> None:
    manager, officer = users["manager"], users["officer"]
    by_id = {u.id: u for u in users.values()}
    by_name = {name: pid for name, pid in session.execute(select(Project.name, Project.id))}
    departments = {code: dep_id for code, dep_id in session.execute(
        select(ResponsibleDepartment.code, ResponsibleDepartment.id))}
    close_day = major_service.rules(session).close_day
    year, month = major_service.report_month(anchor)  # the 调度表 shown by default

    for n, spec in enumerate(MAJOR):
        project = project_service.get(session, by_name[spec["name"]])
        major_service.mark(session, project=project, version=None, actor=manager, data={
            **{level: True for level in spec["levels"]}, "listed_year": year,
            "leader_id": users[spec["leader"]].id if "leader" in spec else None,
            "leader_name": spec.get("leader_name", "")})
        plan = Decimal(spec["plan"])
        major_service.set_plan(session, project=project, year=year, planned=plan, actor=manager)
        major_service.set_plan(session, project=project, year=year + 1, planned=plan * Decimal("1.2"), actor=manager)
        per_month = (plan * Decimal(spec["factor"]) / 12).quantize(Decimal("1"))
        filer = by_id.get(project.owner_id, officer)
        done = Decimal(0)
        for y, m in _months(year, month):
            back = month - m
            if back == 0 and spec.get("skip_last"):
                continue
            # on time: two days before the month closes; late: four days after (never after the anchor)
            due = major_service.close_date(y, m, close_day)
            filed_on = min(due + timedelta(days=4) if back in spec["late"] else due - timedelta(days=2), anchor)
            amount = per_month + (n * 7 + m * 3) % 11 - 5
            done += amount
            pct = f"，年度计划完成{done * 100 / plan:.0f}%"
            report = major_service.file_report(session, project=project, year=y, month=m, actor=filer,
                                               today=filed_on, data={
                                                   "completed_wan_cny": str(amount),
                                                   "progress": spec["progress"].format(pct=pct),
                                                   "problems": ""})
            _backdate_report(session, report.id, filed_on)

    # One correction (INVENTED): the month's figure was typed without the equipment paid for, corrected two days later
    first = session.scalar(select(MonthlyReport).where(MonthlyReport.project_id == by_name[MAJOR[0]["name"]],
                                                       MonthlyReport.year == year, MonthlyReport.month == month))
    first_owner = session.get(Project, first.project_id).owner_id
    major_service.correct_report(session, project=project_service.get(session, first.project_id), report=first,
                                 version=first.version, actor=by_id.get(first_owner, manager), data={
                                     "completed_wan_cny": str(first.completed_wan_cny + 120),
                                     "progress": first.progress,
                                     "problems": "补报分拣设备预付款120万元（演示数据，虚构）。"})

    # Coordination items with their log
    items: dict[str, CoordinationItem] = {}
    for project_name, need, department, raised, deadline, owner, notes, resolved in ITEMS:
        project = project_service.get(session, by_name[project_name])
        raised_on = anchor + timedelta(days=raised)
        item = major_service.raise_item(session, project=project, actor=by_id.get(project.owner_id, manager),
                                        today=raised_on, data={
            "need": need, "department_id": departments.get(department),
            "department_other": "" if department in departments else department,
            "deadline_on": (anchor + timedelta(days=deadline)).isoformat(), "owner_id": users[owner].id})
        for k, note in enumerate(notes):
            item = session.get(CoordinationItem, item.id)
            done_on = raised_on + timedelta(days=7 * (k + 1))
            major_service.update_item(session, item=item, version=item.version, actor=users[owner],
                                      today=done_on, data={
                                          "status": "resolved" if resolved and k == len(notes) - 1 else "in_progress",
                                          "deadline_on": item.deadline_on.isoformat(), "owner_id": item.owner_id,
                                          "note": note})
        items[need] = session.get(CoordinationItem, item.id)
        _backdate_item(session, item.id, raised_on)

    # The anchor's 党政联席会议 (the seed's meeting) as the scheduling meeting, with decisions on two items
    meeting = major_service.create_meeting(session, actor=manager, attendee_ids=[manager.id, officer.id], data={
        "title": "党政联席会议（重点项目调度）", "held_on": anchor.isoformat(),
        "other_attendees": "自然资源局、供电公司、行政审批服务局负责同志（演示数据，虚构）"})
    for need, decision in DECISIONS:
        major_service.record_decision(session, meeting=meeting, item=items[need], actor=manager, today=anchor,
                                      data={"decision": decision, "deadline_on": "", "owner_id": None,
                                            "status": ""})
    session.commit()


def _backdate_report(session: Session, report_id: int, filed_on: date) -> None:
    at = _at(filed_on)
    session.execute(update(MonthlyReport).where(MonthlyReport.id == report_id).values(filed_at=at, updated_at=at))
    session.execute(update(ReportRevision).where(ReportRevision.report_id == report_id).values(saved_at=at))
    session.commit()


def _backdate_item(session: Session, item_id: int, raised_on: date) -> None:
    session.execute(update(CoordinationItem).where(CoordinationItem.id == item_id).values(created_at=_at(raised_on)))
    logs = list(session.scalars(select(CoordinationLog).where(CoordinationLog.item_id == item_id)
                                .order_by(CoordinationLog.id)))
    for k, log in enumerate(logs):
        log.at = _at(raised_on + timedelta(days=7 * k))
    session.commit()
