"""Projects (项目): the form and its bad input, a lead project from a visit in one step, the stage history and time in
each stage, the gates (三重一大 collective decision before 签约; land and the construction permit before 开工, with a
manager's override), who may move a project, two managers moving it at once, the permit checklist, stale projects,
the table's filters, sorting and totals, the funnel, the board, follow-ups and files on projects."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from crm.audit.models import AuditEntry
from crm.organizations.models import IndustryChain
from crm.parcels.models import LandParcel
from crm.projects.models import ApprovalItem, Decision, Project, ProjectVisit, StageChange
from crm.tasks.models import Task
from tests.conftest import post
from tests.factories import make_org, make_project, make_task, make_user, make_visit
from tests.helpers import count_rows, field_error, reload

HX = {"HX-Request": "true"}


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture
def fosun(session, users):
    return make_org(session, actor=users["officer"], name="复星集团")


def project_form(orgs, users, **overrides) -> dict:
    data = {"name": "复星生物医药产业园", "stage": "lead", "owner_id": str(users["officer"].id),
            "organization_ids": [str(o.id) for o in orgs], "total_investment_wan_cny": "50000",
            "fixed_investment_wan_cny": "40000", "registered_capital_wan_cny": "10000", "land_need_mu": "120",
            "annual_output_wan_cny": "80000", "annual_tax_wan_cny": "5000", "jobs": "600", "source": "referral",
            "source_note": "市投促局推荐", "description": "生物医药研发及生产基地", "target_signing_on": "2026-12-20",
            "target_groundbreaking_on": "2027-03-01", "target_operation_on": "2028-06-30"}
    data.update(overrides)
    return data


def move(client, session, project, stage, **extra):
    """Moves the project as the page would: with the version it shows now."""
    version = reload(session, Project, project.id).version
    return post(client, f"/projects/{project.id}/move", {"stage": stage, "version": str(version), **extra})


def stage_of(session, project) -> str:
    return reload(session, Project, project.id).stage


def set_item(session, project, code, **values):
    session.execute(update(ApprovalItem).where(ApprovalItem.project_id == project.id, ApprovalItem.code == code)
                    .values(**values))
    session.commit()


def put_in_stage(session, project, stage, *, days_ago: int = 0):
    """Puts a project straight into a stage (for tests of later gates), as if it had got there `days_ago`."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    session.execute(update(Project).where(Project.id == project.id).values(
        stage=stage, pipeline_stage=stage, stage_entered_at=at, updated_at=at))
    session.commit()


# Creating and editing

def test_creating_a_project_saves_every_field_the_checklist_and_the_first_stage(officer_client, session, users, fosun):
    partner = make_org(session, actor=users["officer"], name="现代医药港")
    form = project_form([fosun, partner], users, officer_ids=[str(users["officer2"].id)], is_foreign_invested="1",
                        foreign_capital_wan_usd="3000.50", is_confidential="1")
    response = post(officer_client, "/projects", form)
    assert response.status_code == 303, response.text
    project = session.scalar(select(Project))
    assert (project.name, project.stage, project.pipeline_stage) == ("复星生物医药产业园", "lead", "lead")
    assert project.total_investment_wan_cny == Decimal("50000.00")
    assert project.foreign_capital_wan_usd == Decimal("3000.50") and project.is_foreign_invested
    assert project.land_need_mu == Decimal("120.00") and project.jobs == 600 and project.is_confidential
    assert project.target_groundbreaking_on == date(2027, 3, 1)
    items = session.scalars(select(ApprovalItem).where(ApprovalItem.project_id == project.id)
                            .order_by(ApprovalItem.position)).all()
    assert [i.name_zh for i in items] == ["立项备案", "用地预审与选址", "建设用地规划许可", "建设工程规划许可", "环评", "能评", "施工许可"]
    assert all(i.status == "not_started" and i.promised_days for i in items)
    [change] = session.scalars(select(StageChange)).all()
    assert (change.from_stage, change.to_stage, change.actor_id) == ("", "lead", users["officer"].id)
    page = officer_client.get(response.headers["location"]).text
    for text in ("复星集团", "现代医药港", "李四", "5.00 亿元", "3,000.50 万美元", "120.00 亩", "线索", "施工许可", "保密"):
        assert text in page, text
    assert page.index("复星集团") < page.index("现代医药港")  # the lead investor first
    entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "project"))
    assert entry.action == "create" and entry.organization_id is None


