"""The REST API under /api/v1 (issue 15): visibility, ETag/If-Match, Idempotency-Key, problem details, moves,
the audit channel, the OpenAPI document."""

from __future__ import annotations

from sqlalchemy import select

from crm.api import tokens
from crm.audit.models import AuditEntry
from crm.organizations.models import Organization
from tests import factories


def _token(session, user, scope: str = "write") -> dict[str, str]:
    _token, secret = tokens.create(session, user=user, name="test", scope=scope, expires_at=None, actor=user)
    return {"Authorization": f"Bearer {secret}"}


def test_confidential_project_is_invisible_to_another_officer_everywhere(client, session, users):
    officer, other, manager = users["officer"], users["officer2"], users["manager"]
    org = factories.make_org(session, actor=officer, name="华鑫新材料")
    secret_project = factories.make_project(session, actor=officer, organizations=[org], name="绝密项目",
                                            is_confidential="1", total_investment_wan_cny="98765")
    open_project = factories.make_project(session, actor=officer, organizations=[org], name="公开项目")
    task = factories.make_task(session, actor=officer, project_id=secret_project.id, organization_id=org.id,
                               title="跟进")
    theirs, mine, boss = _token(session, other, "read"), _token(session, officer, "read"), _token(session, manager, "read")

    for path in ("/api/v1/projects", f"/api/v1/organizations/{org.id}", "/api/v1/follow-ups",
                 f"/api/v1/follow-ups/{task.id}", f"/api/v1/projects?organization={org.id}", "/api/v1/organizations"):
        response = client.get(path, headers=theirs)
        assert response.status_code == 200, (path, response.text)
        assert "绝密项目" not in response.text and "98765" not in response.text, path
        assert f'"project_id":{secret_project.id}' not in response.text.replace(" ", ""), path
    listed = client.get("/api/v1/projects", headers=theirs).json()
    assert [p["id"] for p in listed["items"]] == [open_project.id] and listed["total"] == 1
    assert client.get(f"/api/v1/follow-ups/{task.id}", headers=theirs).json()["project_id"] is None
    assert client.get(f"/api/v1/organizations/{org.id}", headers=theirs).json()["projects"] == [
        {"id": open_project.id, "name": "公开项目", "stage": "lead"}]
    for path in (f"/api/v1/projects/{secret_project.id}", f"/api/v1/follow-ups?project={secret_project.id}"):
        response = client.get(path, headers=theirs)
        assert response.status_code in (200, 404)
        assert "绝密项目" not in response.text and "跟进" not in response.text
    missing = client.get(f"/api/v1/projects/{secret_project.id}", headers=theirs)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert client.patch(f"/api/v1/projects/{secret_project.id}", headers={**theirs, "If-Match": '"1"'},
                        json={"name": "x"}).status_code in (403, 404)
    # Its owner and a manager see it, with its nested history.
    for headers in (mine, boss):
        shown = client.get(f"/api/v1/projects/{secret_project.id}", headers=headers)
        assert shown.status_code == 200 and shown.json()["name"] == "绝密项目"
        assert shown.json()["stage_history"][0]["to_stage"] == "lead"
        assert shown.headers["etag"] == f'"{shown.json()["version"]}"'
    assert client.get("/api/v1/projects", headers=boss).json()["total"] == 2


def test_writes_etag_if_match_idempotency_problems_and_audit(client, session, users):
    officer = users["officer"]
    write = _token(session, officer)
    # Validation: the form's messages, in the user's language, by JSON pointer.
    bad = client.post("/api/v1/organizations", headers=write, json={"kind": "nonsense"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    problem = bad.json()
    assert problem["status"] == 422 and problem["title"]
    pointers = {e["pointer"]: e["detail"] for e in problem["errors"]}
    assert pointers["/name"] == "此项为必填。" or "/name" in pointers
    assert "/kind" in pointers
    typed = client.post("/api/v1/organizations", headers=write, json={"name": 5, "extra": 1})
    assert typed.status_code == 422 and {e["pointer"] for e in typed.json()["errors"]} >= {"/name", "/extra"}

    # Create with an Idempotency-Key: a retry answers the first result; another body with the key is refused.
    body = {"name": "华鑫新材料科技有限公司", "kind": "investor", "tags": ["新材料", "外资"]}
    first = client.post("/api/v1/organizations", headers={**write, "Idempotency-Key": "k-1"}, json=body)
    assert first.status_code == 201, first.text
    again = client.post("/api/v1/organizations", headers={**write, "Idempotency-Key": "k-1"}, json=body)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = client.post("/api/v1/organizations", headers={**write, "Idempotency-Key": "k-1"},
                        json={**body, "name": "别的"})
    assert other.status_code == 422
    session.expire_all()
    assert len(session.scalars(select(Organization).where(Organization.name == body["name"])).all()) == 1
    duplicate = client.post("/api/v1/organizations", headers=write, json=body)
    assert duplicate.status_code == 422 and duplicate.json()["errors"][0]["pointer"] == "/name"

    org_id, etag = first.json()["id"], first.headers["etag"]
    assert first.json()["tags"] == ["新材料", "外资"]
    url = f"/api/v1/organizations/{org_id}"
    assert client.patch(url, headers=write, json={"city": "苏州"}).status_code == 428
    assert client.patch(url, headers={**write, "If-Match": '"99"'}, json={"city": "苏州"}).status_code == 412
    changed = client.patch(url, headers={**write, "If-Match": etag}, json={"city": "苏州"})
    assert changed.status_code == 200 and changed.json()["city"] == "苏州" and changed.json()["name"] == body["name"]
    assert changed.headers["etag"] != etag
    assert client.patch(url, headers={**write, "If-Match": etag}, json={"city": "无锡"}).status_code == 412

    session.expire_all()
    entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "organization",
                                                       AuditEntry.entity_id == org_id).order_by(AuditEntry.id)).all()
    assert [(e.action, e.channel, e.actor_id) for e in entries] == [("create", "api", officer.id),
                                                                     ("update", "api", officer.id)]

    # Follow-ups: create, complete.
    task = client.post("/api/v1/follow-ups", headers=write, json={"title": "回访", "due_on": "2026-12-20",
                                                                   "organization_id": org_id})
    assert task.status_code == 201, task.text
    done = client.post(f"/api/v1/follow-ups/{task.json()['id']}/complete", headers=write)
    assert done.status_code == 200 and done.json()["status"] == "done"


