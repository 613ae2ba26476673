"""Event webhooks (issue 15): subscriptions, their events and delivery log

Revision ID: a15b00000001
Revises: a15a00000001
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = 'a15b00000001'
down_revision = 'a15a00000001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_cursor',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('updated_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_webhook_cursor'))
    )
    op.create_table('webhook_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('entity_type', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('change', sa.JSON(), nullable=False),
    sa.Column('occurred_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_event')),
    sa.UniqueConstraint('source', name=op.f('uq_webhook_event_source'))
    )
    op.create_table('webhook_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('secret', sa.String(length=80), nullable=False),
    sa.Column('created_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_webhook_subscription_owner_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscription'))
    )
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_subscription_owner_id'), ['owner_id'], unique=False)

    op.create_table('webhook_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('response_ms', sa.Integer(), nullable=True),
    sa.Column('last_attempt_at', crm.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['webhook_event.id'], name=op.f('fk_webhook_delivery_event_id_webhook_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscription.id'], name=op.f('fk_webhook_delivery_subscription_id_webhook_subscription'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_webhook_delivery_subscription_id')),
    sa.UniqueConstraint('uuid', name=op.f('uq_webhook_delivery_uuid'))
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_delivery_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_webhook_delivery_subscription', ['subscription_id', 'id'], unique=False)

    op.create_table('webhook_readiness',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('colour', sa.String(length=10), nullable=False),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.Column('updated_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['groundbreaking_event.id'], name=op.f('fk_webhook_readiness_event_id_groundbreaking_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_webhook_readiness_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'project_id', name=op.f('pk_webhook_readiness'))
    )


def downgrade() -> None:
    op.drop_table('webhook_readiness')
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_delivery_subscription')
        batch_op.drop_index(batch_op.f('ix_webhook_delivery_event_id'))

    op.drop_table('webhook_delivery')
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_subscription_owner_id'))

    op.drop_table('webhook_subscription')
    op.drop_table('webhook_event')
    op.drop_table('webhook_cursor')
