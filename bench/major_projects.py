"""`python -m bench.major_projects`: the 调度表 (major-project scheduling table) and its Excel file, on 500 major
projects with 24 months of reports each.

Builds a fresh SQLite database in var/bench-major-projects/ (migrations, which seed the responsible departments; a
manager and 20 officers; 2,000 projects of which 500 are major, 5% confidential, with levels and leaders; annual
plans for this year and last; a monthly report with its first revision for each of the 24 months up to the month
being reported, 3% of the last month missing, some late; three coordination items per major project, a third of
them open and some overdue), bulk-inserted with bench.generate's helpers in a few seconds. Then one uvicorn worker
(bench/server.py) and, signed in as the manager (who sees every row, so the table is its largest):

- the ceiling (bench/app.py: fixed bytes the size of the 调度表 page), with wrk;
- /scheduling, the month being reported: wrk saturated (16 connections), then 16 clients offering GOAL_RPS requests
  per second in all (bench/rate.py) — the goal load: a scheduling-meeting morning when every leader and officer
  of the zone opens the table at once is a few requests per second; goal p99 < 150 ms at it;
- /scheduling/export.xlsx, the same table as an Excel file: seconds to the last byte, best and worst of a few
  downloads (goal: each under 2 s), the file read back with openpyxl.

BENCH_DURATION (default 10 s per URL) and BENCH_CONNECTIONS as for `make bench`; BENCH_SMOKE=1: 1% of the data
(5 major projects), one-second measurements, nothing judged (bench/settings.py). Results in
var/bench-major-projects/results.json; see docs/performance.md.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import make_url, select

from bench import generate, rate, settings, wrk
from bench.app import CEILING_PATH
from bench.cache import ZONE
from bench.server import ROOT, BenchError, Server, check, sign_in
from bench.xlsx_export import download
from crm import migrate, search_text
from crm.auth import service as auth_service
from crm.auth.models import User
from crm.db import Database
from crm.major_projects import service as major_service
from crm.major_projects.models import (
    CoordinationItem,
    InvestmentPlan,
    MajorProject,
    MonthlyReport,
    ReportRevision,
    ResponsibleDepartment,
)
from crm.organizations.models import IndustryChain
from crm.projects.models import Project

BENCH_DIR = settings.var_dir("bench-major-projects")
MAJOR = settings.scaled(500)
PROJECTS = settings.scaled(2_000)
OFFICERS = 20
MONTHS = 24
MANAGER, PASSWORD = "bench-manager", "bench-pass-1"  # a throwaway user in a throwaway database
GOAL_RPS = 5.0
GOAL_P99_MS = 150.0
GOAL_XLSX_SECONDS = 2.0
DOWNLOADS = 1 if settings.SMOKE else 5
PROGRESS = ["主体结构施工中", "设备安装调试", "厂房基础施工", "场地平整完成，桩基施工中", "钢结构安装完成", "竣工验收准备"]
PROBLEMS = ["", "", "", "施工许可待办结", "用电接入方案待批复", "用地手续办理中"]


def _months_back(year: int, month: int, n: int) -> list[tuple[int, int]]:
    """The n months ending with (year, month), oldest first."""
    out = [(year, month)]
    for _ in range(n - 1):
        out.append(major_service.previous_month(*out[-1]))
    return out[::-1]


def build(database_path: Path, today: date) -> tuple[int, int]:
    """The database; returns (year, month) of the month being reported."""
    url = f"sqlite:///{database_path}"
    migrate.upgrade(url)
    rng = random.Random(20211206)
    now = datetime.now(UTC)
    database = Database(url)
    try:
        with database.write_session() as session:
            manager = auth_service.create_user(session, username=MANAGER, display_name="练建军", password=PASSWORD,
                                               role="manager", actor=None)
            manager_id, password_hash = manager.id, manager.password_hash
            chain_ids = list(session.scalars(select(IndustryChain.id)))
            department_ids = list(session.scalars(select(ResponsibleDepartment.id)))
    finally:
        database.dispose()
    users = [{"id": manager_id + 1 + n, "username": f"major-officer-{n}", "display_name": f"专员{n:02d}", "title": "",
              "email": "", "role": "officer", "locale": "zh_CN", "password_hash": password_hash, "is_active": True,
              "created_at": now, "updated_at": now, "version": 1} for n in range(OFFICERS)]
    officer_ids = [u["id"] for u in users]
    projects = []
    for pid in range(1, PROJECTS + 1):
        name = f"{rng.choice(generate.BRAND_CHARS)}{rng.choice(generate.BRAND_CHARS)}重点产业项目{pid}"
        owner = rng.choice(officer_ids)
        projects.append({
            "id": pid, "name": name, "industry_chain_id": rng.choice(chain_ids),
            "description": "新建标准化厂房及配套设施，购置生产线设备" * 2,
            "total_investment_wan_cny": Decimal(rng.randrange(10_000, 500_000)), "fixed_investment_wan_cny": None,
            "is_foreign_invested": False, "foreign_capital_wan_usd": None, "registered_capital_wan_cny": None,
            "land_need_mu": None, "annual_output_wan_cny": None, "annual_tax_wan_cny": None, "jobs": None,
            "source": "other", "source_visit_id": None, "source_note": "", "owner_id": owner,
            "is_confidential": rng.random() < 0.05, "stage": "groundbreaking", "stage_entered_at": now,
            "pipeline_stage": "groundbreaking", "stage_reason": "", "parcel_id": None, "land_certificate_no": "",
            "gate_override_reason": "", "gate_override_by_id": None, "gate_override_at": None,
            "search_text": search_text.build(name), "created_by_id": owner, "created_at": now, "updated_at": now,
            "archived_at": None, "version": 1})
    year, month = major_service.report_month(today)
    periods = _months_back(year, month, MONTHS)
    majors, plans, reports, revisions, items = [], [], [], [], []
    for pid in rng.sample(range(1, PROJECTS + 1), MAJOR):
        level = rng.choice(("is_province", "is_city", "is_district"))
        with_user = rng.random() < 0.6
        majors.append({"project_id": pid, "is_province": level == "is_province", "is_city": level == "is_city",
                       "is_district": level == "is_district", "listed_year": periods[0][0],
                       "leader_id": manager_id if with_user else None, "leader_name": "" if with_user else "王志刚",
                       "created_at": now, "updated_at": now, "version": 1})
        pace = rng.uniform(0.6, 1.2)
        for y in sorted({y for y, _ in periods}):
            planned = Decimal(rng.randrange(2_000, 50_000))
            plans.append({"id": len(plans) + 1, "project_id": pid, "year": y, "planned_wan_cny": planned,
                          "updated_at": now})
            for py, pm in periods:
                if py != y or ((py, pm) == (year, month) and rng.random() < 0.03):
                    continue
                amount = (planned * Decimal(pace) / 12 * Decimal(rng.uniform(0.7, 1.3))).quantize(Decimal("0.01"))
                report_id = len(reports) + 1
                filed = datetime(*major_service.next_month(py, pm), rng.choice((2, 3, 4, 5, 8)), 2, tzinfo=UTC)
                text = {"progress": rng.choice(PROGRESS), "completed_wan_cny": amount, "problems": rng.choice(PROBLEMS)}
                reports.append({"id": report_id, "project_id": pid, "year": py, "month": pm, **text,
                                "is_late": filed.day > 5, "revision": 1, "filed_at": filed, "filed_by_id": None,
                                "updated_at": filed, "updated_by_id": None, "version": 1})
                revisions.append({"id": report_id, "report_id": report_id, "revision": 1, **text, "saved_at": filed,
                                  "saved_by_id": None})
        for _ in range(3):
            raised = today - timedelta(days=rng.randrange(10, 400))
            status = rng.choice(("pending", "in_progress", "resolved", "resolved", "resolved", "on_hold"))
            items.append({"id": len(items) + 1, "project_id": pid, "report_id": None, "need": "协调办理相关手续",
                          "department_id": rng.choice(department_ids), "department_other": "",
                          "deadline_on": raised + timedelta(days=rng.randrange(15, 90)), "status": status,
                          "owner_id": rng.choice(officer_ids), "raised_on": raised,
                          "resolved_on": raised + timedelta(days=20) if status == "resolved" else None,
                          "created_at": now, "created_by_id": manager_id, "version": 1})
    with generate._bulk_connection(make_url(url).database) as cur:
        for table, rows in ((User.__table__, users), (Project.__table__, projects), (MajorProject.__table__, majors),
                            (InvestmentPlan.__table__, plans), (MonthlyReport.__table__, reports),
                            (ReportRevision.__table__, revisions), (CoordinationItem.__table__, items)):
            generate._insert(cur, table, rows)
        cur.execute("ANALYZE")
    print(f"  {MAJOR:,} major projects of {PROJECTS:,}, {len(reports):,} monthly reports ({MONTHS} months), "
          f"{len(items):,} coordination items", flush=True)
    return year, month


def main() -> int:
    seconds, warm_up = settings.DURATION, settings.WARM_UP
    settings.announce("bench.major_projects")
    wrk.wrk_path()
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    database_path = BENCH_DIR / "crm.sqlite3"
    started = time.monotonic()
    print(f"bench.major_projects: building {MAJOR:,} major projects with {MONTHS} months of reports …", flush=True)
    year, month = build(database_path, datetime.now(ZONE).date())
    print(f"  database ready in {time.monotonic() - started:.0f} s", flush=True)
    page_path = f"/scheduling?month={year}-{month:02d}"
    xlsx_path = f"/scheduling/export.xlsx?month={year}-{month:02d}"
    ceiling = BENCH_DIR / "board_page.html"
    with Server(database_url=f"sqlite:///{database_path}", data_dir=BENCH_DIR, ceiling_file=ceiling) as server:
        port = server.port
        cookie = sign_in(port, MANAGER, PASSWORD)
        headers = {"Cookie": f"crm_session={cookie}"}
        body = check(port, page_path, headers)
        rows = body.count(b"<tr>") - 1
        if rows != MAJOR:
            raise BenchError(f"{page_path} shows {rows} rows, not {MAJOR}")
        ceiling.write_bytes(body)
        print(f"wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS}, {warm_up} s warm-up and {seconds} s per URL; then "
              f"{rate.CLIENTS} clients at {GOAL_RPS:.0f} req/s in all", flush=True)
        measured = {}
        for name, path in (("ceiling", CEILING_PATH), ("调度表", page_path)):
            url = f"http://127.0.0.1:{port}{path}"
            if warm_up:
                wrk.run(url, headers, seconds=warm_up)
            measured[name] = wrk.run(url, headers, seconds=seconds)
        loaded = rate.run(port, page_path, headers, rate=GOAL_RPS, seconds=seconds)
        times = []
        for _ in range(DOWNLOADS):
            status, data, _, took = download(port, xlsx_path, cookie)
            if status != 200:
                raise BenchError(f"GET {xlsx_path} answered {status}: {data[:300]!r}")
            times.append(took)
        if logged := server.new_output():
            raise BenchError(f"the server logged errors (all in {server.log_path}):\n{logged[-2000:]}")
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    filled = sum(1 for row in sheet.iter_rows(values_only=True) if any(v not in (None, "") for v in row))
    if filled < MAJOR:
        raise BenchError(f"the Excel file holds {filled} filled rows, fewer than the {MAJOR} projects")
    page, ceil = measured["调度表"], measured["ceiling"]
    page_met = loaded.p99_ms < GOAL_P99_MS
    xlsx_met = max(times) < GOAL_XLSX_SECONDS
    result = {"major_projects": MAJOR, "months_of_reports": MONTHS, "page": page_path, "page_bytes": len(body),
              "ceiling_rps": ceil.rps, "page_rps": page.rps, "page_p50_ms": page.p50_ms, "page_p99_ms": page.p99_ms,
              "goal_rps": GOAL_RPS, "p99_ms_at_goal_load": loaded.p99_ms, "page_met": page_met,
              "xlsx_seconds": [round(t, 3) for t in times], "xlsx_bytes": len(data), "xlsx_met": xlsx_met}
    (BENCH_DIR / "results.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    smoke = " (smoke run: not judged)" if settings.SMOKE else ""
    print(f"\n{'':<44}{'req/s':>8}{'p50':>8}{'p99':>8}")
    print(f"{'ceiling':<44}{ceil.rps:>8.0f}{ceil.p50_ms:>8.1f}{ceil.p99_ms:>8.1f}")
    print(f"{f'调度表, {MAJOR} rows, saturated':<41}{page.rps:>8.0f}{page.p50_ms:>8.1f}{page.p99_ms:>8.1f}")
    print(f"{f'调度表 at {GOAL_RPS:.0f} req/s ({rate.CLIENTS} clients)':<42}{loaded.achieved_rps:>8.1f}"
          f"{loaded.p50_ms:>8.1f}{loaded.p99_ms:>8.1f}  goal p99 < {GOAL_P99_MS:.0f} ms: "
          f"{'met' if page_met else 'MISSED'}{smoke}")
    print(f"/scheduling/export.xlsx, {MAJOR} rows ({len(data) / 1024:.0f} KiB): {min(times):.2f}–{max(times):.2f} s "
          f"to the last byte over {DOWNLOADS} downloads; goal < {GOAL_XLSX_SECONDS:.0f} s: "
          f"{'met' if xlsx_met else 'MISSED'}{smoke}")
    print(f"results in {(BENCH_DIR / 'results.json').relative_to(ROOT)}", flush=True)
    return settings.exit_status(page_met and xlsx_met)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        sys.exit(f"bench.major_projects: {error}")