@pytest.mark.parametrize("field, value, says", [
    ("total_investment_wan_cny", "-5", "不小于 0"),
    ("total_investment_wan_cny", "99999999999", "之间"),
    ("total_investment_wan_cny", "五亿", "不是数字"),
    ("foreign_capital_wan_usd", "1.234", "两位小数"),
    ("land_need_mu", "1000000", "之间"),
    ("jobs", "-3", "整数"),
    ("fixed_investment_wan_cny", "60000", "不能超过总投资"),
    ("foreign_capital_wan_usd", "500", "外资项目"),
    ("stage", "signed", ""),
    ("target_operation_on", "2026-01-01", "早于"),
    ("organization_ids", [], "至少选择一个投资方"),
    ("name", "", "必填"),
])
def test_bad_input_is_refused_beside_its_field_and_nothing_is_saved(officer_client, session, users, fosun, field,
                                                                      value, says):
    response = post(officer_client, "/projects", project_form([fosun], users, **{field: value}))
    assert response.status_code == 422, field
    error = field_error(response.text, field)
    assert error is not None and says in error, (field, error)
    assert count_rows(session, Project) == 0 and count_rows(session, ApprovalItem) == 0


def test_a_lead_project_from_a_visit_in_one_step(officer_client, session, users, fosun):
    partner = make_org(session, actor=users["officer"], name="华东锂电池产业投资基金")
    visit = make_visit(session, title="复星集团考察", officer=users["officer"], organizations=[fosun, partner],
                       status="done")
    page = officer_client.get(f"/visits/{visit.id}").text
    assert 'action="/projects/from-visit/' in page
    response = post(officer_client, f"/projects/from-visit/{visit.id}")
    assert response.status_code == 303
    project = session.scalar(select(Project))
    assert (project.name, project.stage, project.source, project.source_visit_id) == (
        "复星集团项目", "lead", "visit", visit.id)
    assert project.owner_id == users["officer"].id
    assert session.scalar(select(ProjectVisit.visit_id).where(ProjectVisit.project_id == project.id)) == visit.id
    shown = officer_client.get(f"/projects/{project.id}").text
    assert "华东锂电池产业投资基金" in shown and "复星集团考察" in shown
    assert f'href="/projects/{project.id}"' in officer_client.get(f"/visits/{visit.id}").text


def test_two_people_editing_the_same_project_the_second_save_is_refused(officer_client, client_as, session, users,
                                                                        fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星项目")
    manager = client_as("manager")
    form = {**project_form([fosun], users, name="复星项目"), "version": str(project.version)}
    form.pop("stage")
    assert post(manager, f"/projects/{project.id}", {**form, "description": "领导的修改"}).status_code == 303
    response = post(officer_client, f"/projects/{project.id}", {**form, "description": "专员的修改"})
    assert response.status_code == 409
    assert "领导的修改" in response.text and "专员的修改" in response.text
    assert reload(session, Project, project.id).description == "领导的修改"


# Moving through the pipeline

def test_moves_are_recorded_with_who_when_from_to_and_the_time_in_each_stage(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="800")
    assert move(officer_client, session, project, "contact", note="首次电话沟通").status_code == 303
    assert move(officer_client, session, project, "negotiating").status_code == 303
    changes = session.scalars(select(StageChange).where(StageChange.project_id == project.id)
                              .order_by(StageChange.id)).all()
    assert [(c.from_stage, c.to_stage) for c in changes] == [("", "lead"), ("lead", "contact"), ("contact", "negotiating")]
    assert changes[1].note == "首次电话沟通" and changes[1].actor_id == users["officer"].id
    page = officer_client.get(f"/projects/{project.id}").text
    assert "各阶段停留时间" in page and "首次电话沟通" in page
    assert page.count('class="current"') >= 1


def test_on_hold_and_dropped_need_a_reason_and_a_project_comes_back(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], stage="negotiating",
                           total_investment_wan_cny="800")
    response = move(officer_client, session, project, "on_hold")
    assert response.status_code == 422 and "原因" in response.text
    assert stage_of(session, project) == "negotiating"
    assert move(officer_client, session, project, "on_hold", reason="投资方总部调整战略").status_code == 303
    held = reload(session, Project, project.id)
    assert (held.stage, held.pipeline_stage, held.stage_reason) == ("on_hold", "negotiating", "投资方总部调整战略")
    assert "投资方总部调整战略" in officer_client.get(f"/projects/{project.id}").text
    assert move(officer_client, session, project, "negotiating").status_code == 303
    assert reload(session, Project, project.id).stage_reason == ""
    assert move(officer_client, session, project, "dropped", reason="对方放弃").status_code == 303
    assert stage_of(session, project) == "dropped"


