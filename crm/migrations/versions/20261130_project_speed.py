"""projects: archived instead of deleted (archived_at); totals per stage kept by triggers (project_stage_total);
the filtered totals' covering index with archived_at; investors by position (a card's lead investor); each
organization's latest visit kept by triggers (organization_last_visit, for the stale flag)

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


# An organization's latest visit that is not cancelled, recomputed (not incremented: a cancelled or moved visit can
# make it earlier) for `org` — an SQL expression for the organization's id in the trigger.
def _latest(org: str) -> str:
    return ("(SELECT max(v.starts_at) FROM visit_organization lv JOIN visit v ON v.id = lv.visit_id "  # noqa: S608
            f"WHERE lv.organization_id = {org} AND v.status != 'cancelled')")


def _keep_latest(org: str, source: str = "") -> str:
    """The upsert of `org`'s latest visit; `source` a FROM … WHERE … giving the rows `org` comes from."""
    return (f"INSERT INTO organization_last_visit (organization_id, starts_at) SELECT {org}, {_latest(org)} "
            f"{source or 'WHERE true'} ON CONFLICT (organization_id) DO UPDATE SET starts_at = excluded.starts_at;")


VISIT_ORGS = "FROM visit_organization vo WHERE vo.visit_id = {visit}"


def _sqlite_visit_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER organization_last_visit_link AFTER INSERT ON visit_organization BEGIN "
        f"{_keep_latest('NEW.organization_id')} END",
        f"CREATE TRIGGER organization_last_visit_unlink AFTER DELETE ON visit_organization BEGIN "
        f"{_keep_latest('OLD.organization_id')} END",
        f"CREATE TRIGGER organization_last_visit_relink AFTER UPDATE OF organization_id, visit_id ON visit_organization "
        f"BEGIN {_keep_latest('OLD.organization_id')} {_keep_latest('NEW.organization_id')} END",
        f"CREATE TRIGGER organization_last_visit_visit AFTER UPDATE OF starts_at, status ON visit BEGIN "
        f"{_keep_latest('vo.organization_id', VISIT_ORGS.format(visit='NEW.id'))} END",
    ]


def _postgresql_visit_triggers() -> list[str]:
    return [
        "CREATE FUNCTION organization_last_visit_link() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_keep_latest('OLD.organization_id')} END IF; "
        f"IF TG_OP IN ('UPDATE', 'INSERT') THEN {_keep_latest('NEW.organization_id')} END IF; "
        "RETURN NULL; END $$",
        "CREATE TRIGGER organization_last_visit_link AFTER INSERT OR DELETE OR UPDATE OF organization_id, visit_id "
        "ON visit_organization FOR EACH ROW EXECUTE FUNCTION organization_last_visit_link()",
        "CREATE FUNCTION organization_last_visit_visit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{_keep_latest('vo.organization_id', VISIT_ORGS.format(visit='NEW.id'))} RETURN NULL; END $$",
        "CREATE TRIGGER organization_last_visit_visit AFTER UPDATE OF starts_at, status ON visit "
        "FOR EACH ROW EXECUTE FUNCTION organization_last_visit_visit()",
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
    op.create_table(
        "organization_last_visit",
        sa.Column("organization_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("starts_at", crm.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_organization_last_visit")),
    )
    op.execute("INSERT INTO organization_last_visit (organization_id, starts_at) SELECT vo.organization_id, "
               "max(v.starts_at) FROM visit_organization vo JOIN visit v ON v.id = vo.visit_id "
               "WHERE v.status != 'cancelled' GROUP BY vo.organization_id")
    for statement in _sqlite_visit_triggers() if sqlite else _postgresql_visit_triggers():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("link", "unlink", "relink", "visit"):
            op.execute(f"DROP TRIGGER organization_last_visit_{name}")
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER project_stage_total_{name}")
    else:
        op.execute("DROP TRIGGER organization_last_visit_link ON visit_organization")
        op.execute("DROP TRIGGER organization_last_visit_visit ON visit")
        op.execute("DROP FUNCTION organization_last_visit_link()")
        op.execute("DROP FUNCTION organization_last_visit_visit()")
        op.execute("DROP TRIGGER project_stage_total_change ON project")
        op.execute("DROP TRIGGER project_stage_total_update ON project")
        op.execute("DROP FUNCTION project_stage_total_apply()")
    op.drop_table("organization_last_visit")
    op.drop_table("project_stage_total")
    with op.batch_alter_table("project_organization", schema=None) as batch_op:
        batch_op.drop_index("ix_project_organization_position")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index("ix_project_totals")
        batch_op.create_index("ix_project_totals", ["stage", "is_confidential", "owner_id", "total_investment_wan_cny",
                                                    "foreign_capital_wan_usd"], unique=False)
        batch_op.drop_column("archived_at")
