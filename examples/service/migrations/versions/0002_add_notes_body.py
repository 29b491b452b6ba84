"""add a body to notes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:05:00

Never edit this file once it is merged: write a new migration instead (`inv db.new -m MESSAGE`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("body", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notes") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("body")
