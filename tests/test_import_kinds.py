"""Imports of projects, visits and follow-ups (issue 14): the cell values as zones write them, then each kind
through the wizard over HTTP."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal

import xlsxwriter
from sqlalchemy import func, select

from crm.audit.models import AuditEntry
from crm.i18n import Msg
from crm.imports import values
from crm.projects.models import Project, ProjectOrganization, StageChange
from crm.search.models import SearchTerm
from crm.tasks.models import Task
from crm.visits.models import Visit, VisitHost
from tests.conftest import post
from tests.factories import make_org, make_project, make_user
from tests.import_progress import follow


def test_values_as_zones_write_them():
    # dates in every form a ledger holds, Excel day numbers and date cells; nonsense is a message, not a guess
    for written in ("2021年12月8日", "2021.12.8", "2021/12/8", "2021-12-08", "20211208", 44538, 44538.0, "44538",
                    datetime(2021, 12, 8, 9, 0), date(2021, 12, 8), " 2021-12-8 "):
        assert values.parse_date(written) == date(2021, 12, 8), written
    assert values.parse_date("") is None and values.parse_date(None) is None
    for bad in ("2021-13-01", "明天", "1999-01-01", 12.5):
        assert isinstance(values.parse_date(bad), Msg), bad
    assert "2021年12月8日" in values.parse_date("2021-02-30").translate("zh_CN")
    # date and time (visits), and a time on its own
    for written in ("2021年12月8日 9:30", "2021年12月8日上午9:30", "2021/12/8 09:30:00", "2021-12-08T09:30",
                    "2021.12.8 9时30分", "2021-12-8 9:30", datetime(2021, 12, 8, 9, 30), 44538.395833333):
        assert values.parse_datetime(written) == datetime(2021, 12, 8, 9, 30), written
    assert values.parse_datetime("2021/12/8 下午2:30") == datetime(2021, 12, 8, 14, 30)
    assert values.parse_datetime("2021-12-08") == datetime(2021, 12, 8)
    assert isinstance(values.parse_datetime("2021-12-08 25:00"), Msg)
    assert values.parse_time("下午2点半") == time(14, 30) and values.parse_time(0.5) == time(12)
    assert values.combine(date(2021, 12, 8), time(9, 30)) == datetime(2021, 12, 8, 9, 30)

    # amounts: the header's unit decides; a header without one is ambiguous and asked, never guessed
    units = {"计划总投资（万元）": "wan_cny", "总投资（亿元）": "yi_cny", "投资额(万元)": "wan_cny",
             "Total investment (10k CNY)": "wan_cny", "注册资本（元）": "yuan", "实际使用外资（万美元）": "wan_usd",
             "投资额万元": "wan_cny", "总投资(单位：亿元)": "yi_cny", "总投资": None, "投资额": None}
    for header, code in units.items():
        assert (values.amount_unit(header).code if values.amount_unit(header) else None) == code, header
        assert values.unit_known(header) is (code is not None)
    yi, wan = values.UNITS["yi_cny"], values.UNITS["wan_cny"]
    assert values.parse_amount("2.5", yi) == Decimal("25000.00")
    assert values.parse_amount(1.2345678, yi) == Decimal("12345.68")
    assert values.parse_amount("8,000", wan) == Decimal("8000.00")
    assert values.parse_amount("3亿元", None) == Decimal("30000.00")  # the cell says its own unit
    assert "万元" in values.parse_amount("8000", None).translate("zh_CN")  # no unit at all: asked
    assert isinstance(values.parse_amount("-1", wan), Msg) and isinstance(values.parse_amount("很多", wan), Msg)
    assert isinstance(values.parse_amount("5", values.UNITS["wan_usd"]), Msg)  # dollars in a yuan field
    assert isinstance(values.parse_amount("600000", yi, maximum=Decimal("50000000")), Msg)

    # stages with their everyday synonyms, in either language
    stages = {"在谈": "negotiating", "已签约": "signed", "已开工": "groundbreaking", "竣工投产": "operating",
              "已投产": "operating", "线索": "lead", "手续办理": "permits", "Negotiating": "negotiating",
              "In operation": "operating", "on hold": "on_hold", "终止": "dropped"}
    for written, code in stages.items():
        assert values.parse_stage(written) == code, written
    refused = values.parse_stage("快好了")
    assert "线索、接洽、洽谈" in refused.translate("zh_CN") and "Lead, First contact" in refused.translate("en")
    # yes/no, visit kinds, follow-up status
    for written, flag in (("是", True), ("否", False), ("Y", True), ("n", False), ("TRUE", True), ("false", False),
                          (1, True), (0, False), ("√", True)):
        assert values.parse_bool(written) is flag, written
    assert isinstance(values.parse_bool("也许"), Msg)
    assert values.parse_visit_kind("来访") == "inbound" and values.parse_visit_kind("企业走访") == "aftercare"
    assert values.parse_visit_kind("Phone or video call") == "remote"
    assert values.parse_task_status("已完成") == "done" and values.parse_task_status("未完成") == "open"
    assert values.parse_task_status("open") == "open" and isinstance(values.parse_task_status("半完成"), Msg)
    assert values.split_names("王芳、李强，王芳") == ["王芳", "李强"]


# --- each kind through the wizard over HTTP ------------------------------------------------------------------------

def _xlsx(rows: list[list]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, date):
                sheet.write_datetime(r, c, datetime.combine(value, time()), dates)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()
    return out.getvalue()


def _csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    return "\n".join(",".join(row) for row in rows).encode(encoding)


def _upload(client, kind: str, name: str, data: bytes) -> tuple[int, dict[int, str]]:
    """Uploads the file; (batch id, the field guessed for each column on the mapping page)."""
    response = client.post("/imports/new", data={"csrf_token": client.csrf, "kind": kind}, files={"file": (name, data)})
    assert response.status_code == 303, response.text
    batch_id = int(re.search(r"/imports/(\d+)/map", response.headers["location"])[1])
    page = client.get(f"/imports/{batch_id}/map").text
    guessed = {}
    for index, options in re.findall(r'name="col_(\d+)"[^>]*>(.*?)</select>', page, re.S):
        selected = re.search(r'value="(\w+)" selected', options)
        guessed[int(index)] = selected[1] if selected else ""
    return batch_id, guessed


def _map(client, batch_id: int, fields: dict[int, str], units: dict[int, str] | None = None):
    data = {f"col_{i}": key for i, key in fields.items()}
    data.update({f"unit_{i}": unit for i, unit in (units or {}).items()})
    return post(client, f"/imports/{batch_id}/map", data)


def _problems(client, batch_id: int) -> tuple[str, list[tuple[int, str, str]]]:
    page = client.get(f"/imports/{batch_id}/preview")
    assert page.status_code == 200
    rows = re.findall(r'<tr><td data-label="[^"]*">(\d+)</td><td data-label="[^"]*">([^<]*)</td>'
                      r'<td data-label="[^"]*">([^<]*)</td></tr>', page.text)
    return page.text, [(int(n), column, html.unescape(message)) for n, column, message in rows]


def _commit(client, batch_id: int, *, default: str = "skip", rows: dict[int, str] | None = None) -> str:
    if client.get(f"/imports/{batch_id}/matching").status_code == 200:
        response = post(client, f"/imports/{batch_id}/matching",
                        {"default_action": default, **{f"row_{n}": a for n, a in (rows or {}).items()}})
        assert response.status_code == 303
    confirm = client.get(f"/imports/{batch_id}/confirm")
    assert confirm.status_code == 200, confirm.text
    key = re.search(r'name="submission_key" value="([^"]+)"', confirm.text)[1]
    return follow(client, post(client, f"/imports/{batch_id}/commit", {"submission_key": key})).text


def _has(problems, row: int, column: str, fragment: str) -> bool:
    return any(n == row and c == column and fragment in m for n, c, m in problems)


def test_projects_import_with_ledger_values_problems_matching_and_the_confidential_flag(officer_client, session, users):
    client = officer_client
    fosun = make_org(session, actor=users["officer"], name="复星集团", credit_code="91310000132233084G")
    suzhou = make_org(session, actor=users["officer"], name="苏州示例新材料有限公司")
    for n in (1, 2):
        make_user(session, username=f"wangfang{n}", display_name="王芳")
    header = ["项目名称", "投资方", "统一社会信用代码", "产业链", "项目进度", "总投资（亿元）", "签约日期", "负责人",
              "是否保密", "备注"]

    # every problem by row and column, in the user's language, nothing written
    bad = _xlsx([header,
                 ["新能源电池项目", None, "91310000132233084G", "新能源", "已签约", 2.5, date(2021, 12, 8), "张晓明",
                  "否", "一期"],
                 ["生物医药产业园", "苏州示例新材料有限公司", None, "生物医药", "在谈", "0.5", "2021年12月8日", "李四",
                  "是", None],
                 ["未知项目", "不存在公司", None, None, "已开工", 1, 44538, "王芳", "否", None],
                 ["坏项目", "复星集团", None, "火星产业", "快好了", "很多", "2021-13-01", None, "也许", None]])
    batch_id, guessed = _upload(client, "projects", "项目台账.xlsx", bad)
    assert guessed == {0: "name", 1: "investors", 2: "credit_codes", 3: "industry_chain_id", 4: "stage",
                       5: "total_investment_wan_cny", 6: "signed_on", 7: "owner_id", 8: "is_confidential",
                       9: "description"}
    assert _map(client, batch_id, guessed).status_code == 303  # 亿元 in the header: no question asked
    text, problems = _problems(client, batch_id)
    assert _has(problems, 3, "是否保密", "不能将此项目设为保密")
    assert _has(problems, 4, "投资方", "不存在公司") and _has(problems, 4, "负责人", "wangfang1")
    assert _has(problems, 5, "项目进度", "线索、接洽、洽谈") and _has(problems, 5, "总投资（亿元）", "很多")
    assert _has(problems, 5, "签约日期", "2021年12月8日") and _has(problems, 5, "是否保密", "是")
    assert _has(problems, 5, "产业链", "火星产业")
    assert not [p for p in problems if p[0] == 2]
    assert client.get(f"/imports/{batch_id}/matching").status_code == 303  # no way past the problems
    session.expire_all()
    assert session.scalar(select(func.count(Project.id))) == 0

    # the same ledger corrected: a 签约 project over the threshold without a decision is flagged, not refused
    good = _xlsx([header,
                  ["新能源电池项目", None, "91310000132233084G", "新能源", "已签约", 2.5, date(2021, 12, 8), "张晓明",
                   "否", "一期"],
                  ["生物医药产业园", "苏州示例新材料有限公司", None, "生物医药", "在谈", "0.5", "2021年12月8日",
                   "officer", "是", None]])
    batch_id, guessed = _upload(client, "projects", "项目台账.xlsx", good)
    _map(client, batch_id, guessed)
    text, problems = _problems(client, batch_id)
    assert problems == [] and "集体决策" in text
    result = _commit(client, batch_id)
    assert "2" in result
    session.expire_all()
    battery = session.scalar(select(Project).where(Project.name == "新能源电池项目"))
    park = session.scalar(select(Project).where(Project.name == "生物医药产业园"))
    assert (battery.stage, battery.pipeline_stage, battery.total_investment_wan_cny) == ("signed", "signed", Decimal("25000.00"))
    assert battery.signed_on == date(2021, 12, 8) and battery.owner_id == users["officer"].id
    assert battery.description == "一期" and not battery.is_confidential
    history = session.scalars(select(StageChange).where(StageChange.project_id == battery.id)).all()
    assert [(h.from_stage, h.to_stage) for h in history] == [("", "signed")] and history[0].note
    assert (park.stage, park.total_investment_wan_cny, park.is_confidential) == ("negotiating", Decimal("5000.00"), True)
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.entity_type == "project", AuditEntry.entity_id == battery.id)) >= 1
    assert session.scalar(select(func.count()).select_from(SearchTerm).where(
        SearchTerm.kind == "project", SearchTerm.record_id == battery.id)) > 0
    board = client.get(f"/projects/{battery.id}").text
    assert "集体决策" in board  # the decision gate is shown missing on the project

    # an amount column without a unit is asked, never guessed; matches: update one, fill another, create the third
    again = _csv([["项目名称", "投资方", "总投资", "备注"],
                  ["新能源电池项目", "复星集团", "3", "二期"],
                  ["生物医药产业园", "苏州示例新材料有限公司", "0.8", "填空"],
                  ["新材料项目", "复星集团", "1.2", ""]])
    batch_id, guessed = _upload(client, "projects", "更新.csv", again)
    refused = _map(client, batch_id, guessed)
    assert refused.status_code == 422 and 'name="unit_2"' in refused.text  # the unit is asked
    assert _map(client, batch_id, guessed, units={2: "yi"}).status_code == 303
    _commit(client, batch_id, default="skip", rows={2: "update", 3: "fill"})
    session.expire_all()
    session.refresh(battery)
    session.refresh(park)
    assert (battery.total_investment_wan_cny, battery.description) == (Decimal("30000.00"), "二期")
    assert (park.total_investment_wan_cny, park.description) == (Decimal("5000.00"), "填空")  # filled the empty only
    assert session.scalar(select(Project.total_investment_wan_cny).where(Project.name == "新材料项目")) == Decimal("12000.00")
    assert [po.organization_id for po in session.scalars(select(ProjectOrganization).where(
        ProjectOrganization.project_id == park.id))] == [suzhou.id]

    # undo puts the changed projects back through the service and removes the created one with its checklist
    follow(client, post(client, f"/imports/{batch_id}/undo"))
    session.expire_all()
    session.refresh(battery)
    session.refresh(park)
    assert (battery.total_investment_wan_cny, battery.description) == (Decimal("25000.00"), "一期")
    assert park.description == "" and session.scalar(select(func.count(Project.id))) == 2
    assert session.scalar(select(func.count(Project.id)).where(Project.name == "新材料项目")) == 0
    assert fosun.id


def test_visits_import_with_date_time_columns_attendees_and_skipping_matches(officer_client, session, users):
    client = officer_client
    make_org(session, actor=users["officer"], name="复星集团")
    make_org(session, actor=users["officer"], name="苏州示例新材料有限公司")
    ledger = _csv([["来访日期", "时间", "来访类型", "来访单位", "主题", "接待情况", "成果", "接待人", "陪同人员"],
                   ["2021年12月2日", "9:30", "来访考察", "复星集团", "考察新能源产业", "听取介绍，进车间",
                    "加快项目投资研讨", "张晓明", "练建军、李四"],
                   ["2021/12/3", "下午2:30", "企业走访", "苏州示例新材料有限公司", "", "走访", "", "officer2", ""],
                   ["2021.12.4", "25:00", "参观", "无名公司", "", "", "", "赵六", ""]], "gb18030")
    batch_id, guessed = _upload(client, "visits", "来访登记.csv", ledger)
    assert guessed == {0: "starts_at", 1: "start_time", 2: "kind", 3: "organizations", 4: "title", 5: "summary",
                       6: "outcome", 7: "officer_id", 8: "host_ids"}
    _map(client, batch_id, guessed)
    _, problems = _problems(client, batch_id)
    assert {(n, c) for n, c, _m in problems} == {(4, "时间"), (4, "来访类型"), (4, "来访单位"), (4, "接待人")}
    session.expire_all()
    assert session.scalar(select(func.count(Visit.id))) == 0

    fixed = "\n".join(ledger.decode("gb18030").splitlines()[:3]).encode("gb18030")
    batch_id, guessed = _upload(client, "visits", "来访登记.csv", fixed)
    _map(client, batch_id, guessed)
    _commit(client, batch_id)
    session.expire_all()
    fosun_visit = session.scalar(select(Visit).where(Visit.title == "考察新能源产业"))
    assert fosun_visit.starts_at == datetime(2021, 12, 2, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
    assert (fosun_visit.kind, fosun_visit.status, fosun_visit.officer_id) == ("inbound", "done", users["officer"].id)
    hosts = set(session.scalars(select(VisitHost.user_id).where(VisitHost.visit_id == fosun_visit.id)))
    assert hosts == {users["manager"].id, users["officer2"].id}
    aftercare = session.scalar(select(Visit).where(Visit.kind == "aftercare"))
    assert aftercare.title == "苏州示例新材料有限公司 企业走访" and aftercare.officer_id == users["officer2"].id
    assert aftercare.starts_at == datetime(2021, 12, 3, 6, 30, tzinfo=UTC)

    # the same file again: both rows match (same day, organization and subject) and are skipped
    batch_id, guessed = _upload(client, "visits", "来访登记.csv", fixed)
    _map(client, batch_id, guessed)
    assert client.get(f"/imports/{batch_id}/matching").status_code == 200
    _commit(client, batch_id, default="skip")
    session.expire_all()
    assert session.scalar(select(func.count(Visit.id))) == 2


def test_follow_ups_import_targets_status_and_update(officer_client, session, users):
    client = officer_client
    fosun = make_org(session, actor=users["officer"], name="复星集团")
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星新能源项目")
    make_project(session, actor=users["officer2"], organizations=[fosun], name="保密项目", is_confidential="1")
    ledger = [["事项", "关联企业", "关联项目", "责任人", "截止日期", "状态"],
              ["寄送政策汇编", "复星集团", "", "李四", "2021.12.10", "未完成"],
              ["安排二次考察", "", "复星新能源项目", "张晓明", "2021-12-15", "已完成"],
              ["打听消息", "", "保密项目", "", "2021年12月16日", ""]]
    batch_id, guessed = _upload(client, "follow_ups", "待办.csv", _csv(ledger))
    assert guessed == {0: "title", 1: "organization", 2: "project", 3: "assignee_id", 4: "due_on", 5: "status"}
    _map(client, batch_id, guessed)
    _, problems = _problems(client, batch_id)
    assert problems == [(4, "关联项目", "没有名为“保密项目”的项目。")]  # another's confidential project: as if none

    batch_id, guessed = _upload(client, "follow_ups", "待办.csv", _csv(ledger[:3]))
    _map(client, batch_id, guessed)
    _commit(client, batch_id)
    session.expire_all()
    first = session.scalar(select(Task).where(Task.title == "寄送政策汇编"))
    second = session.scalar(select(Task).where(Task.title == "安排二次考察"))
    assert (first.organization_id, first.assignee_id, first.due_on, first.status) == (
        fosun.id, users["officer2"].id, date(2021, 12, 10), "open")
    assert (second.project_id, second.status) == (project.id, "done") and second.completed_at is not None

    ledger[1][5] = "已完成"
    batch_id, guessed = _upload(client, "follow_ups", "待办.csv", _csv(ledger[:2]))
    _map(client, batch_id, guessed)
    _commit(client, batch_id, default="update")
    session.expire_all()
    session.refresh(first)
    assert first.status == "done" and session.scalar(select(func.count(Task.id))) == 2


def test_each_template_imports_as_it_is(officer_client, session):
    client = officer_client
    for kind in ("organizations", "projects", "visits", "follow_ups"):  # the example organization first
        template = client.get(f"/imports/template/{kind}")
        assert template.status_code == 200
        batch_id, guessed = _upload(client, kind, "模板.xlsx", template.content)
        assert _map(client, batch_id, guessed).status_code == 303, kind  # no unit to ask: the headers say 万元
        assert _problems(client, batch_id)[1] == [], kind
        _commit(client, batch_id)
    session.expire_all()
    project = session.scalar(select(Project))
    assert (project.stage, project.total_investment_wan_cny, project.target_signing_on) == (
        "negotiating", Decimal("50000.00"), date(2027, 3, 31))
    assert session.scalar(select(func.count(Visit.id))) == 1 and session.scalar(select(func.count(Task.id))) == 1
