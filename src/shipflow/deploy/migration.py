"""Migrations inside a deploy: ``alembic upgrade head`` and ``alembic current`` in one-off containers of a
release's image, with the release's env file and volumes (the database the service will use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import audit, commands

if TYPE_CHECKING:
    from pathlib import Path

    from shipflow.deploy.commands import Release, Slot
    from shipflow.deploy.settings import DeploySettings, TargetSettings
    from shipflow.hosts.base import Host

BEFORE, AFTER = "db_revision_before", "db_revision_after"
"""Keys of the audit record's ``extra`` that hold the database's revision around a deploy."""
REVISION_LABEL = "db_revision"
"""Container label (``shipflow.db_revision``): the revision the database was at when the release started."""


@dataclass(frozen=True)
class MigrationRun:
    """What ``alembic upgrade head`` did: whether it worked, the revisions around it, and its output."""

    ok: bool
    before: str | None
    after: str | None
    output: str


def database_revision(
    host: Host, settings: DeploySettings, target: TargetSettings, slot: Slot, release: Release
) -> str | None:
    """The database's revision read (never changed) through the serving ``release``'s image: a revision,
    ``"base"`` before any migration, or None when it cannot tell. Runs even in a dry run."""
    argv = commands.one_off(settings, target, slot, release, commands.alembic(settings, "current"))
    done = host.query(argv)
    if not done.ok:
        return None
    return commands.parse_current(done.stdout) or "base"


def pending_in_project(root: Path, database: str) -> list[str] | None:
    """The project's migrations (as in this checkout) a database at ``database`` lacks, as "id (message)"
    oldest first; None when the project has no alembic settings or the revision is unknown to it."""
    from alembic.config import Config

    from shipflow.db.runner import pending
    from shipflow.db.settings import db_settings
    from shipflow.project import load_project

    try:
        config = Config(str(db_settings(load_project(root)).alembic_ini))
        found = pending(config, () if database == "base" else tuple(database.split(",")))
    except Exception:  # the plan only informs: whatever alembic or the settings say, it says "unknown"
        return None
    return [f"{entry.id} ({entry.message})" if entry.message else entry.id for entry in found]


def upgrade_head(
    host: Host, settings: DeploySettings, target: TargetSettings, slot: Slot, release: Release
) -> MigrationRun:
    """``alembic upgrade head`` with the release's image and settings, and the revision before and after."""
    done = host.run(
        commands.one_off(settings, target, slot, release, commands.upgrade_with_revisions(settings))
    )
    before, after, output = commands.parse_upgrade(done.stdout)
    return MigrationRun(done.ok, before, after, (done.stderr + "\n" + output).strip())


def revision_of_release(
    host: Host, target: TargetSettings, release: Release, labels: dict[str, str] | None
) -> str | None:
    """The revision the database was at when ``release`` last went live: its container's label, else the
    audit record of its last successful deploy."""
    if labels and labels.get(f"{commands.LABEL_PREFIX}{REVISION_LABEL}"):
        return labels[f"{commands.LABEL_PREFIX}{REVISION_LABEL}"]
    for record in reversed(audit.read(host, commands.audit_log_path(target))):
        if record.result == "ok" and record.to_sha == release.sha and record.extra.get(AFTER):
            return str(record.extra[AFTER])
    return None
