"""`python -m bench.xlsx_export` (run by `make bench` after the pages): the Excel download of 50,000 projects.

Builds a small fresh SQLite database in var/bench-xlsx/ (migrations, a manager, 2,000 organizations, 50,000
projects with one or two investors each, 5% confidential, bulk-inserted with bench.generate's helpers; some ten
seconds), starts one uvicorn worker (bench/server.py), signs in as the manager (who may see every project) and
downloads /projects/export.xlsx — the projects table's Excel file, all 50,000 rows — reading the response as it
streams. It reports:

- the time from the request to the last byte (goal: under 10 s),
- the server's peak memory during the download above what it held before (goal: under 300 MB): the server process's
  VmHWM from /proc/<pid>/status, whose high-water mark is reset just before the download by writing 5 to
  /proc/<pid>/clear_refs, minus its VmRSS at that moment (a warm-up download of a few rows has loaded openpyxl),
- the file's size, and that it opens with openpyxl and holds the 50,000 rows.

BENCH_XLSX_PROJECTS changes the number of projects; BENCH_SMOKE=1 builds 1% of the data and judges nothing
(bench/settings.py). Results in var/bench-xlsx/results.json; see docs/performance.md.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import make_url, select

from bench import generate, settings
from bench.server import BenchError, Server, sign_in
from crm import migrate, search_text
from crm.auth import service as auth_service
from crm.db import Database
from crm.organizations.models import IndustryChain, Organization
from crm.projects.models import PIPELINE, Project, ProjectOrganization, Stage

BENCH_DIR = settings.var_dir("bench-xlsx")
PROJECTS = int(os.environ.get("BENCH_XLSX_PROJECTS", settings.scaled(50_000)))
ORGANIZATIONS = settings.scaled(2_000)
MANAGER, PASSWORD = "bench-manager", "bench-pass-1"  # a throwaway user in a throwaway database
GOAL_SECONDS = 10.0
GOAL_MB = 300.0
STAGES = [*PIPELINE, Stage.ON_HOLD, Stage.DROPPED]


def build(database_path: Path) -> None:
    url = f"sqlite:///{database_path}"
    migrate.upgrade(url)
    rng = random.Random(20211206)
    now = datetime.now(UTC)
    database = Database(url)
    try:
        with database.write_session() as session:
            manager = auth_service.create_user(session, username=MANAGER, display_name="练建军", password=PASSWORD,
                                               role="manager", actor=None)
            manager_id = manager.id
            chain_ids = list(session.scalars(select(IndustryChain.id)))
    finally:
        database.dispose()
    orgs = []
    for org_id in range(1, ORGANIZATIONS + 1):
        name = f"{rng.choice(generate.BRAND_CHARS)}{rng.choice(generate.BRAND_CHARS)}{org_id:04d}{rng.choice(generate.SUFFIXES)}"
        orgs.append({"id": org_id, "name": name, "name_normalized": search_text.normalize_name(name),
                     "name_sort": search_text.sort_key(name), "name_en": "", "credit_code": None, "kind": "investor",
                     "industry_chain_id": rng.choice(chain_ids), "ownership": "private", "country_region": "中国",
                     "city": "上海", "address": "", "website": "", "tags": "", "description": "",
                     "owner_id": manager_id, "archived_at": None, "search_text": name, "created_at": now,
                     "updated_at": now})
    projects, investors = [], []
    for pid in range(1, PROJECTS + 1):
        stage = rng.choice(STAGES)
        entered = now - timedelta(hours=rng.randrange(1, 24 * 150))
        lead = rng.randrange(1, ORGANIZATIONS + 1)
        name = f"{orgs[lead - 1]['name'][:6]}新能源生产基地项目{pid}"
        foreign = rng.random() < 0.12
        projects.append({
            "id": pid, "name": name, "industry_chain_id": rng.choice(chain_ids), "description": "",
            "total_investment_wan_cny": Decimal(rng.randrange(100, 500_000)) / 10, "fixed_investment_wan_cny": None,
            "is_foreign_invested": foreign, "foreign_capital_wan_usd": Decimal(rng.randrange(100, 20000)) if foreign else None,
            "registered_capital_wan_cny": None, "land_need_mu": None, "annual_output_wan_cny": None,
            "annual_tax_wan_cny": None, "jobs": None, "source": "other", "source_visit_id": None, "source_note": "",
            "owner_id": manager_id, "is_confidential": rng.random() < 0.05, "stage": stage.value,
            "stage_entered_at": entered, "pipeline_stage": (stage if stage in PIPELINE else Stage.LEAD).value,
            "stage_reason": "", "parcel_id": None, "land_certificate_no": "", "gate_override_reason": "",
            "gate_override_by_id": None, "gate_override_at": None, "search_text": search_text.build(name),
            "created_by_id": manager_id, "created_at": entered, "updated_at": entered, "archived_at": None,
            "version": 1,
        })
        investors.append({"project_id": pid, "organization_id": lead, "position": 0})
        if rng.random() < 0.3:
            second = rng.randrange(1, ORGANIZATIONS + 1)
            if second != lead:
                investors.append({"project_id": pid, "organization_id": second, "position": 1})
    with generate._bulk_connection(make_url(url).database) as cur:
        for table, rows in ((Organization.__table__, orgs), (Project.__table__, projects),
                            (ProjectOrganization.__table__, investors)):
            generate._insert(cur, table, rows)
        cur.execute("ANALYZE")


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) of a process."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def download(port: int, path: str, cookie: str) -> tuple[int, bytes, float, float]:
    """(status, body, seconds to the first byte, seconds to the last), read as it streams."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Cookie": f"crm_session={cookie}"})
        response = conn.getresponse()
        first = time.monotonic() - started
        chunks = []
        while block := response.read(256 * 1024):
            chunks.append(block)
        return response.status, b"".join(chunks), first, time.monotonic() - started
    finally:
        conn.close()


