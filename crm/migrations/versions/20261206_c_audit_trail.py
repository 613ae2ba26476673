"""Audit trail (issue 13): events, outcome, client address, hash chain, archives; on PostgreSQL a trigger refuses
changing or deleting audit entries (except sealing them once, and archiving)

Revision ID: a13c0000510c
Revises: a13c0000510b
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

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
        batch_op.alter_column('action', existing_type=sa.String(length=20), type_=sa.String(length=40),
                              existing_nullable=False)
        batch_op.add_column(sa.Column('chain_seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('chain_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_audit_entry_chain_seq'), ['chain_seq'])
    op.create_table(
        'audit_archive',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('archived_at', crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('first_seq', sa.Integer(), nullable=False),
        sa.Column('through_seq', sa.Integer(), nullable=False),
        sa.Column('last_hash', sa.String(length=64), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('older_than', crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('file_sha256', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_archive')),
        sa.UniqueConstraint('through_seq', name=op.f('uq_audit_archive_through_seq')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(GUARD_FUNCTION)
        op.execute("CREATE TRIGGER audit_entry_guard BEFORE UPDATE OR DELETE ON audit_entry "
                   "FOR EACH ROW EXECUTE FUNCTION audit_entry_guard()")


# Entries are append-only. The one UPDATE allowed is the sealer's, once: chain_seq and chain_hash go from NULL to a
# value and nothing else changes. DELETE only by the archiver (and the tests' clean-up), which say so with
# SET LOCAL crm.audit_maintenance = 'on' in their own transaction. (The database's owner can still drop the trigger:
# this guards against the product and its bugs; `crm audit verify` detects what it cannot stop.)
GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('crm.audit_maintenance', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.chain_hash IS NULL AND OLD.chain_seq IS NULL
            AND (to_jsonb(NEW) - 'chain_seq' - 'chain_hash') = (to_jsonb(OLD) - 'chain_seq' - 'chain_hash') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit entries cannot be changed or deleted (audit_entry %)', OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_entry_guard ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_guard()")
    op.drop_table('audit_archive')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_entry_chain_seq'), type_='unique')
        batch_op.drop_column('chain_hash')
        batch_op.drop_column('chain_seq')
        batch_op.alter_column('action', existing_type=sa.String(length=40), type_=sa.String(length=20),
                              existing_nullable=False)
        batch_op.drop_column('channel')
        batch_op.drop_column('client_address')
        batch_op.drop_column('outcome')
