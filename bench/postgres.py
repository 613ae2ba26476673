"""A throwaway PostgreSQL database for a benchmark: created at CRM_BENCH_POSTGRES_URL's server (default the local
one, trust auth) and dropped afterwards; None when no server answers, said so, and the benchmark measures SQLite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("CRM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str | None]:
    """`with throwaway_database("crm_bench_x") as url:` — the new database's URL, or None without a server."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # no PostgreSQL here
        print(f"PostgreSQL not reachable at {make_url(POSTGRES_URL).render_as_string(hide_password=True)} "
              f"({type(error).__name__}): not measured", flush=True)
        yield None
        return
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
