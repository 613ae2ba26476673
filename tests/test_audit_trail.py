"""The audit trail an assessor accepts (issue 13, 安全审计): refusals, downloads and PDFs recorded with user, address,
filters, rows and outcome; the hash chain (sealed off the request path, `crm audit verify` finds the first broken
link, concurrent writers never fork it); archiving past the retention with verify continuing across the cut; the
audit page's filters, its .xlsx, and who may read what."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import bindparam, create_engine, delete, func, select, text
from sqlalchemy.exc import DBAPIError

from crm.audit import chain
from crm.audit import service as audit_service
from crm.audit.models import AuditArchive, AuditEntry
from crm.audit.routes import EXPORT_COLUMNS
from crm.config import Settings
from crm.db import Database
from crm.i18n import gettext
from crm.organizations.models import IndustryChain
from crm.projects.models import ApprovalTemplate
from tests.conftest import post
from tests.factories import make_org, make_project, make_user

ROOT = Path(__file__).resolve().parent.parent


def entries(session, **where) -> list[AuditEntry]:
    session.expire_all()
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, name) == value)
    rows = list(session.scalars(stmt))
    session.commit()
    return rows


def maintenance(session) -> None:
    """What an attacker with the database's credentials (or a test backdating rows) does first on PostgreSQL, where
    a trigger refuses changing audit entries otherwise."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL crm.audit_maintenance = 'on'"))


