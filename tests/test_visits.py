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
    response = post(officer_client, f"/visits/{visit.id}/stops", {"organization_id": str(enterprises[3].id), "shown": "进车间"}, headers=HX)
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
