"""merge: the six migrations written side by side on 2026-11-30 (users' department and manager, reminder indexes,
export pool, indicators and assessment, briefings, project speed) join into one head again

Revision ID: 9a4e2f7c1b05
Revises: 7d3e5c1a9b20, 3f9a0c2d7e11, e7a0c5d1f3b2, 7c1e4a9d2f30, 7c1e5b2a9d40, c7d2e91a4f30
Create Date: 2026-11-30 04:00:00
"""

from __future__ import annotations

revision = '9a4e2f7c1b05'
down_revision = ('7d3e5c1a9b20', '3f9a0c2d7e11', 'e7a0c5d1f3b2', '7c1e4a9d2f30', '7c1e5b2a9d40', 'c7d2e91a4f30')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
