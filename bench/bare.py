"""The physical limit the benchmarks compare with: a bare Starlette app (no middleware, no session, no database) with
one route answering fixed bytes the size of the page the benchmark measures, served by the same uvicorn on the same
cores in the same run (bench/server.py, `Server(app=BARE_APP)`).

The in-app ceiling (bench/app.py) pays everything a request to the product pays before any page work — the
middleware stack, the session lookup, routing, FastAPI's dependencies —; this one pays only the server and the
network. The gap between the two is the fixed cost of a request (docs/performance.md, "Per-request cost").
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from bench.app import CEILING_PATH


def create_bare_app() -> Starlette:
    body: list[bytes] = []  # the file is written after the server starts: read on the first request

    async def ceiling(_request) -> Response:
        if not body:
            body.append(Path(os.environ["BENCH_CEILING_FILE"]).read_bytes())
        return Response(body[0], media_type="text/html; charset=utf-8")

    async def healthz(_request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route(CEILING_PATH, ceiling), Route("/healthz", healthz)])
