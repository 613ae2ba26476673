"""users: a department (for department targets) and the manager overdue follow-ups escalate to

Revision ID: 7d3e5c1a9b20
Revises: b40f5bb2913a
Create Date: 2026-11-30 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '7d3e5c1a9b20'
down_revision = 'b40f5bb2913a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department', sa.String(length=60), server_default='', nullable=False))
        batch_op.add_column(sa.Column('manager_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_user_account_manager_id_user_account'), 'user_account',
                                    ['manager_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_user_account_manager_id_user_account'), type_='foreignkey')
        batch_op.drop_column('manager_id')
        batch_op.drop_column('department')
