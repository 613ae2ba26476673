"""The 帮办代办 staff member of an approval item as a CRM user: chosen on the checklist's form (an active user, or a
name typed for staff who are not users), checked on the server, audited and shown; rule 6 (permit overdue) then
reminds that user too, once, and not when the item is done or handed to someone else before the reminder fires."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select, update

from crm.audit.models import AuditEntry
from crm.auth.models import User
from crm.db import utcnow
from crm.notifications import service as notification_service
from crm.projects import service as project_service
from crm.projects.models import ApprovalItem
from tests import test_reminders
from tests.conftest import post
from tests.factories import make_org, make_project, make_user
from tests.helpers import field_error, input_value, reload
from tests.test_reminders import inbox, local, outbox

clock, run = test_reminders.clock, test_reminders.run  # the reminder tests' fixtures (moving clock, one pass)
HX = {"HX-Request": "true"}


def _item(session, project, code="environmental") -> ApprovalItem:
    return session.scalar(select(ApprovalItem).where(ApprovalItem.project_id == project.id, ApprovalItem.code == code))


def _selected(html: str, name: str) -> str | None:
    select_html = re.search(rf'<select [^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    match = re.search(r'<option value="([^"]*)" selected>', select_html)
    return match.group(1) if match else None


def test_the_assistant_is_chosen_from_active_users_audited_and_shown(officer_client, session, users):
    officer = users["officer"]
    project = make_project(session, actor=officer, organizations=[make_org(session, actor=officer)])
    staffer = make_user(session, username="wangqian", display_name="王倩")
    gone = make_user(session, username="gone", display_name="已离职")
    session.execute(update(User).where(User.id == gone.id).values(is_active=False))
    session.commit()
    item = _item(session, project)
    edit = officer_client.get(f"/projects/{project.id}/approvals/{item.id}/edit", headers=HX)
    assert edit.status_code == 200
    assert f'<option value="{staffer.id}"' in edit.text and f'<option value="{gone.id}"' not in edit.text
    assert _selected(edit.text, "assistant_id") is None  # the blank option: not a CRM user
    response = post(officer_client, f"/projects/{project.id}/approvals/{item.id}",
                    {"status": "submitted", "promised_days": "20", "assistant_id": str(staffer.id),
                     "assistant": "", "note": ""}, headers=HX)
    assert response.status_code == 200
    row = response.text.split(f'id="approval-{item.id}"', 1)[1].split("</tr>", 1)[0]
    assert "王倩" in row and "系统用户" in row
    saved = reload(session, ApprovalItem, item.id)
    assert (saved.assistant_id, saved.assistant) == (staffer.id, "王倩")
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "project",
                                                     AuditEntry.entity_id == project.id).order_by(AuditEntry.id.desc())).first()
    assert entry.changes["approval_assistant_id"] == [None, staffer.id]
    assert entry.changes["approval_assistant"] == ["", "王倩"]
    page = officer_client.get(f"/projects/{project.id}").text
    assert "帮办代办人员（系统用户）" in page  # the history names the field, and the user by name
    again = officer_client.get(f"/projects/{project.id}/approvals/{item.id}/edit", headers=HX)
    assert _selected(again.text, "assistant_id") == str(staffer.id)
    # A name typed instead (a staffer who is not a user) clears the user.
    response = post(officer_client, f"/projects/{project.id}/approvals/{item.id}",
                    {"status": "submitted", "promised_days": "20", "assistant_id": "", "assistant": "刘敏"}, headers=HX)
    assert response.status_code == 200
    saved = reload(session, ApprovalItem, item.id)
    assert (saved.assistant_id, saved.assistant) == (None, "刘敏")


def test_an_unknown_or_inactive_user_is_refused_beside_the_field_with_the_input_kept(officer_client, session, users):
    officer = users["officer"]
    project = make_project(session, actor=officer, organizations=[make_org(session, actor=officer)])
    gone = make_user(session, username="gone", display_name="已离职")
    session.execute(update(User).where(User.id == gone.id).values(is_active=False))
    session.commit()
    item = _item(session, project)
    for bad in (str(gone.id), "999999", "99999999999", "abc"):
        response = post(officer_client, f"/projects/{project.id}/approvals/{item.id}",
                        {"status": "submitted", "promised_days": "17", "assistant_id": bad, "assistant": "刘敏",
                         "note": "材料已补齐"}, headers=HX)
        assert response.status_code == 422, bad
        assert "请从列表中选择一位在职用户" in field_error(response.text, "assistant_id")
        assert input_value(response.text, "promised_days") == "17" and input_value(response.text, "note") == "材料已补齐"
        assert input_value(response.text, "assistant") == "刘敏"
        saved = reload(session, ApprovalItem, item.id)
        assert (saved.status, saved.assistant_id, saved.assistant, saved.note) == ("not_started", None, "", "")


def test_a_user_who_left_may_stay_assigned_but_not_be_newly_chosen(session, users):
    officer = users["officer"]
    project = make_project(session, actor=officer, organizations=[make_org(session, actor=officer)])
    staffer = make_user(session, username="wangqian", display_name="王倩")
    item = _item(session, project)
    data = {"status": "submitted", "assistant_id": str(staffer.id)}
    project_service.update_approval(session, project=project, item=item, data=data, actor=officer, today=date.today())
    session.execute(update(User).where(User.id == staffer.id).values(is_active=False))
    session.commit()
    project = project_service.get(session, project.id)
    item = project_service.find_approval(project, item.id)
    assert (staffer.id, "王倩") in project_service.assistant_choices(session, item)
    project_service.update_approval(session, project=project, item=item, data={**data, "note": "补正"}, actor=officer,
                                    today=date.today())
    assert reload(session, ApprovalItem, item.id).assistant_id == staffer.id
    other = _item(session, project, "construction")
    assert (staffer.id, "王倩") not in project_service.assistant_choices(session, other)


def _overdue(session, officer, name, assistant_id):
    """An item accepted on Monday 2 November with five working days promised: overdue from the 10th."""
    project = make_project(session, actor=officer, organizations=[make_org(session, actor=officer)], name=name)
    item = _item(session, project)
    project_service.update_approval(session, project=project, item=item, actor=officer, today=date(2026, 11, 2), data={
        "status": "accepted", "submitted_on": "2026-11-02", "accepted_on": "2026-11-02", "promised_days": "5",
        "assistant_id": str(assistant_id) if assistant_id else "", "assistant": ""})
    assert reload(session, ApprovalItem, item.id).overdue_on == date(2026, 11, 10)
    return project, item


def test_the_overdue_permit_reminds_the_assistant_user_once(session, users, clock, run):
    officer = users["officer"]
    staffer = make_user(session, username="wangqian", display_name="王倩")
    clock(local(2026, 11, 2, 8))
    project, _ = _overdue(session, officer, "冷链项目", staffer.id)
    run()
    clock(local(2026, 11, 9, 9, 5))
    run()
    assert inbox(session, staffer) == []
    clock(local(2026, 11, 10, 9, 5))
    run()
    assert inbox(session, staffer) == [("permit_overdue", "overdue:2026-11-02")]
    assert inbox(session, officer) == [("permit_overdue", "overdue:2026-11-02")]
    mine = notification_service.render(outbox(session, rule="permit_overdue", recipient_id=staffer.id)[0], "zh_CN")
    assert "环评" in mine.subject and any("冷链项目" in line for line in mine.lines)
    assert mine.url == f"/projects/{project.id}#approvals"
    clock(local(2026, 11, 11, 9, 5))
    run()
    assert len(inbox(session, staffer)) == 1 and len(inbox(session, officer)) == 1


def test_an_officer_who_is_also_the_assistant_is_reminded_once(session, users, clock, run):
    officer = users["officer"]
    clock(local(2026, 11, 2, 8))
    _overdue(session, officer, "冷链项目", officer.id)
    run()
    clock(local(2026, 11, 10, 9, 5))
    run()
    assert inbox(session, officer) == [("permit_overdue", "overdue:2026-11-02")]


def test_no_reminder_for_the_assistant_when_the_item_is_done_or_handed_over(db, settings, session, users, clock, run):
    officer = users["officer"]
    staffer = make_user(session, username="wangqian", display_name="王倩")
    newcomer = make_user(session, username="liumin", display_name="刘敏")
    clock(local(2026, 11, 2, 8))
    done_project, done = _overdue(session, officer, "已办结项目", staffer.id)
    moved_project, moved = _overdue(session, officer, "换人项目", staffer.id)
    run()
    clock(local(2026, 11, 10, 9, 5))  # planned (a pass that stopped before delivering), not yet delivered
    notification_service.plan(database=db, now=utcnow(), timezone=settings.timezone)
    assert {row.recipient_id for row in outbox(session, rule="permit_overdue", entity_id=moved.id)} >= {staffer.id}
    project = project_service.get(session, done_project.id)
    project_service.update_approval(session, project=project, item=project_service.find_approval(project, done.id),
                                    actor=officer, today=date(2026, 11, 10),
                                    data={"status": "approved", "assistant_id": str(staffer.id)})
    project = project_service.get(session, moved_project.id)
    project_service.update_approval(session, project=project, item=project_service.find_approval(project, moved.id),
                                    actor=officer, today=date(2026, 11, 10), data={
                                        "status": "accepted", "submitted_on": "2026-11-02",
                                        "accepted_on": "2026-11-02", "promised_days": "5",
                                        "assistant_id": str(newcomer.id)})
    run()
    assert inbox(session, staffer) == []  # done, and handed over: neither reminds the first staffer
    assert inbox(session, officer) == [("permit_overdue", "overdue:2026-11-02")]  # the item still running
    clock(local(2026, 11, 11, 9, 5))  # the next day's pass plans it for the new staffer, once
    run()
    clock(local(2026, 11, 12, 9, 5))
    run()
    assert inbox(session, staffer) == [] and inbox(session, newcomer) == [("permit_overdue", "overdue:2026-11-02")]
    assert len(inbox(session, officer)) == 1
