"""Annual target assessment: actuals counted from the records, drill-downs listing exactly those records (a
confidential project included, as its viewer may see it), targets set by managers only, the .xlsx download."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import update

from crm.assessment import service
from crm.assessment.models import OfficerTarget
from crm.auth.models import User
from crm.projects.models import Project, StageChange
from crm.visits.models import VisitHost
from tests.conftest import login, post
from tests.factories import make_project, make_visit
from tests.helpers import count_rows, field_error, input_value

YEAR = 2025
TZ = "Asia/Shanghai"


def _moved(session, project, *stages_at):
    """Record moves of the project: (stage, aware datetime) pairs, and leave it at the last one."""
    for stage, at in stages_at:
        session.add(StageChange(project_id=project.id, from_stage="negotiating", to_stage=stage, at=at,
                                actor_id=project.owner_id, note=""))
    session.execute(update(Project).where(Project.id == project.id).values(stage=stages_at[-1][0]))
    session.commit()


@pytest.fixture
def records(session, users):
    officer, officer2, manager = users["officer"], users["officer2"], users["manager"]
    session.execute(update(User).where(User.id.in_([officer.id, officer2.id])).values(department="招商一科"))
    session.commit()
    p = {}
    # Signed in 2025 (the first minutes of 1 January, Beijing time, are 2025)
    p["signed"] = make_project(session, actor=officer, name="签约项目甲", total_investment_wan_cny="12000",
                               foreign_capital_wan_usd="500", is_foreign_invested="1")
    _moved(session, p["signed"], ("signed", datetime(2024, 12, 31, 16, 30, tzinfo=UTC)))
    # Jumped past 签约 straight to 注册 in 2025, then to 开工 in 2025: signed and started
    p["jumped"] = make_project(session, actor=officer, name="跳过签约项目", total_investment_wan_cny="3000")
    _moved(session, p["jumped"], ("registered", datetime(2025, 3, 1, 2, tzinfo=UTC)),
           ("groundbreaking", datetime(2025, 9, 1, 2, tzinfo=UTC)))
    # Confidential, officer's own, signed in 2025 and later dropped: still signed in 2025
    p["secret"] = make_project(session, actor=officer, name="保密签约项目", total_investment_wan_cny="5000",
                               foreign_capital_wan_usd="100", is_foreign_invested="1", is_confidential="1")
    _moved(session, p["secret"], ("signed", datetime(2025, 6, 1, 2, tzinfo=UTC)),
           ("dropped", datetime(2025, 8, 1, 2, tzinfo=UTC)))
    # Signed in 2024, back from 暂缓 to 签约 in 2025: signed in 2024, not counted again
    p["old"] = make_project(session, actor=officer, name="去年签约项目", total_investment_wan_cny="7000")
    _moved(session, p["old"], ("signed", datetime(2024, 5, 1, 2, tzinfo=UTC)),
           ("on_hold", datetime(2024, 7, 1, 2, tzinfo=UTC)), ("signed", datetime(2025, 2, 1, 2, tzinfo=UTC)))
    # Signed at 2025-12-31 17:00 UTC = 2026-01-01 01:00 in Beijing: 2026
    p["late"] = make_project(session, actor=officer, name="跨年项目", total_investment_wan_cny="900")
    _moved(session, p["late"], ("signed", datetime(2025, 12, 31, 17, tzinfo=UTC)))
    # officer2's confidential signed project
    p["other"] = make_project(session, actor=officer2, name="同事保密项目", total_investment_wan_cny="800",
                              is_confidential="1")
    _moved(session, p["other"], ("signed", datetime(2025, 4, 1, 2, tzinfo=UTC)))
    # Still negotiating
    make_project(session, actor=officer, name="洽谈中项目", stage="negotiating", total_investment_wan_cny="99999")
    v = {}
    v["hosted"] = make_visit(session, title="来访甲", officer=manager, status="done",
                             starts_at=datetime(2025, 5, 1, 1, tzinfo=UTC))
    session.add(VisitHost(visit_id=v["hosted"].id, user_id=officer.id))
    v["own"] = make_visit(session, title="来访乙", officer=officer, status="done",
                          starts_at=datetime(2025, 6, 1, 1, tzinfo=UTC))
    session.add(VisitHost(visit_id=v["own"].id, user_id=officer.id))  # officer and host: counted once
    session.add(VisitHost(visit_id=v["own"].id, user_id=officer2.id))
    session.commit()
    make_visit(session, title="计划来访", officer=officer, status="planned", starts_at=datetime(2025, 7, 1, 1, tzinfo=UTC))
    make_visit(session, title="外出招商", officer=officer, status="done", kind="outbound",
               starts_at=datetime(2025, 7, 2, 1, tzinfo=UTC))
    make_visit(session, title="前年来访", officer=officer, status="done", starts_at=datetime(2024, 7, 2, 1, tzinfo=UTC))
    return {"projects": p, "visits": v}


def test_actuals_match_the_records(session, users, records):
    result = service.table(session, year=YEAR, timezone=TZ, viewer=users["manager"])
    rows = {r.label: r for r in result.officers}
    mine = rows["张晓明"].actual
    assert mine.projects_signed == 3  # signed, jumped, secret
    assert mine.investment_signed_wan_cny == Decimal("20000.00")  # 12000 + 3000 + 5000
    assert mine.foreign_capital_signed_wan_usd == Decimal("600.00")
    assert mine.projects_started == 1  # jumped
    assert mine.visits_received == 2  # hosted, own (once)
    other = rows["李四"].actual
    assert (other.projects_signed, other.visits_received) == (1, 1)
    dept = {r.label: r for r in result.departments}["招商一科"].actual
    assert dept.projects_signed == 4
    assert dept.investment_signed_wan_cny == Decimal("20800.00")
    assert dept.visits_received == 2  # "own" counted once for the department although both attended
    assert service.for_user(session, user=users["officer"], year=YEAR, timezone=TZ).actual.projects_signed == 3
    assert service.table(session, year=2026, timezone=TZ, viewer=users["manager"]).officers[0] is not None


def test_drill_down_lists_exactly_those_records(client, users, records):
    p = records["projects"]
    login(client, "officer")
    officer = users["officer"]
    page = client.get(f"/assessment/{YEAR}/officers/{officer.id}/projects_signed")
    assert page.status_code == 200
    for key in ("signed", "jumped", "secret"):
        assert f'/projects/{p[key].id}"' in page.text
    for key in ("old", "late", "other"):
        assert f'/projects/{p[key].id}"' not in page.text
    started = client.get(f"/assessment/{YEAR}/officers/{officer.id}/projects_started")
    assert f'/projects/{p["jumped"].id}"' in started.text and f'/projects/{p["signed"].id}"' not in started.text
    visits = client.get(f"/assessment/{YEAR}/officers/{officer.id}/visits_received")
    v = records["visits"]
    assert f'/visits/{v["hosted"].id}"' in visits.text and f'/visits/{v["own"].id}"' in visits.text
    assert visits.text.count('<a href="/visits/') == 2


def test_officers_see_only_their_own_row_and_records(client, users, records):
    login(client, "officer")
    page = client.get(f"/assessment?year={YEAR}")
    assert page.status_code == 200
    assert "张晓明" in page.text and "李四" not in page.text and "招商一科</td>" not in page.text
    assert client.get(f"/assessment/{YEAR}/officers/{users['officer2'].id}/projects_signed").status_code == 403
    assert client.get(f"/assessment/{YEAR}/departments/projects_signed?name=招商一科").status_code == 403
    assert client.get(f"/assessment/{YEAR}/officers/{users['officer'].id}/nonsense").status_code == 404


def test_department_drill_down_for_managers_shows_confidential_projects(client, users, records):
    p = records["projects"]
    login(client, "manager")
    page = client.get(f"/assessment/{YEAR}/departments/projects_signed?name=招商一科")
    assert page.status_code == 200
    for key in ("signed", "jumped", "secret", "other"):
        assert f'/projects/{p[key].id}"' in page.text


def test_confidential_projects_of_others_are_counted_but_not_shown(session, users, records):
    # An officer outside the department asking the service directly (the routes refuse them first)
    result = service.records(session, year=YEAR, timezone=TZ, metric="projects_signed", viewer=users["officer"],
                             department="招商一科")
    shown = {project.name for project in result.projects}
    assert "同事保密项目" not in shown and "保密签约项目" in shown
    assert result.hidden == 1


def test_officers_cannot_set_targets(client, users, records, session):
    login(client, "officer")
    url = f"/assessment/{YEAR}/officers/{users['officer'].id}/target"
    assert client.get(url).status_code == 403
    assert post(client, url, {"projects_signed": "10", "version": "0"}).status_code == 403
    assert post(client, f"/assessment/{YEAR}/departments/target?name=招商一科", {"projects_signed": "1"}).status_code == 403
    assert count_rows(session, OfficerTarget) == 0


def test_managers_set_targets_with_validation_and_locking(client, users, records, session):
    login(client, "manager")
    url = f"/assessment/{YEAR}/officers/{users['officer'].id}/target"
    assert client.get(url).status_code == 200
    bad = post(client, url, {"projects_signed": "x", "investment_signed_wan_cny": "-1", "visits_received": "12",
                             "version": "0"})
    assert bad.status_code == 422
    assert field_error(bad.text, "projects_signed") and field_error(bad.text, "investment_signed_wan_cny")
    assert input_value(bad.text, "visits_received") == "12"
    ok = post(client, url, {"projects_signed": "6", "investment_signed_wan_cny": "40000",
                            "foreign_capital_signed_wan_usd": "1200", "visits_received": "12",
                            "projects_started": "2", "version": "0"})
    assert ok.status_code == 303
    stale = post(client, url, {"projects_signed": "7", "version": "0"})
    assert stale.status_code == 409 and input_value(stale.text, "projects_signed") == "7"
    page = client.get(f"/assessment?year={YEAR}")
    assert "50.0%" in page.text  # 3 of 6 projects signed
    dept = post(client, f"/assessment/{YEAR}/departments/target?name=招商一科", {"projects_signed": "8", "version": "0"})
    assert dept.status_code == 303
    row = {r.label: r for r in service.table(session, year=YEAR, timezone=TZ, viewer=users["manager"]).departments}
    assert row["招商一科"].progress("projects_signed") == pytest.approx(0.5)


def test_assessment_xlsx_reads_back(client, client_as, users, records):
    login(client, "manager")
    post(client, f"/assessment/{YEAR}/officers/{users['officer'].id}/target", {"projects_signed": "6", "version": "0"})
    response = client.get(f"/assessment/export.xlsx?year={YEAR}")
    assert response.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    by_name = {r[1]: r for r in rows[1:]}
    mine = by_name["张晓明"]
    assert mine[3:6] == (6, 3, 50.0)
    assert float(mine[7]) == 20000
    assert "招商一科" in by_name
    # An officer's download holds their own row only
    officer = client_as("officer")
    rows = list(openpyxl.load_workbook(io.BytesIO(officer.get(f"/assessment/export.xlsx?year={YEAR}").content))
                .active.iter_rows(values_only=True))
    assert [r[1] for r in rows[1:]] == ["张晓明"]


def test_archived_projects_are_out_of_the_figures_and_their_drill_downs(client, session, users, records):
    """An archived project leaves the actuals and the drill-down alike (it leaves every list and total), so a
    figure opens exactly its records and a manager is never told some are "not yours to see"."""
    p = records["projects"]
    session.execute(update(Project).where(Project.id == p["jumped"].id).values(archived_at=datetime(2025, 10, 1, tzinfo=UTC)))
    session.commit()
    result = service.table(session, year=YEAR, timezone=TZ, viewer=users["manager"])
    mine = {r.label: r for r in result.officers}["张晓明"].actual
    assert (mine.projects_signed, mine.projects_started) == (2, 0)  # signed, secret
    assert mine.investment_signed_wan_cny == Decimal("17000.00")
    assert {r.label: r for r in result.departments}["招商一科"].actual.projects_signed == 3
    login(client, "manager")
    for url in (f"/assessment/{YEAR}/officers/{users['officer'].id}/projects_signed",
                f"/assessment/{YEAR}/departments/projects_signed?name=招商一科"):
        page = client.get(url)
        assert page.status_code == 200
        assert f'/projects/{p["jumped"].id}"' not in page.text
        assert "您无权查看" not in page.text
    drill = service.records(session, year=YEAR, timezone=TZ, metric="projects_signed", viewer=users["manager"],
                            department="招商一科")
    assert drill.hidden == 0 and len(drill.projects) == 3
    # An outsider is told only of the confidential project that is not theirs, never of the archived one
    outsider = service.records(session, year=YEAR, timezone=TZ, metric="projects_signed", viewer=users["officer"],
                               department="招商一科")
    assert outsider.hidden == 1


def test_a_department_named_with_a_slash_opens_and_takes_targets(client, session, users, records):
    session.execute(update(User).where(User.id.in_([users["officer"].id, users["officer2"].id]))
                    .values(department="招商/一科"))
    session.commit()
    login(client, "manager")
    page = client.get(f"/assessment?year={YEAR}")
    assert page.status_code == 200
    links = re.findall(r'href="(/assessment/[^"]*departments[^"]*)"', page.text)
    assert links and all("%2F" in link for link in links)
    for link in links:
        assert client.get(html.unescape(link)).status_code == 200, link
    target_link = next(html.unescape(link) for link in links if "/target" in link)
    form = client.get(target_link)
    assert "招商/一科" in form.text
    saved = post(client, target_link, {"projects_signed": "8", "version": "0"})
    assert saved.status_code == 303
    row = {r.label: r for r in service.table(session, year=YEAR, timezone=TZ, viewer=users["manager"]).departments}
    assert row["招商/一科"].target_of("projects_signed") == 8
    drill = client.get(f"/assessment/{YEAR}/departments/projects_signed?name=招商%2F一科")
    assert drill.status_code == 200 and "同事保密项目" in drill.text


def test_visits_received_count_only_visits_that_have_started(client, session, users):
    """Issue 16: a visit marked done before it started (as the form allowed until then) counted at once in 接待来访.
    The assessment counts only visits that have started."""
    from datetime import timedelta

    from crm.db import utcnow

    officer = users["officer"]
    now = utcnow()
    year = now.year if (now + timedelta(days=3)).year == now.year else now.year + 1
    begun = make_visit(session, title="已开始的来访", officer=officer, status="done",
                       starts_at=max(now - timedelta(hours=1), datetime(year, 1, 1, tzinfo=UTC)))
    ahead = make_visit(session, title="三天后的来访", officer=officer, status="done", starts_at=now + timedelta(days=3))
    expected = 1 if begun.starts_at.year == year and begun.starts_at <= now else 0
    assert service.for_user(session, user=officer, year=year, timezone=TZ).actual.visits_received == expected
    login(client, "officer")
    page = client.get(f"/assessment/{year}/officers/{officer.id}/visits_received")
    assert page.status_code == 200
    assert f'/visits/{ahead.id}"' not in page.text
    assert (f'/visits/{begun.id}"' in page.text) == bool(expected)
