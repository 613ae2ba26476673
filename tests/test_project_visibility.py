"""Confidential projects: one filter (crm.projects.service.visible_to) decides who sees them — the owning officer,
the assigned officers, managers and admins. Everyone else finds them in no list, search, count, total, export or
timeline, and a direct URL (the project, its decisions, its checklist, its files) answers 404. Every view that
lists projects is checked here."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.projects.models import ApprovalItem, Decision
from tests.conftest import post
from tests.factories import make_org, make_project, make_user, make_visit

SECRET = "机密并购项目"
OPEN = "公开招商项目"


@pytest.fixture
def world(session, users, client_as):
    """A confidential project owned by `officer` with `helper` assigned, and an open one, both with 复星集团 as
    investor and linked to one visit; a decision with minutes and a file on the confidential project."""
    helper = make_user(session, username="helper", display_name="协办专员")
    fosun = make_org(session, actor=users["officer"], name="复星集团")
    visit = make_visit(session, title="复星集团考察", officer=users["officer"], organizations=[fosun], status="done")
    secret = make_project(session, actor=users["officer"], organizations=[fosun], name=SECRET, stage="negotiating",
                          total_investment_wan_cny="88888", is_foreign_invested="1", foreign_capital_wan_usd="777",
                          is_confidential="1", officers=[helper], source="visit", source_visit_id=str(visit.id),
                          description="收购保密标的")
    public = make_project(session, actor=users["officer"], organizations=[fosun], name=OPEN, stage="negotiating",
                          total_investment_wan_cny="1000", source="visit", source_visit_id=str(visit.id))
    owner = client_as("officer")
    response = post(owner, "/attachments", {"entity_type": "project", "entity_id": str(secret.id)},
                    files={"file": ("并购意向书.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert response.status_code == 303
    manager = client_as("manager")
    response = post(manager, f"/projects/{secret.id}/decisions",
                    {"meeting_kind": "joint", "meeting_on": "2026-01-05", "outcome": "approved", "resolution": "同意"},
                    files={"file": ("会议纪要.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert response.status_code == 303
    from crm.attachments.models import Attachment

    files = {a.entity_type: a.id for a in session.scalars(select(Attachment))}
    decision = session.scalar(select(Decision))
    item = session.scalar(select(ApprovalItem).where(ApprovalItem.project_id == secret.id))
    session.commit()
    return {"secret": secret, "public": public, "fosun": fosun, "visit": visit, "files": files,
            "decision": decision, "item": item}


def listing_urls(world) -> list[str]:
    fosun, visit = world["fosun"], world["visit"]
    return ["/projects", "/projects?confidential=1", "/projects/board", "/projects/export.csv",
            "/search?q=项目", "/search?q=复星", f"/organizations/{fosun.id}", f"/organizations/{fosun.id}/timeline",
            f"/visits/{visit.id}", f"/projects?organization={fosun.id}"]


def direct_urls(world) -> list[str]:
    secret = world["secret"]
    return [f"/projects/{secret.id}", f"/projects/{secret.id}/edit", f"/projects/{secret.id}/move",
            f"/projects/{secret.id}/approvals", f"/projects/{secret.id}/approvals/{world['item'].id}/edit",
            f"/projects/decisions/{world['decision'].id}", f"/attachments/{world['files']['project']}",
            f"/attachments/{world['files']['project_decision']}"]


def test_others_find_a_confidential_project_nowhere(client_as, world):
    other = client_as("officer2")
    for url in listing_urls(world):
        response = other.get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.text, url
        shown = response.text.replace(other.csrf, "")  # a random token may hold the digits looked for
        assert "88888" not in shown and "8.89 亿元" not in shown and "777" not in shown, url
    assert OPEN in other.get("/projects").text and OPEN in other.get("/projects/board").text
    table = other.get("/projects").text
    assert 'id="total-count">1<' in table and "1,000.00 万元" in table  # totals count only what they may see
    board = other.get("/projects/board").text
    assert 'data-count-for="negotiating">1<' in board
    for url in direct_urls(world):
        assert other.get(url).status_code == 404, url
    secret = world["secret"]
    assert post(other, f"/projects/{secret.id}/move", {"stage": "dropped", "reason": "x",
                                                         "version": "99"}).status_code == 404
    assert post(other, f"/projects/{secret.id}/decisions", {}).status_code == 404
    assert post(other, f"/projects/{secret.id}/approvals/{world['item'].id}", {"status": "approved"}).status_code == 404
    assert post(other, "/attachments", {"entity_type": "project", "entity_id": str(secret.id)},
                files={"file": ("x.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}).status_code == 404


@pytest.mark.parametrize("username", ["officer", "helper", "manager", "admin"])
def test_its_owner_assigned_officers_managers_and_admins_see_it(client_as, world, username):
    viewer = client_as(username)
    for url in listing_urls(world):
        if url.startswith("/search") or url.endswith("export.csv") or "confidential" in url:
            continue
        assert SECRET in viewer.get(url).text, (username, url)
    assert SECRET in viewer.get("/projects/export.csv").text
    assert f"/projects/{world['secret'].id}" in viewer.get("/search?q=保密标的").text
    assert 'id="total-count">2<' in viewer.get("/projects").text
    for url in direct_urls(world):
        assert viewer.get(url).status_code in (200, 303), (username, url)


def test_a_task_on_a_confidential_project_does_not_show_its_name(client_as, session, world, users):
    from tests.factories import make_task

    make_task(session, actor=users["officer"], assignee_id=users["officer2"].id, title="准备材料",
              project_id=world["secret"].id)
    page = client_as("officer2").get("/tasks").text
    assert "准备材料" in page and "保密项目" in page and SECRET not in page
