"""A project in a temp folder holding a copy of the example service's migrations, for `inv db.*` tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from support import REPO, make_repository, run_shipflow

SERVICE = REPO / "examples" / "service"
VERSIONS = "service/migrations/versions"
PYPROJECT = """\
[tool.shipflow.db]
alembic_ini = "service/alembic.ini"
base_branch = "main"
manifest = "service/migrations/manifest.json"
"""
SECRET_PASSWORD = "pw-canary-5c1d9e"


def make_db_project(root: Path, *, database_url: str = "sqlite:///./dev.db", with_git: bool = True) -> Path:
    """The example service's app, alembic.ini, migrations and manifest under ``root/service``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    (root / "service").mkdir(parents=True)
    shutil.copytree(SERVICE / "app", root / "service" / "app", ignore=ignore)
    shutil.copytree(SERVICE / "migrations", root / "service" / "migrations", ignore=ignore)
    shutil.copy(SERVICE / "alembic.ini", root / "service" / "alembic.ini")
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "envs").mkdir()
    (root / "envs" / ".env.development").write_text(f"DATABASE_URL={database_url}\n")
    (root / ".gitignore").write_text("*.db\n__pycache__/\n")
    if with_git:
        make_repository(root, "migrations")
    return root


def shipflow(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_shipflow(*args, cwd=root)


NEW_MIGRATION = '''"""add a tags table

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("tags", sa.Column("id", sa.Integer(), nullable=False), sa.PrimaryKeyConstraint("id"))


def downgrade() -> None:
    op.drop_table("tags")
'''
