"""An import's commit runs off its request (crm/imports/running.py): against `crm serve` with ONE worker, another
user's requests are answered while a few thousand rows are written, a double click or second tab gets the progress
page (one run), the page polls itself until the result. And a batch left committing or undoing by a process that
is gone is recovered when the app starts — never one a live process is running."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from crm.auth.models import User
from crm.db import utcnow
from crm.imports import service
from crm.imports.models import BatchStatus, ImportBatch, ImportRecord
from crm.main import create_app
from crm.organizations.models import Organization
from tests.import_progress import PROGRESS
from tests.server_process import KEY_RE, Browser, ServerProcess

ROWS = 4000


def _draft(session, user: User, rows: int, prefix: str) -> int:
    """A mapped draft of `rows` organizations, made as the wizard's upload and mapping steps make it."""
    data = ("企业名称,所在城市,联系人,职务,手机\r\n" + "".join(
        f"{prefix}{i}有限公司,苏州,联系人{i},经理,138{i:08d}\r\n" for i in range(rows))).encode()
    kind = service.kind_of("organizations")
    batch = service.start(session, user=user, kind=kind, file_name=f"{prefix}.csv", data=data)
    columns = {int(i): k for i, k in batch.mapping["columns"].items()}
    assert service.save_mapping(session, batch=batch, kind=kind, user=user, chosen=columns, units={}) == {}
    return batch.id


def test_another_users_requests_are_answered_while_a_big_import_commits(database_url, tmp_path, session, users):
    batch_id = _draft(session, users["officer"], ROWS, "后台导入测试企业")
    server = ServerProcess(database_url=database_url, data_dir=tmp_path, workers=1).wait_ready()
    try:
        importer, other = Browser(server.port).sign_in("officer"), Browser(server.port).sign_in("officer2")
        key = KEY_RE.search(importer.get(f"/imports/{batch_id}/confirm").body)[1]
        started = importer.post(f"/imports/{batch_id}/commit", {"submission_key": key})
        assert started.status == 303 and started.headers["location"] == f"/imports/{batch_id}", started.body[:500]
        # a double click and a second tab are shown the progress, not a second run
        assert importer.post(f"/imports/{batch_id}/commit", {"submission_key": key}).status == 303
        assert importer.post(f"/imports/{batch_id}/commit", {"submission_key": "t" * 20}).status == 303
        # the one worker answers another user at once: a page and a save, while the import is still being written
        assert other.get("/organizations").status == 200
        saved = other.post("/organizations", {"name": "导入期间新建的企业", "kind": "investor"})
        assert saved.status in (303, 503), saved.body[:500]  # 503: the lock stayed busy past the bound; never 500
        page = importer.get(f"/imports/{batch_id}")
        session.expire_all()
        # all that was answered before the import finished (so the clicks above met it committing)
        assert session.get(ImportBatch, batch_id).status == BatchStatus.COMMITTING
        assert page.status == 200 and PROGRESS in page.body and f"{ROWS}" in page.body
        assert f'hx-get="/imports/{batch_id}"' in page.body and f'<a href="/imports/{batch_id}">' in page.body
        while PROGRESS in page.body:  # the page polls itself (htmx) or is refreshed by hand
            time.sleep(0.2)
            page = importer.get(f"/imports/{batch_id}")
        assert page.status == 200
        session.expire_all()
        batch = session.get(ImportBatch, batch_id)
        assert (batch.status, batch.created_count, batch.rows_done) == (BatchStatus.COMMITTED, ROWS, ROWS)
        assert session.scalar(select(func.count(Organization.id)).where(
            Organization.name.like("后台导入测试企业%"))) == ROWS  # one run

        # the undo runs off the request too: answered at once, then the result
        other.close()  # idle past uvicorn's keep-alive while the import ran: a new connection
        undo = importer.post(f"/imports/{batch_id}/undo")
        assert undo.status == 303 and undo.headers["location"] == f"/imports/{batch_id}"
        assert other.get("/organizations").status == 200
        page = importer.get(f"/imports/{batch_id}")
        while PROGRESS in page.body:
            time.sleep(0.2)
            page = importer.get(f"/imports/{batch_id}")
        polled = importer.request("GET", f"/imports/{batch_id}", headers={"HX-Request": "true"})
        assert polled.status == 204 and polled.headers["hx-redirect"] == f"/imports/{batch_id}"  # becomes the result
        session.expire_all()
        assert session.get(ImportBatch, batch_id).status == BatchStatus.UNDONE
        assert session.scalar(select(func.count(Organization.id)).where(
            Organization.name.like("后台导入测试企业%"))) == 0
    finally:
        assert server.stop() == 0, server.output()
    assert "Exception in ASGI application" not in server.output()
    assert "Traceback" not in server.output(), server.output()


def _committed(session, user: User, rows: int, prefix: str) -> int:
    batch_id = _draft(session, user, rows, prefix)
    service.commit(session, batch_id=batch_id, user=user, key=None, locale="zh_CN")
    return batch_id


def _left(session, batch_id: int, status: str, worker: str, heartbeat) -> None:
    session.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(
        status=status, worker=worker, heartbeat_at=heartbeat))
    session.commit()


def _orgs(session, prefix: str) -> int:
    return session.scalar(select(func.count(Organization.id)).where(Organization.name.like(f"{prefix}%")))


def test_a_batch_left_running_by_a_process_that_is_gone_is_taken_back_at_start_up(settings, db, session, users):
    officer = users["officer"]
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{socket.gethostname()[:80]}|{gone.stdout.strip()}|1"  # a process of this host that has ended
    now, long_ago = utcnow(), utcnow() - service.STALE_AFTER - timedelta(minutes=1)
    interrupted = _committed(session, officer, 3, "中断的导入")  # its written chunks are there, as at a kill
    _left(session, interrupted, BatchStatus.COMMITTING, dead, now)
    live = _committed(session, officer, 2, "本进程正在导入")  # a live process (this one) is running it
    _left(session, live, BatchStatus.COMMITTING, service.worker_id(), now)
    elsewhere = _committed(session, officer, 1, "别处正在导入")  # another host, heartbeat fresh: still running
    _left(session, elsewhere, BatchStatus.COMMITTING, "another-host|42|7", now)
    undoing = _committed(session, officer, 1, "中断的撤销")  # another host, silent for too long; an undo
    _left(session, undoing, BatchStatus.UNDOING, "another-host|43|7", long_ago)

    with TestClient(create_app(settings, database=db)):  # start-up (the lifespan)
        pass

    session.expire_all()
    batch = session.get(ImportBatch, interrupted)
    assert batch.status == BatchStatus.FAILED and "中断" in batch.message, batch.message
    assert _orgs(session, "中断的导入") == 0
    assert session.scalar(select(func.count(ImportRecord.id)).where(ImportRecord.batch_id == interrupted)) == 0
    assert session.get(ImportBatch, live).status == BatchStatus.COMMITTING and _orgs(session, "本进程正在导入") == 2
    assert session.get(ImportBatch, elsewhere).status == BatchStatus.COMMITTING and _orgs(session, "别处正在导入") == 1
    batch = session.get(ImportBatch, undoing)
    assert batch.status == BatchStatus.COMMITTED and batch.message and _orgs(session, "中断的撤销") == 1
    assert service.recover_interrupted(session) == 0  # nothing more: the live ones are left alone
