"""Follow-up tasks (跟进事项): creating one from an organization, validation, "My tasks" grouped by due date,
one-click complete / reopen / reschedule / reassign (htmx and plain forms), permissions, the team view, edit
conflicts, the open follow-ups on organization, contact and home pages, and the demo's Fosun follow-ups."""

from __future__ import annotations

import re
import time as time_module
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from crm import demo
from crm.audit.models import AuditEntry
from crm.auth.models import User
from crm.organizations.models import Organization
from crm.tasks import service as task_service
from crm.tasks.models import Task, TaskStatus
from tests.conftest import login, post
from tests.factories import make_contact, make_org, make_task
from tests.helpers import count_rows, field_error, input_value, reload, textarea_value

GROUP_HEADINGS = {"overdue": "已逾期", "today": "今天", "week": "本周", "later": "以后", "done": "最近完成"}
GROUP_RE = re.compile(r'<section class="task-group task-group-(\w+)">\s*<h2>(.*?) <span class="count">(\d+)</span></h2>'
                      r"(.*?)</section>", re.S)
TASK_TITLE_RE = re.compile(r'<a href="/tasks/\d+" class="task-title">(.*?)</a>', re.S)
STALE_NOTICE = "其他人保存了这条记录"


# Helpers

@pytest.fixture
def today(settings) -> date:
    """Today as crm/tasks/routes.py computes it (settings.timezone, Asia/Shanghai); a test started in the last
    seconds before midnight first waits for the new day, so the test and the app agree on "today"."""
    assert settings.timezone == "Asia/Shanghai"
    zone = ZoneInfo(settings.timezone)
    now = datetime.now(zone)
    to_midnight = (datetime.combine(now.date() + timedelta(days=1), time(), zone) - now).total_seconds()
    if to_midnight < 30:
        time_module.sleep(to_midnight + 1)
    return datetime.now(zone).date()


def task_groups(html: str) -> dict[str, list[str]]:
    """The task titles of each group on "My tasks", keyed by the group's (Chinese) heading, in page order."""
    groups = {}
    for key, heading, count, body in GROUP_RE.findall(html):
        titles = TASK_TITLE_RE.findall(body)
        assert heading == GROUP_HEADINGS[key], f"group {key} is headed {heading!r}"
        assert int(count) == len(titles), f"group {heading} says {count} but lists {len(titles)}"
        groups[heading] = titles
    return groups


def section(html: str, heading: str) -> str:
    """The card section of a page whose <h2> is `heading`."""
    match = re.search(rf"<h2>{re.escape(heading)}</h2>(.*?)</section>", html, re.S)
    assert match, f"no section headed {heading!r}"
    return match.group(1)


def hx(client: TestClient) -> dict[str, str]:
    """The headers htmx sends for a one-click action (the CSRF token in a header, not the form)."""
    return {"HX-Request": "true", "X-CSRF-Token": client.csrf}


