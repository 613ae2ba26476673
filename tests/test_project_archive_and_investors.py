"""Projects archived instead of deleted (managers only, confirmed, audited, restorable; gone from every list, total,
board, slate and reminder while archived, its links kept), and the project form's investors added, removed and
reordered through server round trips that work without JavaScript (what was typed is kept)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from crm.audit.models import AuditEntry
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.projects.models import Project, ProjectOrganization, ProjectVisit
from crm.tasks.models import Task
from tests.conftest import login, post
from tests.factories import make_org, make_project, make_task, make_visit
from tests.helpers import count_rows, field_error, input_value, reload


@pytest.fixture
def manager_client(client, users):
    login(client, "manager")
    return client


@pytest.fixture
def fosun(session, users):
    return make_org(session, actor=users["officer"], name="复星集团")


def _archive(client, session, project):
    return post(client, f"/projects/{project.id}/archive", {"version": str(reload(session, Project, project.id).version)})


# Archiving

def test_the_confirmation_page_says_what_archiving_does_to_the_links(manager_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星医药产业园")
    visit = make_visit(session, title="复星集团来访", officer=users["officer"], organizations=[fosun])
    session.add(ProjectVisit(project_id=project.id, visit_id=visit.id))
    session.commit()
    make_task(session, actor=users["officer"], title="准备项目资料", project_id=project.id)
    page = manager_client.get(f"/projects/{project.id}/archive")
    assert page.status_code == 200
    assert "复星医药产业园" in page.text
    assert "12月" not in page.text  # on no slate
    assert f'action="/projects/{project.id}/archive"' in page.text
    assert f'href="/projects/{project.id}"' in page.text  # the way back
    assert reload(session, Project, project.id).archived_at is None  # looking changes nothing


def test_a_manager_archives_a_project_and_it_leaves_every_list_and_total(manager_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星医药产业园",
                           total_investment_wan_cny="50000")
    make_project(session, actor=users["officer"], organizations=[fosun], name="复星二期", total_investment_wan_cny="100")
    visit = make_visit(session, title="复星集团来访", officer=users["officer"], organizations=[fosun])
    session.add(ProjectVisit(project_id=project.id, visit_id=visit.id))
    session.commit()
    task = make_task(session, actor=users["officer"], title="准备项目资料", project_id=project.id)
    audit_before = count_rows(session, AuditEntry)

    response = _archive(manager_client, session, project)
    assert response.status_code == 303 and response.headers["location"] == "/projects"
    stored = reload(session, Project, project.id)
    assert stored.archived_at is not None
    entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "project", AuditEntry.entity_id == project.id)
                           .order_by(AuditEntry.id.desc()))
    assert entry.action == "archive" and entry.actor_id == users["manager"].id
    assert count_rows(session, AuditEntry) == audit_before + 1
    # Its links are kept: nothing is destroyed.
    assert session.get(ProjectVisit, (project.id, visit.id)) is not None
    assert reload(session, Task, task.id).status == "open"
    assert session.scalar(select(ProjectOrganization).where(ProjectOrganization.project_id == project.id)) is not None

    link = f'href="/projects/{project.id}"'
    table = manager_client.get("/projects")  # (the flash names it once)
    assert link not in table.text and "复星二期" in table.text
    assert '<th class="num" id="total-count">1</th>' in table.text
    assert "50,000" not in table.text
    assert link not in manager_client.get("/projects/board").text
    assert link not in manager_client.get(f"/organizations/{fosun.id}").text
    assert link not in manager_client.get("/projects", params={"q": "医药产业园"}).text
    assert "复星医药产业园" not in manager_client.get("/projects/export.csv").text
    # Where a manager finds it again, and its page says so, read-only, with the way back.
    archived = manager_client.get("/projects", params={"archived": "1"})
    assert link in archived.text and "复星二期" not in archived.text
    page = manager_client.get(f"/projects/{project.id}")
    assert page.status_code == 200
    assert 'id="archived-notice"' in page.text and f'action="/projects/{project.id}/restore"' in page.text
    assert f'href="/projects/{project.id}/edit"' not in page.text


def test_an_archived_project_cannot_be_changed_until_it_is_restored(manager_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星医药产业园")
    assert _archive(manager_client, session, project).status_code == 303
    version = str(reload(session, Project, project.id).version)
    assert manager_client.get(f"/projects/{project.id}/edit").status_code == 403
    assert post(manager_client, f"/projects/{project.id}/move", {"stage": "contact", "version": version}).status_code == 403
    assert post(manager_client, f"/projects/{project.id}/decisions", {
        "meeting_kind": "joint", "meeting_on": date.today().isoformat(), "outcome": "approved",
        "resolution": "同意"}).status_code == 403
    assert reload(session, Project, project.id).stage == "lead"

    response = post(manager_client, f"/projects/{project.id}/restore", {"version": version})
    assert response.status_code == 303 and response.headers["location"] == f"/projects/{project.id}"
    assert reload(session, Project, project.id).archived_at is None
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.entity_id == project.id,
                                                          AuditEntry.entity_type == "project")
                          .order_by(AuditEntry.id.desc())) == "restore"
    assert f'href="/projects/{project.id}"' in manager_client.get("/projects").text
    assert manager_client.get(f"/projects/{project.id}/edit").status_code == 200


def test_only_managers_and_admins_archive_and_the_server_enforces_it(client_as, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星医药产业园")
    officer = client_as("officer")  # the owner, who may edit it, may not archive it
    assert officer.get(f"/projects/{project.id}/archive").status_code == 403
    assert _archive(officer, session, project).status_code == 403
    assert f'href="/projects/{project.id}/archive"' not in officer.get(f"/projects/{project.id}").text
    assert reload(session, Project, project.id).archived_at is None
    admin = client_as("admin")
    # Without the CSRF token nothing happens, even for an admin.
    response = admin.post(f"/projects/{project.id}/archive",
                          data={"version": str(reload(session, Project, project.id).version)})
    assert response.status_code == 403
    assert reload(session, Project, project.id).archived_at is None
    assert _archive(admin, session, project).status_code == 303
    assert reload(session, Project, project.id).archived_at is not None
    assert post(officer, f"/projects/{project.id}/restore",
                {"version": str(reload(session, Project, project.id).version)}).status_code == 403
    assert reload(session, Project, project.id).archived_at is not None


def test_archiving_a_page_shown_before_a_change_is_refused(manager_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星医药产业园")
    stale_version = str(project.version)
    session.execute(update(Project).where(Project.id == project.id).values(version=Project.version + 1))
    session.commit()
    response = post(manager_client, f"/projects/{project.id}/archive", {"version": stale_version})
    assert response.status_code == 303 and response.headers["location"] == f"/projects/{project.id}"
    assert reload(session, Project, project.id).archived_at is None


def test_an_archived_project_leaves_the_slate_board_and_comes_back_on_restore(manager_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星医药产业园",
                           total_investment_wan_cny="50000")
    session.execute(update(Project).where(Project.id == project.id).values(stage="signed", pipeline_stage="signed"))
    event = GroundbreakingEvent(name="12月项目集中奠基开工", held_on=date.today() + timedelta(days=10))
    session.add(event)
    session.flush()
    session.add(SlatedProject(event_id=event.id, project_id=project.id, position=1))
    session.commit()
    link = f'href="/projects/{project.id}"'
    assert link in manager_client.get(f"/groundbreaking/{event.id}").text
    assert "12月项目集中奠基开工" in manager_client.get(f"/projects/{project.id}/archive").text
    _archive(manager_client, session, project)
    assert session.get(SlatedProject, (event.id, project.id)) is not None  # kept, only not shown
    assert link not in manager_client.get(f"/groundbreaking/{event.id}").text
    refused = post(manager_client, f"/groundbreaking/{event.id}/slate", {"project_id": str(project.id)})
    assert refused.status_code in (404, 422)
    post(manager_client, f"/projects/{project.id}/restore", {"version": str(reload(session, Project, project.id).version)})
    assert link in manager_client.get(f"/groundbreaking/{event.id}").text


def test_an_archived_project_is_never_stale_and_sends_no_reminder(session, users, fosun):
    from crm.projects.pipeline import is_stale

    project = make_project(session, actor=users["officer"], organizations=[fosun])
    old = datetime.now(UTC) - timedelta(days=90)
    session.execute(update(Project).where(Project.id == project.id).values(stage_entered_at=old, updated_at=old))
    session.commit()
    cutoff = datetime.now(UTC) - timedelta(days=30)
    assert session.scalar(select(Project.id).where(is_stale(cutoff))) == project.id
    session.execute(update(Project).where(Project.id == project.id).values(archived_at=datetime.now(UTC)))
    session.commit()
    assert session.scalar(select(Project.id).where(is_stale(cutoff))) is None


def test_an_officer_does_not_see_a_confidential_archived_project_of_others(client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="保密项目", is_confidential="1")
    session.execute(update(Project).where(Project.id == project.id).values(archived_at=datetime.now(UTC)))
    session.commit()
    login(client, "officer2")
    assert client.get(f"/projects/{project.id}").status_code == 404
    assert "保密项目" not in client.get("/projects", params={"archived": "1"}).text


# Investors on the form, without JavaScript

def _form(users, orgs, **extra) -> dict:
    data = {"name": "复星生物医药产业园", "stage": "lead", "owner_id": str(users["officer"].id),
            "organization_ids": [str(o.id) for o in orgs], "total_investment_wan_cny": "50000", "jobs": "600"}
    data.update(extra)
    return data


def test_find_lists_matching_organizations_and_keeps_what_was_typed(officer_client, session, users, fosun):
    make_org(session, actor=users["officer"], name="现代医药港")
    response = post(officer_client, "/projects", _form(users, [fosun], org_q="现代医药", form_action="find"))
    assert response.status_code == 200
    assert "现代医药港" in response.text and 'id="add-investors"' in response.text
    assert input_value(response.text, "name") == "复星生物医药产业园"
    assert input_value(response.text, "total_investment_wan_cny") == "50000"
    assert 'name="org_q" value="现代医药"' in response.text
    assert field_error(response.text, "name") is None
    assert count_rows(session, Project) == 0


def test_enter_in_the_search_box_finds_and_enter_elsewhere_saves(officer_client, session, users, fosun):
    make_org(session, actor=users["officer"], name="现代医药港")
    found = post(officer_client, "/projects", _form(users, [fosun], org_q="现代医药", form_action="enter"))
    assert found.status_code == 200 and "现代医药港" in found.text
    assert count_rows(session, Project) == 0
    saved = post(officer_client, "/projects", _form(users, [fosun], org_q="", form_action="enter"))
    assert saved.status_code == 303
    assert count_rows(session, Project) == 1


def test_ticked_organizations_are_added_removed_and_made_lead_then_saved(officer_client, session, users, fosun):
    partner = make_org(session, actor=users["officer"], name="现代医药港")
    third = make_org(session, actor=users["officer"], name="玉皇新能源")
    added = post(officer_client, "/projects", _form(users, [fosun, partner, third], form_action="add"))
    assert added.status_code == 200
    assert added.text.index("复星集团") < added.text.index("现代医药港") < added.text.index("玉皇新能源")
    assert f'value="remove:{partner.id}"' in added.text and f'value="lead:{third.id}"' in added.text

    removed = post(officer_client, "/projects", _form(users, [fosun, partner, third], form_action=f"remove:{partner.id}"))
    assert removed.status_code == 200
    assert f'name="organization_ids" value="{partner.id}"' not in removed.text
    assert input_value(removed.text, "name") == "复星生物医药产业园"

    lead = post(officer_client, "/projects", _form(users, [fosun, third], form_action=f"lead:{third.id}"))
    assert lead.status_code == 200
    assert (lead.text.index(f'name="organization_ids" value="{third.id}"')
            < lead.text.index(f'name="organization_ids" value="{fosun.id}"'))
    assert count_rows(session, Project) == 0

    saved = post(officer_client, "/projects", _form(users, [third, fosun]))
    assert saved.status_code == 303, saved.text
    assert count_rows(session, Project) == 1  # (a fresh read: the session's last one began before the post)
    project = session.scalar(select(Project))
    investors = session.scalars(select(ProjectOrganization.organization_id).where(ProjectOrganization.project_id == project.id)
                                .order_by(ProjectOrganization.position)).all()
    assert investors == [third.id, fosun.id]


def test_removing_an_investor_while_editing_keeps_the_edit_unsaved_until_save(officer_client, session, users, fosun):
    partner = make_org(session, actor=users["officer"], name="现代医药港")
    project = make_project(session, actor=users["officer"], organizations=[fosun, partner], name="复星医药产业园")
    data = _form(users, [fosun, partner], name="复星医药产业园（改）", version=str(project.version))
    data.pop("stage")
    response = post(officer_client, f"/projects/{project.id}", {**data, "form_action": f"remove:{partner.id}"})
    assert response.status_code == 200
    assert input_value(response.text, "name") == "复星医药产业园（改）"
    assert f'name="organization_ids" value="{partner.id}"' not in response.text
    assert reload(session, Project, project.id).name == "复星医药产业园"  # nothing saved yet
    data["organization_ids"] = [str(fosun.id)]
    assert post(officer_client, f"/projects/{project.id}", data).status_code == 303
    session.commit()  # a fresh read: the session's last one began before the post
    assert session.scalars(select(ProjectOrganization.organization_id)
                           .where(ProjectOrganization.project_id == project.id)).all() == [fosun.id]


def test_removing_the_last_investor_then_saving_says_one_is_needed(officer_client, session, users, fosun):
    response = post(officer_client, "/projects", _form(users, [fosun], form_action=f"remove:{fosun.id}"))
    assert response.status_code == 200 and field_error(response.text, "organization_ids") is None
    saved = post(officer_client, "/projects", _form(users, []))
    assert saved.status_code == 422 and field_error(saved.text, "organization_ids")
    assert count_rows(session, Project) == 0


def test_the_htmx_search_fragment_lists_matches_with_the_add_button(officer_client, session, users, fosun):
    response = officer_client.get("/projects/organization-options", params={"org_q": "复星", "action": "/projects"},
                                  headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "复星集团" in response.text and 'value="add"' in response.text


# Totals kept by the database (project_stage_total, kept by triggers) agree with the projects

def _live_totals(session, *, confidential=None):
    from sqlalchemy import func

    stmt = (select(Project.stage, func.count(Project.id), func.coalesce(func.sum(Project.total_investment_wan_cny), 0),
                   func.coalesce(func.sum(Project.foreign_capital_wan_usd), 0))
            .where(Project.archived_at.is_(None)).group_by(Project.stage))
    if confidential is not None:
        stmt = stmt.where(Project.is_confidential.is_(confidential))
    session.commit()
    return {stage: (count, Decimal(str(inv)).quantize(Decimal("0.01")), Decimal(str(fx)).quantize(Decimal("0.01")))
            for stage, count, inv, fx in session.execute(stmt)}


def _kept(session, viewer):
    from crm.projects import pipeline

    session.commit()
    totals = pipeline.totals(session, flt=pipeline.ProjectFilter(), viewer=viewer, now=datetime.now(UTC), stale_days=30)
    return {t.stage: (t.count, t.investment.quantize(Decimal("0.01")), t.foreign.quantize(Decimal("0.01")))
            for t in totals.by_stage if t.count}


def test_the_kept_totals_follow_every_kind_of_change(manager_client, session, users, fosun):
    from sqlalchemy import delete

    a = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="1000.10")
    b = make_project(session, actor=users["officer"], organizations=[fosun], total_investment_wan_cny="2500.25",
                     is_foreign_invested="1", foreign_capital_wan_usd="300.33")
    c = make_project(session, actor=users["officer2"], organizations=[fosun], total_investment_wan_cny="99",
                     is_confidential="1")
    assert _kept(session, users["manager"]) == _live_totals(session)
    # A move (through the service), a raw update of amounts and stage, an archive, a confidential flag, a delete.
    assert post(manager_client, f"/projects/{a.id}/move", {"stage": "contact",
                                                           "version": str(reload(session, Project, a.id).version)}
                ).status_code == 303
    session.execute(update(Project).where(Project.id == b.id).values(total_investment_wan_cny=Decimal("7000.07"),
                                                                       stage="negotiating"))
    session.commit()
    assert _kept(session, users["manager"]) == _live_totals(session)
    _archive(manager_client, session, b)
    session.execute(update(Project).where(Project.id == a.id).values(is_confidential=True))
    session.commit()
    assert _kept(session, users["manager"]) == _live_totals(session)
    # An officer: the projects that are not confidential, and the confidential ones that are theirs (a).
    officer = _live_totals(session, confidential=False)
    for stage, (count, inv, fx) in _live_totals(session, confidential=True).items():
        if stage == "contact":  # a, the officer's own
            n, i, f = officer.get(stage, (0, Decimal("0.00"), Decimal("0.00")))
            officer[stage] = (n + count, i + inv, f + fx)
    assert _kept(session, users["officer"]) == officer
    assert "lead" not in _kept(session, users["officer2"]) or _kept(session, users["officer2"])["lead"][0] == 1
    session.execute(delete(Project).where(Project.id == c.id))
    session.commit()
    assert _kept(session, users["manager"]) == _live_totals(session)


def test_a_board_card_shows_a_change_at_once(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星医药产业园")
    assert "复星医药产业园" in officer_client.get("/projects/board").text
    session.execute(update(Project).where(Project.id == project.id).values(name="复星医药产业园二期",
                                                                             total_investment_wan_cny=Decimal("12000")))
    session.commit()
    board = officer_client.get("/projects/board").text
    assert "复星医药产业园二期" in board and "1.20 亿元" in board


# Each organization's latest visit kept by the database (organization_last_visit, for the stale flag)

def _latest_kept(session, org_id):
    from crm.projects.models import OrganizationLastVisit

    session.commit()
    value = session.scalar(select(OrganizationLastVisit.starts_at).where(OrganizationLastVisit.organization_id == org_id))
    session.commit()
    return value


def test_the_latest_visit_follows_new_cancelled_moved_unlinked_and_deleted_visits(session, users, fosun):
    from sqlalchemy import delete

    from crm.visits.models import Visit, VisitOrganization

    other = make_org(session, actor=users["officer"], name="现代医药港")
    early = datetime(2026, 10, 1, 1, 30, tzinfo=UTC)
    late = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
    first = make_visit(session, title="十月来访", officer=users["officer"], organizations=[fosun], starts_at=early)
    assert _latest_kept(session, fosun.id) == early
    second = make_visit(session, title="十一月来访", officer=users["officer"], organizations=[fosun, other], starts_at=late)
    assert _latest_kept(session, fosun.id) == late and _latest_kept(session, other.id) == late
    session.execute(update(Visit).where(Visit.id == second.id).values(status="cancelled"))
    session.commit()
    assert _latest_kept(session, fosun.id) == early and _latest_kept(session, other.id) is None
    session.execute(update(Visit).where(Visit.id == second.id).values(status="planned",
                                                                         starts_at=late + timedelta(days=3)))
    session.commit()
    assert _latest_kept(session, fosun.id) == late + timedelta(days=3)
    session.execute(delete(VisitOrganization).where(VisitOrganization.visit_id == second.id,
                                                    VisitOrganization.organization_id == fosun.id))
    session.commit()
    assert _latest_kept(session, fosun.id) == early and _latest_kept(session, other.id) == late + timedelta(days=3)
    session.execute(delete(VisitOrganization).where(VisitOrganization.visit_id == first.id))
    session.execute(delete(Visit).where(Visit.id == first.id))
    session.commit()
    assert _latest_kept(session, fosun.id) is None


def test_an_investors_visit_keeps_a_project_from_being_stale(officer_client, session, users, fosun):
    project = make_project(session, actor=users["officer"], organizations=[fosun], name="复星医药产业园")
    old = datetime.now(UTC) - timedelta(days=60)
    session.execute(update(Project).where(Project.id == project.id).values(stage_entered_at=old, updated_at=old))
    session.commit()
    link = f'href="/projects/{project.id}"'
    assert link in officer_client.get("/projects", params={"stale": "1"}).text
    visit = make_visit(session, title="复星来访", officer=users["officer"], organizations=[fosun],
                       starts_at=datetime.now(UTC) - timedelta(days=3))
    assert link not in officer_client.get("/projects", params={"stale": "1"}).text
    from crm.visits.models import Visit

    session.execute(update(Visit).where(Visit.id == visit.id).values(status="cancelled"))
    session.commit()
    assert link in officer_client.get("/projects", params={"stale": "1"}).text
