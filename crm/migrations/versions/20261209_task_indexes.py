"""Task indexes (issue 17): My tasks' recently done as index ranges on when a task was closed (per closed
status, its completed_at, or its updated_at where that is null: a cancelled one), and the managers' team view
(everyone's tasks by due date)

Revision ID: a17b00000001
Revises: a17a00000001
Create Date: 2026-12-09 00:00:00
"""

from __future__ import annotations

from alembic import op

revision = 'a17b00000001'
down_revision = 'a17a00000001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index('ix_task_assignee_status_closed', ['assignee_id', 'status', 'completed_at', 'updated_at'],
                              unique=False)
        batch_op.create_index('ix_task_due', ['due_on', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_due')
        batch_op.drop_index('ix_task_assignee_status_closed')