def task_audit(session, task_id: int, action: str | None = None) -> list[AuditEntry]:
    session.expire_all()
    stmt = select(AuditEntry).where(AuditEntry.entity_type == "task", AuditEntry.entity_id == task_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    entries = list(session.scalars(stmt.order_by(AuditEntry.id)))
    session.commit()
    return entries


def snapshot(session, task_id: int) -> tuple:
    task = reload(session, Task, task_id)
    return (task.title, task.status, task.assignee_id, task.due_on, task.priority, task.completed_at, task.version)


def _form(organization: Organization | None = None, **overrides) -> dict[str, str]:
    data = {"title": "寄送开发区产业资料", "description": "带上新能源和生物医药两份资料", "assignee_id": "",
            "due_on": "2026-12-07", "due_time": "", "priority": "high",
            "organization_id": str(organization.id) if organization else "", "contact_id": ""}
    data.update(overrides)
    return data


def _edit_form(task: Task, **overrides) -> dict[str, str]:
    data = {"title": task.title, "description": task.description, "assignee_id": str(task.assignee_id),
            "due_on": task.due_on.isoformat(), "due_time": task.due_time.strftime("%H:%M") if task.due_time else "",
            "priority": task.priority, "organization_id": str(task.organization_id or ""),
            "contact_id": str(task.contact_id or ""), "version": str(task.version)}
    data.update(overrides)
    return data


@pytest.fixture
def fosun(session, users):
    return make_org(session, actor=users["officer"], name="复星集团")


# Create from an organization

def test_new_follow_up_form_from_an_organization_is_prefilled(officer_client, fosun, users, today):
    response = officer_client.get("/tasks/new", params={"organization": fosun.id})
    assert response.status_code == 200
    html = response.text
    assert f'<input type="hidden" name="organization_id" value="{fosun.id}">' in html
    assert f'href="/organizations/{fosun.id}">复星集团</a>' in html
    assert input_value(html, "due_on") == today.isoformat()  # due today unless changed
    assert f'<option value="{users["officer"].id}" selected>' in html  # assigned to the officer by default


def test_create_from_an_organization_returns_to_it_lists_and_audits_the_follow_up(officer_client, session, fosun, users):
    officer = users["officer"]
    form = _form(fosun, assignee_id=str(officer.id), due_time="14:30")
    response = post(officer_client, "/tasks", form)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/organizations/{fosun.id}"

    session.expire_all()
    task = session.scalar(select(Task))
    assert (task.title, task.assignee_id, task.due_on, task.due_time, task.priority, task.status) == (
        "寄送开发区产业资料", officer.id, date(2026, 12, 7), time(14, 30), "high", "open")
    assert (task.organization_id, task.contact_id, task.created_by_id) == (fosun.id, None, officer.id)

    [entry] = task_audit(session, task.id)
    assert (entry.action, entry.actor_id, entry.organization_id, entry.entity_label) == (
        "create", officer.id, fosun.id, "寄送开发区产业资料")
    assert entry.changes["title"] == [None, "寄送开发区产业资料"]
    assert entry.changes["due_on"] == [None, "2026-12-07"]
    assert entry.changes["assignee_id"] == [None, officer.id]

    html = officer_client.get(response.headers["location"]).text
    assert "已添加跟进事项“寄送开发区产业资料”" in html  # the flash
    follow_ups = section(html, "未完成的跟进事项")
    assert f'<a href="/tasks/{task.id}">寄送开发区产业资料</a>' in follow_ups
    assert "2026-12-07" in follow_ups and "张晓明" in follow_ups
    timeline = section(html, "动态")
    assert re.search(rf'张晓明</strong>\s*创建了\s*跟进事项 <a href="/tasks/{task.id}">寄送开发区产业资料</a>', timeline)


def test_an_organization_without_follow_ups_says_so_and_offers_to_add_one(officer_client, fosun):
    html = officer_client.get(f"/organizations/{fosun.id}").text
    follow_ups = section(html, "未完成的跟进事项")
    assert "暂无未完成的跟进事项" in follow_ups
    assert f'href="/tasks/new?organization={fosun.id}"' in html


def test_create_from_a_contact_links_its_organization_and_returns_to_the_contact(officer_client, session, fosun, users):
    contact = make_contact(session, actor=users["officer"], organization=fosun, name="祝文魁")
    page = officer_client.get("/tasks/new", params={"contact": contact.id})
    assert f'<input type="hidden" name="contact_id" value="{contact.id}">' in page.text
    response = post(officer_client, "/tasks", _form(assignee_id=str(users["officer"].id), contact_id=str(contact.id)))
    assert response.status_code == 303
    assert response.headers["location"] == f"/contacts/{contact.id}"
    session.expire_all()
    task = session.scalar(select(Task))
    assert (task.contact_id, task.organization_id) == (contact.id, fosun.id)  # the contact brings its organization


# Validation

@pytest.mark.parametrize("field, value, message", [
    ("title", "", "此项为必填"),
    ("title", "   ", "此项为必填"),
    ("due_on", "2026-13-45", "“2026-13-45”不是日期"),
    ("due_on", "tomorrow", "“tomorrow”不是日期"),
    ("due_on", "", "此项为必填"),
    ("due_time", "25:00", "“25:00”不是时间"),
    ("assignee_id", "999999", "请从列出的选项中选择"),
    ("assignee_id", "abc", "请从列出的选项中选择"),
    ("priority", "urgent", "请从列出的选项中选择"),
])
def test_invalid_follow_up_rerenders_with_the_error_beside_the_field_and_saves_nothing(
        officer_client, session, fosun, users, field, value, message):
    form = _form(fosun, **{"assignee_id": str(users["officer"].id), field: value})
    audit_before = count_rows(session, AuditEntry)
    response = post(officer_client, "/tasks", form)
    assert response.status_code == 422
    error = field_error(response.text, field)
    assert error is not None and message in error, error
    assert list(re.findall(r'<p class="field-error" id="([^"]+)-error">', response.text)) == [field]  # only that field
    # The user's input is kept: the details, the other fields, and the invalid value itself where it is typed.
    assert textarea_value(response.text, "description") == "带上新能源和生物医药两份资料"
    assert f'<input type="hidden" name="organization_id" value="{fosun.id}">' in response.text
    if field != "title":
        assert input_value(response.text, "title") == "寄送开发区产业资料"
    if field in ("title", "due_on", "due_time"):
        assert input_value(response.text, field) == value
    assert count_rows(session, Task) == 0
    assert count_rows(session, AuditEntry) == audit_before


def test_a_contact_of_another_organization_is_refused(officer_client, session, fosun, users):
    other = make_org(session, actor=users["officer"], name="海尔集团")
    contact = make_contact(session, actor=users["officer"], organization=other, name="王建国")
    form = _form(fosun, assignee_id=str(users["officer"].id), contact_id=str(contact.id))
    response = post(officer_client, "/tasks", form)
    assert response.status_code == 422
    assert field_error(response.text, "contact_id") == "该联系人属于其他机构。"
    assert input_value(response.text, "title") == "寄送开发区产业资料"
    assert f'<input type="hidden" name="organization_id" value="{fosun.id}">' in response.text
    assert f'<input type="hidden" name="contact_id" value="{contact.id}">' in response.text
    assert count_rows(session, Task) == 0


def test_an_unknown_organization_is_refused(officer_client, session, users):
    form = _form(assignee_id=str(users["officer"].id), organization_id="999999")
    response = post(officer_client, "/tasks", form)
    assert response.status_code == 422
    assert field_error(response.text, "organization_id") == "没有这个机构。"
    assert input_value(response.text, "title") == "寄送开发区产业资料"
    assert input_value(response.text, "due_on") == "2026-12-07"
    assert count_rows(session, Task) == 0


def test_the_task_page_history_reads_as_names_and_labels(officer_client, session, fosun, users):
    response = post(officer_client, "/tasks", _form(fosun, assignee_id=str(users["officer"].id)))
    task_id = session.scalar(select(Task.id))
    assert response.status_code == 303
    history = section(officer_client.get(f"/tasks/{task_id}").text, "变更历史")
    for shown in ("<ins>寄送开发区产业资料</ins>", "<ins>张晓明</ins>", "<ins>复星集团</ins>", "<ins>高</ins>",
                  "<ins>2026-12-07</ins>", "<ins>未完成</ins>"):
        assert shown in history
    assert f"<ins>{users['officer'].id}</ins>" not in history and "<ins>high</ins>" not in history


def test_titles_are_escaped_everywhere_they_show(officer_client, session, fosun, users):
    evil = '<script>alert("x")</script>'
    task = make_task(session, actor=users["officer"], title=evil, organization_id=fosun.id)
    for url in ("/tasks", f"/tasks/{task.id}", f"/organizations/{fosun.id}"):
        html = officer_client.get(url).text
        assert evil not in html, url
        assert "&lt;script&gt;" in html, url


@pytest.mark.parametrize("method, url", [
    ("get", "/tasks/999999"), ("get", "/tasks/999999/edit"), ("post", "/tasks/999999/complete"),
    ("post", "/tasks/999999"), ("get", "/tasks/abc"),
])
def test_an_unknown_task_is_a_404(officer_client, method, url):
    response = officer_client.get(url) if method == "get" else post(officer_client, url, {"next": "/tasks"})
    assert response.status_code == 404


def test_signed_out_and_forged_requests_are_refused(client, session, users):
    task = make_task(session, actor=users["officer"], title="寄送资料")
    response = client.get("/tasks")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    login(client, "officer")
    assert client.post(f"/tasks/{task.id}/complete", data={"next": "/tasks"}).status_code == 403  # no CSRF token
    assert client.post(f"/tasks/{task.id}/complete", headers={"HX-Request": "true", "X-CSRF-Token": "forged"}).status_code == 403
    assert reload(session, Task, task.id).status == "open"


def test_the_audit_trail_can_be_filtered_to_follow_ups(client, session, users, fosun):
    make_task(session, actor=users["officer"], title="寄送资料", organization_id=fosun.id)
    login(client, "manager")  # a manager reads the changes of the records they may see (issue 13)
    assert '<option value="task"' in client.get("/admin/audit").text
    response = client.get("/admin/audit", params={"entity": "task"})
    assert response.status_code == 200
    results = response.text.split('id="results"')[1]
    assert "寄送资料" in results
    assert "已创建" not in results and not re.search(r"创建了\s*机构", results)  # the organization's entry is filtered out


# "My tasks"

def test_my_tasks_groups_open_tasks_by_due_date_in_shanghai_time(officer_client, session, users, today):
    officer = users["officer"]
    tomorrow_group = "本周" if today.weekday() < 6 else "以后"  # the week ends on Sunday
    make_task(session, actor=officer, title="逾期三天", due_on=today - timedelta(days=3))
    make_task(session, actor=officer, title="昨天到期", due_on=today - timedelta(days=1))
    make_task(session, actor=officer, title="今天下午", due_on=today, due_time="15:00")
    make_task(session, actor=officer, title="今天上午", due_on=today, due_time="09:00")
    make_task(session, actor=officer, title="明天到期", due_on=today + timedelta(days=1))
    make_task(session, actor=officer, title="下周到期", due_on=today + timedelta(days=7))
    done = make_task(session, actor=officer, title="已经办完", due_on=today)
    task_service.set_status(session, task=done, status=TaskStatus.DONE, actor=officer)
    make_task(session, actor=users["officer2"], title="别人的事项", due_on=today)

    response = officer_client.get("/tasks")
    assert response.status_code == 200
    groups = task_groups(response.text)
    expected = {"已逾期": ["逾期三天", "昨天到期"], "今天": ["今天上午", "今天下午"], "最近完成": ["已经办完"]}
    expected.setdefault(tomorrow_group, []).append("明天到期")
    expected.setdefault("以后", []).append("下周到期")
    assert groups == expected
    assert list(groups) == [h for h in GROUP_HEADINGS.values() if h in groups]  # overdue first, done last
    assert "别人的事项" not in response.text
    assert "<h1>我的待办</h1>" in response.text


@pytest.mark.parametrize("today, week, later", [
    (date(2026, 12, 2), [date(2026, 12, 3), date(2026, 12, 6)], [date(2026, 12, 7)]),  # a Wednesday
    (date(2026, 12, 6), [], [date(2026, 12, 7)]),  # a Sunday: the rest of the week is empty
    (date(2026, 11, 30), [date(2026, 12, 6)], [date(2026, 12, 7)]),  # a Monday
])
def test_this_week_runs_to_sunday(session, users, today, week, later):
    officer = users["officer"]
    for due in [today - timedelta(days=1), today, *week, *later]:
        make_task(session, actor=officer, title=due.isoformat(), due_on=due)
    groups = task_service.my_tasks(session, assignee_id=officer.id, today=today)
    assert [t.due_on for t in groups.overdue] == [today - timedelta(days=1)]
    assert [t.due_on for t in groups.today] == [today]
    assert [t.due_on for t in groups.week] == week
    assert [t.due_on for t in groups.later] == later


def test_tasks_done_long_ago_leave_recently_done(officer_client, session, users, today):
    officer = users["officer"]
    recent = make_task(session, actor=officer, title="上周办完", due_on=today)
    old = make_task(session, actor=officer, title="上月办完", due_on=today)
    for task in (recent, old):
        task_service.set_status(session, task=task, status=TaskStatus.DONE, actor=officer)
    stored = session.get(Task, old.id)
    stored.completed_at = datetime.now(ZoneInfo("UTC")) - timedelta(days=30)
    session.commit()
    assert task_groups(officer_client.get("/tasks").text) == {"最近完成": ["上周办完"]}


def test_my_tasks_empty_state_offers_a_way_forward(officer_client, session, users):
    make_task(session, actor=users["officer2"], title="别人的事项")
    html = officer_client.get("/tasks").text
    assert "暂无待跟进事项" in html and 'href="/tasks/new"' in html
    assert task_groups(html) == {}
    assert "别人的事项" not in html


# One-click actions (htmx)

def test_complete_with_htmx_moves_the_task_to_recently_done_in_the_fragment(officer_client, session, users, today):
    officer = users["officer"]
    task = make_task(session, actor=officer, title="寄送资料", due_on=today)
    make_task(session, actor=officer, title="另一件事", due_on=today)
    assert task_groups(officer_client.get("/tasks").text)["今天"] == ["寄送资料", "另一件事"]

    response = officer_client.post(f"/tasks/{task.id}/complete", data={"next": "/tasks"}, headers=hx(officer_client))
    assert response.status_code == 200
    assert response.headers["hx-trigger"] == "tasks-changed"
    assert "<html" not in response.text and "<h1" not in response.text  # the list fragment only
    assert task_groups(response.text) == {"今天": ["另一件事"], "最近完成": ["寄送资料"]}
    assert f'hx-post="/tasks/{task.id}/reopen"' in response.text  # the done task offers the way back

    stored = reload(session, Task, task.id)
    assert stored.status == "done" and stored.completed_at is not None
    [entry] = task_audit(session, task.id, "update")
    assert entry.changes == {"status": ["open", "done"]} and entry.actor_id == officer.id


def test_reopen_with_htmx_brings_the_task_back(officer_client, session, users, today):
    officer = users["officer"]
    task = make_task(session, actor=officer, title="寄送资料", due_on=today - timedelta(days=2))
    task_service.set_status(session, task=task, status=TaskStatus.DONE, actor=officer)
    response = officer_client.post(f"/tasks/{task.id}/reopen", data={"next": "/tasks"}, headers=hx(officer_client))
    assert response.status_code == 200 and response.headers["hx-trigger"] == "tasks-changed"
    assert task_groups(response.text) == {"已逾期": ["寄送资料"]}
    stored = reload(session, Task, task.id)
    assert stored.status == "open" and stored.completed_at is None
    assert [e.changes for e in task_audit(session, task.id, "update")] == [
        {"status": ["open", "done"]}, {"status": ["done", "open"]}]


def test_reschedule_with_htmx_moves_the_task_between_groups(officer_client, session, users, today):
    officer = users["officer"]
    task = make_task(session, actor=officer, title="商定洽谈时间", due_on=today - timedelta(days=1))
    later = today + timedelta(days=10)
    response = officer_client.post(f"/tasks/{task.id}/reschedule", data={"due_on": later.isoformat(), "next": "/tasks"},
                                   headers=hx(officer_client))
    assert response.status_code == 200 and response.headers["hx-trigger"] == "tasks-changed"
    assert task_groups(response.text) == {"以后": ["商定洽谈时间"]}
    assert reload(session, Task, task.id).due_on == later
    [entry] = task_audit(session, task.id, "update")
    assert entry.changes == {"due_on": [(today - timedelta(days=1)).isoformat(), later.isoformat()]}

    response = officer_client.post(f"/tasks/{task.id}/reschedule", data={"due_on": today.isoformat()},
                                   headers=hx(officer_client))
    assert task_groups(response.text) == {"今天": ["商定洽谈时间"]}


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("due_on, message", [
    ("2026-02-30", "“2026-02-30”不是日期"),
    ("next week", "“next week”不是日期"),
    ("", "此项为必填"),
    ("1999-12-31", "请选择 2000 年至 2100 年之间的日期"),
])
def test_reschedule_to_a_bad_date_is_refused_and_changes_nothing(officer_client, session, users, today, due_on, message,
                                                                 htmx):
    """Without htmx: a 400 page. With htmx: the task list again (422), the reason above it, nothing else swapped."""
    task = make_task(session, actor=users["officer"], title="商定洽谈时间", due_on=today)
    before = snapshot(session, task.id)
    headers = hx(officer_client) if htmx else {}
    response = post(officer_client, f"/tasks/{task.id}/reschedule", {"due_on": due_on, "next": "/tasks"}, headers=headers)
    assert response.status_code == (422 if htmx else 400)
    assert message in response.text
    if htmx:
        assert "<html" not in response.text and "商定洽谈时间" in response.text
    assert snapshot(session, task.id) == before
    assert task_audit(session, task.id, "update") == []


def test_reassign_with_htmx_moves_the_task_to_the_other_officers_list(officer_client, session, users, today, client_as):
    officer, officer2 = users["officer"], users["officer2"]
    task = make_task(session, actor=officer, title="对接复星集团", due_on=today)
    response = officer_client.post(f"/tasks/{task.id}/reassign",
                                   data={"assignee_id": str(officer2.id), "next": "/tasks"}, headers=hx(officer_client))
    assert response.status_code == 200 and response.headers["hx-trigger"] == "tasks-changed"
    assert "对接复星集团" not in response.text
    assert task_groups(officer_client.get("/tasks").text) == {}

    assert task_groups(client_as("officer2").get("/tasks").text) == {"今天": ["对接复星集团"]}
    assert reload(session, Task, task.id).assignee_id == officer2.id
    [entry] = task_audit(session, task.id, "update")
    assert entry.changes == {"assignee_id": [officer.id, officer2.id]}
    history = officer_client.get(f"/tasks/{task.id}").text  # ids read as names
    assert "<del>张晓明</del> → <ins>李四</ins>" in history


@pytest.mark.parametrize("assignee_id", ["999999", "abc", ""])
def test_reassign_to_an_unknown_user_is_a_400_and_changes_nothing(officer_client, session, users, assignee_id):
    task = make_task(session, actor=users["officer"])
    before = snapshot(session, task.id)
    response = post(officer_client, f"/tasks/{task.id}/reassign", {"assignee_id": assignee_id})
    assert response.status_code == 400
    assert snapshot(session, task.id) == before


def test_htmx_action_on_the_team_view_keeps_its_filters(client, session, users):
    login(client, "manager")
    task = make_task(session, actor=users["officer"], title="寄送资料")
    make_task(session, actor=users["officer"], title="另一件事")
    response = client.post(f"/tasks/{task.id}/complete?team=1&status=open", data={"next": "/tasks"}, headers=hx(client))
    assert response.status_code == 200
    assert "另一件事" in response.text and "寄送资料" not in response.text  # still filtered on open tasks
    assert "<html" not in response.text


# One-click actions without htmx

@pytest.mark.parametrize("action, data, expect", [
    ("complete", {}, {"status": "done"}),
    ("cancel", {}, {"status": "cancelled"}),
    ("reschedule", {"due_on": "2026-12-20"}, {"due_on": date(2026, 12, 20)}),
    ("reassign", {"assignee_id": "OFFICER2"}, {"assignee_id": "OFFICER2"}),
])
def test_plain_post_redirects_to_next(officer_client, session, users, fosun, action, data, expect):
    officer2_id = str(users["officer2"].id)
    data = {k: officer2_id if v == "OFFICER2" else v for k, v in data.items()}
    expect = {k: users["officer2"].id if v == "OFFICER2" else v for k, v in expect.items()}
    task = make_task(session, actor=users["officer"], title="寄送资料", organization_id=fosun.id)
    response = post(officer_client, f"/tasks/{task.id}/{action}", {**data, "next": f"/organizations/{fosun.id}"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/organizations/{fosun.id}"
    stored = reload(session, Task, task.id)
    assert {k: getattr(stored, k) for k in expect} == expect
    assert len(task_audit(session, task.id, "update")) == 1
    assert "寄送资料" in officer_client.get(response.headers["location"]).text  # the flash names the task


def test_plain_reopen_redirects_to_next(officer_client, session, users):
    task = make_task(session, actor=users["officer"], title="寄送资料")
    task_service.set_status(session, task=task, status=TaskStatus.DONE, actor=users["officer"])
    response = post(officer_client, f"/tasks/{task.id}/reopen", {"next": "/tasks"})
    assert response.status_code == 303 and response.headers["location"] == "/tasks"
    assert reload(session, Task, task.id).status == "open"


def test_a_closed_task_leaves_the_organizations_open_follow_ups(officer_client, session, users, fosun):
    task = make_task(session, actor=users["officer"], title="寄送资料", organization_id=fosun.id)
    assert "寄送资料" in section(officer_client.get(f"/organizations/{fosun.id}").text, "未完成的跟进事项")
    post(officer_client, f"/tasks/{task.id}/complete", {"next": f"/organizations/{fosun.id}"})
    assert "暂无未完成的跟进事项" in section(officer_client.get(f"/organizations/{fosun.id}").text, "未完成的跟进事项")


def test_plain_post_without_next_goes_to_the_task(officer_client, session, users):
    task = make_task(session, actor=users["officer"], title="寄送资料")
    response = post(officer_client, f"/tasks/{task.id}/complete")
    assert response.status_code == 303 and response.headers["location"] == f"/tasks/{task.id}"
    assert "已完成“寄送资料”" in officer_client.get(f"/tasks/{task.id}").text


@pytest.mark.parametrize("next_url", ["//evil.example", "//evil.example/tasks", "https://evil.example/", "/\\evil.example"])
@pytest.mark.parametrize("action, data", [("complete", {}), ("reschedule", {"due_on": "2026-12-20"})])
def test_plain_post_ignores_an_off_site_next(officer_client, session, users, next_url, action, data):
    task = make_task(session, actor=users["officer"], title="寄送资料")
    response = post(officer_client, f"/tasks/{task.id}/{action}", {**data, "next": next_url})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location and "\\" not in location
    stored = reload(session, Task, task.id)
    if action == "complete":
        assert stored.status == "done"
    else:
        assert stored.due_on == date(2026, 12, 20)


# Permissions

@pytest.mark.parametrize("method, path, data", [
    ("post", "complete", lambda task, users: {}),
    ("post", "cancel", lambda task, users: {}),
    ("post", "reschedule", lambda task, users: {"due_on": "2026-12-20"}),
    ("post", "reassign", lambda task, users: {"assignee_id": str(users["officer2"].id)}),
    ("get", "edit", None),
    ("post", "", lambda task, users: _edit_form(task, title="被改掉了")),
], ids=["complete", "cancel", "reschedule", "reassign", "edit-form", "edit"])
def test_someone_neither_assignee_nor_creator_may_not_change_a_task(client, session, users, method, path, data):
    task = make_task(session, actor=users["officer"], title="寄送资料")
    login(client, "officer2")
    url = f"/tasks/{task.id}/{path}".rstrip("/")
    before = snapshot(session, task.id)
    if method == "get":
        response = client.get(url)
    else:
        data = {**data(task, users), "next": "/tasks"}
        response = post(client, url, data)
    assert response.status_code == 403
    assert "您的角色无权执行此操作" in response.text
    assert snapshot(session, task.id) == before
    assert task_audit(session, task.id, "update") == []
    if method == "post":  # with htmx too: the same refusal, nothing changed
        response = client.post(url, data=data, headers=hx(client))
        assert response.status_code == 403 and snapshot(session, task.id) == before


@pytest.mark.parametrize("overrides", [{"version": ""}, {"title": ""}])
def test_a_stranger_editing_gets_403_whatever_the_form_holds(client, session, users, overrides):
    task = make_task(session, actor=users["officer"], title="寄送资料")
    login(client, "officer2")
    before = snapshot(session, task.id)
    response = post(client, f"/tasks/{task.id}", _edit_form(task, **overrides))
    assert snapshot(session, task.id) == before
    assert response.status_code == 403


def test_a_stranger_sees_no_change_buttons_on_the_task_page(client, session, users):
    task = make_task(session, actor=users["officer"], title="寄送资料")
    login(client, "officer2")
    html = client.get(f"/tasks/{task.id}").text
    assert "寄送资料" in html
    assert f'href="/tasks/{task.id}/edit"' not in html and f'action="/tasks/{task.id}/complete"' not in html


def test_a_manager_may_change_anyones_task(client, session, users):
    officer, officer2, manager = users["officer"], users["officer2"], users["manager"]
    task = make_task(session, actor=officer, title="寄送资料")
    login(client, "manager")
    assert client.get(f"/tasks/{task.id}/edit").status_code == 200
    assert post(client, f"/tasks/{task.id}", _edit_form(task, title="寄送全部资料")).status_code == 303
    assert post(client, f"/tasks/{task.id}/reassign", {"assignee_id": str(officer2.id)}).status_code == 303
    assert post(client, f"/tasks/{task.id}/complete").status_code == 303
    stored = reload(session, Task, task.id)
    assert (stored.title, stored.assignee_id, stored.status) == ("寄送全部资料", officer2.id, "done")
    entries = task_audit(session, task.id, "update")
    assert [e.actor_id for e in entries] == [manager.id] * 3
    assert [e.changes for e in entries] == [{"title": ["寄送资料", "寄送全部资料"]},
                                            {"assignee_id": [officer.id, officer2.id]},
                                            {"status": ["open", "done"]}]


def test_the_creator_may_change_a_task_assigned_to_someone_else(officer_client, session, users):
    task = make_task(session, actor=users["officer"], title="请李四跟进", assignee_id=users["officer2"].id)
    assert post(officer_client, f"/tasks/{task.id}/complete").status_code == 303
    assert reload(session, Task, task.id).status == "done"


def test_the_assignee_may_change_a_task_someone_else_created(client, session, users):
    task = make_task(session, actor=users["manager"], title="领导交办", assignee_id=users["officer"].id)
    login(client, "officer")
    assert post(client, f"/tasks/{task.id}/reschedule", {"due_on": "2026-12-21"}).status_code == 303
    assert reload(session, Task, task.id).due_on == date(2026, 12, 21)


# The team view

@pytest.fixture
def team_tasks(session, users):
    officer, officer2 = users["officer"], users["officer2"]
    make_task(session, actor=officer, title="张的未完成", assignee_id=officer.id)
    make_task(session, actor=officer2, title="李的未完成", assignee_id=officer2.id)
    done = make_task(session, actor=officer2, title="李的已完成", assignee_id=officer2.id)
    task_service.set_status(session, task=done, status=TaskStatus.DONE, actor=officer2)


ALL_TEAM_TITLES = {"张的未完成", "李的未完成", "李的已完成"}


def _titles(html: str) -> set[str]:
    return set(TASK_TITLE_RE.findall(html))


def test_the_team_view_shows_everyones_tasks_to_a_manager_and_filters(client, users, team_tasks):
    login(client, "manager")
    response = client.get("/tasks", params={"team": "1"})
    assert response.status_code == 200 and "<h1>团队待办</h1>" in response.text
    assert _titles(response.text) == ALL_TEAM_TITLES

    def titles(**params):
        return _titles(client.get("/tasks", params={"team": "1", **params}, headers={"HX-Request": "true"}).text)

    assert titles(assignee=users["officer2"].id) == {"李的未完成", "李的已完成"}
    assert titles(status="open") == {"张的未完成", "李的未完成"}
    assert titles(status="done") == {"李的已完成"}
    assert titles(assignee=users["officer2"].id, status="open") == {"李的未完成"}
    assert titles(assignee=users["admin"].id) == set()
    assert "没有匹配的事项" in client.get("/tasks", params={"team": "1", "status": "cancelled"}).text


def test_an_officer_asking_for_the_team_view_gets_all_their_own_tasks(officer_client, users, team_tasks):
    response = officer_client.get("/tasks", params={"team": "1", "assignee": users["officer2"].id})
    assert response.status_code == 200
    assert "<h1>我的全部待办</h1>" in response.text and "团队待办" not in response.text
    assert _titles(response.text) == {"张的未完成"}


def test_my_tasks_lists_a_capped_number_per_group_and_links_to_the_rest(officer_client, session, users, today):
    officer = users["officer"]
    for i in range(task_service.GROUP_LIMIT + 5):
        make_task(session, actor=officer, title=f"逾期{i:02d}", due_on=today - timedelta(days=1 + i))
    make_task(session, actor=officer, title="今天的", due_on=today)
    page = officer_client.get("/tasks").text
    overdue = section_of_group(page, "overdue")
    assert f'<span class="count">{task_service.GROUP_LIMIT + 5}</span>' in overdue
    assert len(TASK_TITLE_RE.findall(overdue)) == task_service.GROUP_LIMIT
    assert f"逾期{task_service.GROUP_LIMIT + 4:02d}" in overdue  # the oldest first: most overdue at the top
    assert 'href="/tasks?group=overdue"' in overdue and 'hx-get="/tasks?group=overdue"' in overdue
    whole = officer_client.get("/tasks?group=overdue").text  # the group whole, in the same order
    titles = TASK_TITLE_RE.findall(whole)
    assert titles == [f"逾期{i:02d}" for i in reversed(range(task_service.GROUP_LIMIT + 5))]
    assert "今天的" not in whole  # that group only
    everything = officer_client.get(f"/tasks?team=1&status=open&assignee={officer.id}").text
    assert len(_titles(everything)) == task_service.GROUP_LIMIT + 6


def test_a_follow_up_just_created_beyond_a_full_group_is_one_link_away(officer_client, session, users, today,
                                                                       settings):
    """Issue 16: fifteen follow-ups in 以后 and one more created 23 days out: "以后 16" listed fifteen and the new
    one was only in another list. The group says how many it shows, and its link (a real link; htmx swaps the list
    in place) shows the group whole, paged, in the same order; one-click actions there keep to the group."""
    officer = users["officer"]
    for i in range(task_service.GROUP_LIMIT):
        make_task(session, actor=officer, title=f"以后{i:02d}", due_on=today + timedelta(days=10 + i % 5))
    created = post(officer_client, "/tasks", _form(title="23天后回访", assignee_id=str(officer.id),
                                                   due_on=(today + timedelta(days=23)).isoformat()))
    assert created.status_code == 303, created.text
    later = section_of_group(officer_client.get("/tasks").text, "later")
    assert f'<span class="count">{task_service.GROUP_LIMIT + 1}</span>' in later and "23天后回访" not in later
    link = re.search(r'<a href="(/tasks\?group=later)" hx-get="[^"]+" hx-target="#tasks" hx-push-url="true">(.*?)</a>',
                     later, re.S)
    assert link and f"共 {task_service.GROUP_LIMIT + 1} 项" in link.group(2)
    whole = officer_client.get(link.group(1))  # without JavaScript: the page itself
    assert whole.status_code == 200 and "<h1>我的待办</h1>" in whole.text
    assert TASK_TITLE_RE.findall(whole.text)[-1] == "23天后回访"
    fragment = officer_client.get(link.group(1), headers={"HX-Request": "true", "HX-Target": "tasks"})
    assert "<html" not in fragment.text and "23天后回访" in fragment.text

    settings.page_size = 10  # a group of thousands pages like any list: never rendered all at once
    first = officer_client.get("/tasks?group=later").text
    assert len(TASK_TITLE_RE.findall(first)) == 10 and "23天后回访" not in first
    assert 'href="/tasks?group=later&amp;page=2"' in first
    second = officer_client.get("/tasks?group=later&page=2").text
    assert TASK_TITLE_RE.findall(second)[-1] == "23天后回访" and len(TASK_TITLE_RE.findall(second)) == 6
    new = session.scalar(select(Task).where(Task.title == "23天后回访"))
    done = officer_client.post(f"/tasks/{new.id}/complete?group=later&page=2", data={"next": "/tasks?group=later&page=2"},
                               headers=hx(officer_client))
    assert done.status_code == 200 and "task-group-later" in done.text
    assert "23天后回访" not in done.text.split("最近完成")[0] and len(TASK_TITLE_RE.findall(done.text)) == 5
    assert officer_client.get("/tasks?group=someday").status_code == 400


def section_of_group(html: str, key: str) -> str:
    match = re.search(rf'<section class="task-group task-group-{key}">(.*?)</section>', html, re.S)
    assert match, key
    return match.group(1)


@pytest.mark.parametrize("params, fragment", [
    ({"assignee": "abc"}, "“abc”不是有效的筛选值"),
    ({"status": "xyz"}, "“xyz”不是有效的筛选值"),
    ({"page": "0"}, "“0”不是页码"),
    ({"page": "abc"}, "“abc”不是页码"),
])
def test_bad_team_filters_get_a_clear_400(client, users, params, fragment):
    login(client, "manager")
    response = client.get("/tasks", params={"team": "1", **params})
    assert response.status_code == 400
    assert fragment in response.text


# Edit

def test_edit_is_audited_with_old_and_new_values(officer_client, session, users, fosun):
    task = make_task(session, actor=users["officer"], title="寄送资料", organization_id=fosun.id)
    form_page = officer_client.get(f"/tasks/{task.id}/edit").text
    assert '<input type="hidden" name="version" value="1">' in form_page
    assert input_value(form_page, "title") == "寄送资料"
    response = post(officer_client, f"/tasks/{task.id}", _edit_form(task, title="寄送全部资料", due_time="09:30"))
    assert response.status_code == 303 and response.headers["location"] == f"/tasks/{task.id}"
    stored = reload(session, Task, task.id)
    assert (stored.title, stored.due_time, stored.version) == ("寄送全部资料", time(9, 30), 2)
    [entry] = task_audit(session, task.id, "update")
    assert entry.changes == {"title": ["寄送资料", "寄送全部资料"], "due_time": [None, "09:30"]}
    assert entry.organization_id == fosun.id


def test_an_edit_on_a_stale_copy_is_refused_with_409_and_changes_nothing(officer_client, session, users, client_as):
    task = make_task(session, actor=users["officer"], title="寄送资料", due_on=date(2026, 12, 7))
    stale_form = _edit_form(task, title="寄送全部资料")  # the officer opened the form at version 1
    manager = client_as("manager")
    assert post(manager, f"/tasks/{task.id}/reschedule", {"due_on": "2026-12-09"}).status_code == 303
    before = snapshot(session, task.id)
    assert before[-1] == 2

    response = post(officer_client, f"/tasks/{task.id}", stale_form)
    assert response.status_code == 409
    assert STALE_NOTICE in response.text
    assert "练建军" in response.text and "<ins>2026-12-09</ins>" in response.text  # who changed what
    assert input_value(response.text, "title") == "寄送全部资料"  # the officer's input is kept
    assert '<input type="hidden" name="version" value="2">' in response.text
    assert snapshot(session, task.id) == before
    assert len(task_audit(session, task.id, "update")) == 1

    # Saving again on the current version applies the officer's change.
    assert post(officer_client, f"/tasks/{task.id}", {**stale_form, "version": "2"}).status_code == 303
    assert reload(session, Task, task.id).title == "寄送全部资料"


def test_an_edit_without_a_version_is_treated_as_stale(officer_client, session, users):
    task = make_task(session, actor=users["officer"], title="寄送资料")
    form = _edit_form(task, title="寄送全部资料")
    del form["version"]
    assert post(officer_client, f"/tasks/{task.id}", form).status_code == 409
    assert reload(session, Task, task.id).title == "寄送资料"


# Contact and home pages

def test_the_contact_page_shows_the_contacts_open_follow_ups(officer_client, session, users, fosun):
    officer = users["officer"]
    zhu = make_contact(session, actor=officer, organization=fosun, name="祝文魁")
    other = make_contact(session, actor=officer, organization=fosun, name="王建国")
    make_task(session, actor=officer, title="约祝总面谈", contact_id=zhu.id, due_on=date(2026, 12, 8))
    done = make_task(session, actor=officer, title="已寄资料", contact_id=zhu.id)
    task_service.set_status(session, task=done, status=TaskStatus.DONE, actor=officer)
    make_task(session, actor=officer, title="联系王总", contact_id=other.id)

    follow_ups = section(officer_client.get(f"/contacts/{zhu.id}").text, "未完成的跟进事项")
    assert "约祝总面谈" in follow_ups and "2026-12-08" in follow_ups and "张晓明" in follow_ups
    assert "已寄资料" not in follow_ups and "联系王总" not in follow_ups
    assert f'href="/tasks/new?contact={zhu.id}"' in officer_client.get(f"/contacts/{zhu.id}").text
    # The organization page lists both contacts' open follow-ups.
    org_follow_ups = section(officer_client.get(f"/organizations/{fosun.id}").text, "未完成的跟进事项")
    assert "约祝总面谈" in org_follow_ups and "联系王总" in org_follow_ups and "已寄资料" not in org_follow_ups


def test_a_contact_without_follow_ups_says_so(officer_client, session, users, fosun):
    zhu = make_contact(session, actor=users["officer"], organization=fosun, name="祝文魁")
    assert "暂无未完成的跟进事项" in section(officer_client.get(f"/contacts/{zhu.id}").text, "未完成的跟进事项")


def _task_summary(html: str) -> str:
    match = re.search(r'<p class="card task-summary">(.*?)</p>', html, re.S)
    assert match, "the home page has no task summary"
    return " ".join(match.group(1).split())


def test_home_page_counts_overdue_and_due_today(officer_client, session, users, today):
    officer = users["officer"]
    make_task(session, actor=officer, due_on=today - timedelta(days=5))
    make_task(session, actor=officer, due_on=today - timedelta(days=1))
    make_task(session, actor=officer, due_on=today)
    make_task(session, actor=officer, due_on=today + timedelta(days=1))
    done = make_task(session, actor=officer, due_on=today - timedelta(days=1))
    task_service.set_status(session, task=done, status=TaskStatus.DONE, actor=officer)
    make_task(session, actor=users["officer2"], due_on=today - timedelta(days=1))
    make_task(session, actor=officer, due_on=today, assignee_id=users["officer2"].id)
    summary = _task_summary(officer_client.get("/").text)
    assert "逾期 2 项" in summary and "今日到期 1 项" in summary
    assert 'href="/tasks"' in summary


def test_home_page_with_nothing_overdue(officer_client, session, users, today):
    make_task(session, actor=users["officer"], due_on=today + timedelta(days=3))
    summary = _task_summary(officer_client.get("/").text)
    assert "逾期" not in summary and "今日到期 0 项" in summary


# Demo

def test_demo_creates_the_fosun_follow_ups_as_the_visits(session):
    anchor = date(2026, 12, 6)
    demo.load(session, anchor=anchor)
    session.expire_all()
    fosun = session.scalar(select(Organization).where(Organization.name == "复星集团"))
    tasks = session.scalars(select(Task).where(Task.organization_id == fosun.id).order_by(Task.due_on)).all()
    assert len(tasks) == 3
    assert len({t.visit_id for t in tasks}) == 1 and tasks[0].visit_id is not None  # all three: the Fosun visit's
    assignees = [session.get(User, t.assignee_id).username for t in tasks]
    assert assignees == ["officer", "officer", "manager"]
    assert [t.due_on - anchor for t in tasks] == [timedelta(days=-1), timedelta(days=2), timedelta(days=14)]
    assert all(t.status == "open" for t in tasks)
    assert "整理复星集团考察" in tasks[0].title  # the overdue one: feedback on the visit
    assert "第二轮洽谈" in tasks[2].title
    every_task = session.scalars(select(Task)).all()
    audited = session.scalars(select(AuditEntry.entity_id).where(AuditEntry.entity_type == "task")).all()
    assert sorted(audited) == sorted(t.id for t in every_task)
    officer_id = tasks[0].assignee_id
    overdue = sum(1 for t in every_task if t.assignee_id == officer_id and t.due_on < anchor)
    due_today = sum(1 for t in every_task if t.assignee_id == officer_id and t.due_on == anchor)
    assert overdue >= 2  # the Fosun feedback and the invented visits' late follow-ups
    assert task_service.due_counts(session, assignee_id=officer_id, today=anchor) == (overdue, due_today)


def test_demo_officer_sees_the_overdue_fosun_follow_up(client, session, today):
    demo.load(session, anchor=today)
    officer_id = session.scalar(select(User.id).where(User.username == "officer"))
    overdue = session.scalar(select(func.count(Task.id)).where(Task.assignee_id == officer_id, Task.due_on < today))
    session.commit()
    login(client, "officer", demo.DEMO_PASSWORD)
    groups = task_groups(client.get("/tasks").text)
    assert "整理复星集团考察大唐智创、玉皇新能源、精进电动、现代医药港的反馈" in groups["已逾期"]
    assert len(groups["已逾期"]) == overdue
    assert all("与复星集团商定第二轮洽谈时间" not in titles for titles in groups.values())  # the manager's
    assert f"逾期 {overdue} 项" in _task_summary(client.get("/").text)


def test_the_reassign_choices_arrive_when_the_panel_is_opened(officer_client, session, users, today):
    task = make_task(session, actor=users["officer"], title="回电祝文魁", due_on=today)
    listing = officer_client.get("/tasks").text
    row = listing.split(f'id="task-{task.id}"', 1)[1].split("</li>", 1)[0]
    assert "李四" not in row and f'hx-get="/tasks/{task.id}/assignee-options"' in row  # only the current assignee
    options = officer_client.get(f"/tasks/{task.id}/assignee-options", headers={"HX-Request": "true"}).text
    assert all(name in options for name in ("张晓明", "李四", "练建军"))
    assert f'<option value="{users["officer"].id}" selected>' in options


def test_rescheduling_after_the_reminder_time_plans_todays_reminder_at_once(client, session, users):
    """Through the one-click form: the routes pass the zone, so a follow-up moved at 10:00 to tomorrow (or to
    today) gets today's reminder row at once; once only, however often it is moved there."""
    import time_machine

    from crm.notifications.models import Outbox

    officer = users["officer"]
    zone = ZoneInfo("Asia/Shanghai")
    with time_machine.travel(datetime(2026, 12, 1, 10, 0, tzinfo=zone), tick=False):
        login(client, "officer")  # signed in at the travelled time (the session and its CSRF token are dated)
        officer_client = client
        task = make_task(session, actor=officer, title="改期提醒", due_on=date(2026, 12, 20))
        for _ in range(2):
            assert post(officer_client, f"/tasks/{task.id}/reschedule", {"due_on": "2026-12-02"}).status_code == 303
        session.expire_all()
        rows = session.execute(select(Outbox.entity_id, Outbox.occasion, Outbox.channel)).all()
        assert rows == [(task.id, "before:2026-12-02", "in_app")]
        assert post(officer_client, f"/tasks/{task.id}/reschedule", {"due_on": "2026-12-01"}).status_code == 303
        session.expire_all()
        assert sorted(session.scalars(select(Outbox.occasion))) == ["before:2026-12-02", "due:2026-12-01"]
