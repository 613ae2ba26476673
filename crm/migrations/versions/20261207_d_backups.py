"""Backups (issue 14): backup settings and the log of backups taken

Revision ID: a14d00000001
Revises: a14c00000001
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = 'a14d00000001'
down_revision = 'a14c00000001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('backup_setting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('hour', sa.Integer(), nullable=False),
    sa.Column('keep', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'],
                            name=op.f('fk_backup_setting_updated_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backup_setting'))
    )
    op.create_table('backup_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=True),
    sa.Column('started_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', crm.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('runner', sa.String(length=120), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('row_count', sa.BigInteger(), nullable=True),
    sa.Column('file_count', sa.Integer(), nullable=True),
    sa.Column('missing_count', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('removed_at', crm.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verify_status', sa.String(length=20), nullable=False),
    sa.Column('verify_started_at', crm.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verified_at', crm.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verify_error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'],
                            name=op.f('fk_backup_run_requested_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backup_run')),
    sa.UniqueConstraint('slot', name=op.f('uq_backup_run_slot'))
    )
    with op.batch_alter_table('backup_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backup_run_started_at'), ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_backup_run_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backup_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backup_run_status'))
        batch_op.drop_index(batch_op.f('ix_backup_run_started_at'))
    op.drop_table('backup_run')
    op.drop_table('backup_setting')
