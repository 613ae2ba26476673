"""`python -m bench.requests`: what every request costs (issue 17), against the physical limit.

The data: bench/projects.py's database (20,000 organizations, 60,000 contacts, 200,000 visits, 400,000 tasks, 100,000
projects with a 60-project groundbreaking slate; BENCH_REUSE=1 copies it from var/bench-projects/ when that run left
one built today by the same code, bench/cache.py's key) with the dashboard's figures on top (bench/dashboard.py).

In one run, on the same cores:
1. the bare endpoint (bench/bare.py: Starlette, no middleware, fixed bytes the size of the organization list page) —
   the physical limit —, then the in-app ceiling (bench/app.py: the same bytes behind the product's middleware), then
   every goal page and the small requests each open page makes (the bell, an active-search fragment, a static file),
   one uvicorn worker: wrk saturated (16 connections), then 16 clients at the goal's load (bench/rate.py);
2. the same pages saturated against `make run`'s serving shape, one worker process per core (`--workers auto`);
3. the kept pages (crm/kept_pages.py: the list pages, an organization's page) saturated with keeping off
   (CRM_KEPT_PAGES=0), one worker: what each request costs when it is rendered anew, as the first after a write is.

Goals (issue 17), shares of the bare endpoint's req/s: the bell ≥ 20%; the list pages (organizations, contacts,
visits, my tasks, the project table, an organization's page) ≥ 2% with p99 < 100 ms for 16 clients offering 2% of it;
the board, the readiness board, the header search and the dashboard ≥ 1% with p99 < 150 ms at 1% of it; one worker
per core ≥ 1.8 times one worker. A page that saturates below its goal load misses its p99 goal without being run at
it. BENCH_ONLY=<text>: only the pages whose names contain it; BENCH_DATABASE=<path>: measure that database
(bench.dashboard's, say) as it is, to compare two revisions of the app on one database. BENCH_SMOKE=1: 1% of the data, one-second
measurements, the bare endpoint once, one page per goal at its load, nothing judged. Results in var/bench-requests/results.json; see docs/performance.md.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import text

from bench import dashboard, generate, rate, settings, wrk
from bench import projects as project_bench
from bench.app import CEILING_PATH
from bench.server import ROOT, BenchError, Server, check, sign_in
from crm.cli import worker_count
from crm.db import Database
from crm.kept_pages import KEPT_PATHS
from crm.web import static_url

BENCH_DIR = settings.var_dir("bench-requests")
BELL_SHARE = 0.20
LIST_SHARE, LIST_P99_MS = 0.02, 100.0
HEAVY_SHARE, HEAVY_P99_MS = 0.01, 150.0
SCALING_GOAL = 1.8  # one worker per core, against one worker
SMOKE_WORKER_PAGES = ("/notifications/bell", "/organizations")  # a smoke run's worker pass: the code path, quickly


@dataclass
class Page:
    name: str
    path: str
    as_manager: bool = False
    htmx: bool = False
    share: float | None = None  # the goal's share of the bare endpoint (None: measured, not judged)
    p99_ms: float | None = None  # the goal's p99 at that share (None: throughput only)


def pages(facts: project_bench.Facts, organization_id: int) -> list[Page]:
    mine = urlencode({"officer": facts.officer_id})
    return [
        Page("in-app ceiling (same bytes, product middleware)", CEILING_PATH),
        Page("static file (app.css)", static_url("css/app.css")),
        Page("bell (htmx)", "/notifications/bell", htmx=True, share=BELL_SHARE),
        Page("active search 复星 (htmx)", "/organizations?" + urlencode({"q": "复星"}), htmx=True),
        Page("organization list", "/organizations", share=LIST_SHARE, p99_ms=LIST_P99_MS),
        Page("contact list", "/contacts", share=LIST_SHARE, p99_ms=LIST_P99_MS),
        Page("visit list", "/visits", share=LIST_SHARE, p99_ms=LIST_P99_MS),
        Page("my tasks", "/tasks", share=LIST_SHARE, p99_ms=LIST_P99_MS),
        Page("project table", "/projects", share=LIST_SHARE, p99_ms=LIST_P99_MS),
        Page("an organization's page", f"/organizations/{organization_id}", share=LIST_SHARE, p99_ms=LIST_P99_MS),
        Page(f"board ({facts.board_cards} cards)", f"/projects/board?{mine}", share=HEAVY_SHARE, p99_ms=HEAVY_P99_MS),
        Page("readiness board (manager)", f"/groundbreaking/{facts.event_id}", as_manager=True, share=HEAVY_SHARE,
             p99_ms=HEAVY_P99_MS),
        Page("header search 新能源 (htmx)", "/search?" + urlencode({"q": "新能源"}), htmx=True, share=HEAVY_SHARE,
             p99_ms=HEAVY_P99_MS),
        Page("dashboard (manager)", "/", as_manager=True, share=HEAVY_SHARE, p99_ms=HEAVY_P99_MS),
    ]


def _database() -> tuple:
    """(path, facts, organization id): bench/projects.py's database (copied when BENCH_REUSE=1 finds one) with the
    dashboard's figures, and the organization with the most visits (its page is measured)."""
    path = BENCH_DIR / "crm.sqlite3"
    facts = project_bench.copy_or_build(path)
    dashboard._add_zone_figures(path, today=datetime.now(ZoneInfo("Asia/Shanghai")).date())
    return path, facts, _busiest_organization(path)


