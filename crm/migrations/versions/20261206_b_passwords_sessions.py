"""Passwords and sessions (issue 13): password policy, forced change, session address and absolute lifetime — FILLED IN BY THE PASSWORDS/SESSIONS WORK

Revision ID: a13c0000510b
Revises: a13c0000510a
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = 'a13c0000510b'
down_revision = 'a13c0000510a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_address', sa.String(length=64), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_column('client_address')
