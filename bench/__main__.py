"""`make bench`: a fresh 20,000-organization database, one uvicorn worker, wrk against the list and search pages.

Each page is compared with the ceiling (bench/app.py): the goal is at least 3% of the ceiling's requests
per second and a 99th-percentile latency under 100 ms. BENCH_DURATION sets the seconds per URL (default 10),
BENCH_CONNECTIONS wrk's connections (default 16). Writes var/bench/results.json; see docs/performance.md.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import unicodedata
from urllib.parse import urlencode

from bench import generate, wrk
from bench.app import CEILING_PATH
from bench.server import ROOT, BenchError, Server, fetch, sign_in

BENCH_DIR = ROOT / "var" / "bench"
GOAL_SHARE = 0.03
GOAL_P99_MS = 100.0


def pages(data: generate.Generated) -> list[tuple[str, str, bool]]:
    """(name, path, as an htmx fragment) for each measured page; the ceiling last."""
    filtered = urlencode({"kind": "investor", "industry": data.industry_ids["biomedicine"]})
    return [
        ("organization list", "/organizations", False),
        ("organizations filtered", f"/organizations?{filtered}", False),
        ("search 复星 (htmx)", "/organizations?" + urlencode({"q": "复星"}), True),
        ("search fx (htmx)", "/organizations?q=fx", True),
        (f"search {data.person_name} (htmx)", "/organizations?" + urlencode({"q": data.person_name}), True),
        ("contact list", "/contacts", False),
        ("ceiling", CEILING_PATH, False),
    ]


def _pad(text: str, width: int) -> str:
    """Left-aligned in `width` terminal columns, Chinese characters counting two."""
    return text + " " * (width - sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text))


def check(port: int, path: str, headers: dict[str, str]) -> bytes:
    try:
        reply = fetch(port, path, headers)
    except OSError as error:
        raise BenchError(f"GET {path} failed: {error!r}") from error
    if reply.status != 200:
        raise BenchError(f"GET {path} answered {reply.status}, not 200: {reply.body[:300]!r}")
    return reply.body


def main() -> int:
    seconds = int(os.environ.get("BENCH_DURATION", "10"))
    warm_up = min(3, max(1, seconds // 3))
    wrk.wrk_path()  # fail before the slow part when wrk is missing
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    database_url = f"sqlite:///{BENCH_DIR / 'crm.sqlite3'}"

    started = time.monotonic()
    print(f"generating {generate.ORGANIZATIONS:,} organizations and {generate.CONTACTS:,} contacts …", flush=True)
    data = generate.generate(database_url)
    print(f"  done in {time.monotonic() - started:.0f} s", flush=True)

    ceiling_file = BENCH_DIR / "list_page.html"
    results = []
    with Server(database_url=database_url, data_dir=BENCH_DIR, ceiling_file=ceiling_file) as server:
        port = server.port
        cookie = {"Cookie": f"crm_session={sign_in(port, generate.USERNAME, generate.PASSWORD)}"}
        ceiling_file.write_bytes(check(port, "/organizations", cookie))
        measured = [(name, path, {**cookie, "HX-Request": "true"} if htmx else cookie) for name, path, htmx in pages(data)]
        for _, path, headers in measured:
            check(port, path, headers)
        print(f"wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS}, {warm_up} s warm-up and {seconds} s per URL", flush=True)
        for name, path, headers in measured:
            url = f"http://127.0.0.1:{port}{path}"
            wrk.run(url, headers, seconds=warm_up)
            result = wrk.run(url, headers, seconds=seconds)
            check(port, path, headers)  # still signed in: wrk counts a redirect to /login as a success
            if logged := server.new_output():
                raise BenchError(f"the server logged errors while serving {path} (all in {server.log_path}):\n"
                                 + "\n".join(logged.splitlines()[-12:]))
            if result.socket_errors:
                print(f"  {name}: socket errors {result.socket_errors}", flush=True)
            results.append((name, result))
            print(f"  {name}: {result.rps:,.0f} req/s", flush=True)

    ceiling_rps = results[-1][1].rps
    report = [{"name": name, "rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "ceiling_rps": ceiling_rps}
              for name, r in results]
    (BENCH_DIR / "results.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")

    print(f"\n{_pad('page', 28)}{'rps':>9}{'p50_ms':>9}{'p99_ms':>9}{'% ceiling':>11}  goal")
    misses = 0
    for name, r in results:
        if name == "ceiling":
            goal = "—"
        else:
            met = r.rps >= GOAL_SHARE * ceiling_rps and r.p99_ms < GOAL_P99_MS
            misses += not met
            goal = "yes" if met else "NO"
        print(f"{_pad(name, 28)}{r.rps:>9.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{100 * r.rps / ceiling_rps:>10.1f}%  {goal}")
    print(f"\ngoal: ≥ {GOAL_SHARE:.0%} of the ceiling's req/s and p99 < {GOAL_P99_MS:.0f} ms; "
          f"{misses} page(s) miss it. Results in {(BENCH_DIR / 'results.json').relative_to(ROOT)}; "
          f"{time.monotonic() - started:.0f} s in all.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        sys.exit(f"bench: {error}")
