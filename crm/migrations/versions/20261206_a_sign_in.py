"""Sign-in (issue 13): throttling per client address and per account, second factor (TOTP), recovery codes

The throttle's rows only say how long to wait after recent failures, so the table is replaced rather than
converted (the counts of the moment before the upgrade are forgotten).

Revision ID: a13c0000510a
Revises: 3f8c1d2e7a90
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = 'a13c0000510a'
down_revision = '3f8c1d2e7a90'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('login_throttle')
    op.create_table(
        'login_throttle',
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('first_failure_at', crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_failure_at', crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('blocked_until', crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle')),
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttle_last_failure_at'), ['last_failure_at'], unique=False)

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('second_factor_at', crm.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table(
        'second_factor',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.Column('created_at', crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_used_step', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_second_factor_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_second_factor')),
    )
    op.create_table(
        'recovery_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('used_at', crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_recovery_code_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code')),
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_user_id'), ['user_id'], unique=False)
    op.create_table(
        'sign_in_challenge',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('next_url', sa.String(length=500), nullable=False),
        sa.Column('created_at', crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_sign_in_challenge_user_id_user_account'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_challenge')),
    )
    with op.batch_alter_table('sign_in_challenge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_challenge_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table('sign_in_challenge')
    op.drop_table('recovery_code')
    op.drop_table('second_factor')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('second_factor_at')
    op.drop_table('login_throttle')
    op.create_table(
        'login_throttle',
        sa.Column('username', sa.String(length=40), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure_at', crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('blocked_until', crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_login_throttle')),
    )
