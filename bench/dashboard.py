"""`python -m bench.dashboard`: the managers' dashboard (/) on the full benchmark data set.

The data: bench/projects.py's database (the main benchmark's 20,000 organizations, 60,000 contacts, 200,000 visits,
400,000 tasks, then 100,000 projects with checklists, decisions, parcels and a collective groundbreaking with 60
slated projects; BENCH_REUSE=1 copies it from var/bench-projects/ when that run left one built today by the same
code — bench/cache.py's key — and says why not otherwise), and on top of it the export-leader pool (300 zone
enterprises with targets and monthly figures for this year and last), the nine key indicators with figures and
targets for both years, and assessment targets for every officer.

Then one uvicorn worker and, signed in as a manager: wrk with 16 connections (saturated: requests per second, p50,
p99), then 16 clients (bench/rate.py; coordinated omission corrected) each opening the dashboard once a second —
16 req/s, sixteen managers reloading it without pause — which is the goal's measure (issue 5: p99 under 150 ms at
16 clients), and the same 16 clients offering 3% of the ceiling's rate, the load the list pages are held to.
BENCH_SMOKE=1: 1% of the data, one-second measurements, nothing judged (bench/settings.py). Results in
var/bench-dashboard/results.json; see docs/performance.md.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bench import projects as project_bench
from bench import rate, settings, wrk
from bench.app import CEILING_PATH
from bench.server import BenchError, Server, check, sign_in
from crm.assessment.models import OfficerTarget
from crm.auth.models import Role, User
from crm.db import Database
from crm.exports.models import ExportEnterprise, ExportFigure, ExportTarget
from crm.indicators import service as indicator_service
from crm.indicators.models import Indicator, IndicatorTarget, IndicatorValue
from crm.organizations.models import Organization

BENCH_DIR = settings.var_dir("bench-dashboard")
POOL = settings.scaled(300)
GOAL_P99_MS = 150.0
GOAL_SHARE = 0.03
STEADY_RPS = 16.0  # 16 clients, one request a second each


def _add_zone_figures(database_path, *, today: date) -> None:
    """The pool, its figures, the indicators and the officers' targets, inserted in bulk."""
    rng = random.Random(20211206)
    database = Database(f"sqlite:///{database_path}")
    years = (today.year - 1, today.year)
    try:
        with database.write_session() as session:
            officers = list(session.scalars(select(User.id).where(User.role == Role.OFFICER)))
            orgs = list(session.scalars(select(Organization.id).where(Organization.kind == "zone_enterprise")
                                        .order_by(Organization.id).limit(POOL)))
            if len(orgs) < POOL:
                orgs += list(session.scalars(select(Organization.id).where(Organization.id.not_in(orgs))
                                             .order_by(Organization.id).limit(POOL - len(orgs))))
            session.execute(ExportEnterprise.__table__.insert(), [
                {"organization_id": org, "tier": ("leader", "key", "potential")[i % 3],
                 "officer_id": officers[i % len(officers)], "main_products": "", "markets": "",
                 "support_planned": ""} for i, org in enumerate(orgs)])
            targets, figures = [], []
            for org in orgs:
                monthly = rng.uniform(20, 400)
                for year in years:
                    targets.append({"organization_id": org, "year": year,
                                    "target_wan_usd": Decimal(f"{monthly * 12 * 1.1:.2f}")})
                    last = 12 if year < today.year else today.month - 1
                    figures += [{"organization_id": org, "year": year, "month": month,
                                 "value_wan_usd": Decimal(f"{monthly * rng.uniform(0.6, 1.3):.2f}")}
                                for month in range(1, last + 1)]
            session.execute(ExportTarget.__table__.insert(), targets)
            session.execute(ExportFigure.__table__.insert(), figures)

            indicator_service.ensure_defaults(session)
            session.flush()
            values, indicator_targets = [], []
            for indicator in session.scalars(select(Indicator)):
                per_year = 12 if indicator.frequency == "monthly" else 4
                for year in years:
                    done = per_year if year < today.year else (today.month - 1) * per_year // 12
                    size = rng.uniform(1_000, 100_000)
                    indicator_targets.append({"indicator_id": indicator.id, "year": year,
                                              "target": Decimal(f"{size * per_year * 1.08:.2f}")})
                    values += [{"indicator_id": indicator.id, "year": year, "period": period,
                                "value": Decimal(f"{size * rng.uniform(0.85, 1.1):.2f}")}
                               for period in range(1, done + 1)]
            session.execute(IndicatorTarget.__table__.insert(), indicator_targets)
            session.execute(IndicatorValue.__table__.insert(), values)
            session.execute(OfficerTarget.__table__.insert(), [
                {"user_id": officer, "year": today.year, "projects_signed": 4, "visits_received": 20,
                 "investment_signed_wan_cny": Decimal(100_000), "foreign_capital_signed_wan_usd": Decimal(1_000),
                 "projects_started": 2} for officer in officers])
            session.commit()
    finally:
        database.dispose()


