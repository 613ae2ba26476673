"""Sign-in (issue 13): throttling per client address and per account, second factor (TOTP), recovery codes — FILLED IN BY THE SIGN-IN WORK

Revision ID: a13c0000510a
Revises: 3f8c1d2e7a90
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = 'a13c0000510a'
down_revision = '3f8c1d2e7a90'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
