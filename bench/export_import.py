"""`python -m bench.export_import` (run by `make bench` after the pages): the export-figures import, 10,000 rows.

Builds a fresh database (SQLite in var/bench-exports/, and PostgreSQL when CRM_BENCH_POSTGRES_URL or the local
server at 127.0.0.1:5432 answers) with 1,000 zone enterprises in the export pool, writes a 10,000-row .xlsx (each
enterprise, ten months), and posts it to /exports/import through the app in-process (FastAPI's TestClient, signed in
as a manager): the multipart upload, reading the sheet (crm/spreadsheets.py), checking every row against the pool,
and writing the figures with their audit entries in one transaction. Timed three times:

- first import: 10,000 new figures (goal: under 5 s),
- the same file again: nothing changes (every value compared, nothing written),
- a file with every value changed: 10,000 updates.

BENCH_EXPORT_ROWS changes the number of rows (a multiple of 10); BENCH_SMOKE=1 imports 100 and judges nothing
(bench/settings.py). Results in var/bench-exports/results.json; see docs/performance.md.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, insert, select

from bench import settings
from bench.postgres import throwaway_database
from crm import migrate
from crm.auth import service as auth_service
from crm.auth.security import use_cheap_hashing
from crm.config import Settings
from crm.db import Database
from crm.exports.models import ExportEnterprise, ExportFigure
from crm.main import create_app
from crm.organizations.models import Organization
from crm.validators import credit_code_check_char

BENCH_DIR = settings.var_dir("bench-exports")
GOAL_SECONDS = 5.0
MONTHS = 10
YEAR = 2025
CSRF = "csrf_token"


def _code(n: int) -> str:
    body = f"91371700MB{n:07d}"
    return body + credit_code_check_char(body)


def _sheet(enterprises: int, bump: Decimal) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["统一社会信用代码", "企业名称", "月份", "出口额（万美元）"])
    for n in range(1, enterprises + 1):
        for month in range(1, MONTHS + 1):
            sheet.append([_code(n), "", f"{YEAR}-{month:02d}", float(Decimal(n % 97 * 10 + month) + bump)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


PASSWORD = "export-pass-1"  # by the password policy: not containing the username "bench"


def _populate(database: Database, enterprises: int) -> None:
    with database.write_session() as session:
        manager = auth_service.create_user(session, username="bench", display_name="bench", password=PASSWORD,
                                           role="manager", actor=None)
        now = datetime.now(UTC)
        session.execute(insert(Organization), [
            {"name": f"出口企业{n:05d}", "name_normalized": f"出口企业{n:05d}", "credit_code": _code(n),
             "kind": "zone_enterprise", "owner_id": manager.id, "created_at": now, "updated_at": now}
            for n in range(1, enterprises + 1)])
        ids = list(session.scalars(select(Organization.id).order_by(Organization.id)))
        session.execute(insert(ExportEnterprise), [
            {"organization_id": org_id, "tier": "key", "officer_id": manager.id, "created_at": now, "updated_at": now}
            for org_id in ids])
        session.commit()


def _post(client: TestClient, data: bytes) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.post("/exports/import", data={CSRF: client.csrf},
                           files={"file": ("figures.xlsx", data, "application/octet-stream")})
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or 'id="import-done"' not in response.text:
        raise SystemExit(f"import failed ({response.status_code}): {response.text[-800:]}")
    return elapsed, response.text


def _run(url: str, label: str, rows: int) -> dict:
    migrate.upgrade(url)
    database = Database(url)
    enterprises = rows // MONTHS
    _populate(database, enterprises)
    app_settings = Settings(env="test", database_url=url, data_dir=BENCH_DIR, secret_key="b" * 40)
    app = create_app(app_settings, database=database)
    first, changed = _sheet(enterprises, Decimal(0)), _sheet(enterprises, Decimal("0.5"))
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post("/login", data={"username": "bench", "password": PASSWORD, CSRF: token, "next": "/"})
        client.csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/exports/import").text).group(1)
        t_first, _ = _post(client, first)
        with database.read_sessions() as session:
            written = session.scalar(select(func.count()).select_from(ExportFigure))
        t_again, _ = _post(client, first)
        t_changed, _ = _post(client, changed)
    database.dispose()
    result = {"backend": label, "rows": rows, "file_bytes": len(first), "figures_written": written,
              "first_import_s": round(t_first, 2), "same_file_again_s": round(t_again, 2),
              "every_value_changed_s": round(t_changed, 2), "goal_s": GOAL_SECONDS, "met": t_first < GOAL_SECONDS}
    print(f"  {label}: {rows:,} rows ({len(first) / 1024:.0f} KiB): first import {t_first:.2f} s "
          f"({written:,} figures written), same file again {t_again:.2f} s, every value changed {t_changed:.2f} s "
          f"— goal < {GOAL_SECONDS:.0f} s: {'yes' if t_first < GOAL_SECONDS else 'NO'}"
          f"{' (smoke run: not judged)' if settings.SMOKE else ''}", flush=True)
    return result


def main() -> int:
    settings.announce("bench.export_import")
    use_cheap_hashing()
    rows = int(os.environ.get("BENCH_EXPORT_ROWS", settings.scaled(10_000)))
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    print(f"export-figures import: {rows:,} rows, validated and written (bench/export_import.py)", flush=True)
    results = [_run(f"sqlite:///{BENCH_DIR / 'crm.sqlite3'}", "SQLite", rows)]
    with throwaway_database("crm_bench_exports") as url:
        if url is not None:
            results.append(_run(url, "PostgreSQL", rows))
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
