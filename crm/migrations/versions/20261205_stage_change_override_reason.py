"""project_stage_change.gate_override_reason: the stage history shows why a manager overrode the groundbreaking gate

Until now only the project kept the reason (the latest override); the stage-history entry showed a badge alone.
Existing overridden moves get their project's recorded reason.

Revision ID: 3f8c1d2e7a90
Revises: 7d2a6c1e9b34
Create Date: 2026-12-05 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '3f8c1d2e7a90'
down_revision = '7d2a6c1e9b34'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('project_stage_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gate_override_reason', sa.Text(), server_default='', nullable=False))
    op.execute(
        "UPDATE project_stage_change SET gate_override_reason = (SELECT project.gate_override_reason FROM project"
        " WHERE project.id = project_stage_change.project_id) WHERE gate_override"
        " AND EXISTS (SELECT 1 FROM project WHERE project.id = project_stage_change.project_id"
        " AND project.gate_override_reason IS NOT NULL)")


def downgrade() -> None:
    with op.batch_alter_table('project_stage_change', schema=None) as batch_op:
        batch_op.drop_column('gate_override_reason')