def test_a_major_project_cannot_be_signed_without_an_approving_collective_decision(officer_client, client_as, session,
                                                                                   users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], stage="negotiating",
                           total_investment_wan_cny="10000")  # exactly the threshold: a major project
    response = move(officer_client, session, project, "signed")
    assert response.status_code == 422
    assert "须先记录“三重一大”集体决策" in response.text and "10,000.00" in response.text
    assert stage_of(session, project) == "negotiating"

    manager = client_as("manager")
    decision = {"meeting_kind": "joint", "outcome": "approved", "resolution": "同意引进"}
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = post(manager, f"/projects/{project.id}/decisions", {**decision, "meeting_on": tomorrow})
    assert response.status_code == 422 and "不能晚于今天" in field_error(response.text, "meeting_on")
    assert count_rows(session, Decision) == 0
    # an officer may not record one
    response = post(officer_client, f"/projects/{project.id}/decisions", {**decision, "meeting_on": today().isoformat()})
    assert response.status_code == 403 and count_rows(session, Decision) == 0

    for outcome, says in (("rejected", "否决了该项目"), ("deferred", "决定暂缓")):
        response = post(manager, f"/projects/{project.id}/decisions",
                        {**decision, "outcome": outcome, "meeting_on": (today() - timedelta(days=2)).isoformat()})
        assert response.status_code == 303
        response = move(officer_client, session, project, "signed")
        assert response.status_code == 422 and says in response.text, outcome
    assert stage_of(session, project) == "negotiating"

    response = post(manager, f"/projects/{project.id}/decisions", {**decision, "meeting_on": today().isoformat()},
                    files={"file": ("党政联席会议纪要.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert response.status_code == 303
    assert move(officer_client, session, project, "signed").status_code == 303
    signed = reload(session, Project, project.id)
    assert (signed.stage, signed.signed_on) == ("signed", today())
    page = officer_client.get(f"/projects/{project.id}").text
    assert "党政联席会议纪要.pdf" in page and "同意引进" in page


def test_below_the_threshold_no_decision_is_needed_and_the_threshold_is_a_setting(app, officer_client, session,
                                                                                  users, fosun):
    small = make_project(session, actor=users["officer"], organizations=[fosun], stage="negotiating",
                         total_investment_wan_cny="9999.99")
    assert move(officer_client, session, small, "signed").status_code == 303
    unknown = make_project(session, actor=users["officer"], organizations=[fosun], stage="negotiating")
    response = move(officer_client, session, unknown, "signed")
    assert response.status_code == 422 and "尚未填写总投资" in response.text
    app.state.settings.major_project_threshold_wan_cny = Decimal("5000")
    mid = make_project(session, actor=users["officer"], organizations=[fosun], stage="negotiating",
                       total_investment_wan_cny="6000")
    assert move(officer_client, session, mid, "signed").status_code == 422


def test_a_jump_past_the_gates_is_refused_with_every_reason(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], stage="negotiating",
                           total_investment_wan_cny="20000")
    response = move(officer_client, session, project, "operating")
    assert response.status_code == 422
    for says in ("三重一大", "尚未供地", "施工许可尚未办结"):
        assert says in response.text, says
    assert stage_of(session, project) == "negotiating"
    assert count_rows(session, StageChange) == 1


def test_groundbreaking_needs_land_and_the_construction_permit(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="800")
    put_in_stage(session, project, "permits")
    response = move(officer_client, session, project, "groundbreaking")
    assert response.status_code == 422
    assert "尚未供地" in response.text and "施工许可：尚未申报" in response.text
    parcel = LandParcel(code="HZ-2026-01", name="纱厂地块", status="expropriating")
    session.add(parcel)
    session.commit()
    session.execute(update(Project).where(Project.id == project.id).values(parcel_id=parcel.id))
    session.commit()
    response = move(officer_client, session, project, "groundbreaking")
    assert "“纱厂地块”目前为“征收中”" in response.text
    session.execute(update(LandParcel).values(status="supplied"))
    set_item(session, project, "construction_permit", status="accepted", accepted_on=today(), submitted_on=today())
    response = move(officer_client, session, project, "groundbreaking")
    assert response.status_code == 422 and "施工许可尚未办结" in response.text and "尚未供地" not in response.text
    set_item(session, project, "construction_permit", status="approved", approved_on=today())
    assert move(officer_client, session, project, "groundbreaking").status_code == 303
    done = reload(session, Project, project.id)
    assert (done.stage, done.groundbreaking_on, done.gate_override_reason) == ("groundbreaking", today(), "")


def test_land_can_be_a_certificate_after_the_land_supplied_stage(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="800")
    put_in_stage(session, project, "registered")
    set_item(session, project, "construction_permit", status="approved", submitted_on=today(), accepted_on=today(),
             approved_on=today())
    session.execute(update(Project).where(Project.id == project.id).values(land_certificate_no="鲁(2026)菏泽市不动产权第0012345号"))
    session.commit()
    response = move(officer_client, session, project, "groundbreaking")  # not yet past 供地: the certificate is not enough
    assert response.status_code == 422 and "尚未供地" in response.text
    assert move(officer_client, session, project, "land_supplied").status_code == 303
    assert move(officer_client, session, project, "groundbreaking").status_code == 303


def test_a_manager_may_override_the_groundbreaking_gate_with_a_reason(officer_client, client_as, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="800")
    put_in_stage(session, project, "permits")
    response = move(officer_client, session, project, "groundbreaking", override_reason="我来特批")
    assert response.status_code == 422 and "只有领导可以特批开工" in response.text
    manager = client_as("manager")
    assert move(manager, session, project, "groundbreaking", override_reason="").status_code == 422
    response = move(manager, session, project, "groundbreaking", override_reason="列入12月集中开工，施工许可承诺三日内办结")
    assert response.status_code == 303
    moved = reload(session, Project, project.id)
    assert moved.stage == "groundbreaking" and moved.gate_override_by_id == users["manager"].id
    assert moved.gate_override_reason.startswith("列入12月集中开工")
    change = session.scalar(select(StageChange).where(StageChange.to_stage == "groundbreaking"))
    assert change.gate_override
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "project")
                            .order_by(AuditEntry.id.desc())).first()
    assert entry.changes["gate_override_reason"][1].startswith("列入12月集中开工")
    assert "领导特批开工" in officer_client.get(f"/projects/{project.id}").text
    # the override lifts only the groundbreaking gate: a major project without a decision is still refused
    major = make_project(session, actor=users["officer"], organizations=[fosun], stage="negotiating",
                         total_investment_wan_cny="50000")
    response = move(manager, session, major, "groundbreaking", override_reason="特批")
    assert response.status_code == 422 and "三重一大" in response.text


