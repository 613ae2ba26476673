"""reminders at 200,000 projects: approval_item.overdue_on (indexed) for the permit-overdue rule, and
project (stage, stage_entered_at) for stale projects

Revision ID: 3f9a0c2d7e11
Revises: b40f5bb2913a
Create Date: 2026-11-30 03:40:00
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision = '3f9a0c2d7e11'
down_revision = 'b40f5bb2913a'
branch_labels = None
depends_on = None


def _overdue_from(start: date, promised_days: int) -> date:
    """The working day after `promised_days` working days from `start` (crm.projects.gates.overdue_from, frozen
    here so this migration means the same thing later)."""
    day, left = start, promised_days + 1
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def upgrade() -> None:
    with op.batch_alter_table('approval_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overdue_on', sa.Date(), nullable=True))
        batch_op.create_index('ix_approval_item_overdue', ['overdue_on'], unique=False)
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.create_index('ix_project_stage_since', ['stage', 'stage_entered_at'], unique=False)

    conn = op.get_bind()
    item = sa.table('approval_item', sa.column('id', sa.Integer), sa.column('status', sa.String),
                    sa.column('submitted_on', sa.Date), sa.column('accepted_on', sa.Date),
                    sa.column('promised_days', sa.Integer), sa.column('overdue_on', sa.Date))
    running = conn.execute(sa.select(item.c.id, item.c.submitted_on, item.c.accepted_on, item.c.promised_days).where(
        item.c.status.notin_(['approved', 'not_needed']), item.c.promised_days.isnot(None))).all()
    for item_id, submitted_on, accepted_on, promised_days in running:
        start = accepted_on or submitted_on
        if start is not None:
            conn.execute(item.update().where(item.c.id == item_id)
                         .values(overdue_on=_overdue_from(start, promised_days)))


def downgrade() -> None:
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_index('ix_project_stage_since')
    with op.batch_alter_table('approval_item', schema=None) as batch_op:
        batch_op.drop_index('ix_approval_item_overdue')
        batch_op.drop_column('overdue_on')
