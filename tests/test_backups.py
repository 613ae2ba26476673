"""Backups (issue 14): a backup made while the app runs restores into a fresh empty instance with the same rows and
files; a non-empty target and a tampered backup are refused; a backup taken under a real server's write load holds
every write acknowledged before it began and every file; /admin/backups for the system administrator only; the
failure reminder is sent once."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, select, text

from crm import migrate
from crm.attachments import service as attachment_service
from crm.audit.models import AuditEntry
from crm.backups import archive, jobs, service
from crm.backups import cli as backup_cli
from crm.backups.models import BackupRun
from crm.config import Settings
from crm.notifications import service as notification_service
from crm.notifications.models import Outbox
from crm.notifications.rules import backups as backup_rule
from crm.notifications.rules.base import RuleConfig
from crm.scheduling.service import JobContext
from tests.conftest import _create_postgres_database, _drop_postgres_database, post
from tests.factories import make_org, make_visit
from tests.server_process import Browser, ServerProcess

ZONE = ZoneInfo("Asia/Shanghai")


@contextmanager
def fresh_database(database_url: str, folder: Path) -> Iterator[str]:
    """An empty database of the same engine, dropped afterwards."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{folder / 'restored.sqlite3'}"
        return
    name, url = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(name)


def table_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if url.startswith("sqlite"):
                names = connection.execute(text(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")).scalars()
            else:
                names = connection.execute(text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")).scalars()
            return {n: connection.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in list(names)}
    finally:
        engine.dispose()


def files_of(folder: Path) -> dict[str, str]:
    """The attachments and briefing PDFs under a data directory, by path, with their SHA-256."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for root in ("attachments", "briefings") for p in (folder / root).rglob("*") if p.is_file()}


def _png(colour: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (colour % 256, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_a_backup_restores_into_an_empty_instance_and_only_there(session, users, settings, database_url, tmp_path):
    officer = users["officer"]
    org = make_org(session, actor=officer, name="菏泽备份测试新材料有限公司")
    visit = make_visit(session, title="备份测试来访", officer=officer, organizations=[org])
    attachment_service.create(session, entity_type="visit", entity_id=visit.id, filename="现场照片.png",
                              data=_png(1), actor=officer, data_dir=settings.data_dir, max_bytes=10**6)
    lost = attachment_service.create(session, entity_type="visit", entity_id=visit.id, filename="丢失的文件.pdf",
                                     data=b"%PDF-1.4 lost", actor=officer, data_dir=settings.data_dir, max_bytes=10**6)
    lost_path = f"attachments/{lost.sha256[:2]}/{lost.sha256[2:]}"
    (settings.data_dir / lost_path).unlink()  # lost from the disk before the backup: noted, and no reason to fail
    pdf = b"%PDF-1.4 briefing"
    (settings.data_dir / "briefings" / "7").mkdir(parents=True)
    (settings.data_dir / "briefings" / "7" / "1-internal.pdf").write_bytes(pdf)
    output = tmp_path / "out" / "backup.tar.gz"
    created = archive.create(database_url=database_url, data_dir=settings.data_dir, output=output)
    assert created.manifest["missing_files"] == [lost_path]
    assert created.manifest["database"] == archive.database_kind(database_url)
    assert created.manifest["tables"]["organization"] == 1 and created.manifest["migration_head"]
    assert oct(output.stat().st_mode & 0o777) == "0o600"  # it holds everything
    assert backup_cli.verify(output) == 0 and lost_path in archive.verify(output).warnings[0].translate("en")

    target_dir = tmp_path / "restored"
    with fresh_database(database_url, tmp_path) as target_url:
        target = Settings(env="test", database_url=target_url, data_dir=target_dir, secret_key="t" * 40)
        assert backup_cli.restore(target, output) == 0
        migrate.upgrade(target_url)  # `crm db upgrade`, as after any restore
        assert table_counts(target_url) == table_counts(database_url) == created.manifest["tables"]
        assert files_of(target_dir) == files_of(settings.data_dir)
        assert any(path.startswith("attachments/") for path in files_of(target_dir))
        engine = create_engine(target_url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT name FROM organization")).scalar_one() == "菏泽备份测试新材料有限公司"
        engine.dispose()
        # Restoring again: the target has data now, and is refused with a clear message.
        try:
            archive.restore(output, database_url=target_url, data_dir=tmp_path / "elsewhere")
            raise AssertionError("restored over a database with data")
        except archive.BackupError as refused:
            assert "not empty" in str(refused)
        assert backup_cli.restore(target, output) == 1

    # A non-empty data directory is refused as well, before the database is touched.
    crowded = tmp_path / "crowded"
    (crowded / "attachments").mkdir(parents=True)
    with fresh_database(database_url, tmp_path / "crowded") as empty_url:
        try:
            archive.check_empty(database_url=empty_url, data_dir=crowded)
            raise AssertionError("a data directory with files passed as empty")
        except archive.BackupError as refused:
            assert "attachments" in str(refused)

    # A backup whose file was changed after it was made fails its check, and is not restored.
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(output, "r:gz") as source, tarfile.open(tampered, "w:gz") as copy:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name.startswith("files/briefings/"):
                data = data.replace(b"briefing", b"BRIEFING")
            copy.addfile(member, io.BytesIO(data))
    checked = archive.verify(tampered)
    assert not checked.ok and "Checksum mismatch" in checked.problems[0].translate("en")
    assert backup_cli.verify(tampered) == 1
    (tmp_path / "cut.tar.gz").write_bytes(output.read_bytes()[: output.stat().st_size // 2])
    assert not archive.verify(tmp_path / "cut.tar.gz").ok


def _upload(browser: Browser, visit_id: int, data: bytes, name: str) -> int:
    """A multipart upload through the signed-in browser's connection (Browser speaks urlencoded forms only)."""
    boundary = uuid.uuid4().hex
    fields = {"csrf_token": browser.csrf, "entity_type": "visit", "entity_id": str(visit_id)}
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in fields.items())
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
             f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    connection = browser._connection()
    connection.request("POST", "/attachments", body=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())})
    response = connection.getresponse()
    response.read()
    return response.status


