"""`python -m bench.full_export`: the full export (crm/data_export) of the benchmark data set plus 100,000 projects.

Builds a fresh SQLite database in var/bench-full-export/ with bench.generate (20,000 organizations, 60,000 contacts,
200,000 visits with their tour stops, 400,000 follow-ups) and 100,000 projects with one or two investors each, then
runs the export — the same function as `crm export -o FILE.zip` and /admin/export.zip — in a child process and
reports:

- the time to write the whole zip (goal: under 2 minutes),
- the child's peak memory above what it held once the application was imported (goal: under 300 MB): its anonymous
  memory (RssAnon) sampled every 0.1 s, and for reference VmHWM − VmRSS, which also counts the SQLite file's pages
  mapped into the process (the kernel's cache, dropped under pressure); the rows are read a batch at a time and the
  workbook is written by xlsxwriter in constant-memory mode,
- the zip's size and the row count of its largest sheets.

BENCH_FULL_EXPORT_PROJECTS changes the number of projects; BENCH_SMOKE=1 builds 1% of the data and judges nothing
(bench/settings.py). Results in var/bench-full-export/results.json; see docs/performance.md.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import make_url, select

from bench import generate, settings
from crm import search_text
from crm.auth.models import User
from crm.db import Database
from crm.organizations.models import IndustryChain
from crm.projects.models import PIPELINE, Project, ProjectOrganization, Stage

BENCH_DIR = settings.var_dir("bench-full-export")
PROJECTS = int(os.environ.get("BENCH_FULL_EXPORT_PROJECTS", settings.scaled(100_000)))
GOAL_SECONDS = 120.0
GOAL_MB = 300.0
STAGES = [*PIPELINE, Stage.ON_HOLD, Stage.DROPPED]


def _add_projects(url: str, organizations: int, owner_id: int) -> None:
    rng = random.Random(20211206)
    now = datetime.now(UTC)
    database = Database(url)
    try:
        with database.read_sessions() as session:
            chain_ids = list(session.scalars(select(IndustryChain.id)))
    finally:
        database.dispose()
    projects, investors = [], []
    for pid in range(1, PROJECTS + 1):
        stage = rng.choice(STAGES)
        entered = now - timedelta(hours=rng.randrange(1, 24 * 400))
        lead = rng.randrange(1, organizations + 1)
        name = f"新能源生产基地项目{pid}"
        foreign = rng.random() < 0.12
        projects.append({
            "id": pid, "name": name, "industry_chain_id": rng.choice(chain_ids), "description": "年产 10 万套动力电池",
            "total_investment_wan_cny": Decimal(rng.randrange(100, 500_000)) / 10, "fixed_investment_wan_cny": None,
            "is_foreign_invested": foreign,
            "foreign_capital_wan_usd": Decimal(rng.randrange(100, 20000)) if foreign else None,
            "registered_capital_wan_cny": None, "land_need_mu": None, "annual_output_wan_cny": None,
            "annual_tax_wan_cny": None, "jobs": None, "source": "other", "source_visit_id": None, "source_note": "",
            "owner_id": owner_id, "is_confidential": rng.random() < 0.05, "stage": stage.value,
            "stage_entered_at": entered, "pipeline_stage": (stage if stage in PIPELINE else Stage.LEAD).value,
            "stage_reason": "", "parcel_id": None, "land_certificate_no": "", "gate_override_reason": "",
            "gate_override_by_id": None, "gate_override_at": None, "search_text": search_text.build(name),
            "created_by_id": owner_id, "created_at": entered, "updated_at": entered, "archived_at": None,
            "version": 1,
        })
        investors.append({"project_id": pid, "organization_id": lead, "position": 0})
        if rng.random() < 0.3:
            second = rng.randrange(1, organizations + 1)
            if second != lead:
                investors.append({"project_id": pid, "organization_id": second, "position": 1})
    with generate._bulk_connection(make_url(url).database) as cur:
        for table, rows in ((Project.__table__, projects), (ProjectOrganization.__table__, investors)):
            generate._insert(cur, table, rows)
        cur.execute("ANALYZE")


def _status() -> dict[str, int]:
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon"):
            values[key] = int(rest.split()[0])  # kB
    return values


def _child(url: str, data_dir: str, output: str) -> int:
    """In the child: import the app, then export while a thread samples the process's anonymous memory (its own
    heap: VmHWM would also count the pages of the SQLite file it maps, CRM_SQLITE mmap, which the kernel may drop at
    any time), and print the figures as JSON."""
    import threading

    from crm.config import Settings
    from crm.data_export import cli as export_cli

    Path("/proc/self/clear_refs").write_text("5")
    before = _status()
    peak = [before["RssAnon"]]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], _status()["RssAnon"])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    code = export_cli.export(Settings(env="test", database_url=url, data_dir=Path(data_dir), secret_key="b" * 40),
                             output=Path(output))
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    after = _status()
    print(json.dumps({"seconds": seconds, "peak_mb": (peak[0] - before["RssAnon"]) / 1024,
                      "hwm_mb": (after["VmHWM"] - before["VmRSS"]) / 1024}))
    return code


def _build(url: str) -> None:
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    print(f"bench.full_export: building the data set ({PROJECTS:,} projects) in {BENCH_DIR}")
    built = time.monotonic()
    generate.generate(url)
    database = Database(url)
    try:
        with database.read_sessions() as session:
            owner_id = session.scalar(select(User.id).where(User.username == generate.USERNAME))
    finally:
        database.dispose()
    _add_projects(url, generate.ORGANIZATIONS, owner_id)
    print(f"  built in {time.monotonic() - built:.0f} s")


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        return _child(*sys.argv[2:])
    url = f"sqlite:///{BENCH_DIR / 'crm.sqlite3'}"
    if os.environ.get("BENCH_FULL_EXPORT_REUSE") and (BENCH_DIR / "crm.sqlite3").exists():
        print(f"bench.full_export: the data set built before in {BENCH_DIR} (BENCH_FULL_EXPORT_REUSE)")
    else:
        _build(url)
    output = BENCH_DIR / "export.zip"
    child = subprocess.run([sys.executable, "-m", "bench.full_export", "--child", url, str(BENCH_DIR), str(output)],
                           capture_output=True, text=True, check=False)
    if child.returncode != 0:
        print(child.stdout, child.stderr, file=sys.stderr)
        return 1
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    manifest = json.loads(zipfile.ZipFile(output).read("manifest.json"))
    counts = {s["key"]: s["rows"] for s in manifest["sheets"]}
    result = {"seconds": round(figures["seconds"], 1), "peak_mb": round(figures["peak_mb"], 1),
              "peak_with_mapped_file_mb": round(figures["hwm_mb"], 1),
              "zip_mb": round(output.stat().st_size / 2**20, 1), "rows": sum(counts.values()),
              "projects": counts["projects"], "visits": counts["visits"], "tour_stops": counts["tour_stops"],
              "follow_ups": counts["follow_ups"], "contacts": counts["contacts"]}
    met = result["seconds"] < GOAL_SECONDS and result["peak_mb"] < GOAL_MB
    print(f"  full export: {result['seconds']} s (goal < {GOAL_SECONDS:.0f} s), peak +{result['peak_mb']} MB "
          f"(goal < {GOAL_MB:.0f} MB; +{result['peak_with_mapped_file_mb']} MB with the mapped database file), "
          f"{result['zip_mb']} MB zip, {result['rows']:,} rows "
          f"({result['projects']:,} projects, {result['visits']:,} visits, {result['tour_stops']:,} tour stops, "
          f"{result['follow_ups']:,} follow-ups)" + ("" if settings.SMOKE else f" — goal {'met' if met else 'MISSED'}"))
    (BENCH_DIR / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if met or settings.SMOKE else 1


if __name__ == "__main__":
    sys.exit(main())
