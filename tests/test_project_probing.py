"""Issue 13, hole 5: a confidential project cannot be probed. Wherever a project id is accepted (a follow-up's form,
the new-follow-up link, a project's own URLs, its files, a groundbreaking slate), a confidential project of another
officer answers exactly as an id that does not exist — same status, same error text — and nothing is written; and
no page of its investor (the organization page and its timeline) shows its id, name or link to that officer, while
its owner and a manager still see it. The rule is crm.projects.service.may_see, reused (is_visible, get_visible)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEntry
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.tasks.models import Task
from tests.conftest import post
from tests.factories import make_org, make_project, make_task
from tests.helpers import field_error

SECRET = "机密并购项目"
MISSING = 999_999


@pytest.fixture
def world(session, users):
    """A confidential project of `officer` (investor 复星集团, signed, so it could be slated), a follow-up of
    `officer2` on 复星集团 to edit, and a manager's follow-up for `officer2` that concerns the confidential
    project (as a manager may assign): its audit entry is on 复星集团's timeline."""
    fosun = make_org(session, actor=users["officer"], name="复星集团")
    secret = make_project(session, actor=users["officer"], organizations=[fosun], name=SECRET, stage="negotiating",
                          total_investment_wan_cny="800", is_confidential="1")
    secret.stage = secret.pipeline_stage = "signed"
    session.commit()
    mine = make_task(session, actor=users["officer2"], title="寄送资料", assignee_id=users["officer2"].id,
                     organization_id=fosun.id)
    assigned = make_task(session, actor=users["manager"], title="并购尽调跟进", assignee_id=users["officer2"].id,
                         organization_id=fosun.id, project_id=secret.id)
    event = GroundbreakingEvent(name="集中开工", held_on=date.today() + timedelta(days=20))
    session.add(event)
    session.commit()
    return {"fosun": fosun, "secret": secret, "mine": mine, "assigned": assigned, "event": event}


def written(session) -> tuple[int, int, int]:
    session.expire_all()
    changes = select(func.count(AuditEntry.id)).where(  # data changes (sign-ins and refusals are audited too)
        AuditEntry.entity_type.in_(["task", "project", "groundbreaking_event", "attachment"]))
    counts = (session.scalar(select(func.count(Task.id))), session.scalar(changes),
              session.scalar(select(func.count()).select_from(SlatedProject)))
    session.commit()
    return counts


def task_form(world, users, **overrides) -> dict:
    data = {"title": "探一探", "assignee_id": str(users["officer2"].id), "due_on": "2026-12-10", "priority": "normal",
            "organization_id": str(world["fosun"].id)}
    data.update(overrides)
    return data


def answer(response) -> tuple[int, str | None]:
    """What a probe learns: the status and the error beside the project field."""
    return response.status_code, field_error(response.text, "project_id")


def test_linking_a_follow_up_answers_a_hidden_project_as_a_missing_one(client_as, session, users, world):
    other = client_as("officer2")
    before = written(session)
    hidden = post(other, "/tasks", task_form(world, users, project_id=str(world["secret"].id)))
    missing = post(other, "/tasks", task_form(world, users, project_id=str(MISSING)))
    assert answer(hidden) == answer(missing)
    assert hidden.status_code == 422 and "没有这个项目" in answer(hidden)[1]
    assert SECRET not in hidden.text
    assert written(session) == before  # nothing written

    task = world["mine"]
    base = {**task_form(world, users, title=task.title), "version": str(task.version)}
    hidden = post(other, f"/tasks/{task.id}", {**base, "project_id": str(world["secret"].id)})
    missing = post(other, f"/tasks/{task.id}", {**base, "project_id": str(MISSING)})
    assert answer(hidden) == answer(missing) and hidden.status_code == 422
    session.expire_all()
    assert session.get(Task, task.id).project_id is None
    session.commit()
    assert written(session) == before

    # The owner may link it.
    owner = client_as("officer")
    response = post(owner, "/tasks", task_form(world, users, assignee_id=str(users["officer"].id),
                                                  project_id=str(world["secret"].id)))
    assert response.status_code == 303


def test_the_new_follow_up_link_shows_nothing_of_a_hidden_project(client_as, world):
    other = client_as("officer2")
    for project_id in (world["secret"].id, MISSING):
        page = other.get("/tasks/new", params={"project": project_id})
        assert page.status_code == 200
        assert SECRET not in page.text and 'name="project_id"' not in page.text
        assert f"/projects/{project_id}" not in page.text


