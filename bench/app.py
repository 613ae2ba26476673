"""The ASGI factory the benchmark serves: the product app plus a "ceiling" route that only this factory adds.

The ceiling is an async route answering with fixed bytes the size of the organization list page, so it
measures what the server, middleware and network cost when a page does no work of its own.
The body is the file named by BENCH_CEILING_FILE, read on the first request (the benchmark writes it
from the real list page after the server is up) and kept in memory.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from crm.main import create_app

CEILING_PATH = "/__bench/ceiling"


@functools.cache
def _ceiling_body() -> bytes:
    return Path(os.environ["BENCH_CEILING_FILE"]).read_bytes()


def create_bench_app() -> FastAPI:
    app = create_app()

    @app.get(CEILING_PATH, include_in_schema=False)
    async def ceiling() -> HTMLResponse:
        return HTMLResponse(_ceiling_body())

    return app
