"""Latency at a set load: 16 clients sending requests on a fixed schedule (a constant total rate), each latency
measured from the moment its request was due, not from when it could be sent.

wrk keeps every connection busy, so it measures the server saturated: with 16 connections each keeping one
request in flight, latency ≈ 16 / throughput, whatever the page does (even the ceiling endpoint's p99 sits near
its own 16 / rps). A p99 goal is only meaningful at a load below saturation; this module offers a chosen load —
the benchmark uses the throughput goal itself, 3% of the ceiling — and reports the latencies clients would see.
A late response delays the next request on its connection; that wait counts against the response it waited
for (the "coordinated omission" correction of wrk2), so a stall cannot hide.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench import settings
from bench.server import BenchError

CLIENTS = 16


@dataclass
class RateResult:
    offered_rps: float
    achieved_rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int


def _percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _client(port: int, request: bytes, due_times: list[float], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for due in due_times:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(request)
            await writer.drain()
            status = await _read_response(reader)
            if status != 200:
                raise BenchError(f"status {status} during the constant-rate run")
            latencies.append((time.perf_counter() - due) * 1000.0)
    finally:
        writer.close()


async def _run(port: int, path: str, headers: dict[str, str], rate: float, seconds: float) -> RateResult:
    header_lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{header_lines}\r\n".encode()
    total = max(CLIENTS, int(rate * seconds))
    start = time.perf_counter() + 0.2
    schedule = [start + i / rate for i in range(total)]
    latencies: list[float] = []
    await asyncio.gather(*(_client(port, request, schedule[c::CLIENTS], latencies) for c in range(CLIENTS)))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return RateResult(offered_rps=rate, achieved_rps=len(ordered) / elapsed, p50_ms=_percentile(ordered, 0.50),
                      p99_ms=_percentile(ordered, 0.99), max_ms=ordered[-1], requests=len(ordered))


def run(port: int, path: str, headers: dict[str, str], *, rate: float, seconds: float) -> RateResult:
    """`rate` requests per second in all, spread over 16 keep-alive connections, for `seconds` (in a smoke run at
    most settings.SMOKE_RATE_SECONDS: the same code path, with the suite's three-minute budget in mind)."""
    if settings.SMOKE:
        seconds = min(seconds, settings.SMOKE_RATE_SECONDS)
    return asyncio.run(_run(port, path, headers, rate, seconds))
