"""The API's later writes (issue 15): one month's export figure, one period's indicator value, a project's decision
and a permit checklist item — the forms' rules and roles, ETag/If-Match, Idempotency-Key, the audit channel — and
pydantic's type errors in the token user's language, by JSON pointer."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from crm.api import tokens
from crm.audit.models import AuditEntry
from crm.exports.models import ExportFigure
from crm.indicators.models import Indicator, IndicatorValue
from crm.projects.models import Decision
from tests import api_world


def _bearer(secret: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", **headers}


def test_type_errors_speak_the_token_users_language(client, session, users):
    officer, manager = users["officer"], users["manager"]
    officer.locale, manager.locale = "zh_CN", "en"
    session.commit()
    zh = _bearer(tokens.create(session, user=officer, name="zh", scope="write", expires_at=None, actor=officer)[1])
    en = _bearer(tokens.create(session, user=manager, name="en", scope="write", expires_at=None, actor=manager)[1])
    body = {"name": 5, "officer_ids": [2_147_483_648, "x"], "organization_ids": list(range(1, 40)), "colour": "red"}
    answers = {}
    for who, headers in (("zh", zh), ("en", en)):
        response = client.post("/api/v1/projects", headers=headers, json=body)
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
        answers[who] = {e["pointer"]: e["detail"] for e in response.json()["errors"]}
    assert answers["en"] == {
        "/name": "Enter text (a JSON string).",
        "/officer_ids/0": "Enter a number no larger than 2147483647.",
        "/officer_ids/1": "Enter a whole number.",
        "/organization_ids": "At most 30 items (you sent 39).",
        "/colour": "This field is not part of this request: leave it out.",
    }
    assert answers["zh"]["/officer_ids/0"] == "请输入不大于 2147483647 的数。"
    assert answers["zh"]["/colour"] == "此字段不属于本请求：请去掉它。"
    assert answers["zh"]["/organization_ids"] == "最多 30 项（您发送了 39 项）。"
    # A union's members are one error at the field; a body that is not an object, or not JSON, is named as such.
    parcel = client.post("/api/v1/parcels", headers=en, json={"land_area_m2": [1]}).json()["errors"]
    assert parcel == [{"pointer": "/land_area_m2",
                       "detail": "This value has the wrong type: see the field's type in the API reference."}]
    assert client.post("/api/v1/projects", headers=zh, json=[1]).json()["errors"] == [
        {"pointer": "", "detail": "请以 JSON 对象作为请求正文。"}]
    broken = client.post("/api/v1/projects", headers={**en, "Content-Type": "application/json"}, content=b"{nope")
    assert broken.status_code == 422 and broken.json()["errors"][0]["detail"] == "The request body is not valid JSON."


def test_figures_values_decisions_and_checklist_items(client, session, users):
    world = api_world.build(session, users)
    ids, year = world.ids, world.ids["year"]
    officer, manager = _bearer(world.write), _bearer(world.manager_write)
    member = ids["export_member_organization_id"]

    # One month's export figure: the member's officer enters it; a month on file changes only with If-Match.
    url = f"/api/v1/export-members/{member}/figures/{year - 1}/12"
    entered = client.put(url, headers=officer, json={"value_wan_usd": "12.5"})
    assert entered.status_code == 201 and entered.json()["value_wan_usd"] == "12.50"
    tag = entered.headers["etag"]
    assert client.put(url, headers=officer, json={"value_wan_usd": "13"}).status_code == 428
    stale = client.put(url, headers={**officer, "If-Match": '"0ld"'}, json={"value_wan_usd": "13"})
    assert stale.status_code == 412 and stale.json()["current_etag"] == tag.strip('"')
    changed = client.put(url, headers={**officer, "If-Match": tag}, json={"value_wan_usd": "13"})
    assert changed.status_code == 200 and changed.json()["value_wan_usd"] == "13.00" and changed.headers["etag"] != tag
    listed = client.get(f"/api/v1/export-members/{member}/figures?year={year - 1}", headers=officer).json()
    assert listed["months"][0]["etag"] == changed.headers["etag"].strip('"')
    future = date.today().replace(day=28) + timedelta(days=5)
    not_over = client.put(f"/api/v1/export-members/{member}/figures/{future.year}/{future.month}", headers=officer,
                          json={"value_wan_usd": "1"})
    assert not_over.status_code == 422 and not_over.json()["errors"][0]["pointer"] == "#/path/month"
    bad = client.put(f"/api/v1/export-members/{member}/figures/{year - 1}/11", headers=officer,
                     json={"value_wan_usd": "-3"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/value_wan_usd"
    other = _bearer(tokens.create(session, user=users["officer2"], name="w", scope="write", expires_at=None,
                                  actor=users["officer2"])[1])
    assert client.put(url, headers={**other, "If-Match": "*"}, json={"value_wan_usd": "1"}).status_code == 403
    assert session.scalar(select(ExportFigure.value_wan_usd).where(ExportFigure.organization_id == member,
                                                                   ExportFigure.year == year - 1)) == 13

    # One period's indicator value: managers; the period form's rules; null clears it.
    indicator = session.get(Indicator, ids["indicator_id"])
    period = 4 if indicator.frequency == "quarterly" else 12
    url = f"/api/v1/indicators/{indicator.id}/values/{year - 1}/{period}"
    assert client.put(url, headers=officer, json={"value": "1"}).status_code == 403
    entered = client.put(url, headers=manager, json={"value": "250.5"})
    assert entered.status_code == 201 and entered.json()["version"] == 1 and entered.headers["etag"] == '"1"'
    assert client.put(url, headers=manager, json={"value": "260"}).status_code == 428
    assert client.put(url, headers={**manager, "If-Match": '"7"'}, json={"value": "260"}).status_code == 412
    wrong = client.put(url, headers={**manager, "If-Match": '"1"'}, json={"value": "abc"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["pointer"] == "/value"
    changed = client.put(url, headers={**manager, "If-Match": '"1"'}, json={"value": 260})
    assert changed.status_code == 200 and changed.json()["value"] == "260.00" and changed.headers["etag"] == '"2"'
    cleared = client.put(url, headers={**manager, "If-Match": '"2"'}, json={"value": None})
    assert cleared.status_code == 200 and cleared.json()["value"] is None
    session.rollback()
    assert session.scalar(select(IndicatorValue).where(IndicatorValue.indicator_id == indicator.id,
                                                       IndicatorValue.year == year - 1)) is None
    assert client.put(f"/api/v1/indicators/{indicator.id}/values/{year - 1}/13", headers=manager,
                      json={"value": 1}).status_code == 404

    # A decision: managers; Idempotency-Key; the date not in the future.
    url = f"/api/v1/projects/{ids['project_id']}/decisions"
    decision = {"meeting_kind": "joint", "meeting_on": date.today().isoformat(), "outcome": "approved",
                "resolution": "同意落户"}
    assert client.post(url, headers=officer, json=decision).status_code == 403
    first = client.post(url, headers={**manager, "Idempotency-Key": "d-1"}, json=decision)
    again = client.post(url, headers={**manager, "Idempotency-Key": "d-1"}, json=decision)
    assert first.status_code == again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert first.json() == again.json() and first.json()["resolution"] == "同意落户"
    session.rollback()  # a fresh snapshot
    assert len(session.scalars(select(Decision).where(Decision.project_id == ids["project_id"])).all()) == 1
    late = client.post(url, headers=manager, json={**decision, "meeting_on": (date.today() + timedelta(days=2)).isoformat()})
    assert late.status_code == 422 and late.json()["errors"][0]["pointer"] == "/meeting_on"
    assert client.post(f"/api/v1/projects/{world.secret_project_id}/decisions",
                       headers=_bearer(world.other_read), json=decision).status_code in (403, 404)

    # A checklist item: whoever may change the project; If-Match; the form's date rules.
    url = f"/api/v1/projects/{ids['project_id']}/approval-items/{ids['item_id']}"
    read = client.get(url, headers=officer)
    assert read.status_code == 200 and read.headers["etag"]
    assert client.patch(url, headers=officer, json={"status": "accepted"}).status_code == 428
    saved = client.patch(url, headers={**officer, "If-Match": read.headers["etag"]}, json={"status": "accepted"})
    assert saved.status_code == 200 and saved.json()["accepted_on"] == date.today().isoformat()
    assert client.patch(url, headers={**officer, "If-Match": read.headers["etag"]},
                        json={"note": "x"}).status_code == 412
    wrong = client.patch(url, headers={**officer, "If-Match": "*"}, json={"submitted_on": "2999-01-01"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["pointer"] == "/submitted_on"
    assert client.get(f"/api/v1/projects/{world.secret_project_id}/approval-items/{ids['item_id']}",
                      headers=_bearer(world.other_read)).status_code == 404

    session.rollback()
    kinds = {(e.entity_type, e.channel) for e in session.scalars(select(AuditEntry).where(AuditEntry.channel == "api"))}
    assert {("export_figures", "api"), ("indicator_value", "api"), ("project", "api")} <= kinds, kinds
