"""indicators: key economic indicators (with the nine of issue 5 seeded), their yearly targets and period values;
annual target assessment targets per officer and per department

The seeded indicators are the ones the zone's joint meeting reviews (财税, GDP, 城乡居民收入, 外贸, 外资). Their kinds:
amounts that accumulate over the year are entered per period and summed (`sum`); per-capita disposable income is
reported as a year-to-date figure (`ytd`). GDP is quarterly, everything else monthly. Admins change them on
/admin/indicators.

Revision ID: 7c1e4a9d2f30
Revises: b40f5bb2913a
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "7c1e4a9d2f30"
down_revision = "b40f5bb2913a"
branch_labels = None
depends_on = None

# code, 中文, English, unit, frequency, kind
SEEDED = [
    ("budget_revenue", "一般公共预算收入", "General public budget revenue", "wan_cny", "monthly", "sum"),
    ("tax_revenue", "税收收入", "Tax revenue", "wan_cny", "monthly", "sum"),
    ("gdp", "地区生产总值", "Gross regional product (GDP)", "wan_cny", "quarterly", "sum"),
    ("urban_income", "城镇居民人均可支配收入", "Urban per-capita disposable income", "cny", "quarterly", "ytd"),
    ("rural_income", "农村居民人均可支配收入", "Rural per-capita disposable income", "cny", "quarterly", "ytd"),
    ("foreign_trade", "进出口总额", "Total imports and exports", "wan_usd", "monthly", "sum"),
    ("exports", "出口额", "Exports", "wan_usd", "monthly", "sum"),
    ("fdi_utilised", "实际使用外资", "Foreign direct investment actually utilised", "wan_usd", "monthly", "sum"),
    ("fixed_asset_investment", "固定资产投资", "Fixed-asset investment", "wan_cny", "monthly", "sum"),
]


def _figures() -> list[sa.Column]:
    return [
        sa.Column("projects_signed", sa.Integer(), nullable=True),
        sa.Column("investment_signed_wan_cny", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("foreign_capital_signed_wan_usd", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("visits_received", sa.Integer(), nullable=True),
        sa.Column("projects_started", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", crm.db.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    indicator = op.create_table(
        "economic_indicator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_zh", sa.String(length=60), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("unit", sa.String(length=12), nullable=False),
        sa.Column("frequency", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("allows_negative", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_economic_indicator")),
        sa.UniqueConstraint("code", name=op.f("uq_economic_indicator_code")),
    )
    op.create_table(
        "indicator_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("target", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["indicator_id"], ["economic_indicator.id"],
                                name=op.f("fk_indicator_target_indicator_id_economic_indicator"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"],
                                name=op.f("fk_indicator_target_updated_by_id_user_account"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_target")),
        sa.UniqueConstraint("indicator_id", "year", name=op.f("uq_indicator_target_indicator_id")),
    )
    op.create_table(
        "indicator_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["indicator_id"], ["economic_indicator.id"],
                                name=op.f("fk_indicator_value_indicator_id_economic_indicator"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"],
                                name=op.f("fk_indicator_value_updated_by_id_user_account"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_value")),
        sa.UniqueConstraint("indicator_id", "year", "period", name=op.f("uq_indicator_value_indicator_id")),
    )
    with op.batch_alter_table("indicator_value", schema=None) as batch_op:
        batch_op.create_index("ix_indicator_value_year", ["year", "period"], unique=False)

    op.create_table(
        "officer_target",
        *_figures(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"],
                                name=op.f("fk_officer_target_updated_by_id_user_account"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name=op.f("fk_officer_target_user_id_user_account"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officer_target")),
        sa.UniqueConstraint("year", "user_id", name=op.f("uq_officer_target_year")),
    )
    op.create_table(
        "department_target",
        *_figures(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"],
                                name=op.f("fk_department_target_updated_by_id_user_account"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department_target")),
        sa.UniqueConstraint("year", "department", name=op.f("uq_department_target_year")),
    )

    seeded_at = datetime.now(UTC)
    op.bulk_insert(indicator, [
        {"code": code, "name_zh": zh, "name_en": en, "unit": unit, "frequency": frequency, "kind": kind,
         "allows_negative": False, "position": (i + 1) * 10, "is_active": True, "updated_at": seeded_at, "version": 1}
        for i, (code, zh, en, unit, frequency, kind) in enumerate(SEEDED)
    ])


def downgrade() -> None:
    op.drop_table("department_target")
    op.drop_table("officer_target")
    with op.batch_alter_table("indicator_value", schema=None) as batch_op:
        batch_op.drop_index("ix_indicator_value_year")
    op.drop_table("indicator_value")
    op.drop_table("indicator_target")
    op.drop_table("economic_indicator")