def test_only_its_people_and_managers_move_a_project(officer_client, client_as, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="800")
    other = client_as("officer2")
    assert move(other, session, project, "contact").status_code == 403
    assert other.get(f"/projects/{project.id}/edit").status_code == 403
    assert stage_of(session, project) == "lead"
    assistant = make_user(session, username="assistant", display_name="王助理")
    helper = make_project(session, actor=users["officer"], organizations=[fosun], officers=[assistant])
    assert move(client_as("assistant"), session, helper, "contact").status_code == 303
    assert move(client_as("manager"), session, project, "contact").status_code == 303


def test_the_board_offers_move_links_only_to_who_may_move_the_project(officer_client, client_as, session, users,
                                                                     fosun):
    """The "Move to…" link and the drag are for the project's people and managers; an officer who may only look
    gets neither (the link led to a 403). The cards are cached as HTML: the owner's board is rendered first, so a
    cache keyed without the permission would hand the other officer the owner's card, link and all."""
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="权限测试项目")
    move_link = f'href="/projects/{project.id}/move?'

    def card_of(client) -> str:
        page = client.get("/projects/board")
        assert page.status_code == 200
        start = page.text.index(f'id="card-{project.id}"')
        return page.text[start:page.text.index("</li>", start)]

    owner_card = card_of(officer_client)
    assert move_link in owner_card and 'data-movable="1"' in owner_card
    other_card = card_of(client_as("officer2"))
    assert "权限测试项目" in other_card
    assert move_link not in other_card and "data-movable" not in other_card
    manager_card = card_of(client_as("manager"))
    assert move_link in manager_card and 'data-movable="1"' in manager_card
    # the project's page offers the other officer nothing they cannot use either
    page = client_as("officer2").get(f"/projects/{project.id}").text
    for href in (f"/projects/{project.id}/move", f"/projects/{project.id}/edit", f"/projects/{project.id}/archive",
                 f"/projects/{project.id}/approvals/"):
        assert href not in page
    # a card moved from the board comes back with its link (its mover may move it again)
    response = post(officer_client, f"/projects/{project.id}/move",
                    {"stage": "contact", "version": str(reload(session, Project, project.id).version)}, headers=HX)
    assert response.status_code == 200 and move_link in response.text


