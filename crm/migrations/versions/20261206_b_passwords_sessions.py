"""Passwords and sessions (issue 13): the password policy, a forced change of a password an administrator set,
the date a password was last changed (maximum age), and the address a session signed in from

Revision ID: a13c0000510b
Revises: a13c0000510a
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = 'a13c0000510b'
down_revision = 'a13c0000510a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_address', sa.String(length=64), server_default='', nullable=False))

    op.create_table(
        'password_policy',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('min_length', sa.Integer(), nullable=False),
        sa.Column('require_classes', sa.Boolean(), nullable=False),
        sa.Column('max_age_days', sa.Integer(), nullable=True),
        sa.Column('updated_at', crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_password_policy')),
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('password_changed_at', crm.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('must_change_password')
    op.drop_table('password_policy')
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_column('client_address')
