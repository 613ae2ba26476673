"""briefings: a visit's talking points (revisions) and its generated briefing PDFs

Revision ID: 7c1e5b2a9d40
Revises: b40f5bb2913a
Create Date: 2026-11-30 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = '7c1e5b2a9d40'
down_revision = 'b40f5bb2913a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'briefing_note',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('visit_id', sa.Integer(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('created_at', crm.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_briefing_note_author_id_user_account')),
        sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_briefing_note_visit_id_visit'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_briefing_note')),
        sa.UniqueConstraint('visit_id', 'revision', name=op.f('uq_briefing_note_visit_id')),
    )
    op.create_table(
        'briefing_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('visit_id', sa.Integer(), nullable=False),
        sa.Column('variant', sa.String(length=10), nullable=False),
        sa.Column('locale', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('note_revision', sa.Integer(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', crm.db.UTCDateTime(), nullable=False),
        sa.Column('finished_at', crm.db.UTCDateTime(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('size_bytes', sa.Integer(), nullable=True),
        sa.Column('pages', sa.Integer(), nullable=True),
        sa.Column('path', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'],
                                name=op.f('fk_briefing_file_created_by_id_user_account')),
        sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_briefing_file_visit_id_visit'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_briefing_file')),
    )
    with op.batch_alter_table('briefing_file', schema=None) as batch_op:
        batch_op.create_index('ix_briefing_file_visit', ['visit_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('briefing_file', schema=None) as batch_op:
        batch_op.drop_index('ix_briefing_file_visit')
    op.drop_table('briefing_file')
    op.drop_table('briefing_note')
