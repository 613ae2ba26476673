"""`make bench`: a fresh database (20,000 organizations, 60,000 contacts, 200,000 visits, 600,000 tour stops, 400,000
tasks), one uvicorn worker, wrk against the list, search, visit, timeline and task pages.

Each page is compared with the ceiling (bench/app.py): the goal is at least 3% of the ceiling's requests
per second (wrk, saturated) and, for 16 clients offering that load (bench/rate.py), a 99th-percentile latency
under 100 ms (under 50 ms for the header search). BENCH_DURATION sets the
seconds per URL (default 10), BENCH_CONNECTIONS wrk's connections (default 16); BENCH_REUSE=1 keeps a pristine
copy of the generated database in var/bench-cache/ and starts from it while everything the data depends on
(bench/cache.py: the generator, models, migrations, search rules, the day) is unchanged, and says why when it is not;
BENCH_ONLY=<text> measures only the pages whose names contain it (and the ceiling). BENCH_SMOKE=1: 1% of the data,
one-second measurements, nothing judged (bench/settings.py).
Writes var/bench/results.json; see docs/performance.md. `make bench` runs the other modules after this one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench import activity, cache, generate, rate, settings, wrk
from bench.app import CEILING_PATH
from bench.server import ROOT, BenchError, Server, check, sign_in
from crm.web import static_url

BENCH_DIR = settings.var_dir("bench")
CACHE_DIR = settings.var_dir("bench-cache")
GOAL_SHARE = 0.03
GOAL_P99_MS = 100.0
SEARCH_GOAL_P99_MS = 50.0  # the header search answers as people type


@dataclass
class Measured:
    name: str
    path: str
    htmx: bool = False
    goal_p99_ms: float = GOAL_P99_MS


def pages(data: generate.Generated) -> list[Measured]:
    """The measured pages; the ceiling last."""
    filtered = urlencode({"kind": "investor", "industry": data.industry_ids["biomedicine"]})
    week = urlencode({"from": data.week[0], "to": data.week[1]})
    org, busiest = data.timeline_org_id, data.busiest_org_id
    return [
        Measured("organization list", "/organizations"),
        Measured("organizations filtered", f"/organizations?{filtered}"),
        Measured("search 复星 (htmx)", "/organizations?" + urlencode({"q": "复星"}), True),
        Measured("search fx (htmx)", "/organizations?q=fx", True),
        Measured(f"search {data.person_name} (htmx)", "/organizations?" + urlencode({"q": data.person_name}), True),
        Measured("contact list", "/contacts"),
        Measured("visit list", "/visits"),
        Measured(f"visits of one organization ({data.timeline_org_visits})", f"/visits?organization={org}"),
        Measured(f"visits in one week ({data.week_visits})", f"/visits?{week}"),
        Measured(f"timeline p.1, {activity.TIMELINE_ENTRIES} entries (htmx)", f"/organizations/{org}/timeline?page=1", True),
        Measured(f"organization page ({activity.TIMELINE_ENTRIES} entries)", f"/organizations/{org}"),
        Measured(f"timeline p.1, {data.busiest_entries:,} entries (htmx)", f"/organizations/{busiest}/timeline?page=1",
                 True),
        Measured(f"my tasks ({activity.OPEN_TASKS:,} open)", "/tasks"),
        *(Measured(f"header search {word} (htmx)", "/search?" + urlencode({"q": word}), True, SEARCH_GOAL_P99_MS)
          for word in activity.SEARCH_WORDS),
        # What every open page asks for besides itself: the bell (on load and every minute) and a static file.
        Measured("bell (htmx)", "/notifications/bell", True),
        Measured("static file (app.css)", static_url("css/app.css")),
        Measured("ceiling", CEILING_PATH),
    ]


def _pad(text: str, width: int) -> str:
    """Left-aligned in `width` terminal columns, Chinese characters counting two."""
    return text + " " * (width - _width(text))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _database(database_path: Path) -> generate.Generated:
    """Generates the database at `database_path`, or (BENCH_REUSE=1) copies a pristine one generated earlier today
    by the same code (bench/cache.py's key; a database whose key differs is refused, and the reason printed)."""
    reuse = os.environ.get("BENCH_REUSE") == "1"
    stamp, cached, facts = CACHE_DIR / "key.json", CACHE_DIR / "crm.sqlite3", CACHE_DIR / "generated.json"
    key = cache.key()
    if reuse:
        why_not = cache.why_not(stamp, key) if cached.exists() and facts.exists() else "there is none yet"
        if why_not is None:
            print(f"copying the database generated earlier today from {cached.relative_to(ROOT)} (BENCH_REUSE=1)",
                  flush=True)
            shutil.copyfile(cached, database_path)
            data = json.loads(facts.read_text())
            return generate.Generated(**{**data, "week": tuple(data["week"])})
        print(f"not reusing the cached database in {CACHE_DIR.relative_to(ROOT)} (BENCH_REUSE=1): {why_not}",
              flush=True)
    print(f"generating {generate.ORGANIZATIONS:,} organizations, {generate.CONTACTS:,} contacts, "
          f"{activity.VISITS:,} visits, {activity.TOUR_STOPS:,} tour stops and {activity.TASKS:,} tasks …", flush=True)
    data = generate.generate(f"sqlite:///{database_path}", log=lambda line: print(line, flush=True))
    if reuse:
        shutil.rmtree(CACHE_DIR, ignore_errors=True)
        CACHE_DIR.mkdir(parents=True)
        shutil.copyfile(database_path, cached)
        facts.write_text(json.dumps(dataclasses.asdict(data), ensure_ascii=False, indent=2) + "\n")
        cache.write(stamp, key)
    return data


def main() -> int:
    seconds, warm_up = settings.DURATION, settings.WARM_UP
    settings.announce("bench")
    wrk.wrk_path()  # fail before the slow part when wrk is missing
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    database_path = BENCH_DIR / "crm.sqlite3"

    started = time.monotonic()
    data = _database(database_path)
    print(f"  database ready in {time.monotonic() - started:.0f} s ({database_path.stat().st_size / 2**30:.1f} GiB, "
          f"{data.search_terms:,} search_term rows); timeline organization {data.timeline_org_id} "
          f"({activity.TIMELINE_ENTRIES} entries), busiest zone enterprise {data.busiest_org_id} "
          f"({data.busiest_entries:,}), week {data.week[0]}–{data.week[1]} ({data.week_visits} visits); visits matching "
          + ", ".join(f"{word} {n:,}" for word, n in data.word_visits.items()), flush=True)

    ceiling_file = BENCH_DIR / "list_page.html"
    results: list[tuple[Measured, wrk.Result]] = []
    at_load: dict[str, rate.RateResult] = {}
    with Server(database_url=f"sqlite:///{database_path}", data_dir=BENCH_DIR, ceiling_file=ceiling_file) as server:
        port = server.port
        cookie = {"Cookie": f"crm_session={sign_in(port, generate.USERNAME, generate.PASSWORD)}"}
        ceiling_file.write_bytes(check(port, "/organizations", cookie))
        only = os.environ.get("BENCH_ONLY", "")  # iterating on one page: names containing this, and the ceiling
        measured = [(page, {**cookie, "HX-Request": "true"} if page.htmx else cookie) for page in pages(data)
                    if only in page.name or page.path == CEILING_PATH]
        for page, headers in measured:
            check(port, page.path, headers)
        # The physical limit, on the same cores in the same run (bench/bare.py): no middleware, the same bytes.
        bare = wrk.bare(ceiling_file, BENCH_DIR, seconds=seconds, warm_up=warm_up)
        print(f"  bare Starlette endpoint: {bare.rps:,.0f} req/s, p99 {bare.p99_ms:,.1f} ms saturated", flush=True)
        print(f"wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS}, {warm_up} s warm-up and {seconds} s per URL; then "
              f"{rate.CLIENTS} clients at {GOAL_SHARE:.0%} of the ceiling's req/s for {seconds} s", flush=True)
        measured.insert(0, measured.pop())  # the ceiling first: the other pages' load is a share of it
        goal_rps = 0.0
        for page, headers in measured:
            url = f"http://127.0.0.1:{port}{page.path}"
            if warm_up:
                wrk.run(url, headers, seconds=warm_up)
            result = wrk.run(url, headers, seconds=seconds)
            if page.path == CEILING_PATH:
                goal_rps = GOAL_SHARE * result.rps
            else:
                at_goal = rate.run(port, page.path, headers, rate=goal_rps, seconds=seconds)
                at_load[page.path] = at_goal
            check(port, page.path, headers)  # still signed in: wrk counts a redirect to /login as a success
            if logged := server.new_output():
                raise BenchError(f"the server logged errors while serving {page.path} (all in {server.log_path}):\n"
                                 + "\n".join(logged.splitlines()[-12:]))
            if result.socket_errors:
                print(f"  {page.name}: socket errors {result.socket_errors}", flush=True)
            results.append((page, result))
            loaded = at_load.get(page.path)
            print(f"  {page.name}: {result.rps:,.0f} req/s, p99 {result.p99_ms:,.0f} ms saturated"
                  + (f"; at {loaded.offered_rps:.0f} req/s p99 {loaded.p99_ms:,.1f} ms" if loaded else ""), flush=True)

    results.append(results.pop(0))  # the ceiling last again, in the table
    ceiling_rps = results[-1][1].rps
    report = []
    for page, r in results:
        entry = {"name": page.name, "path": page.path, "rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                 "ceiling_rps": ceiling_rps, "share_of_ceiling": r.rps / ceiling_rps,
                 "bare_rps": bare.rps, "share_of_bare": r.rps / bare.rps}
        if page.path != CEILING_PATH:
            loaded = at_load[page.path]
            entry |= {"goal_share": GOAL_SHARE, "goal_p99_ms": page.goal_p99_ms,
                      "load_rps": loaded.offered_rps, "achieved_rps_at_load": loaded.achieved_rps,
                      "p50_ms_at_load": loaded.p50_ms, "p99_ms_at_load": loaded.p99_ms,
                      "met": r.rps >= GOAL_SHARE * ceiling_rps and loaded.p99_ms < page.goal_p99_ms}
        report.append(entry)
    report.append({"name": "bare endpoint (bench/bare.py)", "path": CEILING_PATH, "rps": bare.rps, "p50_ms": bare.p50_ms,
                   "p99_ms": bare.p99_ms, "ceiling_rps": ceiling_rps, "share_of_ceiling": bare.rps / ceiling_rps,
                   "bare_rps": bare.rps, "share_of_bare": 1.0})
    (BENCH_DIR / "results.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")

    width = max(_width(entry["name"]) for entry in report) + 2
    print(f"\n{_pad('page', width)}{'rps':>7}{'% ceiling':>11}{'% bare':>8}{'p50':>8}{'p99':>8}  {'at load':>8}{'p50':>8}{'p99':>8}"
          f"  goal (≥ {GOAL_SHARE:.0%}; p99 at load <)")
    print(f"{_pad('', width)}{'':>7}{'':>11}{'':>8}{'(saturated, ms)':>16}  {'(req/s)':>8}{'(ms)':>16}")
    for entry in report:
        goal = "—" if "met" not in entry else f"{entry['goal_p99_ms']:.0f} ms  {'yes' if entry['met'] else 'NO'}"
        loaded = (f"{entry['load_rps']:>8.0f}{entry['p50_ms_at_load']:>8.1f}{entry['p99_ms_at_load']:>8.1f}"
                  if "load_rps" in entry else f"{'':>24}")
        print(f"{_pad(entry['name'], width)}{entry['rps']:>7.0f}{100 * entry['share_of_ceiling']:>10.1f}%"
              f"{100 * entry['share_of_bare']:>7.2f}%{entry['p50_ms']:>8.0f}{entry['p99_ms']:>8.0f}  {loaded}  {goal}")
    misses = sum(1 for entry in report if entry.get("met") is False)
    print(f"\ngoal: ≥ {GOAL_SHARE:.0%} of the ceiling's req/s (wrk, {wrk.CONNECTIONS} connections, saturated), and p99 "
          f"under {GOAL_P99_MS:.0f} ms ({SEARCH_GOAL_P99_MS:.0f} ms for the header search) for {rate.CLIENTS} clients "
          f"offering that {GOAL_SHARE:.0%} (bench/rate.py); {misses} page(s) miss it"
          f"{' (smoke run: not judged)' if settings.SMOKE else ''}. "
          f"Results in {(BENCH_DIR / 'results.json').relative_to(ROOT)}; {time.monotonic() - started:.0f} s in all.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        sys.exit(f"bench: {error}")
