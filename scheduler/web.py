"""The web app with the scheduler inside it, for a single web worker (`crm serve --with-scheduler`, `make run`).

Never in several workers: each would run every job (safe — delivery is claimed and idempotent — but wasteful);
`crm serve` refuses the combination. With several workers, run `crm scheduler` as its own process."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from crm.config import get_settings
from crm.main import create_app as create_web_app
from scheduler.runner import announce, build


def create_app() -> FastAPI:
    settings = get_settings()
    app = create_web_app(settings)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI):
        async with inner(app_) as state:
            scheduler = build(settings, app_.state.database, background=True)
            announce(settings, app_.state.database)
            scheduler.start()
            app_.state.scheduler = scheduler
            try:
                yield state
            finally:
                scheduler.shutdown(wait=True)

    app.router.lifespan_context = lifespan
    return app
