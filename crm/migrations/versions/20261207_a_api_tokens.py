"""Open API (issue 15): personal access tokens, per-token request budget, idempotency keys

Revision ID: a15a00000001
Revises: db5b129fc7a2
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import crm.db  # noqa: F401

revision = 'a15a00000001'
down_revision = 'db5b129fc7a2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
