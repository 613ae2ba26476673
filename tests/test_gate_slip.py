"""Issue 13, hole 6: the 三重一大 gate cannot be slipped. An officer lowers a 20000 万元 project at 洽谈 to 9999,
moves it to 签约 (allowed: no decision needed below the threshold), and raises it back to 20000: the last edit is
refused beside the field (a manager may save it with a reason, recorded like the groundbreaking override). A project
that stands past a gate it no longer meets (older data) is flagged on the board, the readiness board and the
dashboard, naming the gate."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from crm.audit.models import AuditEntry
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.projects.models import Project, StageChange
from tests.conftest import post
from tests.factories import make_org, make_project
from tests.helpers import field_error, reload

BIG = "复星二期项目"
FLAG = "已过关口未满足：集体决策"


@pytest.fixture
def big(session, users):
    fosun = make_org(session, actor=users["officer"], name="复星集团")
    project = make_project(session, actor=users["officer"], organizations=[fosun], name=BIG, stage="negotiating",
                           total_investment_wan_cny="20000")
    project.investor_id = fosun.id  # for the form (the test's copy has no loaded investors)
    return project


def edit(client, session, project, **overrides):
    """The edit form as the page sends it, with the version it shows now."""
    p = reload(session, Project, project.id)
    data = {"name": p.name, "owner_id": str(p.owner_id), "total_investment_wan_cny": str(p.total_investment_wan_cny),
            "organization_ids": [str(project.investor_id)], "version": str(p.version)}
    data.update(overrides)
    return post(client, f"/projects/{project.id}", data)


def move(client, session, project, stage, **extra):
    version = reload(session, Project, project.id).version
    return post(client, f"/projects/{project.id}/move", {"stage": stage, "version": str(version), **extra})


def test_the_issues_sequence_is_refused_at_the_last_edit(client_as, session, big):
    officer = client_as("officer")
    assert edit(officer, session, big, total_investment_wan_cny="9999").status_code == 303
    assert move(officer, session, big, "signed").status_code == 303  # allowed: below the threshold
    response = edit(officer, session, big, total_investment_wan_cny="20000")
    assert response.status_code == 422
    error = field_error(response.text, "total_investment_wan_cny")
    assert error and "集体决策" in error and "签约" in error, error
    assert 'name="gate_override_reason"' not in response.text  # officers cannot override
    project = reload(session, Project, big.id)
    assert (project.stage, project.total_investment_wan_cny) == ("signed", 9999)
    # an officer who sends a reason anyway is refused too
    response = edit(officer, session, big, total_investment_wan_cny="20000", gate_override_reason="领导同意")
    assert response.status_code == 422 and "只有" in (field_error(response.text, "gate_override_reason") or "")
    assert reload(session, Project, big.id).total_investment_wan_cny == 9999
    # other edits of the project still save
    assert edit(officer, session, big, name="复星二期项目（更名）").status_code == 303
    # and a move further on is refused the same way once it stands past the gate without meeting it
    session.expire_all()
    session.execute(update(Project).where(Project.id == big.id).values(total_investment_wan_cny=20000))
    session.commit()
    response = move(officer, session, big, "land_supplied")
    assert response.status_code == 422 and "集体决策" in response.text


def test_a_managers_override_is_recorded(client_as, session, big):
    officer = client_as("officer")
    edit(officer, session, big, total_investment_wan_cny="9999")
    move(officer, session, big, "signed")
    manager = client_as("manager")
    response = edit(manager, session, big, total_investment_wan_cny="20000")
    assert response.status_code == 422 and 'name="gate_override_reason"' in response.text
    assert field_error(response.text, "gate_override_reason")
    response = edit(manager, session, big, total_investment_wan_cny="20000", gate_override_reason="市政府专题会议已同意，补录决策")
    assert response.status_code == 303, response.text
    project = reload(session, Project, big.id)
    assert project.total_investment_wan_cny == 20000
    assert project.gate_override_reason == "市政府专题会议已同意，补录决策"
    assert project.gate_override_by_id is not None and project.gate_override_at is not None
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "project", AuditEntry.entity_id == big.id)
                            .order_by(AuditEntry.id.desc())).first()
    assert entry.changes["gate_override_reason"] == [None, "市政府专题会议已同意，补录决策"]
    assert entry.changes["total_investment_wan_cny"][1] in ("20000.00", 20000, "20000")
    session.commit()
    # still without a decision: the project page says so
    page = manager.get(f"/projects/{big.id}").text
    assert FLAG in page


def test_an_inconsistent_project_is_flagged_everywhere(client_as, session, users, big):
    """Older data: a 2 亿元 project at 签约 with no decision, made so directly in the database."""
    entered = reload(session, Project, big.id).stage_entered_at
    session.execute(update(Project).where(Project.id == big.id).values(stage="signed", pipeline_stage="signed"))
    session.add(StageChange(project_id=big.id, from_stage="negotiating", to_stage="signed", at=entered,
                            actor_id=users["officer"].id, note=""))
    event = GroundbreakingEvent(name="集中开工", held_on=date.today() + timedelta(days=20))
    session.add(event)
    session.flush()
    session.add(SlatedProject(event_id=event.id, project_id=big.id, position=1))
    session.commit()
    for who in ("manager", "officer"):
        reader = client_as(who)
        board = reader.get("/projects/board").text
        card = board[board.index(f'id="card-{big.id}"'):]
        card = card[:card.index("</li>")]
        assert FLAG in card, who
        assert FLAG in reader.get("/projects").text, who
        dashboard = reader.get("/").text
        assert 'id="lapsed-gates"' in dashboard and BIG in dashboard and FLAG in dashboard, who
        assert FLAG in reader.get(f"/projects/{big.id}").text, who
    readiness = client_as("manager").get(f"/groundbreaking/{event.id}").text
    row = readiness[readiness.index(f'id="slate-{big.id}"'):]
    assert FLAG in row[:row.index("</tr>")]


def test_a_project_that_meets_its_gates_is_not_flagged(client_as, session, users):
    small = make_project(session, actor=users["officer"], name="小项目", stage="negotiating",
                         total_investment_wan_cny="500")
    officer = client_as("officer")
    assert move(officer, session, small, "signed").status_code == 303
    assert FLAG not in officer.get("/projects/board").text
    assert 'id="lapsed-gates"' not in officer.get("/").text


def test_other_paths_that_change_what_a_passed_gate_reads_are_refused(client_as, session, users, big):
    """The parcel a project broke ground on (un-supplied) and its construction permit (un-approved), at 开工."""
    from crm.parcels.models import LandParcel
    from crm.projects.models import CONSTRUCTION_PERMIT, ApprovalItem

    parcel = LandParcel(code="菏泽市2026-9", name="纱厂地块", status="supplied", location="", bounds="",
                        planned_use="", notes="", public_facilities="", households_signed=0)
    session.add(parcel)
    session.flush()
    session.execute(update(Project).where(Project.id == big.id).values(
        stage="groundbreaking", pipeline_stage="groundbreaking", parcel_id=parcel.id, total_investment_wan_cny=900))
    session.execute(update(ApprovalItem).where(ApprovalItem.project_id == big.id,
                                               ApprovalItem.code == CONSTRUCTION_PERMIT).values(
        status="approved", submitted_on=date(2026, 1, 5), accepted_on=date(2026, 1, 5), approved_on=date(2026, 1, 9)))
    session.commit()
    item = session.scalar(select(ApprovalItem).where(ApprovalItem.project_id == big.id,
                                                     ApprovalItem.code == CONSTRUCTION_PERMIT))
    parcel_version = reload(session, LandParcel, parcel.id).version
    manager = client_as("manager")
    response = post(manager, f"/parcels/{parcel.id}", {"code": "菏泽市2026-9", "name": "纱厂地块", "status": "cleared",
                                                       "version": str(parcel_version)})
    assert response.status_code == 422
    assert BIG in (field_error(response.text, "status") or "")
    assert reload(session, LandParcel, parcel.id).status == "supplied"

    officer = client_as("officer")
    response = post(officer, f"/projects/{big.id}/approvals/{item.id}", {"status": "not_started"})
    assert response.status_code == 422
    assert "施工许可" in (field_error(response.text, "status") or "")
    assert reload(session, ApprovalItem, item.id).status == "approved"
