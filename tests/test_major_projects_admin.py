"""Major-project scheduling, the remaining pages (issue 18): the administrator's settings (the close day sets the late
flag, the margin the colour; bad input refused beside the field; a stale edit 409) and responsible departments (add,
edit, retire: a retired one is no longer offered but stays on its items); a coordination item raised from the
project page; photos on a monthly report, hidden with a confidential project; a meeting edited. Both databases."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, insert, select, update

from crm.attachments.models import Attachment
from crm.major_projects import service
from crm.major_projects.models import CoordinationItem, ResponsibleDepartment, SchedulingMeeting, SchedulingSetting
from tests.conftest import post
from tests.factories import make_project
from tests.helpers import count_rows, field_error
from tests.test_attachments import png_bytes, send

DEPARTMENTS, SETTINGS = ResponsibleDepartment.__table__, SchedulingSetting.__table__


@pytest.fixture(autouse=True)
def restore_reference_data(db):
    """The departments and the settings are seeded and kept between tests: put them back as they were."""
    with db.engine.connect() as conn:
        departments = [dict(r) for r in conn.execute(select(DEPARTMENTS)).mappings()]
        settings = [dict(r) for r in conn.execute(select(SETTINGS)).mappings()]
    yield
    ids = [d["id"] for d in departments]
    with db.engine.begin() as conn:
        conn.execute(update(CoordinationItem.__table__).where(CoordinationItem.department_id.not_in(ids))
                     .values(department_id=None))
        conn.execute(delete(DEPARTMENTS).where(DEPARTMENTS.c.id.not_in(ids)))
        for row in departments:
            conn.execute(update(DEPARTMENTS).where(DEPARTMENTS.c.id == row["id"]).values(**row))
        conn.execute(delete(SETTINGS))
        if settings:
            conn.execute(insert(SETTINGS), settings)


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def major(session, users, *, confidential=False, name="复星医药产业园"):
    project = make_project(session, actor=users["manager"], owner=users["officer"], name=name,
                           total_investment_wan_cny="50000", **({"is_confidential": "1"} if confidential else {}))
    service.mark(session, project=project, data={"is_city": "1", "listed_year": str(today().year),
                                                 "leader_id": users["manager"].id}, version=None,
                 actor=users["manager"])
    service.set_plan(session, project=project, year=today().year, planned=Decimal("1200"), actor=users["manager"])
    return project


def file(session, users, project, year, month, amount, on):
    return service.file_report(session, project=project, year=year, month=month, actor=users["officer"],
                               data={"completed_wan_cny": amount, "progress": "主体施工", "problems": ""}, today=on)


def settings_form(session, **values):
    session.expire_all()
    row = session.get(SchedulingSetting, 1)
    form = {"close_day": str(row.close_day), "margin_points": str(row.margin_points), "version": str(row.version),
            **values}
    session.rollback()  # no read transaction left open: SQLite could not turn it into a write after the app's
    return form


def test_settings_set_the_colour_and_the_late_flag(client_as, session, users):
    admin = client_as("admin")
    assert client_as("manager").get("/admin/scheduling").status_code == 403
    page = admin.get("/admin/scheduling")
    assert page.status_code == 200 and 'name="close_day"' in page.text and "供电公司" in page.text
    project = major(session, users)
    now = today()
    y, m = service.previous_month(now.year, now.month)
    file(session, users, project, y, m, str(100 * m - 60), now)  # 5 points behind time-elapsed progress
    colour = lambda: service.board(session, viewer=users["manager"], year=y, month=m,  # noqa: E731
                                   today=now).rows[0].judgement.colour
    if y == now.year:  # the plan is this year's
        assert colour() == "amber"
    assert post(admin, "/admin/scheduling", settings_form(session, margin_points="3")).status_code == 303
    session.expire_all()
    assert service.rules(session).margin_points == Decimal("3")
    if y == now.year:
        assert colour() == "red"
    # the close day: 2025-02 filed on 2025-03-10 is late with the 5th, 2025-03 filed on 2025-04-10 not with the 20th
    assert file(session, users, project, 2025, 2, "10", date(2025, 3, 10)).is_late
    assert post(admin, "/admin/scheduling", settings_form(session, close_day="20")).status_code == 303
    assert not file(session, users, project, 2025, 3, "10", date(2025, 4, 10)).is_late
    # bad input beside the field, nothing saved
    for field, value in (("close_day", "29"), ("close_day", "x"), ("margin_points", "abc"), ("margin_points", "0")):
        bad = post(admin, "/admin/scheduling", settings_form(session, **{field: value}))
        assert bad.status_code == 422 and field_error(bad.text, field), (field, value)
    # a stale version: 409, the message beside the form, nothing saved
    stale = post(admin, "/admin/scheduling", settings_form(session, close_day="7", version="1"))
    assert stale.status_code == 409 and field_error(stale.text, "close_day")
    session.expire_all()
    assert service.rules(session).close_day == 20
    assert post(client_as("manager"), "/admin/scheduling", settings_form(session, close_day="7")).status_code == 403


def test_departments_added_edited_and_retired(client_as, session, users):
    admin, officer = client_as("admin"), client_as("officer")
    project = major(session, users)
    added = post(admin, "/admin/scheduling/departments", {"name_zh": "人防办", "name_en": "", "position": "70"})
    assert added.status_code == 303
    dup = post(admin, "/admin/scheduling/departments", {"name_zh": "供电公司", "name_en": "", "position": "1"})
    assert dup.status_code == 422 and field_error(dup.text, "name_zh")
    bad = post(admin, "/admin/scheduling/departments", {"name_zh": "甲", "position": "abc"})
    assert bad.status_code == 422 and field_error(bad.text, "position")
    dept = session.scalar(select(ResponsibleDepartment).where(ResponsibleDepartment.name_zh == "人防办"))
    assert post(admin, f"/admin/scheduling/departments/{dept.id}", {
        "name_zh": "人防办", "name_en": "Civil Air Defence Office", "position": "70",
        "is_active": "1"}).status_code == 303
    assert "Civil Air Defence Office" in admin.get(f"/admin/scheduling/departments/{dept.id}/edit").text
    new_page = officer.get(f"/scheduling/projects/{project.id}/items/new")
    assert new_page.status_code == 200 and "人防办" in new_page.text
    raised = post(officer, f"/scheduling/projects/{project.id}/items", {
        "need": "消防验收", "department_id": str(dept.id), "deadline_on": today().isoformat()})
    assert raised.status_code == 303
    item_url = raised.headers["location"]
    # retired: not offered for new items, refused if sent, still shown on the item that names it
    assert post(admin, f"/admin/scheduling/departments/{dept.id}", {
        "name_zh": "人防办", "name_en": "Civil Air Defence Office", "position": "70"}).status_code == 303
    session.expire_all()
    assert session.get(ResponsibleDepartment, dept.id).is_active is False
    assert "人防办" not in officer.get(f"/scheduling/projects/{project.id}/items/new").text
    refused = post(officer, f"/scheduling/projects/{project.id}/items", {
        "need": "再次协调", "department_id": str(dept.id), "deadline_on": today().isoformat()})
    assert refused.status_code == 422 and field_error(refused.text, "department_id")
    assert "人防办" in officer.get(item_url).text
    assert "人防办" in admin.get("/admin/scheduling").text  # listed as retired, never deleted
    assert post(officer, "/admin/scheduling/departments", {"name_zh": "乙", "position": "1"}).status_code == 403


def test_an_item_raised_from_the_project_page(client_as, session, users):
    officer = client_as("officer")
    project = major(session, users)
    panel = officer.get(f"/scheduling/projects/{project.id}")
    assert f"/scheduling/projects/{project.id}/items/new" in panel.text
    assert client_as("officer2").get(f"/scheduling/projects/{project.id}/items/new").status_code == 403
    empty = post(officer, f"/scheduling/projects/{project.id}/items", {"need": "", "deadline_on": ""})
    assert empty.status_code == 422 and field_error(empty.text, "need") and field_error(empty.text, "deadline_on")
    assert "<html" in empty.text and 'name="report_id"' not in empty.text  # the project's own form, whole
    fragment = post(officer, f"/scheduling/projects/{project.id}/items", {"need": "x"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 422 and "<html" not in fragment.text and field_error(fragment.text, "deadline_on")
    raised = post(officer, f"/scheduling/projects/{project.id}/items", {
        "need": "临时用电接入", "department_other": "党政办", "deadline_on": today().isoformat()})
    assert raised.status_code == 303
    item = session.scalar(select(CoordinationItem))
    assert item.project_id == project.id and item.report_id is None and item.department_other == "党政办"


def test_photos_on_a_monthly_report(client_as, session, users):
    officer, other = client_as("officer"), client_as("officer2")
    public = major(session, users, name="公开项目")
    secret = major(session, users, confidential=True, name="星辰机密项目")
    y, m = service.previous_month(today().year, today().month)
    reports = {p.id: file(session, users, p, y, m, "10", today()) for p in (public, secret)}
    for p in (public, secret):
        sent = send(officer, reports[p.id].id, "工地照片.png", png_bytes(), entity_type="major_project_report")
        assert sent.status_code == 303
    page = officer.get(f"/scheduling/reports/{reports[secret.id].id}")
    assert "工地照片.png" in page.text and 'name="entity_type" value="major_project_report"' in page.text
    files = {a.entity_id: a for a in session.scalars(select(Attachment))}
    # the other officer sees the public report's photo but may not add one; the confidential one is not there
    assert other.get(f"/attachments/{files[reports[public.id].id].id}").status_code == 200
    assert "工地照片.png" in other.get(f"/scheduling/reports/{reports[public.id].id}").text
    assert send(other, reports[public.id].id, "b.png", png_bytes(), entity_type="major_project_report"
                ).status_code == 403
    assert other.get(f"/attachments/{files[reports[secret.id].id].id}").status_code == 404
    assert send(other, reports[secret.id].id, "b.png", png_bytes(), entity_type="major_project_report"
                ).status_code == 404
    assert count_rows(session, Attachment) == 2


def test_a_meeting_edited(client_as, session, users):
    manager = client_as("manager")
    meeting = service.create_meeting(session, data={"title": "调度会", "held_on": today().isoformat()},
                                     attendee_ids=[users["manager"].id], actor=users["manager"])
    assert manager.get(f"/scheduling/meetings/{meeting.id}/edit").status_code == 200
    assert client_as("officer").get(f"/scheduling/meetings/{meeting.id}/edit").status_code == 403
    form = {"title": "党政联席会议", "held_on": "2026-12-18", "other_attendees": "供电公司王经理",
            "attendees": [str(users["officer"].id), str(users["manager"].id)], "version": str(meeting.version)}
    bad = post(manager, f"/scheduling/meetings/{meeting.id}/edit", {**form, "held_on": "2026-13-40"})
    assert bad.status_code == 422 and field_error(bad.text, "held_on")
    assert post(manager, f"/scheduling/meetings/{meeting.id}/edit", form).status_code == 303
    session.expire_all()
    saved = service.get_meeting(session, meeting.id)
    assert (saved.title, saved.held_on, saved.version) == ("党政联席会议", date(2026, 12, 18), 2)
    assert {a.user_id for a in saved.attendees} == {users["officer"].id, users["manager"].id}
    assert "党政联席会议" in manager.get(f"/scheduling/meetings/{meeting.id}").text
    # attendees only: a new version too; the first version sent again: 409
    assert post(manager, f"/scheduling/meetings/{meeting.id}/edit", {
        **form, "attendees": [str(users["manager"].id)], "version": "2"}).status_code == 303
    session.expire_all()
    assert session.get(SchedulingMeeting, meeting.id).version == 3
    stale = post(manager, f"/scheduling/meetings/{meeting.id}/edit", {**form, "title": "旧标题", "version": "1"})
    assert stale.status_code == 409 and field_error(stale.text, "title")