def main() -> int:
    settings.announce("bench.xlsx_export")
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    database_path = BENCH_DIR / "crm.sqlite3"
    started = time.monotonic()
    print(f"bench.xlsx_export: building {PROJECTS:,} projects and {ORGANIZATIONS:,} organizations …", flush=True)
    build(database_path)
    print(f"  database ready in {time.monotonic() - started:.0f} s", flush=True)
    ceiling = BENCH_DIR / "ceiling.html"
    ceiling.write_bytes(b"-")
    with Server(database_url=f"sqlite:///{database_path}", data_dir=BENCH_DIR, ceiling_file=ceiling) as server:
        pid = server.process.pid
        cookie = sign_in(server.port, MANAGER, PASSWORD)
        status, _, _, _ = download(server.port, "/projects/export.xlsx?min_investment=49990", cookie)  # warm-up
        if status != 200:
            raise BenchError(f"warm-up export answered {status}")
        before = _proc_status(pid)["VmRSS"]
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
        status, body, first_byte, seconds = download(server.port, "/projects/export.xlsx", cookie)
        after = _proc_status(pid)
        if status != 200:
            raise BenchError(f"export answered {status}: {body[:300]!r}")
        if logged := server.new_output():
            raise BenchError(f"the server logged errors (all in {server.log_path}):\n{logged[-2000:]}")
    peak_mb = (after["VmHWM"] - before) / 1024
    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    rows = sum(1 for _ in sheet.iter_rows(min_row=2, values_only=True))
    if rows != PROJECTS:
        raise BenchError(f"the file holds {rows:,} rows, not {PROJECTS:,}")
    result = {"projects": PROJECTS, "seconds": round(seconds, 2), "first_byte_seconds": round(first_byte, 2),
              "bytes": len(body), "server_rss_before_mb": round(before / 1024, 1),
              "server_peak_increase_mb": round(peak_mb, 1), "rows_in_file": rows,
              "met": seconds < GOAL_SECONDS and peak_mb < GOAL_MB}
    (BENCH_DIR / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"  /projects/export.xlsx, {PROJECTS:,} projects: {seconds:.1f} s to the last byte (first byte "
          f"{first_byte:.1f} s; goal < {GOAL_SECONDS:.0f} s), {len(body) / 2**20:.1f} MB file, {rows:,} rows read back; "
          f"server peak RSS +{peak_mb:.0f} MB over {before / 1024:.0f} MB (VmHWM; goal < {GOAL_MB:.0f} MB): "
          f"{'goal met' if result['met'] else 'GOAL MISSED'}{' (smoke run: not judged)' if settings.SMOKE else ''}",
          flush=True)
    return settings.exit_status(result["met"])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        sys.exit(f"bench.xlsx_export: {error}")
