"""Visits (来访考察 …): the form with tour, delegation and follow-ups in one transaction, validation that saves
nothing, the tour changed in place on the visit page, edit conflicts, the list and its filters, quick log."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.tasks.models import Task
from crm.visits.models import TourStop, Visit
from tests.conftest import post
from tests.factories import make_contact, make_org
from tests.helpers import count_rows, field_error

HX = {"HX-Request": "true"}


@pytest.fixture
def fosun(session, users):
    return make_org(session, actor=users["officer"], name="复星集团")


@pytest.fixture
def enterprises(session, users):
    names = ["大唐智创", "玉皇新能源", "精进电动", "现代医药港"]
    return [make_org(session, actor=users["officer"], name=n, kind="zone_enterprise") for n in names]


def visit_form(org, users, *, stops=(), followups=(), **overrides) -> dict:
    data = {"title": "复星集团考察", "kind": "inbound", "status": "done", "starts_at": "2026-12-02T09:00",
            "ends_at": "2026-12-02T17:00", "place": "开发区管委会", "leaders": "党工委书记、管委会主任 练建军",
            "purpose": "考察洽谈", "summary": "听介绍、进车间", "outcome": "加快项目投资研讨", "interest_level": "strong",
            "estimated_investment": "50000", "officer_id": str(users["officer"].id),
            "organization_ids": [str(org.id)], "host_ids": [str(users["manager"].id)]}
    for i, (enterprise, shown) in enumerate(stops):
        data.update({f"stop-{i}-organization_id": str(enterprise.id), f"stop-{i}-starts_at": f"2026-12-02T{9 + i:02d}:30",
                     f"stop-{i}-host": "", f"stop-{i}-shown": shown, f"stop-{i}-note": ""})
    for i, (title, assignee, due) in enumerate(followups):
        data.update({f"followup-{i}-title": title, f"followup-{i}-assignee_id": str(assignee.id),
                     f"followup-{i}-due_on": due})
    data.update(overrides)
    return data


def test_logging_a_visit_saves_tour_members_and_followups_together(officer_client, session, users, fosun, enterprises):
    zhu = make_contact(session, actor=users["officer"], organization=fosun, name="祝文魁")
    form = visit_form(fosun, users, stops=[(e, "产品研发") for e in enterprises[:3]],
                      followups=[("寄送产业资料", users["officer"], "2026-12-07"), ("安排第二轮洽谈", users["manager"], "2026-12-20")],
                      member_ids=[str(zhu.id)], **{"newmember-0-name": "王五", "newmember-0-title": "投资总监",
                                                   "newmember-0-organization_id": str(fosun.id)})
    response = post(officer_client, "/visits", form)
    assert response.status_code == 303, response.text
    visit = session.scalar(select(Visit))
    stops = session.scalars(select(TourStop).where(TourStop.visit_id == visit.id).order_by(TourStop.position)).all()
    assert [s.organization_id for s in stops] == [e.id for e in enterprises[:3]]
    tasks = session.scalars(select(Task).where(Task.visit_id == visit.id).order_by(Task.due_on)).all()
    assert [t.title for t in tasks] == ["寄送产业资料", "安排第二轮洽谈"]
    assert all(t.organization_id == fosun.id for t in tasks)
    assert session.scalar(select(Contact).where(Contact.name == "王五")).organization_id == fosun.id
    page = officer_client.get(f"/visits/{visit.id}").text
    for text in ("祝文魁", "王五", "练建军", "大唐智创", "精进电动", "寄送产业资料"):
        assert text in page
    history = page.split("变更历史", 1)[1]
    assert "<ins>2026-12-02 09:00</ins>" in history and "+00:00</ins>" not in history  # moments in the zone's time
    assert "负责专员: <ins>张晓明</ins>" in " ".join(history.split()).replace("</span>: ", ": ").replace('<span class="change-field">', "")


def test_end_before_start_and_bad_stop_save_nothing(officer_client, session, users, fosun, enterprises):
    investor = make_org(session, actor=users["officer"], name="另一投资方")
    form = visit_form(fosun, users, stops=[(investor, "")], followups=[("寄送资料", users["officer"], "2026-12-07")],
                      ends_at="2026-12-01T08:00")
    response = post(officer_client, "/visits", form)
    assert response.status_code == 422
    assert "结束" in field_error(response.text, "ends_at")
    assert count_rows(session, Visit) == 0 and count_rows(session, Task) == 0
    # the end is fixed, but the stop is still not a zone enterprise: refused next to the stop
    response = post(officer_client, "/visits", {**form, "ends_at": "2026-12-02T17:00"})
    assert response.status_code == 422
    assert field_error(response.text, "stop-0-organization_id")
    assert count_rows(session, Visit) == 0 and count_rows(session, Task) == 0
    assert 'value="寄送资料"' in response.text  # the user's input is kept


def test_form_buttons_add_move_and_remove_rows_without_saving(officer_client, session, users, fosun, enterprises):
    form = visit_form(fosun, users, stops=[(enterprises[0], "a"), (enterprises[1], "b")], form_action="up:stop-1")
    response = post(officer_client, "/visits", form, headers=HX)
    assert response.status_code == 200
    first = response.text.index('name="stop-0-shown"')
    assert response.text[first:first + 200].split(">", 1)[1].startswith("b")
    assert count_rows(session, Visit) == 0


def test_tour_on_the_visit_page_add_reorder_remove(officer_client, session, users, fosun, enterprises):
    response = post(officer_client, "/visits", visit_form(fosun, users, stops=[(e, "") for e in enterprises[:3]]))
    visit = session.scalar(select(Visit))
    ids = [s.id for s in session.scalars(select(TourStop).order_by(TourStop.position))]
    response = post(officer_client, f"/visits/{visit.id}/stops/order", {"stop_ids": [ids[2], ids[0], ids[1]]}, headers=HX)
    assert response.status_code == 200
    session.expire_all()
    assert [s.id for s in session.scalars(select(TourStop).order_by(TourStop.position))] == [ids[2], ids[0], ids[1]]
    other = post(officer_client, "/visits", visit_form(fosun, users, title="另一次", stops=[(enterprises[3], "")]))
    assert other.status_code == 303
    session.expire_all()
    foreign = session.scalar(select(TourStop).where(TourStop.visit_id != visit.id)).id
    response = post(officer_client, f"/visits/{visit.id}/stops/order", {"stop_ids": [ids[2], ids[0], foreign]}, headers=HX)
    assert response.status_code == 422
    session.expire_all()
    assert [s.id for s in session.scalars(select(TourStop).where(TourStop.visit_id == visit.id).order_by(TourStop.position))] == [ids[2], ids[0], ids[1]]
    response = post(officer_client, f"/visits/{visit.id}/stops", {"stop-0-organization_id": str(enterprises[3].id), "stop-0-shown": "进车间"}, headers=HX)
    assert response.status_code == 200 and "现代医药港" in response.text
    response = post(officer_client, f"/visits/{visit.id}/stops/{ids[0]}/delete", headers=HX)
    assert response.status_code == 200
    session.expire_all()
    assert count_rows(session, TourStop) == 4


def test_list_search_and_quick_log(officer_client, session, users, fosun):
    post(officer_client, "/visits", visit_form(fosun, users))
    page = officer_client.get("/visits?q=复星")
    assert page.status_code == 200 and "复星集团考察" in page.text
    assert "复星集团考察" not in officer_client.get("/visits?q=医药").text
    assert "复星集团考察" in officer_client.get("/search?q=投资研讨").text
    response = post(officer_client, "/visits/quick", {"kind": "meeting", "organization_id": str(fosun.id),
                                                       "starts_at": "2026-12-03T10:00", "summary": "电话沟通",
                                                       "followup_title": "发送资料", "followup_due_on": "2026-12-05"})
    assert response.status_code == 303, response.text
    assert count_rows(session, Visit) == 2
    assert session.scalar(select(Task).where(Task.title == "发送资料")).visit_id is not None


def _saved(officer_client, session, form) -> Visit:
    response = post(officer_client, "/visits", form)
    assert response.status_code == 303, response.text
    officer_client.get(response.headers["location"])  # shows (and so clears) the "saved" message
    session.expire_all()
    return session.scalar(select(Visit).order_by(Visit.id.desc()))


def test_two_officers_editing_the_same_visit_the_second_save_is_refused(officer_client, client_as, session, users, fosun):
    visit = _saved(officer_client, session, visit_form(fosun, users))
    first = officer_client.get(f"/visits/{visit.id}/edit")
    assert first.status_code == 200
    manager = client_as("manager")
    assert manager.get(f"/visits/{visit.id}/edit").status_code == 200
    edit = {**visit_form(fosun, users), "version": str(visit.version)}
    assert post(manager, f"/visits/{visit.id}", {**edit, "outcome": "领导的结论"}).status_code == 303
    response = post(officer_client, f"/visits/{visit.id}", {**edit, "outcome": "专员的结论"})
    assert response.status_code == 409
    assert "领导的结论" in response.text  # what the other saved is shown
    assert "专员的结论" in response.text  # and the user's own input is kept
    session.expire_all()
    assert session.get(Visit, visit.id).outcome == "领导的结论"


def test_editing_adds_followups_and_keeps_the_tour(officer_client, session, users, fosun, enterprises):
    visit = _saved(officer_client, session, visit_form(fosun, users, stops=[(enterprises[0], "")]))
    edit = {**visit_form(fosun, users, status="done", outcome="同意二次洽谈",
                         followups=[("准备二轮洽谈材料", users["officer"], "2026-12-10")]), "version": str(visit.version)}
    assert post(officer_client, f"/visits/{visit.id}", edit).status_code == 303
    session.expire_all()
    assert session.get(Visit, visit.id).outcome == "同意二次洽谈"
    assert count_rows(session, TourStop) == 1
    assert session.scalar(select(Task).where(Task.visit_id == visit.id)).title == "准备二轮洽谈材料"


def test_only_its_people_and_managers_change_a_visit(client_as, officer_client, session, users, fosun, enterprises):
    visit = _saved(officer_client, session, visit_form(fosun, users, host_ids=[], stops=[(enterprises[0], "")]))
    other = client_as("officer2")
    assert other.get(f"/visits/{visit.id}").status_code == 200  # everyone may read
    assert other.get(f"/visits/{visit.id}/edit").status_code == 403
    assert post(other, f"/visits/{visit.id}/stops", {"stop-0-organization_id": str(enterprises[1].id)}).status_code == 403
    assert post(other, f"/visits/{visit.id}/delete").status_code == 403
    assert count_rows(session, TourStop) == 1
    manager = client_as("manager")
    assert manager.get(f"/visits/{visit.id}/edit").status_code == 200


def test_delete_asks_first_then_removes_visit_tour_and_followups(officer_client, session, users, fosun, enterprises):
    visit = _saved(officer_client, session, visit_form(fosun, users, stops=[(enterprises[0], "")],
                                                       followups=[("寄送资料", users["officer"], "2026-12-07")]))
    confirm = officer_client.get(f"/visits/{visit.id}/delete")
    assert confirm.status_code == 200 and "复星集团考察" in confirm.text
    visit_id = visit.id
    assert post(officer_client, f"/visits/{visit_id}/delete").status_code == 303
    assert count_rows(session, Visit) == 0 and count_rows(session, TourStop) == 0 and count_rows(session, Task) == 0
    assert f'href="/visits/{visit_id}"' not in officer_client.get("/search?q=复星集团考察").text


def test_bad_input_is_refused_next_to_the_field(officer_client, session, users, fosun, enterprises):
    cases = {
        "starts_at": {"starts_at": "2026-13-02T09:00"},
        "estimated_investment": {"estimated_investment": "五千万"},
        "followup-0-due_on": {"followup-0-title": "寄送资料", "followup-0-assignee_id": str(users["officer"].id),
                              "followup-0-due_on": "12/07/2026"},
        "organization_ids": {"organization_ids": []},
        "member_ids": {"member_ids": ["999999"]},
    }
    for field, override in cases.items():
        response = post(officer_client, "/visits", visit_form(fosun, users, **override))
        assert response.status_code == 422, field
        assert field_error(response.text, field), field
    assert count_rows(session, Visit) == 0 and count_rows(session, Task) == 0


def test_a_stop_at_a_non_zone_enterprise_is_refused_on_the_visit_page(officer_client, session, users, fosun, enterprises):
    visit = _saved(officer_client, session, visit_form(fosun, users))
    response = post(officer_client, f"/visits/{visit.id}/stops", {"stop-0-organization_id": str(fosun.id), "stop-0-shown": "进车间"},
                    headers=HX)
    assert response.status_code == 422
    assert field_error(response.text, "stop-0-organization_id")
    assert 'value="进车间"' in response.text or ">进车间</textarea>" in response.text
    assert count_rows(session, TourStop) == 0


def test_organization_timelines_show_visits_and_hosted_tours(officer_client, session, users, fosun, enterprises):
    _saved(officer_client, session, visit_form(fosun, users, stops=[(enterprises[0], "听介绍、进车间")]))
    investor_page = officer_client.get(f"/organizations/{fosun.id}").text
    timeline = investor_page.split('id="timeline"', 1)[1]
    assert 'class="timeline-visit"' in timeline and "复星集团考察" in timeline
    host_page = officer_client.get(f"/organizations/{enterprises[0].id}").text
    timeline = host_page.split('id="timeline"', 1)[1]
    assert 'class="timeline-stop"' in timeline and "复星集团考察" in timeline and "12月2日" in timeline
    fragment = officer_client.get(f"/organizations/{enterprises[0].id}/timeline?page=1", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text and "复星集团考察" in fragment.text


def test_home_shows_upcoming_delegations(officer_client, session, users, fosun):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    soon = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=3)
    later = soon + timedelta(days=30)
    _saved(officer_client, session, visit_form(fosun, users, title="下周来访", status="planned",
                                               starts_at=soon.strftime("%Y-%m-%dT%H:%M"), ends_at=(soon + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")))
    _saved(officer_client, session, visit_form(fosun, users, title="下月来访", status="planned",
                                               starts_at=later.strftime("%Y-%m-%dT%H:%M"), ends_at=(later + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")))
    home = officer_client.get("/").text
    section = home.split('id="upcoming-delegations"', 1)[1].split("</section>", 1)[0]
    assert "下周来访" in section and "下月来访" not in section


def test_list_filters_by_kind_status_officer_and_dates(officer_client, session, users, fosun):
    _saved(officer_client, session, visit_form(fosun, users, title="来访甲", kind="inbound", status="done",
                                               host_ids=[str(users["officer"].id)]))
    _saved(officer_client, session, visit_form(fosun, users, title="电话乙", kind="remote", status="planned",
                                               starts_at="2026-12-20T10:00", ends_at="2026-12-20T10:30",
                                               officer_id=str(users["manager"].id)))
    def titles(query):
        page = officer_client.get("/visits?" + query)
        assert page.status_code == 200, page.text
        return {t for t in ("来访甲", "电话乙") if t in page.text}
    assert titles("kind=remote") == {"电话乙"}
    assert titles("status=done") == {"来访甲"}
    assert titles(f"officer={users['manager'].id}") == {"电话乙"}  # responsible, or among our attendees
    assert titles(f"officer={users['officer'].id}") == {"来访甲"}
    assert titles("from=2026-12-10&to=2026-12-31") == {"电话乙"}
    assert titles("from=2026-12-02&to=2026-12-02") == {"来访甲"}
    assert titles(f"organization={fosun.id}") == {"来访甲", "电话乙"}
    assert officer_client.get("/visits?from=2026-99-01").status_code == 400
    assert officer_client.get("/visits?kind=party").status_code == 400


def test_quick_log_refuses_missing_organization_and_keeps_the_text(officer_client, session, users, fosun):
    response = post(officer_client, "/visits/quick", {"kind": "meeting", "organization_id": "", "starts_at": "2026-12-03T10:00",
                                                      "summary": "在展会上偶遇", "followup_title": "回电", "followup_due_on": ""})
    assert response.status_code == 422
    assert field_error(response.text, "organization_id") and field_error(response.text, "followup_due_on")
    assert "在展会上偶遇" in response.text
    assert count_rows(session, Visit) == 0 and count_rows(session, Task) == 0


def test_tour_edit_in_place_and_audit(officer_client, session, users, fosun, enterprises):
    from crm.audit.models import AuditEntry

    visit = _saved(officer_client, session, visit_form(fosun, users, stops=[(enterprises[0], "旧")]))
    stop = session.scalar(select(TourStop))
    form = officer_client.get(f"/visits/{visit.id}/stops/{stop.id}/edit", headers=HX)
    assert form.status_code == 200 and "旧" in form.text
    response = post(officer_client, f"/visits/{visit.id}/stops/{stop.id}",
                    {"stop-0-organization_id": str(enterprises[1].id), "stop-0-shown": "产品研发、资金投入及运营情况"}, headers=HX)
    assert response.status_code == 200 and "产品研发" in response.text
    session.expire_all()
    assert session.get(TourStop, stop.id).organization_id == enterprises[1].id
    changes = [e.changes for e in session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "visit"))]
    assert any("stop_shown" in c for c in changes)


def test_a_photo_posted_with_the_visit_form_is_attached_in_the_same_save(officer_client, session, users, fosun, tmp_path):
    from crm.attachments.models import Attachment
    from tests.test_attachments import png_bytes

    form = visit_form(fosun, users, followups=[("寄送资料", users["officer"], "2026-12-07")])
    response = officer_client.post("/visits", data={"csrf_token": officer_client.csrf, **form},
                                   files={"file": ("合影.png", png_bytes(), "image/png")})
    assert response.status_code == 303, response.text
    session.expire_all()
    attachment = session.scalar(select(Attachment))
    assert attachment.filename == "合影.png" and attachment.entity_type == "visit"
    page = officer_client.get(response.headers["location"]).text
    assert f"/attachments/{attachment.id}/thumbnail" in page


def test_a_mistyped_file_on_the_visit_form_is_refused_and_nothing_is_saved(officer_client, session, users, fosun):
    from crm.attachments.models import Attachment

    form = visit_form(fosun, users, followups=[("寄送资料", users["officer"], "2026-12-07")])
    response = officer_client.post("/visits", data={"csrf_token": officer_client.csrf, **form},
                                   files={"file": ("会议纪要.pdf", b"<html><script>alert(1)</script></html>", "application/pdf")})
    assert response.status_code == 422
    assert "会议纪要.pdf" in field_error(response.text, "file")
    assert 'value="寄送资料"' in response.text and "加快项目投资研讨" in response.text  # the rest stays on screen
    assert count_rows(session, Visit) == 0 and count_rows(session, Task) == 0 and count_rows(session, Attachment) == 0


def test_an_oversized_file_on_the_visit_form_is_refused_with_the_limit(app, officer_client, session, users, fosun):
    from crm.attachments.models import Attachment

    app.state.settings.max_upload_mb = 1
    form = visit_form(fosun, users)
    big = b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 10)
    response = officer_client.post("/visits", data={"csrf_token": officer_client.csrf, **form},
                                   files={"file": ("方案.pdf", big, "application/pdf")})
    assert response.status_code == 422
    assert "1 MB" in field_error(response.text, "file")
    assert count_rows(session, Visit) == 0 and count_rows(session, Attachment) == 0


def test_deleting_a_visit_removes_its_files(officer_client, session, users, fosun, settings):
    from crm.attachments import storage
    from crm.attachments.models import Attachment
    from tests.test_attachments import png_bytes

    form = visit_form(fosun, users)
    response = officer_client.post("/visits", data={"csrf_token": officer_client.csrf, **form},
                                   files={"file": ("合影.png", png_bytes(color=(1, 2, 3)), "image/png")})
    assert response.status_code == 303
    session.expire_all()
    attachment = session.scalar(select(Attachment))
    path = storage.blob_path(settings.data_dir, attachment.sha256)
    assert path.exists()
    visit_id = attachment.entity_id
    session.commit()
    assert post(officer_client, f"/visits/{visit_id}/delete").status_code == 303
    assert count_rows(session, Attachment) == 0
    assert not path.exists()


def _local_input(moment) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def test_a_visit_still_to_come_cannot_be_marked_done(officer_client, session, users, fosun):
    """Issue 16: a visit three days ahead could be marked 已完成 and counted at once in the annual assessment.
    The form refuses it beside the status field, keeps the input, saves nothing; planned, it saves; an edit that
    marks it done before it starts is refused the same way."""
    from datetime import timedelta

    from crm.db import utcnow
    from tests.helpers import input_value

    ahead = utcnow() + timedelta(days=3)
    form = visit_form(fosun, users, title="三天后来访", starts_at=_local_input(ahead),
                      ends_at=_local_input(ahead + timedelta(hours=3)))
    response = post(officer_client, "/visits", form)
    assert response.status_code == 422
    assert "开始之前" in field_error(response.text, "status")
    assert input_value(response.text, "title") == "三天后来访" and count_rows(session, Visit) == 0
    response = post(officer_client, "/visits", {**form, "status": "planned"})
    assert response.status_code == 303, response.text
    visit = session.scalar(select(Visit))
    edit = officer_client.get(f"/visits/{visit.id}/edit").text
    version = __import__("re").search(r'name="version" value="(\d+)"', edit).group(1)
    response = post(officer_client, f"/visits/{visit.id}", {**form, "status": "done", "version": version})
    assert response.status_code == 422 and field_error(response.text, "status")
    session.expire_all()
    assert session.get(Visit, visit.id).status == "planned"
    started = utcnow() - timedelta(minutes=5)  # once it has started it can be marked done
    response = post(officer_client, f"/visits/{visit.id}", {**form, "status": "done", "version": version,
                                                            "starts_at": _local_input(started),
                                                            "ends_at": _local_input(started + timedelta(hours=2))})
    assert response.status_code == 303, response.text


def test_the_quick_log_refuses_a_time_still_to_come(officer_client, session, users, fosun):
    from datetime import timedelta

    from crm.db import utcnow

    response = post(officer_client, "/visits/quick", {
        "kind": "meeting", "organization_id": str(fosun.id), "starts_at": _local_input(utcnow() + timedelta(days=3)),
        "summary": "提前记录的洽谈", "followup_title": "", "followup_due_on": ""})
    assert response.status_code == 422
    assert field_error(response.text, "starts_at") and "提前记录的洽谈" in response.text
    assert count_rows(session, Visit) == 0
