"""index notes by creation time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 21:10:00

Never edit this file once it is merged: write a new migration instead (`inv db.new -m MESSAGE`).
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notes_created_at", "notes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_notes_created_at", table_name="notes")
