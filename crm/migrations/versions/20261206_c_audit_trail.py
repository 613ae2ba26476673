"""Audit trail (issue 13): events, outcome, client address, hash chain — FILLED IN BY THE AUDIT WORK

Revision ID: a13c0000510c
Revises: a13c0000510b
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = 'a13c0000510c'
down_revision = 'a13c0000510b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
