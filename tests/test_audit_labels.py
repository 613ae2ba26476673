"""How the history reads in the reader's language: reference data (industry chains, approval items) that an entry
stored by its Chinese name shows by its English name to an English reader, and every field has a label. The audit
labels are a registry the domains fill: crm/audit/labels.py imports no domain."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import select, update

from crm.auth.models import User
from crm.indicators.models import Indicator
from crm.organizations.models import IndustryChain
from crm.projects.models import ApprovalItem
from tests.conftest import ROOT, post
from tests.factories import make_org, make_project, make_user

DOMAINS = ("assessment", "attachments", "auth", "briefings", "contacts", "dashboard", "exports", "feeds",
           "groundbreaking", "indicators", "notifications", "organizations", "parcels", "projects", "reports",
           "search", "submissions", "tasks", "visits")


def _history(html: str) -> str:
    """The page's history: the change lists of its timeline."""
    return "".join(part.split("</ul>", 1)[0] for part in html.split('<ul class="changes">')[1:])


def _read_in_english(session, user: User) -> None:
    session.rollback()  # end the test's read snapshot: the app has written since
    session.execute(update(User).where(User.id == user.id).values(locale="en"))
    session.commit()


def test_a_visits_history_names_industry_chains_and_talking_points_in_the_readers_language(
        officer_client, session, users):
    fosun = make_org(session, actor=users["officer"], name="复星集团")
    chain = session.scalars(select(IndustryChain).order_by(IndustryChain.id)).first()
    response = post(officer_client, "/visits", {
        "title": "复星集团考察", "kind": "inbound", "status": "done", "starts_at": "2026-12-02T09:00",
        "ends_at": "2026-12-02T17:00", "place": "开发区管委会", "officer_id": str(users["officer"].id),
        "organization_ids": [str(fosun.id)], "industry_ids": [str(chain.id)]})
    assert response.status_code == 303, response.text
    visit_url = response.headers["location"]
    saved = post(officer_client, f"{visit_url}/briefing/notes", {"talking_points": "一、争取年内签约", "revision": "0"})
    assert saved.status_code in (200, 303), saved.text

    history = _history(officer_client.get(visit_url).text)
    assert chain.name_zh in history and "谈话要点与诉求" in history  # a Chinese reader: the Chinese names

    _read_in_english(session, users["officer"])
    history = _history(officer_client.get(visit_url).text)
    assert "Industry chains of interest" in history and chain.name_en in history
    assert chain.name_zh not in history
    assert "Talking points and asks" in history and "talking_points" not in history
    assert "Inbound" in history or "inbound" not in history  # the kind's label, not its code


def test_a_projects_history_names_the_approval_item_in_the_readers_language(officer_client, session, users):
    fosun = make_org(session, actor=users["officer"], name="复星集团")
    project = make_project(session, actor=users["officer"], organizations=[fosun])
    item = session.scalar(select(ApprovalItem).where(ApprovalItem.project_id == project.id,
                                                     ApprovalItem.code == "environmental"))
    response = post(officer_client, f"/projects/{project.id}/approvals/{item.id}",
                    {"status": "submitted", "promised_days": "20", "assistant": "", "note": ""},
                    headers={"HX-Request": "true"})
    assert response.status_code == 200, response.text
    assert item.name_zh in _history(officer_client.get(f"/projects/{project.id}").text)

    _read_in_english(session, users["officer"])
    history = _history(officer_client.get(f"/projects/{project.id}").text)
    assert "Approval item" in history and item.name_en in history
    assert item.name_zh not in history
    assert "Submitted" in history and "已提交" not in history  # the permit's status by its English label


def test_the_audit_labels_import_no_domain():
    """Shared code imports no domain: the domains register their labels with crm.audit.labels."""
    tree = ast.parse(Path(ROOT, "crm/audit/labels.py").read_text(encoding="utf-8"))
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert "crm.i18n" in imported  # the parse saw the imports
    domains = [name for name in imported
               if name.startswith("crm.") and name.split(".")[1] in (*DOMAINS, "audit", "web")]
    assert domains == []


def test_the_audit_page_names_an_indicator_in_the_readers_language(client, client_as, session, users):
    from tests.conftest import login

    login(client, "admin")
    auditor = make_user(session, username="auditor", role="audit_admin")  # who reads the trail (issue 13)
    reader = client_as("auditor")
    created = post(client, "/admin/indicators", {"code": "power_use", "name_zh": "全社会用电量", "name_en": "Power use",
                                                 "unit": "wan_cny", "frequency": "monthly", "kind": "sum",
                                                 "position": "95", "is_active": "1"})
    assert created.status_code == 303, created.text
    page = reader.get("/admin/audit").text
    indicator_id = session.scalar(select(Indicator.id).where(Indicator.code == "power_use"))
    link = f'<a href="/indicators/{indicator_id}">'
    assert "经济指标" in page and f"{link}全社会用电量</a>" in page and "<ins>万元</ins>" in page
    _read_in_english(session, auditor)
    page = reader.get("/admin/audit").text
    assert "economic indicator" in page and f"{link}Power use</a>" in page and "<ins>10k CNY</ins>" in page
    # (codes stay only where they are not shown: the record-type filter's option values)
    assert ">economic_indicator" not in page and "<ins>wan_cny</ins>" not in page
