"""Backups (issue 14): backup settings and the log of backups taken

Revision ID: a14d00000001
Revises: a14c00000001
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import crm.db  # noqa: F401

revision = 'a14d00000001'
down_revision = 'a14c00000001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