def test_every_url_of_a_hidden_project_answers_as_a_missing_one(client_as, session, users, world):
    other = client_as("officer2")
    secret = world["secret"]
    before = written(session)
    gets = ["/projects/{id}", "/projects/{id}/edit", "/projects/{id}/move", "/projects/{id}/approvals",
            "/projects/{id}/archive"]
    posts = {"/projects/{id}": {"name": "x"}, "/projects/{id}/move": {"stage": "contact"},
             "/projects/{id}/visits": {"visit_id": "1"}, "/projects/{id}/decisions": {"meeting_kind": "joint"},
             "/projects/{id}/archive": {}, "/projects/{id}/restore": {}, "/projects/{id}/approvals/1": {}}

    def body(response, url: str) -> str:  # the page echoes its own URL (the sign-out form's "next"): not a leak
        return response.text.replace(other.csrf, "").replace(url, "URL")

    for url in gets:
        hidden_url, missing_url = url.format(id=secret.id), url.format(id=MISSING)
        hidden, missing = other.get(hidden_url), other.get(missing_url)
        assert hidden.status_code == missing.status_code == 404, url
        assert body(hidden, hidden_url) == body(missing, missing_url), url
    for url, data in posts.items():
        hidden_url, missing_url = url.format(id=secret.id), url.format(id=MISSING)
        hidden, missing = post(other, hidden_url, data), post(other, missing_url, data)
        assert hidden.status_code == missing.status_code == 404, url
        assert body(hidden, hidden_url) == body(missing, missing_url), url
    # its files: uploading to it
    files = {"file": ("探测.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}
    hidden = post(other, "/attachments", {"entity_type": "project", "entity_id": str(secret.id)}, files=files)
    missing = post(other, "/attachments", {"entity_type": "project", "entity_id": str(MISSING)}, files=files)
    assert hidden.status_code == missing.status_code == 404
    assert body(hidden, "/attachments") == body(missing, "/attachments")
    assert written(session) == before


def test_a_slate_answers_a_project_its_reader_may_not_see_as_a_missing_one(client_as, session, users, world):
    event = world["event"]
    before = written(session)
    other = client_as("officer2")  # officers do not keep slates at all: the same refusal for any id
    hidden = post(other, f"/groundbreaking/{event.id}/slate", {"project_id": str(world["secret"].id)})
    missing = post(other, f"/groundbreaking/{event.id}/slate", {"project_id": str(MISSING)})
    assert hidden.status_code == missing.status_code == 403
    manager = client_as("manager")
    archived_like_missing = post(manager, f"/groundbreaking/{event.id}/slate", {"project_id": str(MISSING)})
    assert archived_like_missing.status_code == 422
    assert "没有这个项目" in field_error(archived_like_missing.text, "project_id")
    assert written(session) == before
    assert post(manager, f"/groundbreaking/{event.id}/slate", {"project_id": str(world["secret"].id)}).status_code == 303


def id_shown(html: str, project_id: int) -> bool:
    return bool(re.search(rf"/projects/{project_id}\b|<ins>{project_id}</ins>|<del>{project_id}</del>"
                          rf"|项目\s*[:：]\s*{project_id}\b", html))


def test_the_investors_pages_show_nothing_of_a_hidden_project(client_as, world):
    fosun, secret = world["fosun"], world["secret"]
    urls = [f"/organizations/{fosun.id}", f"/organizations/{fosun.id}/timeline", f"/tasks/{world['assigned'].id}",
            "/tasks", "/tasks?team=1", "/"]
    other = client_as("officer2")
    for url in urls:
        page = other.get(url)
        assert page.status_code == 200, url
        assert SECRET not in page.text, url
        assert not id_shown(page.text.replace(other.csrf, ""), secret.id), url
    timeline = other.get(f"/organizations/{fosun.id}/timeline").text
    assert "并购尽调跟进" in timeline and "保密项目" in timeline  # the follow-up shows; its project has no id or name

    for who in ("officer", "manager"):  # its owner and a manager still see it
        reader = client_as(who)
        page = reader.get(f"/organizations/{fosun.id}").text
        assert SECRET in page and f'href="/projects/{secret.id}"' in page, who
        timeline = reader.get(f"/organizations/{fosun.id}/timeline").text
        assert SECRET in timeline and f'href="/projects/{secret.id}"' in timeline, who
    manager_task = client_as("manager").get(f"/tasks/{world['assigned'].id}").text
    assert f'href="/projects/{secret.id}"' in manager_task


def test_an_assignee_who_may_not_see_the_project_keeps_the_link_when_editing(client_as, session, users, world):
    other = client_as("officer2")
    task = world["assigned"]
    form = other.get(f"/tasks/{task.id}/edit").text
    assert SECRET not in form and f"/projects/{world['secret'].id}" not in form
    response = post(other, f"/tasks/{task.id}", {**task_form(world, users, title="并购尽调跟进（改）"),
                                                  "version": str(task.version)})
    assert response.status_code == 303
    session.expire_all()
    saved = session.get(Task, task.id)
    assert (saved.title, saved.project_id) == ("并购尽调跟进（改）", world["secret"].id)
    session.commit()