def test_two_managers_moving_the_same_card_at_once_the_second_is_refused(client_as, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="800")
    first, second = client_as("manager"), client_as("admin")
    version = str(project.version)
    assert post(first, f"/projects/{project.id}/move", {"stage": "contact", "version": version}).status_code == 303
    response = post(second, f"/projects/{project.id}/move", {"stage": "dropped", "reason": "x", "version": version},
                    headers=HX)
    assert response.status_code == 409 and "已有他人修改或推进了该项目" in response.text
    assert stage_of(session, project) == "contact"
    assert count_rows(session, StageChange) == 2


def test_a_dragged_card_comes_back_as_a_card_or_a_refusal(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], stage="negotiating",
                           total_investment_wan_cny="50000")
    response = post(officer_client, f"/projects/{project.id}/move",
                    {"stage": "signed", "version": str(reload(session, Project, project.id).version)}, headers=HX)
    assert response.status_code == 422
    assert 'class="form-error refusal"' in response.text and "三重一大" in response.text
    assert "<html" not in response.text
    response = post(officer_client, f"/projects/{project.id}/move",
                    {"stage": "contact", "version": str(reload(session, Project, project.id).version)}, headers=HX)
    assert response.status_code == 200 and response.text.lstrip().startswith('<li class="kanban-card')
    assert 'data-stage="contact"' in response.text


def test_the_card_menu_without_javascript_returns_to_the_board(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="800")
    response = move(officer_client, session, project, "contact", next="/projects/board?industry=")
    assert response.status_code == 303 and response.headers["location"] == "/projects/board?industry="
    response = move(officer_client, session, project, "on_hold", next="/projects/board")
    assert response.status_code == 422 and "<html" in response.text and "原因" in response.text


# The permit checklist

