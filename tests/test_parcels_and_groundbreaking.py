"""Land parcels (地块): the form and its checks (signed households never more than households), signing progress
against the window, 亩 beside m², the projects on a parcel. Groundbreaking events (集中开工): the readiness board with
each slated project's gates green / amber / red, totals from the database, managers adding and dropping projects,
and confidential projects left out for others."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.parcels.models import LandParcel
from crm.projects.models import ApprovalItem, Project
from tests.conftest import post
from tests.factories import make_org, make_project
from tests.helpers import count_rows, field_error, reload

HX = {"HX-Request": "true"}


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def parcel_form(**overrides) -> dict:
    data = {"code": "菏泽市2019-2", "name": "菏泽市2019-2旧城区改建项目（纱厂地块）", "location": "菏泽市牡丹区",
            "bounds": "康庄东路以南，桂陵路以西，八一西路以北，居民区、学校以东", "land_area_m2": "212958",
            "building_area_m2": "45400", "planned_use": "旧城区改建", "status": "expropriating",
            "households_total": "557", "households_signed": "120",
            "signing_starts_on": (today() - timedelta(days=2)).isoformat(),
            "signing_ends_on": (today() + timedelta(days=4)).isoformat(), "compensation_cash": "1",
            "compensation_swap": "1", "public_facilities": "新建一所初级中学，八一路小学扩建", "notes": ""}
    data.update(overrides)
    return data


@pytest.fixture
def manager(client_as, users):
    return client_as("manager")


def test_a_parcel_with_its_signing_progress_against_the_window(manager, session, users):
    response = post(manager, "/parcels", parcel_form())
    assert response.status_code == 303, response.text
    parcel = session.scalar(select(LandParcel))
    assert (parcel.households_total, parcel.households_signed, parcel.compensation_swap) == (557, 120, True)
    page = manager.get(response.headers["location"]).text
    assert "212,958 平方米（319.44 亩）" in page
    assert "120 / 557" in page and "第 3 天，共 7 天" in page
    assert "进度滞后" in page  # 22% signed with 3/7 of the window gone
    assert "货币补偿" in page and "房屋产权调换" in page and "康庄东路以南" in page
    assert "纱厂地块" in manager.get("/parcels").text


@pytest.mark.parametrize("overrides, field, says", [
    ({"households_signed": "558"}, "households_signed", "多于总户数"),
    ({"households_total": "", "households_signed": "5"}, "households_total", "先填写"),
    ({"signing_ends_on": "2020-01-01"}, "signing_ends_on", "早于"),
    ({"land_area_m2": "-1"}, "land_area_m2", "不小于 0"),
    ({"households_signed": "-1"}, "households_signed", "整数"),
    ({"code": ""}, "code", "必填"),
])
def test_bad_parcels_are_refused_and_nothing_is_saved(manager, session, overrides, field, says):
    response = post(manager, "/parcels", parcel_form(**overrides))
    assert response.status_code == 422, field
    assert says in (field_error(response.text, field) or ""), (field, field_error(response.text, field))
    assert count_rows(session, LandParcel) == 0


def test_an_update_keeps_signed_within_households_and_officers_cannot_edit(manager, client_as, session):
    post(manager, "/parcels", parcel_form())
    parcel = session.scalar(select(LandParcel))
    form = {**parcel_form(households_signed="600"), "version": str(parcel.version)}
    response = post(manager, f"/parcels/{parcel.id}", form)
    assert response.status_code == 422 and reload(session, LandParcel, parcel.id).households_signed == 120
    assert post(manager, f"/parcels/{parcel.id}", {**form, "households_signed": "557", "status": "cleared"}).status_code == 303
    officer = client_as("officer")
    assert officer.get(f"/parcels/{parcel.id}").status_code == 200
    assert officer.get(f"/parcels/{parcel.id}/edit").status_code == 403
    assert post(officer, "/parcels", parcel_form(code="X")).status_code == 403


def slated_world(session, users, manager):
    """Three signed projects: one ready (decision, supplied parcel, every permit), one amber, one red."""
    org = make_org(session, actor=users["officer"], name="鲁西新材料科技有限公司")
    parcel = LandParcel(code="P1", name="纱厂地块", status="supplied")
    session.add(parcel)
    session.commit()
    ready = make_project(session, actor=users["officer"], organizations=[org], name="新材料项目", stage="negotiating",
                         total_investment_wan_cny="60000", is_foreign_invested="1", foreign_capital_wan_usd="1200")
    amber = make_project(session, actor=users["officer"], organizations=[org], name="储能项目", stage="negotiating",
                         total_investment_wan_cny="8000")
    red = make_project(session, actor=users["officer"], organizations=[org], name="物流项目", stage="negotiating",
                       total_investment_wan_cny="3000")
    for p in (ready, amber, red):
        session.execute(update(Project).where(Project.id == p.id).values(stage="permits", pipeline_stage="permits"))
    session.execute(update(Project).where(Project.id.in_([ready.id, amber.id])).values(parcel_id=parcel.id))
    session.execute(update(ApprovalItem).where(ApprovalItem.project_id == ready.id).values(
        status="approved", submitted_on=today(), accepted_on=today(), approved_on=today()))
    session.execute(update(ApprovalItem).where(ApprovalItem.project_id == amber.id).values(
        status="accepted", submitted_on=today(), accepted_on=today(), promised_days=10))
    session.commit()
    response = post(manager, f"/projects/{ready.id}/decisions", {"meeting_kind": "joint", "outcome": "approved",
                                                                  "meeting_on": today().isoformat(), "resolution": "同意"})
    assert response.status_code == 303
    return ready, amber, red


def test_the_readiness_board_shows_each_gate_and_the_totals(manager, session, users):
    ready, amber, red = slated_world(session, users, manager)
    response = post(manager, "/groundbreaking", {"name": "12月项目集中奠基开工", "held_on": (today() + timedelta(days=12)).isoformat(),
                                                 "place": "菏泽经济开发区"})
    assert response.status_code == 303
    event = session.scalar(select(GroundbreakingEvent))
    for p in (ready, amber, red):
        assert post(manager, f"/groundbreaking/{event.id}/slate", {"project_id": str(p.id)}, headers=HX).status_code == 200
    page = manager.get(f"/groundbreaking/{event.id}").text
    assert 'id="days-left">12<' in page and 'id="slate-count">3<' in page
    assert "7.10 亿元" in page and "1,200.00 万美元" in page and 'id="ready-count">1 / 3<' in page
    row = lambda p: page.split(f'id="slate-{p.id}"', 1)[1].split("</tr>", 1)[0]  # noqa: E731
    assert 'data-readiness="green"' in page.split(f'id="slate-{ready.id}"', 1)[1][:60]
    assert 'data-readiness="amber"' in page.split(f'id="slate-{amber.id}"', 1)[1][:60]
    assert 'data-readiness="red"' in page.split(f'id="slate-{red.id}"', 1)[1][:60]
    assert 'dot-amber" role="img" title="施工许可：已受理' in row(amber)
    assert "dot-red" in row(red) and "尚未供地" in row(red)
    assert "张晓明" in row(red)
    # bad additions
    again = post(manager, f"/groundbreaking/{event.id}/slate", {"project_id": str(ready.id)}, headers=HX)
    assert again.status_code == 422 and "已在" in again.text
    session.commit()  # end the read transaction: its snapshot predates the app's writes
    lead = make_project(session, actor=users["officer"], name="线索项目")
    response = post(manager, f"/groundbreaking/{event.id}/slate", {"project_id": str(lead.id)}, headers=HX)
    assert response.status_code == 422 and "签约" in response.text
    # dropping one
    response = post(manager, f"/groundbreaking/{event.id}/slate/{red.id}/drop", headers=HX)
    assert response.status_code == 200 and 'id="slate-count">2<' in response.text
    assert count_rows(session, SlatedProject) == 2


def test_only_managers_change_the_slate_and_others_do_not_see_confidential_projects(manager, client_as, session, users):
    ready, amber, red = slated_world(session, users, manager)
    session.execute(update(Project).where(Project.id == red.id).values(is_confidential=True))
    session.commit()
    post(manager, "/groundbreaking", {"name": "集中开工", "held_on": today().isoformat()})
    event = session.scalar(select(GroundbreakingEvent))
    for p in (ready, amber, red):
        post(manager, f"/groundbreaking/{event.id}/slate", {"project_id": str(p.id)})
    other = client_as("officer2")
    page = other.get(f"/groundbreaking/{event.id}").text
    assert "物流项目" not in page and 'id="slate-count">2<' in page and "6.80 亿元" in page
    assert "(2" not in other.get("/groundbreaking").text
    assert post(other, f"/groundbreaking/{event.id}/slate/{ready.id}/drop").status_code == 403
    assert post(other, f"/groundbreaking/{event.id}/slate", {"project_id": str(ready.id)}).status_code == 403
    assert post(other, "/groundbreaking", {"name": "x", "held_on": "2026-12-01"}).status_code == 403
    assert "物流项目" in manager.get(f"/groundbreaking/{event.id}").text
    assert count_rows(session, SlatedProject) == 3
    parcel_page = other.get(f"/parcels/{session.scalar(select(LandParcel.id))}").text
    assert "新材料项目" in parcel_page and "物流项目" not in parcel_page
