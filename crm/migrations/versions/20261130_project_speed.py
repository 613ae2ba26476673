"""projects: archived instead of deleted (archived_at); totals per stage kept by triggers (project_stage_total);
the filtered totals' covering index with archived_at; investors by position (a card's lead investor)

Revision ID: c7d2e91a4f30
Revises: b40f5bb2913a
Create Date: 2026-11-30 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "c7d2e91a4f30"
down_revision = "b40f5bb2913a"
branch_labels = None
depends_on = None

COLUMNS = "stage, is_confidential, projects, investment_wan_cny_x100, foreign_wan_usd_x100"
ADD = ("ON CONFLICT (stage, is_confidential) DO UPDATE SET projects = project_stage_total.projects + excluded.projects, "
       "investment_wan_cny_x100 = project_stage_total.investment_wan_cny_x100 + excluded.investment_wan_cny_x100, "
       "foreign_wan_usd_x100 = project_stage_total.foreign_wan_usd_x100 + excluded.foreign_wan_usd_x100")
WATCHED = "stage, is_confidential, archived_at, total_investment_wan_cny, foreign_capital_wan_usd"


def _row(side: str, sign: str, integer: str) -> str:
    """One project's contribution (NEW or OLD, + or -): count and amounts in hundredths."""
    return (f"{side}.stage, {side}.is_confidential, {sign}1, "
            f"{sign}CAST(ROUND(COALESCE({side}.total_investment_wan_cny, 0) * 100) AS {integer}), "
            f"{sign}CAST(ROUND(COALESCE({side}.foreign_capital_wan_usd, 0) * 100) AS {integer})")


def _sqlite_triggers() -> list[str]:
    def add(side: str, sign: str) -> str:
        # INSERT … SELECT … WHERE: the WHERE keeps SQLite's upsert parser from reading ON as a join
        return (f"INSERT INTO project_stage_total ({COLUMNS}) SELECT {_row(side, sign, 'INTEGER')} "
                f"WHERE {side}.archived_at IS NULL {ADD};")
    return [
        f"CREATE TRIGGER project_stage_total_insert AFTER INSERT ON project BEGIN {add('NEW', '')} END",
        f"CREATE TRIGGER project_stage_total_delete AFTER DELETE ON project BEGIN {add('OLD', '-')} END",
        f"CREATE TRIGGER project_stage_total_update AFTER UPDATE OF {WATCHED} ON project "
        f"BEGIN {add('OLD', '-')} {add('NEW', '')} END",
    ]


def _postgresql_triggers() -> list[str]:
    def add(side: str, sign: str) -> str:
        return f"INSERT INTO project_stage_total ({COLUMNS}) VALUES ({_row(side, sign, 'BIGINT')}) {ADD};"  # noqa: S608 (constants only)
    return [
        "CREATE FUNCTION project_stage_total_apply() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.archived_at IS NULL THEN {add('OLD', '-')} END IF; "
        f"IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.archived_at IS NULL THEN {add('NEW', '')} END IF; "
        "RETURN NULL; END $$",
        "CREATE TRIGGER project_stage_total_change AFTER INSERT OR DELETE ON project "
        "FOR EACH ROW EXECUTE FUNCTION project_stage_total_apply()",
        f"CREATE TRIGGER project_stage_total_update AFTER UPDATE OF {WATCHED} ON project "
        "FOR EACH ROW EXECUTE FUNCTION project_stage_total_apply()",
    ]


def upgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", crm.db.UTCDateTime(), nullable=True))
        batch_op.drop_index("ix_project_totals")
        batch_op.create_index("ix_project_totals", ["archived_at", "stage", "is_confidential", "owner_id",
                                                    "total_investment_wan_cny", "foreign_capital_wan_usd"], unique=False)
    with op.batch_alter_table("project_organization", schema=None) as batch_op:
        batch_op.create_index("ix_project_organization_position", ["project_id", "position", "organization_id"],
                              unique=False)
    op.create_table(
        "project_stage_total",
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("is_confidential", sa.Boolean(), nullable=False),
        sa.Column("projects", sa.Integer(), nullable=False),
        sa.Column("investment_wan_cny_x100", sa.BigInteger(), nullable=False),
        sa.Column("foreign_wan_usd_x100", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stage", "is_confidential", name=op.f("pk_project_stage_total")),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    integer = "INTEGER" if sqlite else "BIGINT"
    op.execute(f"INSERT INTO project_stage_total ({COLUMNS}) SELECT stage, is_confidential, count(*), "  # noqa: S608
               f"CAST(SUM(ROUND(COALESCE(total_investment_wan_cny, 0) * 100)) AS {integer}), "
               f"CAST(SUM(ROUND(COALESCE(foreign_capital_wan_usd, 0) * 100)) AS {integer}) "
               "FROM project WHERE archived_at IS NULL GROUP BY stage, is_confidential")
    for statement in _sqlite_triggers() if sqlite else _postgresql_triggers():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER project_stage_total_{name}")
    else:
        op.execute("DROP TRIGGER project_stage_total_change ON project")
        op.execute("DROP TRIGGER project_stage_total_update ON project")
        op.execute("DROP FUNCTION project_stage_total_apply()")
    op.drop_table("project_stage_total")
    with op.batch_alter_table("project_organization", schema=None) as batch_op:
        batch_op.drop_index("ix_project_organization_position")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index("ix_project_totals")
        batch_op.create_index("ix_project_totals", ["stage", "is_confidential", "owner_id", "total_investment_wan_cny",
                                                    "foreign_capital_wan_usd"], unique=False)
        batch_op.drop_column("archived_at")
