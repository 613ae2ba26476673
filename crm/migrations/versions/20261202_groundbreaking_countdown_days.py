"""reminders: the groundbreaking countdown's N is now its first reminder (default 30: T-30, T-14, T-7, T-1); a rule
row still holding the old default 7 (written with the defaults at its first planning pass) takes the new default

Revision ID: 3c7e9a1d5f20
Revises: 9a4e2f7c1b05
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = '3c7e9a1d5f20'
down_revision = '9a4e2f7c1b05'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE reminder_rule SET days = 30 WHERE code = 'groundbreaking' AND days = 7")


def downgrade() -> None:
    op.execute("UPDATE reminder_rule SET days = 7 WHERE code = 'groundbreaking' AND days = 30")
