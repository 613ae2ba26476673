"""export pool: cultivated export enterprises, yearly targets, monthly export figures, service log

Revision ID: e7a0c5d1f3b2
Revises: b40f5bb2913a
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "e7a0c5d1f3b2"
down_revision = "b40f5bb2913a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_enterprise",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("main_products", sa.Text(), nullable=False),
        sa.Column("markets", sa.Text(), nullable=False),
        sa.Column("support_planned", sa.Text(), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["officer_id"], ["user_account.id"], name=op.f("fk_export_enterprise_officer_id_user_account")),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"], name=op.f("fk_export_enterprise_organization_id_organization")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_enterprise")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_export_enterprise_organization_id")),
    )
    with op.batch_alter_table("export_enterprise", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_enterprise_officer_id"), ["officer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_export_enterprise_tier"), ["tier"], unique=False)

    op.create_table(
        "export_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("target_wan_usd", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("updated_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"], name=op.f("fk_export_target_organization_id_organization")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_target")),
        sa.UniqueConstraint("organization_id", "year", name=op.f("uq_export_target_organization_id")),
    )

    op.create_table(
        "export_figure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("value_wan_usd", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"], name=op.f("fk_export_figure_organization_id_organization")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"], name=op.f("fk_export_figure_updated_by_id_user_account"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_figure")),
        sa.UniqueConstraint("organization_id", "year", "month", name=op.f("uq_export_figure_organization_id")),
    )
    with op.batch_alter_table("export_figure", schema=None) as batch_op:
        batch_op.create_index("ix_export_figure_period", ["year", "month", "organization_id", "value_wan_usd"], unique=False)

    op.create_table(
        "export_support",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("given_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"], name=op.f("fk_export_support_created_by_id_user_account"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["officer_id"], ["user_account.id"], name=op.f("fk_export_support_officer_id_user_account")),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"], name=op.f("fk_export_support_organization_id_organization")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_support")),
    )
    with op.batch_alter_table("export_support", schema=None) as batch_op:
        batch_op.create_index("ix_export_support_organization_at", ["organization_id", "given_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_export_support_officer_id"), ["officer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("export_support", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_support_officer_id"))
        batch_op.drop_index("ix_export_support_organization_at")
    op.drop_table("export_support")
    with op.batch_alter_table("export_figure", schema=None) as batch_op:
        batch_op.drop_index("ix_export_figure_period")
    op.drop_table("export_figure")
    op.drop_table("export_target")
    with op.batch_alter_table("export_enterprise", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_enterprise_tier"))
        batch_op.drop_index(batch_op.f("ix_export_enterprise_officer_id"))
    op.drop_table("export_enterprise")
