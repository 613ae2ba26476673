"""What every benchmark module shares: the smoke switch, the measurement length, where a run writes, and whether it
judges its goals.

BENCH_SMOKE=1 (`make bench-smoke`; CI runs it after the tests): each module runs its usual code paths on a tiny data
set (`scaled(n)`: 1% of the rows) with one-second measurements and prints its usual tables, but judges nothing: a
missed goal is printed, never a failure. What still fails a smoke run is something breaking: an exception, an error
answer or a server log line, a wrong count. A smoke run writes under var/bench-smoke/, so it never touches a full run's
databases, results or BENCH_REUSE cache.

A new benchmark module honours it by taking its sizes through `scaled()`, its durations from `DURATION` / `WARM_UP`
(or `repeats()` for in-process timings), its directories from `var_dir()`, and its exit status from `exit_status()`
(docs/performance.md, "Smoke mode").
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
SCALE = 0.01  # smoke mode's share of the full data set
# Seconds per measurement (BENCH_DURATION), and the warm-up before each wrk run (none in smoke mode).
DURATION = int(os.environ.get("BENCH_DURATION", "1" if SMOKE else "10"))
WARM_UP = 0 if SMOKE else min(3, max(1, DURATION // 3))
# A smoke run's constant-rate phases (bench/rate.py: p99 at the goal's load) last half a second: some forty of them
# in all, and `make bench-smoke` must stay under three minutes (issue 19).
SMOKE_RATE_SECONDS = 0.5


def scaled(n: int, *, minimum: int = 1) -> int:
    """`n` rows, or in smoke mode 1% of them (at least `minimum`)."""
    return n if not SMOKE else max(minimum, round(n * SCALE))


def repeats(n: int) -> int:
    """How many times to repeat an in-process timing: `n`, once in smoke mode."""
    return 1 if SMOKE else n


def var_dir(name: str) -> Path:
    """A benchmark's directory: var/<name>, or var/bench-smoke/<name> in smoke mode."""
    return ROOT / "var" / ("bench-smoke" if SMOKE else "") / name


def exit_status(goals_met: bool) -> int:
    """The exit status for a run that completed: a missed goal fails a full run, never a smoke run."""
    return 0 if goals_met or SMOKE else 1


def announce(what: str) -> None:
    """Says so when this is a smoke run, before the module's own output."""
    if SMOKE:
        print(f"{what}: smoke run (BENCH_SMOKE=1): {SCALE:.0%} of the data, {DURATION} s measurements; the goals "
              "below are printed, not judged, and these figures are not figures of record", flush=True)