def _busiest_organization(path: Path) -> int:
    """The organization with the most visits: its page is measured."""
    database = Database(f"sqlite:///{path}")
    try:
        with database.read_sessions() as session:
            return session.scalar(text("SELECT organization_id FROM visit_organization GROUP BY organization_id "
                                       "ORDER BY count(*) DESC LIMIT 1"))
    finally:
        database.dispose()


def _measure(server: Server, page: Page, headers: dict[str, str], *, seconds: int, warm_up: int) -> wrk.Result:
    url = f"http://127.0.0.1:{server.port}{page.path}"
    if warm_up:
        wrk.run(url, headers, seconds=warm_up)
    result = wrk.run(url, headers, seconds=seconds)
    check(server.port, page.path, headers)  # still signed in: wrk counts a redirect to /login as a success
    if logged := server.new_output():
        raise BenchError(f"the server logged errors while serving {page.path} (all in {server.log_path}):\n"
                         + "\n".join(logged.splitlines()[-12:]))
    return result


def main() -> int:
    seconds, warm_up = settings.DURATION, settings.WARM_UP
    settings.announce("bench.requests")
    wrk.wrk_path()
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    started = time.monotonic()
    if given := os.environ.get("BENCH_DATABASE"):  # before/after comparisons on one database, as it is
        path, facts = Path(given), project_bench.Facts(**json.loads(project_bench.BENCH_DIR.joinpath("facts.json")
                                                                     .read_text()))
        organization_id = _busiest_organization(path)
        print(f"measuring {path} as it is (BENCH_DATABASE)", flush=True)
    else:
        path, facts, organization_id = _database()
    print(f"  database ready in {time.monotonic() - started:.0f} s", flush=True)
    only = os.environ.get("BENCH_ONLY", "")
    measured = [page for page in pages(facts, organization_id) if only in page.name]
    ceiling_file = BENCH_DIR / "list_page.html"
    url = f"sqlite:///{path}"
    one: dict[str, wrk.Result] = {}
    at_load: dict[str, rate.RateResult | None] = {}
    rate_shares: set[float] = set()
    not_at_load: set[str] = set()
    with Server(database_url=url, data_dir=BENCH_DIR, ceiling_file=ceiling_file) as server:
        port = server.port
        officer = {"Cookie": f"crm_session={sign_in(port, generate.USERNAME, generate.PASSWORD)}"}
        manager = {"Cookie": f"crm_session={sign_in(port, project_bench.MANAGER, project_bench.MANAGER_PASSWORD)}"}

        def headers_for(page: Page) -> dict[str, str]:
            return {**(manager if page.as_manager else officer), **({"HX-Request": "true"} if page.htmx else {})}

        ceiling_file.write_bytes(check(port, "/organizations", officer))
        for page in measured:
            check(port, page.path, headers_for(page))
        load_before = os.getloadavg()[0]
        bare = wrk.bare(ceiling_file, BENCH_DIR, seconds=seconds, warm_up=warm_up)
        print(f"one worker; wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS}, {warm_up} s warm-up and {seconds} s per URL, then "
              f"{rate.CLIENTS} clients at the goal's share of the bare endpoint for {seconds} s", flush=True)
        print(f"  bare endpoint: {bare.rps:,.0f} req/s, p99 {bare.p99_ms:,.1f} ms", flush=True)
        for page in measured:
            result = one[page.path] = _measure(server, page, headers_for(page), seconds=seconds, warm_up=warm_up)
            loaded = None
            if page.p99_ms is not None and page.share is not None and settings.SMOKE and page.share in rate_shares:
                not_at_load.add(page.path)  # a smoke run measures one page per goal at its load: the code path
            elif page.p99_ms is not None and page.share is not None:
                rate_shares.add(page.share)
                load = page.share * bare.rps
                if result.rps >= load:  # below it, the queue only grows: missed without running it
                    loaded = rate.run(port, page.path, headers_for(page), rate=load, seconds=seconds)
            at_load[page.path] = loaded
            print(f"  {page.name}: {result.rps:,.0f} req/s ({100 * result.rps / bare.rps:.2f}% of bare), p99 "
                  f"{result.p99_ms:,.0f} ms saturated"
                  + (f"; at {loaded.offered_rps:.0f} req/s p99 {loaded.p99_ms:,.1f} ms" if loaded else ""), flush=True)
        # The machine is shared: the bare endpoint again, after the pages, says how much its capacity moved meanwhile.
        # (A smoke run, which judges nothing, measures it once.)
        bare_again = bare if settings.SMOKE else wrk.bare(ceiling_file, BENCH_DIR, seconds=seconds, warm_up=warm_up)
        load_after = os.getloadavg()[0]
        print(f"  bare endpoint again: {bare_again.rps:,.0f} req/s (load average {load_before:.1f} → "
              f"{load_after:.1f})", flush=True)

    workers = worker_count("auto")
    many: dict[str, wrk.Result] = {}
    # What more processes can gain at all here: wrk runs on the same cores, so a machine with few of them cannot
    # give a second worker a core of its own (the bare endpoint's own scaling is that limit).
    bare_workers = wrk.bare(ceiling_file, BENCH_DIR, seconds=seconds, warm_up=warm_up, workers=workers)
    print(f"bare endpoint, {workers} workers: {bare_workers.rps:,.0f} req/s "
          f"({bare_workers.rps / bare_again.rps:.2f}× one worker)", flush=True)
    with Server(database_url=url, data_dir=BENCH_DIR, ceiling_file=ceiling_file, workers=workers,
                log_name="server-workers.log") as server:
        officer = {"Cookie": f"crm_session={sign_in(server.port, generate.USERNAME, generate.PASSWORD)}"}
        manager = {"Cookie": f"crm_session={sign_in(server.port, project_bench.MANAGER, project_bench.MANAGER_PASSWORD)}"}
        print(f"{workers} workers (make run's shape: one per core), saturated", flush=True)
        for page in measured if not settings.SMOKE else [p for p in measured if p.path in SMOKE_WORKER_PAGES]:
            headers = {**(manager if page.as_manager else officer), **({"HX-Request": "true"} if page.htmx else {})}
            many[page.path] = _measure(server, page, headers, seconds=seconds, warm_up=warm_up)
            print(f"  {page.name}: {many[page.path].rps:,.0f} req/s "
                  f"({many[page.path].rps / one[page.path].rps:.2f}× one worker)", flush=True)

    # The kept pages rendered anew on every request: what a reader pays for the first request after a write.
    renewed = [page for page in measured if KEPT_PATHS.match(page.path.split("?", 1)[0])
               and (not settings.SMOKE or page.path in SMOKE_WORKER_PAGES)]
    not_kept: dict[str, wrk.Result] = {}
    if renewed:
        with Server(database_url=url, data_dir=BENCH_DIR, ceiling_file=ceiling_file, log_name="server-not-kept.log",
                    extra_env={"CRM_KEPT_PAGES": "0"}) as server:
            officer = {"Cookie": f"crm_session={sign_in(server.port, generate.USERNAME, generate.PASSWORD)}"}
            print("one worker, pages not kept (CRM_KEPT_PAGES=0: each request rendered anew), saturated", flush=True)
            for page in renewed:
                headers = {**officer, **({"HX-Request": "true"} if page.htmx else {})}
                not_kept[page.path] = _measure(server, page, headers, seconds=seconds, warm_up=warm_up)
                print(f"  {page.name}: {not_kept[page.path].rps:,.0f} req/s "
                      f"({100 * not_kept[page.path].rps / bare_again.rps:.2f}% of bare), p99 "
                      f"{not_kept[page.path].p99_ms:,.0f} ms", flush=True)

    ceiling_rps = one.get(CEILING_PATH).rps if CEILING_PATH in one else None
    bare_rps = (bare.rps + bare_again.rps) / 2  # shares are of the mean of the two
    report, misses = [], []
    for page in measured:
        r, loaded, m = one[page.path], at_load[page.path], many.get(page.path)  # (a smoke run measures two)
        entry = {"name": page.name, "path": page.path, "rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                 "bare_rps": bare_rps, "share_of_bare": r.rps / bare_rps, "ceiling_rps": ceiling_rps,
                 "share_of_ceiling": r.rps / ceiling_rps if ceiling_rps else None,
                 "workers": workers, "rps_workers": m.rps if m else None, "scaling": m.rps / r.rps if m else None}
        if page.share is not None:
            met = r.rps >= page.share * bare_rps
            entry |= {"goal_share_of_bare": page.share}
            if page.p99_ms is not None:
                entry |= {"goal_p99_ms": page.p99_ms, "load_rps": page.share * bare.rps,
                          "p50_ms_at_load": loaded.p50_ms if loaded else None,
                          "p99_ms_at_load": loaded.p99_ms if loaded else None}
                if page.path not in not_at_load:
                    met = met and loaded is not None and loaded.p99_ms < page.p99_ms
            entry["met"] = met
            if not met:
                misses.append(page.name)
        entry["scaling_met"] = m.rps >= SCALING_GOAL * r.rps if m else None
        if (renewed_result := not_kept.get(page.path)) is not None:
            entry |= {"rps_not_kept": renewed_result.rps, "share_of_bare_not_kept": renewed_result.rps / bare_rps,
                      "p99_ms_not_kept": renewed_result.p99_ms}
        report.append(entry)
    (BENCH_DIR / "results.json").write_text(json.dumps(
        {"measured_at": datetime.now(UTC).isoformat(), "load_average": [load_before, load_after],
         "bare": {"rps": bare_rps, "rps_before_pages": bare.rps, "rps_after_pages": bare_again.rps,
                  "p50_ms": bare.p50_ms, "p99_ms": bare.p99_ms, "rps_workers": bare_workers.rps,
                  "scaling": bare_workers.rps / bare_again.rps},
         "pages": report}, ensure_ascii=False, indent=2) + "\n")

    print(f"\n{'page':<50}{'req/s':>8}{'% bare':>8}{'% ceil':>8}{'p99':>7}{'at load':>9}{'p99':>8}"
          f"{f'{workers} workers':>11}{'×':>6}{'not kept':>10}  goal")
    for e in report:
        ceiling_share = f"{100 * e['share_of_ceiling']:>7.1f}%" if e["share_of_ceiling"] else f"{'':>8}"
        load = (f"{e['load_rps']:>9.0f}" + (f"{e['p99_ms_at_load']:>8.1f}" if e["p99_ms_at_load"] is not None
                                            else f"{'(smoke)' if e['path'] in not_at_load else '(sat.)':>8}")) if "load_rps" in e else f"{'':>17}"
        goal = "—" if "met" not in e else (f"≥ {100 * e['goal_share_of_bare']:.0f}%"
                                           + (f", p99 < {e['goal_p99_ms']:.0f} ms" if "goal_p99_ms" in e else "")
                                           + (": yes" if e["met"] else ": NO"))
        print(f"{e['name']:<50}{e['rps']:>8.0f}{100 * e['share_of_bare']:>7.2f}%{ceiling_share}{e['p99_ms']:>7.0f}"
              f"{load}" + (f"{e['rps_workers']:>11.0f}{e['scaling']:>6.2f}" if e["rps_workers"] else f"{'':>17}")
              + (f"{100 * e['share_of_bare_not_kept']:>9.2f}%" if "share_of_bare_not_kept" in e else f"{'':>10}")
              + f"  {goal}")
    print(f"{'bare endpoint (bench/bare.py)':<50}{bare_rps:>8.0f}{100:>7.2f}%  (mean of {bare.rps:,.0f} before the "
          f"pages and {bare_again.rps:,.0f} after them; {workers} workers: {bare_workers.rps:,.0f}, "
          f"{bare_workers.rps / bare_again.rps:.2f}×)")
    scaling_misses = [e["name"] for e in report if e["scaling_met"] is False]
    print(f"\n{len(misses)} page(s) miss their goal{': ' + ', '.join(misses) if misses else ''}; "
          f"{len(scaling_misses)} scale below {SCALING_GOAL}× with {workers} workers (the bare endpoint itself: "
          f"{bare_workers.rps / bare_again.rps:.2f}×)"
          f"{' (smoke run: not judged)' if settings.SMOKE else ''}. Results in "
          f"{(BENCH_DIR / 'results.json').relative_to(ROOT)}; {time.monotonic() - started:.0f} s in all.")
    return settings.exit_status(not misses and not scaling_misses)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench.requests failed: {error}", file=sys.stderr)
        sys.exit(1)
