"""approval items: the 帮办代办 staff member may be a CRM user (assistant_id), reminded when the item is overdue

Revision ID: 5b8d2a6e4c71
Revises: 9a4e2f7c1b05
Create Date: 2026-11-30 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '5b8d2a6e4c71'
down_revision = '9a4e2f7c1b05'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('approval_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assistant_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_approval_item_assistant_id_user_account'), 'user_account',
                                    ['assistant_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_approval_item_assistant', ['assistant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('approval_item', schema=None) as batch_op:
        batch_op.drop_index('ix_approval_item_assistant')
        batch_op.drop_constraint(batch_op.f('fk_approval_item_assistant_id_user_account'), type_='foreignkey')
        batch_op.drop_column('assistant_id')