def test_a_backup_under_a_servers_write_load_holds_every_acknowledged_write(session, users, database_url,
                                                                            tmp_path):
    """The issue's test: organizations and attachments saved through a real `crm serve` while `crm backup` runs
    beside it; everything acknowledged before the backup began is in the restored instance, and every file its
    rows name."""
    data_dir = tmp_path / "served"
    data_dir.mkdir()
    org = make_org(session, actor=users["officer"], name="菏泽并发备份机构")
    visits = {u: make_visit(session, title=f"并发备份来访{u}", officer=users[u], organizations=[org]).id
              for u in ("officer", "officer2")}
    server = ServerProcess(database_url=database_url, data_dir=data_dir, workers=1).wait_ready()
    acknowledged: list[tuple[float, str]] = []  # (when the answer came, what it saved)
    stop = threading.Event()
    errors: list[str] = []

    def writer(username: str) -> None:
        browser = Browser(server.port).sign_in(username)
        n = 0
        while not stop.is_set():
            n += 1
            name = f"并发备份{username}第{n}家"
            reply = browser.post("/organizations", {"name": name, "kind": "investor"})
            if reply.status != 303:
                errors.append(f"{reply.status} {re.findall(r'field-error[^>]*>([^<]+)', reply.body) or reply.body[:300]}")
                return
            acknowledged.append((time.monotonic(), name))
            if n % 3 == 0:
                status = _upload(browser, visits[username], _png(n) + username.encode(), f"{name}.png")
                if status not in (200, 303):
                    errors.append(f"upload {status}")
                    return
                acknowledged.append((time.monotonic(), f"file:{name}.png"))

    threads = [threading.Thread(target=writer, args=(u,)) for u in ("officer", "officer2")]
    output = tmp_path / "load.tar.gz"
    try:
        for thread in threads:
            thread.start()
        while len(acknowledged) < 12 and not errors:  # the load is under way
            time.sleep(0.02)
        began = time.monotonic()
        # `crm backup -o` (in this process: the same function, without a second interpreter's start-up)
        served = Settings(env="test", database_url=database_url, data_dir=data_dir, secret_key="s" * 40)
        done = backup_cli.backup(served, output=output)
        writes_during = sum(1 for at, _ in acknowledged if at > began)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert server.stop() == 0, server.output()
    assert done == 0
    assert not errors, errors
    assert writes_during > 0, "the backup ran with no write beside it"
    before = {what for at, what in acknowledged if at < began}

    with fresh_database(database_url, tmp_path) as target_url:
        target = Settings(env="test", database_url=target_url, data_dir=tmp_path / "restored", secret_key="t" * 40)
        assert backup_cli.restore(target, output) == 0
        engine = create_engine(target_url)
        with engine.connect() as connection:
            names = set(connection.execute(text("SELECT name FROM organization")).scalars())
            attachments = connection.execute(text("SELECT filename, sha256, has_thumbnail FROM attachment")).all()
        engine.dispose()
    assert {n for n in before if not n.startswith("file:")} <= names
    assert {n[5:] for n in before if n.startswith("file:")} <= {a.filename for a in attachments}
    for _filename, sha, has_thumbnail in attachments:  # every file a restored row names, with its bytes
        blob = tmp_path / "restored" / "attachments" / sha[:2] / sha[2:]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
        assert not has_thumbnail or (tmp_path / "restored" / "attachments" / "thumbnails" / sha[:2]
                                     / f"{sha[2:]}.jpg").is_file()


def _wait_until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the background backup"
        time.sleep(0.05)


