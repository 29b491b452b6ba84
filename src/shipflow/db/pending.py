"""Which of the project's migrations a database at some revision still lacks (as in this checkout)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipflow.project import Project


def pending_in_project(project: Project, database: str) -> list[str] | None:
    """The project's migrations a database at ``database`` lacks, as "id (message)" oldest first; None when
    the project has no alembic settings or the revision is unknown to it."""
    from alembic.config import Config

    from shipflow.db.runner import pending
    from shipflow.db.settings import db_settings

    try:
        config = Config(str(db_settings(project).alembic_ini))
        found = pending(config, () if database == "base" else tuple(database.split(",")))
    except Exception:  # the plan only informs: whatever alembic or the settings say, it says "unknown"
        return None
    return [f"{entry.id} ({entry.message})" if entry.message else entry.id for entry in found]
