"""Audit trail (issue 13): events, outcome, client address, hash chain — the columns of security events; the hash chain is added by the audit work

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
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.alter_column('entity_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('outcome', sa.String(length=20), server_default='success', nullable=False))
        batch_op.add_column(sa.Column('client_address', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('channel', sa.String(length=10), server_default='web', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_column('channel')
        batch_op.drop_column('client_address')
        batch_op.drop_column('outcome')