def test_the_backups_page_is_the_system_administrators(client_as, db, users, session, settings):
    manager = client_as("manager")
    assert manager.get("/admin/backups").status_code == 403
    admin = client_as("admin")
    page = admin.get("/admin/backups")
    assert page.status_code == 200 and "还没有备份" in page.text  # the empty state

    refused = post(admin, "/admin/backups/settings", {"hour": "24", "keep": "0", "enabled": "1", "version": "0"})
    assert refused.status_code == 422 and "0 至 23 点" in refused.text and "1 至 90 之间" in refused.text
    saved = post(admin, "/admin/backups/settings", {"hour": "3", "keep": "2", "enabled": "1", "version": "0"})
    assert saved.status_code == 303
    stale = post(admin, "/admin/backups/settings", {"hour": "4", "keep": "2", "enabled": "1", "version": "0"})
    assert stale.status_code == 409
    session.expire_all()
    assert (service.current_settings(session).hour, service.current_settings(session).keep) == (3, 2)

    def finished() -> bool:
        session.expire_all()
        return session.scalar(select(func.count()).select_from(BackupRun).where(BackupRun.slot.is_not(None))) == 0

    for _ in range(3):  # three backups, two kept
        assert post(admin, "/admin/backups/run", {"confirm": "1"}).status_code == 303
        _wait_until(finished)
    runs = list(session.scalars(select(BackupRun).order_by(BackupRun.id)))
    assert [r.status for r in runs] == ["succeeded"] * 3 and [r.verify_status for r in runs] == ["ok"] * 3
    assert runs[0].removed_at is not None and not (settings.resolved_backup_dir / runs[0].file_name).exists()
    assert sorted(p.name for p in settings.resolved_backup_dir.iterdir()) == sorted(r.file_name for r in runs[1:])

    # A double click: while one runs, "back up now" starts no second one.
    holding = service.start(session, kind="manual", actor=users["admin"])
    assert holding is not None
    assert post(admin, "/admin/backups/run", {"confirm": "1"}).status_code == 303
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(BackupRun)) == 4
    service.execute(database=db, settings=settings, run_id=holding.id)

    latest = runs[-1]
    assert manager.get(f"/admin/backups/{latest.id}/download").status_code == 403
    download = admin.get(f"/admin/backups/{latest.id}/download")
    assert download.status_code == 200 and download.headers["cache-control"] == "no-store"
    assert hashlib.sha256(download.content).hexdigest() == latest.sha256
    assert admin.get(f"/admin/backups/{runs[0].id}/download").status_code == 404  # removed
    assert post(admin, f"/admin/backups/{latest.id}/verify").status_code == 303
    _wait_until(lambda: (session.expire_all(), session.get(BackupRun, latest.id).verify_status)[1] == "ok")
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type.in_(["backup", "backup_setting"]))))
    assert {"backup", "backup_verify", "download", "update"} <= actions
    listed = admin.get("/admin/backups").text
    assert "完好" in listed and "下载" in listed and 'href="/admin/backups"' in listed  # checked; linked in the menu


def test_a_failed_backup_reminds_the_administrators_once(db, session, users, settings, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backup folder should be")
    failing = Settings(env="test", database_url=settings.database_url, data_dir=settings.data_dir,
                       secret_key="t" * 40, backup_dir=blocked)
    now = datetime.now(ZONE).replace(hour=3, minute=5).astimezone(UTC)  # after the default 02:00
    try:
        jobs.daily(JobContext(database=db, settings=failing, now=now))
        raise AssertionError("a failed backup did not fail its job")
    except RuntimeError as failure:
        assert "failed" in str(failure)
    assert jobs.daily(JobContext(database=db, settings=failing, now=now + timedelta(minutes=60))) == "not due"
    session.expire_all()
    run = session.scalar(select(BackupRun))
    assert run.status == "failed" and run.error and run.slot is None

    def sent() -> list[tuple[str, int]]:
        session.expire_all()
        return sorted((occasion, recipient) for occasion, recipient in session.execute(
            select(Outbox.occasion, Outbox.recipient_id).where(Outbox.rule == backup_rule.RULE.code)))

    assert sent() == [(f"failed:{run.id}", users["admin"].id)]
    # Two days on, the daily pass tells of the missing success, once however often it runs.
    config = RuleConfig(days=None, at_time=backup_rule.RULE.default_at, zone=ZONE)
    later = now + timedelta(days=2, hours=6)
    for _ in range(2):
        with db.write_session() as writing:
            reminders = backup_rule.RULE.plan(writing, dates=[later.astimezone(ZONE).date()], now=later,
                                              config=RuleConfig(days=None, at_time=config.at_time, zone=ZONE))
            notification_service.write(writing, reminders, now=later, zone=ZONE)
            writing.commit()
    assert sent() == [(f"failed:{run.id}", users["admin"].id), ("stale:0", users["admin"].id)]
    assert "failed" in backup_rule.RULE.render(entity_id=run.id, occasion=f"failed:{run.id}",
                                               payload={"kind": "failed", "at": now.isoformat(), "error": "disk"},
                                               locale="en").subject
