"""merge: the approval items' 帮办代办 user and the groundbreaking countdown's new first day, written side by side

Revision ID: 6e2b9c4f8a13
Revises: 5b8d2a6e4c71, 3c7e9a1d5f20
Create Date: 2026-11-30 04:45:00
"""

from __future__ import annotations

revision = '6e2b9c4f8a13'
down_revision = ('5b8d2a6e4c71', '3c7e9a1d5f20')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
