"""Excel downloads of the lists: organizations, contacts, visits, tasks (mine and the team's), projects. Each file
is read back with openpyxl: headers in the user's language, the rows of the page's filters (all of them, not one
page), numbers as numbers and dates as dates, confidential projects only for those who may see them."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook

from crm.i18n import gettext
from crm.spreadsheets import XLSX_MEDIA_TYPE
from tests.conftest import login
from tests.factories import make_contact, make_org, make_project, make_task, make_user, make_visit


def sheet_of(response):
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert response.headers["content-disposition"].startswith("attachment;")
    return load_workbook(io.BytesIO(response.content), read_only=False).active


def header(sheet) -> list[str]:
    return [c.value for c in sheet[1]]


def column(sheet, name: str) -> list:
    index = header(sheet).index(name)
    return [row[index] for row in sheet.iter_rows(min_row=2, values_only=True)]


def zh(msgid: str) -> str:
    return gettext("zh_CN", msgid)


def test_a_request_without_sign_in_is_redirected(client, users):
    for url in ("/organizations/export.xlsx", "/contacts/export.xlsx", "/visits/export.xlsx", "/tasks/export.xlsx",
                "/projects/export.xlsx"):
        response = client.get(url)
        assert response.status_code in (302, 303), url
        assert response.headers["location"].startswith("/login"), url


def test_organizations_all_matching_rows_with_the_filters_in_chinese(client, session, users):
    officer = users["officer"]
    for i in range(60):  # more than one page (50)
        make_org(session, actor=officer, name=f"投资方{i:02d}", kind="investor", city="上海")
    make_org(session, actor=officer, name="园区企业甲", kind="zone_enterprise")
    login(client, "officer")
    page = client.get("/organizations?kind=investor&sort=name").text
    assert 'href="/organizations/export.xlsx?kind=investor&amp;sort=name"' in page
    assert "下载 Excel" in page
    sheet = sheet_of(client.get("/organizations/export.xlsx?kind=investor&sort=name"))
    assert header(sheet)[:4] == [zh("Name"), zh("English name"), zh("Kind"), zh("Industry chain")]
    names = column(sheet, zh("Name"))
    assert names == [f"投资方{i:02d}" for i in range(60)]  # every row, in the list's order, no zone enterprise
    assert set(column(sheet, zh("Kind"))) == {zh("Investor")}
    assert set(column(sheet, zh("City"))) == {"上海"}
    assert set(column(sheet, zh("Owning officer"))) == {"张晓明"}
    updated = column(sheet, zh("Updated"))
    assert all(isinstance(v, datetime) for v in updated)
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b
    disposition = client.get("/organizations/export.xlsx?q=投资方03").headers["content-disposition"]
    assert re.search(r"filename\*=UTF-8''(\S+)", disposition)
    assert unquote(re.search(r"filename\*=UTF-8''(\S+)", disposition)[1]).startswith(zh("Organizations") + "-")
    searched = sheet_of(client.get("/organizations/export.xlsx?q=投资方03"))
    assert column(searched, zh("Name")) == ["投资方03"]


def test_headers_in_english_for_an_english_user(client, session, users):
    make_user(session, username="english", display_name="Alice", locale="en")
    make_org(session, actor=users["officer"], name="复星集团", kind="investor")
    login(client, "english")
    sheet = sheet_of(client.get("/organizations/export.xlsx"))
    assert header(sheet)[:4] == ["Name", "English name", "Kind", "Industry chain"]
    assert column(sheet, "Kind") == ["Investor"]
    projects = sheet_of(client.get("/projects/export.xlsx"))
    assert header(projects)[:5] == ["Project name", "Investors", "Stage", "Industry chain", "Total investment (10k CNY)"]


def test_contacts_of_one_organization(client, session, users):
    officer = users["officer"]
    fosun, other = make_org(session, actor=officer, name="复星集团"), make_org(session, actor=officer, name="别家公司")
    make_contact(session, actor=officer, organization=fosun, name="祝文魁", mobile="13800000000", title="副总裁")
    make_contact(session, actor=officer, organization=other, name="王五")
    login(client, "officer")
    assert f'href="/contacts/export.xlsx?organization={fosun.id}"' in client.get(f"/contacts?organization={fosun.id}").text
    sheet = sheet_of(client.get(f"/contacts/export.xlsx?organization={fosun.id}"))
    assert column(sheet, zh("Name")) == ["祝文魁"]
    assert column(sheet, zh("Organization")) == ["复星集团"]
    assert column(sheet, zh("Mobile")) == ["13800000000"]  # text, not a number
    assert sheet.cell(row=2, column=header(sheet).index(zh("Mobile")) + 1).data_type == "s"


def test_visits_with_the_date_filter_times_in_the_zone_and_numbers(client, session, users):
    officer = users["officer"]
    fosun = make_org(session, actor=officer, name="复星集团")
    inside = make_visit(session, title="复星集团考察", officer=officer, organizations=[fosun], status="done",
                        starts_at=datetime(2026, 12, 2, 1, 30, tzinfo=UTC))
    inside.estimated_investment = 5000
    session.commit()
    make_visit(session, title="更早的来访", officer=officer, starts_at=datetime(2026, 10, 1, 1, 30, tzinfo=UTC))
    login(client, "officer")
    sheet = sheet_of(client.get("/visits/export.xlsx?from=2026-12-01&to=2026-12-31"))
    assert column(sheet, zh("Subject")) == ["复星集团考察"]
    assert column(sheet, zh("Starts")) == [datetime(2026, 12, 2, 9, 30)]  # Beijing time
    assert column(sheet, zh("Organizations")) == ["复星集团"]
    assert column(sheet, zh("Status")) == [zh("Done")]
    assert column(sheet, zh("Estimated investment (10k CNY)")) == [5000]
    cell = sheet.cell(row=2, column=header(sheet).index(zh("Estimated investment (10k CNY)")) + 1)
    assert cell.data_type == "n" and cell.number_format == "#,##0.00"
    starts = sheet.cell(row=2, column=header(sheet).index(zh("Starts")) + 1)
    assert starts.is_date


def test_my_tasks_and_the_team_view(client, session, users):
    officer, manager = users["officer"], users["manager"]
    make_task(session, actor=officer, title="寄送园区资料", due_on=date(2026, 12, 2))
    make_task(session, actor=officer, title="约第二次洽谈", due_on=date(2026, 12, 9), priority="high")
    make_task(session, actor=manager, title="经理的事", due_on=date(2026, 12, 3))
    login(client, "officer")
    assert 'href="/tasks/export.xlsx"' in client.get("/tasks").text
    mine = sheet_of(client.get("/tasks/export.xlsx"))
    assert column(mine, zh("What")) == ["寄送园区资料", "约第二次洽谈"]
    assert column(mine, zh("Due date")) == [datetime(2026, 12, 2), datetime(2026, 12, 9)]
    assert column(mine, zh("Priority")) == [zh("Normal"), zh("High")]
    # an officer's "team" view is their own tasks, whatever the query asks
    assert column(sheet_of(client.get(f"/tasks/export.xlsx?team=1&assignee={manager.id}")), zh("What")) == [
        "寄送园区资料", "约第二次洽谈"]
    client.cookies.clear()
    login(client, "manager")
    team = client.get(f"/tasks?team=1&assignee={officer.id}").text
    assert f'href="/tasks/export.xlsx?team=1&amp;assignee={officer.id}"' in team
    everyone = sheet_of(client.get("/tasks/export.xlsx?team=1"))
    assert column(everyone, zh("What")) == ["寄送园区资料", "经理的事", "约第二次洽谈"]
    assert column(everyone, zh("Who")) == ["张晓明", "练建军", "张晓明"]
    one = sheet_of(client.get(f"/tasks/export.xlsx?team=1&assignee={officer.id}&status=open"))
    assert column(one, zh("What")) == ["寄送园区资料", "约第二次洽谈"]


@pytest.fixture
def projects(session, users):
    officer = users["officer"]
    fosun = make_org(session, actor=officer, name="复星集团")
    partner = make_org(session, actor=officer, name="合作方")
    secret = make_project(session, actor=officer, organizations=[fosun], name="机密并购项目", stage="negotiating",
                          total_investment_wan_cny="88888", is_confidential="1")
    public = make_project(session, actor=officer, organizations=[fosun, partner], name="公开招商项目",
                          stage="negotiating", total_investment_wan_cny="12345.67", is_foreign_invested="1",
                          foreign_capital_wan_usd="500")
    lead = make_project(session, actor=officer, organizations=[partner], name="线索项目", stage="lead")
    session.commit()
    return {"secret": secret, "public": public, "lead": lead}


def test_projects_follow_the_table_filters_and_types(client, projects):
    login(client, "officer")
    assert 'href="/projects/export.xlsx?stage=negotiating"' in client.get("/projects?stage=negotiating").text
    sheet = sheet_of(client.get("/projects/export.xlsx?stage=negotiating&sort=name"))
    assert sorted(column(sheet, zh("Project name"))) == ["公开招商项目", "机密并购项目"]  # its owner sees it
    public = sheet_of(client.get("/projects/export.xlsx?stage=negotiating&confidential=0"))
    assert column(public, zh("Project name")) == ["公开招商项目"]
    assert column(public, zh("Investors")) == ["复星集团，合作方"]
    assert column(public, zh("Stage")) == [zh("Negotiating")]
    assert column(public, zh("Total investment (10k CNY)")) == [pytest.approx(12345.67)]
    assert column(public, zh("Foreign capital (10k USD)")) == [500]
    assert column(public, zh("Foreign-invested")) == [zh("yes")]
    assert isinstance(column(public, zh("Days in stage"))[0], int)
    assert isinstance(column(public, zh("In this stage since"))[0], datetime)
    money = public.cell(row=2, column=header(public).index(zh("Total investment (10k CNY)")) + 1)
    assert money.data_type == "n" and money.number_format == "#,##0.00"
    everything = sheet_of(client.get("/projects/export.xlsx"))
    assert len(column(everything, zh("Project name"))) == 3


def test_a_confidential_project_is_absent_for_an_officer_who_may_not_see_it(client_as, projects):
    other = client_as("officer2")
    names = column(sheet_of(other.get("/projects/export.xlsx")), zh("Project name"))
    assert sorted(names) == ["公开招商项目", "线索项目"]
    assert column(sheet_of(other.get("/projects/export.xlsx?confidential=1")), zh("Project name")) == []
    manager = client_as("manager")
    assert "机密并购项目" in column(sheet_of(manager.get("/projects/export.xlsx")), zh("Project name"))


def test_a_task_on_a_confidential_project_does_not_name_it(client_as, session, users, projects):
    make_task(session, actor=users["manager"], assignee_id=users["officer2"].id, title="跟进机密项目",
              project_id=projects["secret"].id)
    other = client_as("officer2")
    sheet = sheet_of(other.get("/tasks/export.xlsx"))
    assert column(sheet, zh("Project")) == [zh("Confidential project")]


def test_a_bad_filter_is_a_clear_400_not_a_file(client, users):
    login(client, "officer")
    response = client.get("/organizations/export.xlsx?kind=nonsense")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
