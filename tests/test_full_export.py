"""The full export (/admin/export.zip, crm export): one zip with a workbook of every kind of record (the importable
sheets with the headers the imports recognise), every attachment and briefing PDF with its checksum, a manifest
with counts; nothing secret in it; only the system administrator; audited."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from sqlalchemy import select

from crm.attachments import service as attachment_service
from crm.audit.models import AuditEntry
from crm.briefings.models import BriefingFile
from crm.data_export import cli as export_cli
from crm.data_export import columns
from crm.spreadsheets import read_table
from tests import factories
from tests.conftest import login


def test_the_full_export_holds_every_record_and_file_and_no_secret(client, client_as, session, users, settings):
    officer, admin = users["officer"], users["admin"]
    fosun = factories.make_org(session, actor=officer, name="复星集团", credit_code="91310000132233084G", tags="重点客商")
    factories.make_contact(session, actor=officer, organization=fosun, name="祝文魁", mobile="13800138000")
    project = factories.make_project(session, actor=officer, organizations=[fosun], name="复星医药产业园")
    visit = factories.make_visit(session, title="复星集团考察", officer=officer, organizations=[fosun])
    factories.make_task(session, actor=officer, title="寄送产业资料", organization_id=fosun.id)
    pdf = b"%PDF-1.4\n" + b"x" * 3000 + b"\n%%EOF\n"
    attachment = attachment_service.add(session, entity_type="project", entity_id=project.id, filename="可研报告.pdf",
                                        data=pdf, actor=officer, data_dir=settings.data_dir, max_bytes=10_000_000)
    briefing_bytes = b"%PDF-1.4 briefing\n%%EOF\n"
    (settings.data_dir / "briefings").mkdir(exist_ok=True)
    (settings.data_dir / "briefings" / "b.pdf").write_bytes(briefing_bytes)
    session.add(BriefingFile(visit_id=visit.id, variant="internal", locale="zh_CN", status="done", created_by_id=admin.id,
                             path="briefings/b.pdf", sha256=hashlib.sha256(briefing_bytes).hexdigest(),
                             size_bytes=len(briefing_bytes), pages=1))
    session.commit()

    for role in ("manager", "officer"):
        assert client_as(role).get("/admin/export.zip").status_code == 403
        assert client_as(role).get("/admin/export").status_code == 403
    login(client, "admin")
    page = client.get("/admin/export")
    assert page.status_code == 200 and 'href="/admin/export.zip"' in page.text and "项目" in page.text
    response = client.get("/admin/export.zip")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert ".zip" in response.headers["content-disposition"]

    package = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(package.read("manifest.json"))
    counts = {s["key"]: s["rows"] for s in manifest["sheets"]}
    assert counts["organizations"] == 1 and counts["contacts"] == 1 and counts["projects"] == 1
    assert counts["project_investors"] == 1 and counts["visits"] == 1 and counts["follow_ups"] == 1
    assert counts["users"] == 4 and counts["attachments"] == 1 and counts["briefing_files"] == 1
    assert manifest["missing"] == []
    files = {f["path"]: f for f in manifest["files"]}
    for path, content in ((f"attachments/{attachment.id}-可研报告.pdf", pdf), (f"briefings/briefing-{visit.id}-", None)):
        name = next(n for n in package.namelist() if n.startswith(path))
        data = package.read(name)
        assert hashlib.sha256(data).hexdigest() == files[name]["sha256"] and files[name]["size"] == len(data)
        assert content is None or data == content
    assert hashlib.sha256(package.read("data.xlsx")).hexdigest() == files["data.xlsx"]["sha256"]

    workbook = package.read("data.xlsx")
    for sheet_index, sheet in enumerate(columns.SHEETS):
        table = None if counts[sheet.key] == 0 else read_table(workbook, "data.xlsx", sheet=sheet_index)
        if table is not None:
            assert table.headers == sheet.headers and len(table.rows) == counts[sheet.key], sheet.key
            assert table.sheet_names[sheet_index] == sheet.name
    organization = read_table(workbook, "data.xlsx", sheet="企业")
    row = dict(zip(organization.headers, organization.rows[0].values, strict=True))
    assert row["企业名称"] == "复星集团" and row["统一社会信用代码"] == "91310000132233084G" and row["负责人"] == "officer"
    assert row["企业类型"] == "投资方" and row["标签"] == "重点客商"
    projects = read_table(workbook, "data.xlsx", sheet="项目")
    row = dict(zip(projects.headers, projects.rows[0].values, strict=True))
    assert row["投资方"] == "复星集团" and row["所处阶段"] == "线索" and row["是否保密"] == "否"

    inner = zipfile.ZipFile(io.BytesIO(workbook))  # the sheets' XML, deflated inside the workbook
    everything = response.content + b"".join(package.read(n) for n in package.namelist())
    everything += b"".join(inner.read(n) for n in inner.namelist())
    assert b"$argon2" not in everything and b"password" not in everything.lower()

    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "download")
                            .order_by(AuditEntry.id.desc())).first()
    assert entry.actor_id == admin.id and entry.channel == "web"
    assert entry.changes["name"] == "Full export" and entry.changes["counts"]["projects"] == 1
    assert entry.changes["files"] == 2


def test_crm_export_writes_the_same_zip(session, users, settings, tmp_path: Path):
    factories.make_org(session, actor=users["officer"], name="玉皇新能源")
    session.commit()
    output = tmp_path / "out" / "export.zip"
    assert export_cli.export(settings, output=output) == 0
    package = zipfile.ZipFile(output)
    assert {s["key"]: s["rows"] for s in json.loads(package.read("manifest.json"))["sheets"]}["organizations"] == 1
    assert session.scalar(select(AuditEntry.channel).where(AuditEntry.action == "download")) == "cli"
    assert not [p for p in output.parent.iterdir() if p.name != "export.zip"]  # its temporary files are gone