def cli(settings: Settings, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update({"CRM_ENV": "test", "CRM_DATABASE_URL": settings.resolved_database_url,
                "CRM_DATA_DIR": str(settings.data_dir), **env_extra})
    return subprocess.run([sys.executable, "-m", "crm.cli", "audit", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture
def auditor(session):
    return make_user(session, username="auditor", role="audit_admin", display_name="审计员")


@pytest.fixture
def auditor_client(client_as, users, auditor):
    return client_as("auditor")


# What is recorded


def test_a_permission_refusal_is_recorded_with_address_and_outcome(client_as, session, users):
    officer = client_as("officer")
    assert officer.get("/admin/users?role=admin").status_code == 403
    assert post(officer, "/admin/approvals", {"name_zh": "x"}).status_code == 403
    refused = entries(session, action="permission_refused")
    assert [(e.actor_id, e.outcome, e.client_address, e.channel) for e in refused] == [
        (users["officer"].id, "refused", "testclient", "web")] * 2
    assert refused[0].changes == {"method": "GET", "path": "/admin/users", "query": "role=admin", "reason": "role"}
    assert refused[1].changes["method"] == "POST"


def test_a_busy_database_does_not_turn_a_refusal_into_a_500(app, client_as, session, users, database_url):
    officer = client_as("officer")
    engine = create_engine(database_url)
    with engine.connect() as holder:
        if holder.dialect.name == "sqlite":
            holder.exec_driver_sql("BEGIN IMMEDIATE")  # the database's one write lock
        else:
            holder.exec_driver_sql("BEGIN")
            holder.exec_driver_sql("LOCK TABLE audit_entry IN EXCLUSIVE MODE")  # no insert gets through
        response = officer.get("/admin/users")
        holder.rollback()
    engine.dispose()
    assert response.status_code == 403
    assert entries(session, action="permission_refused") == []  # skipped (and logged), not waited for


def test_a_list_download_is_recorded_with_its_filters_and_rows(client_as, session, users):
    for name in ("菏泽锂电甲", "菏泽锂电乙", "济南化工"):
        make_org(session, actor=users["officer"], name=name)
    officer = client_as("officer")
    response = officer.get("/organizations/export.xlsx", params={"q": "锂电"})
    assert response.status_code == 200
    (download,) = entries(session, action="download")
    assert (download.actor_id, download.outcome, download.client_address) == (users["officer"].id, "success",
                                                                              "testclient")
    assert download.changes == {"list": "/organizations/export.xlsx", "name": "Organizations", "format": "xlsx",
                                "rows": 2, "filters": {"q": "锂电"}}
    make_project(session, actor=users["officer"], name="锂电池项目")
    assert officer.get("/projects/export.csv", params={"q": "锂电池"}).status_code == 200
    csv_download = entries(session, action="download")[-1]
    assert (csv_download.changes["format"], csv_download.changes["rows"],
            csv_download.changes["filters"]) == ("csv", 1, {"q": "锂电池"})


def test_a_pdf_is_recorded_with_its_filters_and_rows(client_as, session, users):
    for stage in ("negotiating", "negotiating", "lead"):
        make_project(session, actor=users["officer"], stage=stage)
    manager = client_as("manager")
    assert manager.get("/reports/pipeline", params={"stage": "negotiating"}).status_code == 200  # a preview: not a PDF
    assert entries(session, action="pdf") == []
    response = manager.get("/reports/pipeline", params={"format": "pdf", "stage": "negotiating"})
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    (pdf,) = entries(session, action="pdf")
    assert pdf.actor_id == users["manager"].id and pdf.client_address == "testclient"
    assert (pdf.changes["document"], pdf.changes["rows"], pdf.changes["filters"]) == (
        "pipeline_report", 2, {"stage": "negotiating"})


@pytest.fixture
def reference_rows_removed(session):
    """The approval checklist and the industry chains are kept between tests (seeded by the migrations): what a
    test adds to them is removed after it."""
    yield
    session.rollback()
    session.execute(delete(ApprovalTemplate).where(ApprovalTemplate.name_zh == "节能审查意见"))
    session.execute(delete(IndustryChain).where(IndustryChain.name_zh == "低空经济"))
    session.commit()


def test_reference_data_changes_are_audited(client_as, session, users, reference_rows_removed):
    admin = client_as("admin")
    response = post(admin, "/admin/approvals", {"name_zh": "节能审查意见", "name_en": "Energy review", "promised_days": "20",
                                                "position": "90"})
    assert response.status_code == 303, response.text
    (created,) = entries(session, entity_type="approval_template")
    assert (created.action, created.actor_id, created.changes["name_zh"]) == ("create", users["admin"].id,
                                                                              [None, "节能审查意见"])
    response = post(admin, "/admin/industries", {"name_zh": "低空经济", "name_en": "Low-altitude economy",
                                                 "sort_order": "100"})
    assert response.status_code == 303, response.text
    (chain_created,) = entries(session, entity_type="industry_chain")
    assert chain_created.changes["name_en"] == [None, "Low-altitude economy"]


# The hash chain


def test_the_chain_verifies_and_an_altered_entry_is_reported(session, settings, users):
    org = make_org(session, actor=users["officer"], name="甲方机构")
    make_org(session, actor=users["officer"], name="乙方机构")
    done = cli(settings, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intact" in done.stdout
    # the users' and the organizations' creations, at least, are sealed now, in id order
    sealed = entries(session)
    assert [e.chain_seq for e in sealed] == list(range(1, len(sealed) + 1))
    assert all(e.chain_hash and len(e.chain_hash) == 64 for e in sealed)

    target = next(e for e in sealed if e.entity_type == "organization" and e.entity_id == org.id)
    maintenance(session)
    session.execute(text("UPDATE audit_entry SET entity_label = '篡改' WHERE id = :id"), {"id": target.id})
    session.commit()
    done = cli(settings, "verify")
    assert done.returncode == 1
    assert f"entry {target.id} " in done.stdout and "changed" in done.stdout, done.stdout


def test_a_deleted_entry_is_reported_as_a_gap(session, settings, users):
    for name in ("甲", "乙", "丙"):
        make_org(session, actor=users["officer"], name=f"{name}机构")
    chain.seal(Database(settings.resolved_database_url).write_session, delay=timedelta(0))
    sealed = entries(session)
    victim, after = sealed[2], sealed[3]
    maintenance(session)
    session.execute(text("DELETE FROM audit_entry WHERE id = :id"), {"id": victim.id})
    session.commit()
    done = cli(settings, "verify")
    assert done.returncode == 1
    assert f"entry {after.id} " in done.stdout and "missing" in done.stdout, done.stdout


def test_the_database_refuses_changing_or_deleting_entries(session, users, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the trigger is PostgreSQL's (on SQLite whoever can write the file can do anything)")
    make_org(session, actor=users["officer"])
    entry_id = entries(session)[-1].id
    for statement in ("UPDATE audit_entry SET entity_label = 'x' WHERE id = :id",
                      "DELETE FROM audit_entry WHERE id = :id"):
        with pytest.raises(DBAPIError, match="cannot be changed or deleted"):
            session.execute(text(statement), {"id": entry_id})
        session.rollback()


def test_concurrent_writers_and_sealers_never_fork_the_chain(session, settings, users):
    """Four writers on their own connections (one transaction in five rolled back after inserting) and two sealers
    running all the while: every committed entry ends up in one unbroken chain, with no hole where a rollback was."""
    database = Database(settings.resolved_database_url)
    officer_id = users["officer"].id
    stop = threading.Event()
    errors: list[BaseException] = []
    committed = []

    def writer(number: int) -> None:
        try:
            for i in range(40):
                with database.write_sessions() as s:
                    audit_service.record_event(s, event="download", actor=None, client_address=f"10.0.0.{number}",
                                               details={"writer": number, "i": i, "actor": officer_id})
                    s.flush()
                    if i % 5 == 4:
                        s.rollback()
                    else:
                        s.commit()
                        committed.append((number, i))
        except BaseException as exc:
            errors.append(exc)

    def sealer() -> None:
        try:
            while not stop.is_set():
                chain.seal(database.write_session, delay=timedelta(0), batch=7)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    for thread in sealers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in sealers:
        thread.join()
    chain.seal(database.write_session, delay=timedelta(0))
    with database.read_sessions() as s:
        result = chain.verify(s, data_dir=settings.data_dir)
    database.dispose()
    assert not errors, errors
    assert result.intact, result.broken
    total = len(entries(session))
    assert len(committed) == 4 * 32 and result.checked == total and result.unsealed == 0
    seqs = sorted(session.scalars(select(AuditEntry.chain_seq)))
    session.commit()
    assert seqs == list(range(1, total + 1))


# Retention and the archive


def test_archive_moves_old_entries_to_a_file_and_verify_continues_across_the_cut(session, settings, users):
    orgs = [make_org(session, actor=users["officer"], name=f"机构{i}") for i in range(4)]
    old_ids = [e.id for e in entries(session)][:-2]  # all but the last two organizations' creations
    maintenance(session)
    session.execute(text("UPDATE audit_entry SET at = :at WHERE id IN :ids").bindparams(bindparam("ids", expanding=True)),
                    {"at": datetime.now(UTC) - timedelta(days=200), "ids": old_ids})
    session.commit()
    assert cli(settings, "verify").returncode == 0  # seals everything first

    done = cli(settings, "archive", CRM_AUDIT_RETENTION_DAYS="180")
    assert done.returncode == 0, done.stderr
    assert f"archived {len(old_ids)} entries" in done.stdout
    files = list((Path(settings.data_dir) / "archive" / "audit").glob("audit-*.jsonl.gz"))
    assert len(files) == 1
    with gzip.open(files[0], "rt", encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    assert [line["id"] for line in lines] == old_ids
    assert all(line["chain_hash"] for line in lines)
    remaining = entries(session)
    assert [e.entity_id for e in remaining[-2:]] == [orgs[2].id, orgs[3].id]
    assert not set(old_ids) & {e.id for e in remaining}
    session.expire_all()
    (cut,) = session.scalars(select(AuditArchive))
    assert (cut.entries, cut.through_seq, cut.last_hash) == (len(old_ids), len(old_ids), lines[-1]["chain_hash"])
    session.commit()

    make_org(session, actor=users["officer"], name="归档之后")  # the chain goes on from the cut
    done = cli(settings, "verify")
    assert done.returncode == 0, done.stdout
    assert f"{len(old_ids)} of them archived in 1 files" in done.stdout
    assert cli(settings, "archive", CRM_AUDIT_RETENTION_DAYS="180").stdout.startswith("nothing to archive")

    # the archive is part of the chain: a changed file breaks it
    with gzip.open(files[0], "wt", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps({**line, "entity_label": "改"}, ensure_ascii=False) + "\n")
    done = cli(settings, "verify")
    assert done.returncode == 1 and "archive" in done.stdout


def test_retention_is_at_least_six_months(tmp_path):
    with pytest.raises(ValueError, match="at least 180"):
        Settings(env="test", data_dir=tmp_path, audit_retention_days=90)
    assert Settings(env="test", data_dir=tmp_path).audit_retention_days >= 180


# The audit page


def test_entity_project_and_every_registered_kind_is_a_filter(auditor_client, session, users):
    project = make_project(session, actor=users["officer"], name="新能源电池项目")
    response = auditor_client.get("/admin/audit", params={"entity": "project"})
    assert response.status_code == 200
    assert f'href="/projects/{project.id}"' in response.text
    for kind in ("project_decision", "land_parcel", "groundbreaking_event", "approval_template", "industry_chain"):
        assert auditor_client.get("/admin/audit", params={"entity": kind}).status_code == 200


@pytest.mark.parametrize(("params", "expected"), [
    ({"action": "permission_refused"}, {"refusal"}),
    ({"outcome": "refused"}, {"refusal"}),
    ({"address": "10.1."}, {"download"}),
    ({"address": "10.1.2.3"}, {"download"}),
    ({"address": "10.2"}, set()),
    ({"entity": "organization", "record": "ORG"}, {"org"}),
    ({"action": "download", "outcome": "success"}, {"download"}),
])
def test_audit_page_filters_events(auditor_client, session, users, params, expected):
    org = make_org(session, actor=users["officer"], name="筛选机构")
    audit_service.record_event(session, event="download", actor=users["manager"], client_address="10.1.2.3",
                               details={"list": "/visits/export.xlsx", "rows": 7, "marker": "DL-MARK"})
    audit_service.record_event(session, event="permission_refused", actor=users["officer"], outcome="refused",
                               client_address="192.168.9.9", details={"path": "/admin/users", "marker": "RF-MARK"})
    session.commit()
    params = {k: (str(org.id) if v == "ORG" else v) for k, v in params.items()}
    html = auditor_client.get("/admin/audit", params=params).text
    found = {name for name, mark in (("download", "DL-MARK"), ("refusal", "RF-MARK"),
                                     ("org", f'href="/organizations/{org.id}"')) if mark in html}
    assert found == expected
    if "download" in expected:
        assert "10.1.2.3" in html


def test_audit_export_is_an_xlsx_of_the_filtered_trail_and_is_itself_audited(auditor_client, session, users, auditor):
    make_org(session, actor=users["officer"], name="导出机构")
    audit_service.record_event(session, event="permission_refused", actor=users["officer"], outcome="refused",
                               client_address="192.168.9.9", details={"path": "/admin/users"})
    session.commit()
    response = auditor_client.get("/admin/audit/export.xlsx", params={"outcome": "refused"})
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [gettext("zh_CN", column.header) for column in EXPORT_COLUMNS]
    assert len(rows) == 2
    row = rows[1]
    assert "张晓明" in row and "192.168.9.9" in row
    assert any(isinstance(v, str) and len(v) == 64 for v in row)  # its chain hash: entries are sealed first
    download = entries(session, action="download")[-1]
    assert download.actor_id == auditor.id
    assert download.changes["list"] == "/admin/audit/export.xlsx" and download.changes["rows"] == 1
    assert download.changes["filters"] == {"outcome": "refused"}


# Who reads the trail


def test_a_manager_reads_the_changes_they_may_see_and_only_their_own_events(client_as, session, users):
    org = make_org(session, actor=users["officer"], name="经理可见机构")
    audit_service.record_event(session, event="sign_in", actor=users["officer"], client_address="10.9.9.9",
                               details={"marker": "OTHER-SIGN-IN"})
    audit_service.record_event(session, event="download", actor=users["manager"], client_address="10.8.8.8",
                               details={"marker": "OWN-DOWNLOAD"})
    session.commit()
    manager = client_as("manager")
    html = manager.get("/admin/audit").text
    assert f'href="/organizations/{org.id}"' in html
    assert "OWN-DOWNLOAD" in html
    assert "OTHER-SIGN-IN" not in html and "10.9.9.9" not in html
    assert f'href="/admin/users/{users["officer"].id}/edit"' not in html  # user accounts: the auditor's business
    assert "OTHER-SIGN-IN" not in manager.get("/admin/audit", params={"actor": str(users["officer"].id)}).text
    sheet = openpyxl.load_workbook(io.BytesIO(manager.get("/admin/audit/export.xlsx").content)).active
    cells = {v for row in sheet.iter_rows(values_only=True) for v in row}
    assert "10.9.9.9" not in cells and "10.8.8.8" in cells


def test_project_entries_follow_the_project_visibility_rule(session, users):
    """The reader's condition (crm/audit/access.py) asks crm.projects who may open the project."""
    from crm.audit.access import readable_by
    from crm.projects import service as project_service

    secret = make_project(session, actor=users["officer"], name="保密项目甲", is_confidential="1")
    outsider = users["officer2"]
    outsider.role = "manager"  # a manager; the rule is the projects' may_see, whatever it says for managers
    visible = set(session.scalars(select(project_service.Project.id).where(project_service.may_see(outsider))))
    shown = set(session.scalars(select(AuditEntry.entity_id).where(AuditEntry.entity_type == "project",
                                                                     readable_by(outsider))))
    session.rollback()
    assert (secret.id in shown) == (secret.id in visible)


@pytest.mark.parametrize("who", ["officer", "admin"])
def test_the_system_administrator_and_officers_may_not_read_the_trail(client_as, session, users, who):
    reader = client_as(who)
    assert reader.get("/admin/audit").status_code == 403
    assert reader.get("/admin/audit/export.xlsx").status_code == 403
    assert reader.get("/admin/audit", params={"entity": "project"}).status_code == 403
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "download")) == 0
    session.commit()


def test_a_manager_finds_the_trail_from_the_reports_page(client_as, users):
    manager = client_as("manager")
    assert 'href="/admin/audit"' in manager.get("/reports").text
    assert 'href="/admin/audit"' not in client_as("admin").get("/reports").text  # the admin may not read it