def _database() -> tuple:
    """(path, facts): bench/projects.py's database (copied when BENCH_REUSE=1 finds one) with the zone's figures."""
    path = BENCH_DIR / "crm.sqlite3"
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    facts = project_bench.copy_or_build(path)
    started = time.monotonic()
    _add_zone_figures(path, today=datetime.now(ZoneInfo("Asia/Shanghai")).date())
    print(f"  export pool ({POOL} enterprises), indicators and targets added in {time.monotonic() - started:.1f} s",
          flush=True)
    return path, facts


def main() -> int:
    seconds, warm_up = settings.DURATION, settings.WARM_UP
    settings.announce("bench.dashboard")
    wrk.wrk_path()
    path, _facts = _database()
    ceiling_file = BENCH_DIR / "dashboard.html"
    with Server(database_url=f"sqlite:///{path}", data_dir=BENCH_DIR, ceiling_file=ceiling_file) as server:
        port = server.port
        manager = {"Cookie": f"crm_session={sign_in(port, project_bench.MANAGER, project_bench.MANAGER_PASSWORD)}"}
        ceiling_file.write_bytes(check(port, "/", manager))
        ceiling_url = f"http://127.0.0.1:{port}{CEILING_PATH}"
        if warm_up:
            wrk.run(ceiling_url, manager, seconds=warm_up)
        ceiling = wrk.run(ceiling_url, manager, seconds=seconds)
        url = f"http://127.0.0.1:{port}/"
        if warm_up:
            wrk.run(url, manager, seconds=warm_up)
        saturated = wrk.run(url, manager, seconds=seconds)
        goal_rps = GOAL_SHARE * ceiling.rps
        at_goal = rate.run(port, "/", manager, rate=goal_rps, seconds=seconds)
        steady = rate.run(port, "/", manager, rate=STEADY_RPS, seconds=seconds)
        check(port, "/", manager)
        if logged := server.new_output():
            raise BenchError("the server logged errors while serving the dashboard:\n" + logged[-2000:])
    met = steady.p99_ms < GOAL_P99_MS
    report = {"page": "manager dashboard /", "ceiling_rps": ceiling.rps, "rps": saturated.rps,
              "p50_ms": saturated.p50_ms, "p99_ms": saturated.p99_ms,
              "load_rps": at_goal.offered_rps, "p99_ms_at_load": at_goal.p99_ms,
              "steady_rps": steady.offered_rps, "p99_ms_steady": steady.p99_ms, "goal_p99_ms": GOAL_P99_MS,
              "met": met, "measured_at": datetime.now(UTC).isoformat()}
    (BENCH_DIR / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nmanager dashboard: saturated ({wrk.CONNECTIONS} connections) {saturated.rps:,.0f} req/s "
          f"({100 * saturated.rps / ceiling.rps:.1f}% of the ceiling's {ceiling.rps:,.0f}), p50 {saturated.p50_ms:,.0f} ms, "
          f"p99 {saturated.p99_ms:,.0f} ms")
    print(f"  {rate.CLIENTS} clients at {steady.offered_rps:.0f} req/s (one a second each): p50 {steady.p50_ms:.1f} ms, "
          f"p99 {steady.p99_ms:.1f} ms  <- the goal's measure")
    print(f"  {rate.CLIENTS} clients at {at_goal.offered_rps:.0f} req/s ({GOAL_SHARE:.0%} of the ceiling): "
          f"p50 {at_goal.p50_ms:.1f} ms, p99 {at_goal.p99_ms:.1f} ms")
    print(f"goal: p99 < {GOAL_P99_MS:.0f} ms at {rate.CLIENTS} clients: {'met' if met else 'NOT MET'}"
          + (" (smoke run: not judged)" if settings.SMOKE else ""))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench.dashboard failed: {error}", file=sys.stderr)
        sys.exit(1)