def test_approval_items_change_in_place_and_overdue_ones_stand_out(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun])
    item = session.scalar(select(ApprovalItem).where(ApprovalItem.project_id == project.id,
                                                     ApprovalItem.code == "environmental"))
    edit = officer_client.get(f"/projects/{project.id}/approvals/{item.id}/edit", headers=HX)
    assert edit.status_code == 200 and 'name="promised_days"' in edit.text
    accepted = today() - timedelta(days=40)
    response = post(officer_client, f"/projects/{project.id}/approvals/{item.id}",
                    {"status": "accepted", "accepted_on": accepted.isoformat(), "promised_days": "20",
                     "assistant": "帮办代办 刘敏", "note": ""}, headers=HX)
    assert response.status_code == 200 and "<html" not in response.text
    row = response.text.split(f'id="approval-{item.id}"', 1)[1].split("</tr>", 1)[0]
    assert row.startswith(' class="overdue"') and "刘敏" in row
    assert "已逾期" in row
    saved = reload(session, ApprovalItem, item.id)
    assert (saved.status, saved.submitted_on, saved.assistant) == ("accepted", accepted, "帮办代办 刘敏")
    assert "审批超时" in officer_client.get("/projects").text  # the table's badge
    response = post(officer_client, f"/projects/{project.id}/approvals/{item.id}",
                    {"status": "approved", "approved_on": (today() + timedelta(days=3)).isoformat(), "promised_days": "20"},
                    headers=HX)
    assert response.status_code == 422 and "晚于今天" in response.text
    response = post(officer_client, f"/projects/{project.id}/approvals/{item.id}",
                    {"status": "approved", "promised_days": "20"}, headers=HX)
    assert response.status_code == 200 and "已办结 1 / 7" in response.text
    assert reload(session, ApprovalItem, item.id).approved_on == today()


def test_working_days_skip_weekends():
    from crm.projects.gates import working_days

    friday = date(2026, 12, 4)
    assert working_days(friday, friday) == 0
    assert working_days(friday, date(2026, 12, 7)) == 1  # Saturday and Sunday do not count
    assert working_days(friday, date(2026, 12, 18)) == 10


# Stale projects

def test_a_project_without_visit_task_or_stage_change_in_30_days_is_stale_everywhere(officer_client, session, users,
                                                                                    fosun):
    quiet = make_project(session, actor=users["officer"], organizations=[fosun], name="沉寂项目")
    busy = make_project(session, actor=users["officer"], organizations=[make_org(session, actor=users["officer"])],
                        name="活跃项目")
    other = make_org(session, actor=users["officer"], name="另一投资方")
    visited = make_project(session, actor=users["officer"], organizations=[other], name="近期考察项目")
    for p in (quiet, busy, visited):
        put_in_stage(session, p, "negotiating", days_ago=45)
    make_task(session, actor=users["officer"], project_id=busy.id)
    make_visit(session, title="近期考察", officer=users["officer"], organizations=[other],
               starts_at=datetime.now(UTC) - timedelta(days=3), status="done")
    table = officer_client.get("/projects?stale=1").text
    assert "沉寂项目" in table and "活跃项目" not in table and "近期考察项目" not in table
    assert "沉寂项目" not in officer_client.get("/projects?stale=0").text
    board = officer_client.get("/projects/board").text
    card = board.split(f'id="card-{quiet.id}"', 1)[1].split("</li>", 1)[0]
    assert "久未跟进" in card
    assert "久未跟进" not in board.split(f'id="card-{busy.id}"', 1)[1].split("</li>", 1)[0]
    assert "久未跟进" in officer_client.get(f"/projects/{quiet.id}").text


# The table

