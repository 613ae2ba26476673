"""The data generation (issue 17): a tag every write that a page may show changes in its own transaction, so worker
processes can keep heavy pages' figures and still see each other's writes (crm/generation.py)

Revision ID: a17a00000001
Revises: a14d00000001
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'a17a00000001'
down_revision = 'a14d00000001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No row yet: the first write creates its slot's row with a random tag; until then nothing is cached.
    op.create_table('data_generation',
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tag', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('slot', name=op.f('pk_data_generation'))
    )


def downgrade() -> None:
    op.drop_table('data_generation')
