"""form_submission: create forms' one-time keys, so a form submitted twice creates one record

Revision ID: 7d2a6c1e9b34
Revises: 6e2b9c4f8a13
Create Date: 2026-12-05 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = '7d2a6c1e9b34'
down_revision = '6e2b9c4f8a13'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "form_submission",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("result_url", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_form_submission_user_id_user_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_form_submission")),
    )
    op.create_index(op.f("ix_form_submission_created_at"), "form_submission", ["created_at"])
    op.create_index(op.f("ix_form_submission_user_id"), "form_submission", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_form_submission_user_id"), table_name="form_submission")
    op.drop_index(op.f("ix_form_submission_created_at"), table_name="form_submission")
    op.drop_table("form_submission")
