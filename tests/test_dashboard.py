"""The dashboard (工作台) at /: managers see the pipeline, the next collective groundbreaking and the team's overdue
follow-ups; officers their own follow-ups, visits this week and projects. Every headline number is a link, and the
list behind it shows the same records."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.tasks.models import TaskStatus
from tests.conftest import login
from tests.factories import make_project, make_task, make_visit


def zone_today():
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


def number(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(?:<strong>)?([^<]+)<', html)
    assert found, element_id
    return found.group(1).strip()


@pytest.fixture
def pipeline(session, users):
    officer, officer2, manager = users["officer"], users["officer2"], users["manager"]
    projects = {
        "lead": make_project(session, actor=officer, name="线索项目甲", total_investment_wan_cny="1000"),
        "signed": make_project(session, actor=officer, name="签约项目乙", total_investment_wan_cny="5000",
                               is_foreign_invested="1", foreign_capital_wan_usd="300"),
        "secret": make_project(session, actor=officer2, name="保密项目丙", is_confidential="1",
                               total_investment_wan_cny="2000"),
        "permits": make_project(session, actor=manager, name="手续项目丁", total_investment_wan_cny="800"),
    }
    # later stages are reached by moving a project through its gates; here they are simply set
    for key, stage in (("signed", "signed"), ("secret", "signed"), ("permits", "permits")):
        projects[key].stage = stage
    session.commit()
    return projects


def test_manager_sees_pipeline_totals_and_each_stage_links_to_its_projects(client, session, users, pipeline):
    login(client, "manager")
    html = client.get("/").text
    box = section(html, "pipeline")
    assert number(box, "pipeline-count") == "4"  # a manager sees confidential projects too
    assert "<svg" in box and "funnel-chart" in box
    assert "8,800" in number(box, "pipeline-investment")
    stage_counts = dict(re.findall(r'data-stage="([a-z_]+)">[^<]*<strong>(\d+)</strong>', box))
    assert stage_counts["signed"] == "2" and stage_counts["lead"] == "1" and stage_counts["permits"] == "1"
    assert stage_counts["operating"] == "0"
    signed = client.get("/projects?stage=signed").text
    assert "签约项目乙" in signed and "保密项目丙" in signed and "线索项目甲" not in signed


def test_officer_sees_only_their_own_work_and_no_zone_figures(client, session, users, pipeline):
    officer = users["officer"]
    today = zone_today()
    make_task(session, actor=officer, title="寄送投资手册", due_on=today - timedelta(days=2))
    make_task(session, actor=officer, title="约见复星", due_on=today + timedelta(days=1))
    make_task(session, actor=users["officer2"], title="别人的事", due_on=today - timedelta(days=1))
    noon = datetime.combine(today, datetime.min.time(), tzinfo=ZoneInfo("Asia/Shanghai")).replace(hour=10)
    make_visit(session, title="本周接待", officer=officer, starts_at=noon.astimezone(UTC), status="done")
    make_visit(session, title="下月接待", officer=officer, starts_at=(noon + timedelta(days=40)).astimezone(UTC))
    login(client, "officer")
    html = client.get("/").text
    assert 'id="pipeline"' not in html and 'id="team-overdue"' not in html
    tasks = section(html, "my-tasks")
    assert tasks.index("寄送投资手册") < tasks.index("约见复星") and "别人的事" not in tasks
    assert "1" in number(html, "my-overdue")
    assert "本周接待" in section(html, "my-week") and "下月接待" not in section(html, "my-week")
    week_link = re.search(r'href="([^"]+)" id="my-week-count"', html).group(1).replace("&amp;", "&")
    assert "本周接待" in client.get(week_link).text and "下月接待" not in client.get(week_link).text
    projects = section(html, "my-projects")
    assert number(html, "my-project-count") == "2"
    assert "线索项目甲" in projects and "签约项目乙" in projects and "保密项目丙" not in html


def test_team_overdue_count_links_to_exactly_those_follow_ups(client, session, users):
    today = zone_today()
    make_task(session, actor=users["officer"], title="逾期甲", due_on=today - timedelta(days=3))
    make_task(session, actor=users["officer2"], title="逾期乙", due_on=today - timedelta(days=1))
    make_task(session, actor=users["officer2"], title="逾期丙", due_on=today - timedelta(days=5))
    done = make_task(session, actor=users["officer"], title="已办完", due_on=today - timedelta(days=3))
    done.status = TaskStatus.DONE
    session.commit()
    make_task(session, actor=users["officer"], title="今天到期", due_on=today)
    login(client, "manager")
    html = client.get("/").text
    box = section(html, "team-overdue")
    assert number(box, "overdue-total") == "3"
    per_person = re.findall(r'href="(/tasks\?team=1&amp;overdue=1&amp;assignee=\d+)">([^<]+) <strong>(\d+)</strong>', box)
    assert [(name, n) for _, name, n in per_person] == [("李四", "2"), ("张晓明", "1")]
    listed = client.get("/tasks?team=1&overdue=1").text
    for title in ("逾期甲", "逾期乙", "逾期丙"):
        assert title in listed
    assert "已办完" not in listed and "今天到期" not in listed
    one = client.get(per_person[0][0].replace("&amp;", "&")).text
    assert "逾期乙" in one and "逾期丙" in one and "逾期甲" not in one


def test_next_groundbreaking_readiness_summary_counts_the_slate(client, session, users, pipeline):
    today = zone_today()
    past = GroundbreakingEvent(name="去年开工", held_on=today - timedelta(days=300))
    event = GroundbreakingEvent(name="12月项目集中奠基开工", held_on=today + timedelta(days=9), place="开发区")
    later = GroundbreakingEvent(name="明年春季开工", held_on=today + timedelta(days=120))
    session.add_all([past, event, later])
    session.flush()
    session.add_all([SlatedProject(event_id=event.id, project_id=pipeline["signed"].id, position=0),
                     SlatedProject(event_id=event.id, project_id=pipeline["permits"].id, position=1)])
    session.commit()
    login(client, "manager")
    box = section(client.get("/").text, "next-groundbreaking")
    assert "12月项目集中奠基开工" in box and "去年开工" not in box and "明年春季开工" not in box
    assert f'href="/groundbreaking/{event.id}"' in box
    counts = [int(number(box, f"ready-{c}")) for c in ("green", "amber", "red")]
    assert sum(counts) == 2 and counts[0] == 0  # neither has land nor a construction permit
    assert "签约项目乙" in box  # a project that is not ready is named, with what it lacks
    assert "还剩 9 天" in box


def test_each_readiness_count_links_to_exactly_those_rows_of_the_board(client, session, users, pipeline):
    today = zone_today()
    event = GroundbreakingEvent(name="12月项目集中奠基开工", held_on=today + timedelta(days=9), place="开发区")
    session.add(event)
    session.flush()
    session.add_all([SlatedProject(event_id=event.id, project_id=pipeline["signed"].id, position=0),
                     SlatedProject(event_id=event.id, project_id=pipeline["permits"].id, position=1)])
    session.commit()
    login(client, "manager")
    box = section(client.get("/").text, "next-groundbreaking")
    everything = client.get(f"/groundbreaking/{event.id}").text
    all_rows = re.findall(r'data-readiness="(\w+)"', everything)
    assert len(all_rows) == 2
    for colour in ("green", "amber", "red"):
        link = re.search(rf'href="([^"]+)"><span class="dot dot-{colour}"[^>]*></span>[^<]*<strong id="ready-{colour}">',
                         box).group(1)
        assert link == f"/groundbreaking/{event.id}?readiness={colour}#board"
        board = client.get(link.split("#")[0])
        assert board.status_code == 200
        rows = re.findall(r'data-readiness="(\w+)"', board.text)
        assert rows == [colour] * int(number(box, f"ready-{colour}"))
        if not rows:
            assert "没有处于此状态的列入项目" in board.text or "No slated project" in board.text
        assert 'id="readiness-filter"' in board.text and 'id="slate-count">2<' in board.text
    # An unknown filter shows the whole slate
    assert len(re.findall(r'data-readiness="', client.get(f"/groundbreaking/{event.id}?readiness=x").text)) == 2


def test_dashboard_without_any_records_shows_empty_states(client, users):
    login(client, "manager")
    html = client.get("/").text
    assert number(html, "pipeline-count") == "0"
    assert 'id="ready-green"' not in html
    assert number(html, "overdue-total") == "0"


def test_export_leaders_behind_target_are_counted_charted_and_linked(client, session, users):
    from decimal import Decimal

    from crm.exports import service as export_service
    from tests.factories import make_org

    manager, officer = users["manager"], users["officer"]
    year, month = export_service.last_complete_month(zone_today())
    if month < 2:
        pytest.skip("in January no month of the year is complete yet")

    def pooled(name: str, monthly: str):
        org = make_org(session, actor=manager, name=name, kind="zone_enterprise")
        export_service.create(session, actor=manager, data={
            "organization_id": org.id, "tier": "leader", "officer_id": officer.id, "target_year": str(year),
            "target_wan_usd": "1200", "main_products": "", "markets": "", "support_planned": ""})
        export_service.write_figures(session, actor=manager, changes=[
            export_service.FigureChange(org.id, year, m, Decimal(monthly)) for m in range(1, month + 1)])
        session.commit()
        return org

    behind = pooled("玉皇新能源", "20")  # 20 a month against 100 a month on time: far behind
    pooled("精进电动", "100")  # on time
    login(client, "manager")
    html = client.get("/").text
    box = section(html, "exports-behind")
    assert number(box, "exports-behind-count") == "1"
    assert "玉皇新能源" in box and "精进电动" not in box and 'class="progress-chart"' in box
    assert 'fill="url(#dashboard-exports-behind)"' in box  # behind reads from the hatching, not from colour alone
    link = re.search(r'href="([^"]+)" id="exports-behind-count"', box).group(1).replace("&amp;", "&")
    listed = client.get(link).text
    assert "玉皇新能源" in listed and "精进电动" not in listed
    assert f'href="/exports/{behind.id}"' in box


def test_key_indicators_against_target_and_time_elapsed_link_to_each_indicator(client, session, users):
    from decimal import Decimal

    from sqlalchemy import select

    from crm.indicators import service as indicator_service
    from crm.indicators.models import Indicator, IndicatorTarget, IndicatorValue

    indicator_service.ensure_defaults(session)
    session.commit()
    revenue = session.scalar(select(Indicator).where(Indicator.code == "budget_revenue"))
    today = zone_today()
    months = today.month - 1
    if months < 1:
        pytest.skip("in January no month of the year is complete yet")
    # 50 a month against a target of 1,200 (100 a month on time): behind time-elapsed progress
    session.add_all([IndicatorValue(indicator_id=revenue.id, year=today.year, period=m, value=Decimal("50"))
                     for m in range(1, months + 1)])
    session.add(IndicatorTarget(indicator_id=revenue.id, year=today.year, target=Decimal("1200")))
    session.commit()
    login(client, "manager")
    box = section(client.get("/").text, "indicators")
    assert 'class="progress-chart"' in box and "一般公共预算收入" in box
    row = re.search(rf'<tr class="behind" data-indicator="{revenue.id}">(.*?)</tr>', box, re.S).group(1)
    assert f"{50 * months * 100 / 1200:.1f}%" in row and f"{months * 100 / 12:.1f}%" in row
    assert f'href="/indicators/{revenue.id}?year={today.year}"' in row
    assert number(box, "indicators-behind") == "1 项落后于序时进度 ›"
    detail = client.get(f"/indicators/{revenue.id}?year={today.year}")
    assert detail.status_code == 200 and "一般公共预算收入" in detail.text


def test_an_officer_sees_their_targets_with_actuals_linking_to_the_records(client, session, users):
    from crm.assessment import service as assessment_service

    officer = users["officer"]
    year = zone_today().year
    assessment_service.save_target(session, year=year, version=None, actor=users["manager"], user_id=officer.id,
                                   data={"projects_signed": "4", "investment_signed_wan_cny": "20000",
                                         "foreign_capital_signed_wan_usd": "", "visits_received": "12",
                                         "projects_started": "2"})
    login(client, "officer")
    box = section(client.get("/").text, "my-targets")
    assert f'href="/assessment/{year}/officers/{officer.id}/projects_signed">0</a>' in box
    assert "/ 4" in box and "/ 12" in box
    drill = client.get(f"/assessment/{year}/officers/{officer.id}/projects_signed")
    assert drill.status_code == 200


def test_the_two_progress_charts_have_distinct_pattern_ids(client, session, users):
    """Both progress charts on the dashboard hatch what is behind: each with its own pattern id, or the second
    chart's bars would borrow the first one's pattern (duplicate ids in one document)."""
    from decimal import Decimal

    from sqlalchemy import select

    from crm.exports import service as export_service
    from crm.indicators import service as indicator_service
    from crm.indicators.models import Indicator, IndicatorTarget, IndicatorValue
    from tests.factories import make_org

    manager = users["manager"]
    year, month = export_service.last_complete_month(zone_today())
    today = zone_today()
    if month < 2 or today.month < 2:
        pytest.skip("in January no month of the year is complete yet")
    indicator_service.ensure_defaults(session)
    session.commit()
    revenue = session.scalar(select(Indicator).where(Indicator.code == "budget_revenue"))
    session.add_all([IndicatorValue(indicator_id=revenue.id, year=today.year, period=m, value=Decimal("50"))
                     for m in range(1, today.month)])
    session.add(IndicatorTarget(indicator_id=revenue.id, year=today.year, target=Decimal("1200")))
    org = make_org(session, actor=manager, name="玉皇新能源", kind="zone_enterprise")
    export_service.create(session, actor=manager, data={
        "organization_id": org.id, "tier": "leader", "officer_id": users["officer"].id, "target_year": str(year),
        "target_wan_usd": "1200", "main_products": "", "markets": "", "support_planned": ""})
    export_service.write_figures(session, actor=manager, changes=[
        export_service.FigureChange(org.id, year, m, Decimal("20")) for m in range(1, month + 1)])
    session.commit()
    login(client, "manager")
    html = client.get("/").text
    ids = re.findall(r'<pattern id="([^"]+)"', html)
    assert len(ids) >= 2 and len(ids) == len(set(ids)), ids
    for box_id in ("exports-behind", "indicators"):
        box = section(html, box_id)
        used = set(re.findall(r'fill="url\(#([^)]+)\)"', box))
        defined = set(re.findall(r'<pattern id="([^"]+)"', box))
        assert used and used <= defined, (box_id, used, defined)


def test_not_ready_reasons_are_joined_once_without_doubled_punctuation(client, session, users, pipeline):
    """Issue 16: "尚未申报。；" on the not-ready list. Each red gate's reason is a sentence with its own full
    stop; the list joins them once (crm.i18n.join_clauses): "…；…。"."""
    today = zone_today()
    event = GroundbreakingEvent(name="12月项目集中奠基开工", held_on=today + timedelta(days=9), place="开发区")
    session.add(event)
    session.flush()
    session.add(SlatedProject(event_id=event.id, project_id=pipeline["signed"].id, position=0))
    session.commit()
    login(client, "manager")
    box = section(client.get("/").text, "next-groundbreaking")
    reasons = box.split("签约项目乙", 1)[1].split('<small class="muted">', 1)[1].split("</small>", 1)[0].strip()
    assert reasons.count("；") >= 1, reasons  # more than one gate is red: land, and the construction permit
    for doubled in ("。；", "；；", "。。", ".；", "；。"):
        assert doubled not in reasons, reasons
    assert reasons.endswith("。") and not reasons.endswith("。。")


def test_join_clauses_drops_each_parts_own_stop_and_adds_one():
    from crm.i18n import Msg, join_clauses

    assert join_clauses(["尚未申报。", "缺少用地。", ""], "zh_CN") == "尚未申报；缺少用地。"
    assert join_clauses(["Not applied for.", "No land;"], "en") == "Not applied for; No land."
    assert join_clauses([Msg("Land supplied")], "zh_CN").endswith("。")
    assert join_clauses([], "zh_CN") == ""
