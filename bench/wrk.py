"""Run wrk against one URL and read its summary: requests per second and the 50% and 99% latencies."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench import settings
from bench.server import BARE_APP, BenchError, Server

THREADS = 2
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
TIMEOUT_S = 10
TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
LATENCY_RE = r"^\s*{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    socket_errors: str = ""


def wrk_path() -> str:
    path = shutil.which("wrk") or shutil.which("/usr/bin/wrk")
    if path is None:
        raise BenchError("wrk is not installed (make bench-deps, or apt-get install wrk)")
    return path


def parse(output: str) -> Result:
    def latency(pct: int) -> float:
        match = re.search(LATENCY_RE.format(pct=pct), output, re.MULTILINE)
        if not match:
            raise BenchError(f"no {pct}% latency in wrk's output:\n{output}")
        return float(match.group(1)) * TO_MS[match.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if not rps:
        raise BenchError(f"no Requests/sec in wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise BenchError(f"{non_2xx.group(1)} responses were errors:\n{output}")
    timeouts = re.search(r"Socket errors: .*timeout (\d+)", output)
    if timeouts and int(timeouts.group(1)):
        raise BenchError(f"{timeouts.group(1)} requests took over {TIMEOUT_S} s:\n{output}")
    errors = re.search(r"Socket errors: (.*)", output)
    return Result(float(rps.group(1)), latency(50), latency(99), errors.group(1) if errors else "")


def run(url: str, headers: dict[str, str], *, seconds: int) -> Result:
    command = [wrk_path(), f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", f"{TIMEOUT_S}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    result = parse(done.stdout)
    # wrk hangs up on the requests in flight when its time is up; the server still finishes them.
    # Let it, so they do not add to the next run's load (a smoke run judges no load, and does not wait).
    if not settings.SMOKE:
        time.sleep(min(20.0, 0.5 + 1.5 * CONNECTIONS / max(result.rps, 1.0)))
    return result


def bare(ceiling_file: Path, data_dir: Path, *, seconds: int, warm_up: int, workers: int = 1) -> Result:
    """The bare endpoint's saturated figure (bench/bare.py: fixed bytes from `ceiling_file`, no middleware), measured
    now, on the same cores as the product app, with a server of its own (`workers` processes) started and stopped
    around it."""
    with Server(database_url="sqlite://", data_dir=data_dir, ceiling_file=ceiling_file, app=BARE_APP,
                workers=workers, log_name="bare-server.log") as server:
        url = f"http://127.0.0.1:{server.port}/__bench/ceiling"
        if warm_up:
            run(url, {}, seconds=warm_up)
        result = run(url, {}, seconds=seconds)
        if logged := server.new_output():
            raise BenchError(f"the bare server logged:\n{logged[-2000:]}")
        return result