def test_filters_sorting_totals_and_the_funnel(officer_client, session, users, fosun):
    chains = {c.code: c.id for c in session.scalars(select(IndustryChain))}
    make_project(session, actor=users["officer"], organizations=[fosun], name="甲项目", stage="negotiating",
                 total_investment_wan_cny="50000", industry_chain_id=str(chains["biomedicine"]))
    make_project(session, actor=users["officer"], organizations=[fosun], name="乙项目", stage="negotiating",
                 total_investment_wan_cny="2000", is_foreign_invested="1", foreign_capital_wan_usd="300")
    make_project(session, actor=users["officer2"], organizations=[fosun], name="丙项目", stage="lead",
                 total_investment_wan_cny="800.50", industry_chain_id=str(chains["new_energy"]))
    page = officer_client.get("/projects").text
    assert 'id="total-count">3<' in page and "5.28 亿元" in page and "300.00 万美元" in page
    # one unit per column (issue 16): beside a 5 亿 project, 2,000 and 800.50 万元 read in 亿元 too
    rows = page.split('class="list projects-table"', 1)[1]
    assert "0.20 亿元" in rows and "0.08 亿元" in rows and "万元" not in rows
    assert "<svg" in page and "Noto Sans CJK SC" in page and "洽谈" in page
    assert officer_client.get("/projects?sort=-investment").text.index("甲项目") < officer_client.get(
        "/projects?sort=-investment").text.index("乙项目")
    assert officer_client.get("/projects?sort=name").status_code == 200
    checks = {
        "stage=lead": {"丙项目"}, f"industry={chains['biomedicine']}": {"甲项目"},
        f"officer={users['officer2'].id}": {"丙项目"}, "min=1000&max=10000": {"乙项目"}, "foreign=1": {"乙项目"},
        "foreign=0": {"甲项目", "丙项目"}, "q=甲项目": {"甲项目"}, "confidential=1": set(),
    }
    for query, expected in checks.items():
        html = officer_client.get(f"/projects?{query}").text.split('class="list projects-table"', 1)
        shown = {n for n in ("甲项目", "乙项目", "丙项目") if len(html) > 1 and n in html[1]}
        assert shown == expected, (query, shown)
    negotiating = officer_client.get("/projects?stage=negotiating").text
    assert 'id="total-count">2<' in negotiating
    for bad in ("stage=signedx", "min=-1", "min=abc", "sort=bogus", "min=500&max=100", "stale=maybe"):
        assert officer_client.get(f"/projects?{bad}").status_code == 400, bad
    fragment = officer_client.get("/projects?stage=lead", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text and "丙项目" in fragment.text


def test_the_board_shows_each_stage_with_its_cards(officer_client, session, users, fosun):
    make_project(session, actor=users["officer"], organizations=[fosun], name="甲项目", stage="negotiating",
                 total_investment_wan_cny="50000")
    page = officer_client.get("/projects/board")
    assert page.status_code == 200
    assert "sortable-1.15.7.min.js" in page.text and "kanban.js" in page.text
    column = page.text.split('data-stage="negotiating"', 1)[1].split("</ul>", 1)[0]
    assert "甲项目" in column and "复星集团" in column and "5.00 亿元" in column and "张晓明" in column
    assert "关口未过" in column  # a major project without a decision, one step from 签约
    assert 'class="card-move" href="/projects/' in column  # the move page, for keyboards and without JavaScript


# Follow-ups and files on projects

def test_follow_ups_and_files_on_a_project(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星项目")
    form = officer_client.get(f"/tasks/new?project={project.id}").text
    assert f'name="project_id" value="{project.id}"' in form
    response = post(officer_client, "/tasks", {"title": "寄送项目资料", "assignee_id": str(users["officer"].id),
                                               "due_on": "2026-12-20", "priority": "normal",
                                               "project_id": str(project.id)})
    assert response.status_code == 303 and response.headers["location"] == f"/projects/{project.id}"
    assert session.scalar(select(Task.project_id)) == project.id
    response = post(officer_client, "/attachments", {"entity_type": "project", "entity_id": str(project.id)},
                    files={"file": ("项目建议书.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert response.status_code == 303
    page = officer_client.get(f"/projects/{project.id}").text
    assert "寄送项目资料" in page and "项目建议书.pdf" in page
    assert post(officer_client, "/tasks", {"title": "x", "assignee_id": str(users["officer"].id),
                                           "due_on": "2026-12-20", "priority": "normal",
                                           "project_id": "999999"}).status_code == 422


def test_projects_are_on_their_investors_timelines(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星项目")
    timeline = officer_client.get(f"/organizations/{fosun.id}/timeline").text
    assert f'href="/projects/{project.id}"' in timeline
    assert f'href="/projects/{project.id}"' in officer_client.get(f"/organizations/{fosun.id}").text


def test_unknown_projects_and_items_are_404(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun])
    for url in ("/projects/999999", "/projects/abc", f"/projects/{project.id}/approvals/999999/edit",
                "/projects/decisions/999999"):
        assert officer_client.get(url).status_code == 404, url


@pytest.fixture
def template_restored(db):
    """The template table is kept between tests (it is seeded by the migrations): put it back as it was."""
    from crm.projects.models import ApprovalTemplate

    table = ApprovalTemplate.__table__
    with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(table.select())]
    yield
    with db.engine.begin() as conn:
        conn.execute(table.delete())
        conn.execute(table.insert(), rows)


def test_admins_keep_the_permit_checklist_template(client_as, officer_client, session, users, fosun, template_restored):
    from crm.projects.models import ApprovalTemplate

    admin = client_as("admin")
    assert officer_client.get("/admin/approvals").status_code == 403
    page = admin.get("/admin/approvals").text
    assert "施工许可" in page and "环评" in page
    eia = session.scalar(select(ApprovalTemplate).where(ApprovalTemplate.code == "environmental"))
    response = post(admin, f"/admin/approvals/{eia.id}", {"name_zh": "环评", "name_en": "EIA", "promised_days": "15",
                                                          "position": str(eia.position), "is_active": "1"})
    assert response.status_code == 303
    response = post(admin, "/admin/approvals", {"name_zh": "水土保持方案", "name_en": "Soil and water conservation plan",
                                                "promised_days": "10", "position": "65"})
    assert response.status_code == 303
    assert post(admin, "/admin/approvals", {"name_zh": "环评", "name_en": "x", "position": "1"}).status_code == 422
    assert post(admin, "/admin/approvals", {"name_zh": "y", "name_en": "z", "position": "1",
                                            "promised_days": "0"}).status_code == 422
    energy = session.scalar(select(ApprovalTemplate).where(ApprovalTemplate.code == "energy"))
    post(admin, f"/admin/approvals/{energy.id}", {"name_zh": "能评", "name_en": "Energy-use assessment",
                                                  "promised_days": "15", "position": str(energy.position)})
    session.expire_all()  # see what the app committed
    project = make_project(session, actor=users["officer"], organizations=[fosun])
    items = session.scalars(select(ApprovalItem).where(ApprovalItem.project_id == project.id)
                            .order_by(ApprovalItem.position)).all()
    names = [i.name_zh for i in items]
    assert "水土保持方案" in names and "能评" not in names  # retired lines stay out of new checklists
    assert next(i for i in items if i.code == "environmental").promised_days == 15


def test_a_later_visit_is_linked_to_the_project(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星项目")
    visit = make_visit(session, title="第二轮洽谈", officer=users["officer"], organizations=[fosun], status="done")
    page = officer_client.get(f"/projects/{project.id}").text
    assert f'<option value="{visit.id}">' in page
    assert post(officer_client, f"/projects/{project.id}/visits", {"visit_id": str(visit.id)}).status_code == 303
    assert session.scalar(select(ProjectVisit.visit_id).where(ProjectVisit.project_id == project.id)) == visit.id
    assert "第二轮洽谈" in officer_client.get(f"/projects/{project.id}").text
    assert post(officer_client, f"/projects/{project.id}/visits", {"visit_id": "999999"}).status_code == 400


def test_the_stage_history_shows_why_the_gate_was_overridden(officer_client, client_as, session, users, fosun):
    """Issue 16: the override's reason showed in the gates panel and the change history, but the stage-history
    entry had the badge alone. Each overridden move keeps its own reason (a later override does not rewrite it)."""
    project = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="800")
    put_in_stage(session, project, "permits")
    manager = client_as("manager")
    assert move(manager, session, project, "groundbreaking", override_reason="列入12月集中开工，许可三日内办结").status_code == 303
    assert move(manager, session, project, "permits").status_code == 303
    assert move(manager, session, project, "groundbreaking", override_reason="第二次特批：市领导现场办公").status_code == 303
    changes = list(session.scalars(select(StageChange).where(StageChange.project_id == project.id,
                                                             StageChange.to_stage == "groundbreaking")
                                   .order_by(StageChange.id)))
    assert [c.gate_override_reason for c in changes] == ["列入12月集中开工，许可三日内办结", "第二次特批：市领导现场办公"]
    page = officer_client.get(f"/projects/{project.id}").text
    history = page.split("<h2>阶段变更记录</h2>", 1)[1].split("</section>", 1)[0]
    assert "列入12月集中开工，许可三日内办结" in history and "第二次特批：市领导现场办公" in history
    back = session.scalar(select(StageChange).where(StageChange.project_id == project.id,
                                                    StageChange.to_stage == "permits"))
    assert back.gate_override_reason == ""
