"""Apply and check migrations from code (the CLI and the tests use these)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from crm.models import Base

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config(database_url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    # "heads": work done in parallel adds sibling migrations until a merge revision joins them (docs/architecture.md).
    command.upgrade(alembic_config(database_url), revision)


def pending_differences(engine) -> list:
    """What autogenerate would put in a new migration: empty when models and migrations agree."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)