def test_project_moves_go_through_the_gates(client, session, users):
    officer = users["officer"]
    write = _token(session, officer)
    created = client.post("/api/v1/projects", headers=write,
                          json={"name": "新能源项目", "owner_id": officer.id, "stage": "lead",
                                "organization_ids": [factories.make_org(session, actor=officer).id]})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    refused = client.post(f"/api/v1/projects/{project_id}/moves", headers=write, json={"stage": "groundbreaking"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["reasons"], refused.json()
    moved = client.post(f"/api/v1/projects/{project_id}/moves", headers=write, json={"stage": "contact"})
    assert moved.status_code == 200 and moved.json()["stage"] == "contact"
    assert [c["to_stage"] for c in moved.json()["stage_history"]] == ["lead", "contact"]
    nothing = client.post(f"/api/v1/projects/{project_id}/moves", headers=write, json={})
    assert nothing.status_code == 422 and nothing.json()["errors"][0]["pointer"] == "/stage"


def test_openapi_document_lists_every_path(client, users):
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    doc = document.json()
    assert doc["openapi"] == "3.1.0"
    api_routes = {r.path for r in client.app.routes if getattr(r, "path", "") == "/api/v1"}
    assert api_routes
    for path in ("/organizations", "/organizations/{organization_id}", "/contacts", "/visits", "/follow-ups",
                 "/projects", "/projects/{project_id}/moves", "/parcels", "/groundbreaking-events",
                 "/export-members", "/export-members/{organization_id}/figures", "/indicators",
                 "/indicators/{indicator_id}/values", "/me"):
        assert path in doc["paths"], path
    assert "Problem" in doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_resource_reads_and_visits_and_contacts_write(client, session, users):
    from datetime import date

    from crm.exports.models import ExportEnterprise, ExportFigure
    from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
    from crm.indicators import service as indicator_service
    from crm.parcels.models import LandParcel

    officer, other = users["officer"], users["officer2"]
    org = factories.make_org(session, actor=officer, name="玉皇新能源")
    secret = factories.make_project(session, actor=officer, organizations=[org], name="绝密项目", is_confidential="1")
    session.add(LandParcel(code="P-1", name="纱厂地块"))
    event = GroundbreakingEvent(name="集中开工", held_on=date(2026, 12, 20))
    session.add(event)
    session.flush()
    session.add(SlatedProject(event_id=event.id, project_id=secret.id))
    session.add(ExportEnterprise(organization_id=org.id, tier="leader", officer_id=officer.id))
    session.add(ExportFigure(organization_id=org.id, year=2026, month=3, value_wan_usd="12.50"))
    session.commit()
    indicator_service.ensure_defaults(session)
    session.commit()
    read, write = _token(session, other, "read"), _token(session, officer)

    for path in ("/api/v1/parcels", "/api/v1/groundbreaking-events", "/api/v1/export-members", "/api/v1/indicators",
                 "/api/v1/contacts", "/api/v1/visits"):
        assert client.get(path, headers=read).status_code == 200, path
    indicator = client.get("/api/v1/indicators?limit=1", headers=read).json()
    assert indicator["next"] and "cursor=" in indicator["next"]
    second = client.get(indicator["next"].removeprefix("http://testserver"), headers=read)
    assert second.status_code == 200 and second.json()["items"][0]["id"] != indicator["items"][0]["id"]
    values = client.get(f"/api/v1/indicators/{indicator['items'][0]['id']}/values?year=2026", headers=read)
    assert values.status_code == 200 and values.json()["year"] == 2026
    figures = client.get(f"/api/v1/export-members/{org.id}/figures?year=2026", headers=read).json()
    assert [{k: v for k, v in m.items() if k != "etag"} for m in figures["months"]] == [
        {"year": 2026, "month": 3, "value_wan_usd": "12.50"}]
    # The slate shows the confidential project to its officer only.
    assert client.get(f"/api/v1/groundbreaking-events/{event.id}", headers=read).json()["slate"] == []
    slate = client.get(f"/api/v1/groundbreaking-events/{event.id}", headers=write).json()["slate"]
    assert slate[0]["name"] == "绝密项目" and slate[0]["ready"] is False and slate[0]["gates"]
    assert client.get("/api/v1/projects?updated_since=yesterday", headers=read).status_code == 400
    assert client.get("/api/v1/projects?cursor=bogus", headers=read).status_code == 400

    plant = factories.make_org(session, actor=officer, name="园区工厂", kind="zone_enterprise")
    contact = client.post("/api/v1/contacts", headers=write, json={"organization_id": org.id, "name": "王伟",
                                                                    "mobile": "12"})
    assert contact.status_code == 422 and contact.json()["errors"][0]["pointer"] == "/mobile"
    contact = client.post("/api/v1/contacts", headers=write, json={"organization_id": org.id, "name": "王伟"})
    assert contact.status_code == 201
    visit = client.post("/api/v1/visits", headers=write, json={
        "title": "玉皇新能源来访", "kind": "inbound", "status": "planned", "starts_at": "2026-12-01T09:30:00+08:00",
        "ends_at": "2026-12-01T11:30:00+08:00", "officer_id": officer.id, "organization_ids": [org.id],
        "member_ids": [contact.json()["id"]], "host_ids": [officer.id],
        "tour_stops": [{"organization_id": org.id, "host": "李总"}]})
    assert visit.status_code == 422 and visit.json()["errors"][0]["pointer"] == "/tour_stops/0/organization_id"
    visit = client.post("/api/v1/visits", headers=write, json={
        "title": "玉皇新能源来访", "kind": "inbound", "status": "planned", "starts_at": "2026-12-01T09:30:00+08:00",
        "ends_at": "2026-12-01T11:30:00+08:00", "officer_id": officer.id, "organization_ids": [org.id],
        "member_ids": [contact.json()["id"]], "host_ids": [officer.id],
        "tour_stops": [{"organization_id": plant.id, "host": "李总"}]})
    assert visit.status_code == 201, visit.text
    shown = visit.json()
    assert shown["starts_at"].startswith("2026-12-01T01:30") and shown["members"][0]["name"] == "王伟"
    assert shown["hosts"][0]["user_id"] == officer.id and shown["tour_stops"][0]["host"] == "李总"
    changed = client.patch(f"/api/v1/visits/{shown['id']}", headers={**write, "If-Match": visit.headers["etag"]},
                           json={"status": "done", "outcome": "达成意向"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "done" and changed.json()["members"] == shown["members"]
    refused = client.patch(f"/api/v1/visits/{shown['id']}", headers={**read, "If-Match": changed.headers["etag"]},
                           json={"status": "planned"})
    assert refused.status_code == 403


def test_managers_keep_parcels_and_groundbreaking_events(client, session, users):
    officer, manager = _token(session, users["officer"]), _token(session, users["manager"])
    body = {"code": "P-9", "name": "纱厂地块", "status": "expropriating", "households_total": 557}
    assert client.post("/api/v1/parcels", headers=officer, json=body).status_code == 403
    created = client.post("/api/v1/parcels", headers=manager, json=body)
    assert created.status_code == 201, created.text
    over = client.patch(f"/api/v1/parcels/{created.json()['id']}", headers={**manager, "If-Match": created.headers["etag"]},
                        json={"households_signed": 600})
    assert over.status_code == 422 and over.json()["errors"][0]["pointer"] == "/households_signed"
    signed = client.patch(f"/api/v1/parcels/{created.json()['id']}",
                          headers={**manager, "If-Match": created.headers["etag"]}, json={"households_signed": 120})
    assert signed.status_code == 200 and signed.json()["households_signed"] == 120
    event = client.post("/api/v1/groundbreaking-events", headers=manager, json={"name": "集中开工", "held_on": "2026-12-20"})
    assert event.status_code == 201 and event.json()["held_on"] == "2026-12-20"
    moved = client.patch(f"/api/v1/groundbreaking-events/{event.json()['id']}",
                         headers={**manager, "If-Match": event.headers["etag"]}, json={"held_on": "2026-12-27"})
    assert moved.status_code == 200 and moved.json()["held_on"] == "2026-12-27"
    assert client.get("/api/v1/groundbreaking-events", headers=officer).json()["items"][0]["name"] == "集中开工"
