"""Migrations inside a deploy: ``alembic upgrade head`` and ``alembic current`` in one-off containers of a
release's image, with the release's env file and volumes (the database the service will use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import audit, commands

if TYPE_CHECKING:
    from shipflow.deploy.commands import Release, Slot
    from shipflow.deploy.context import Deployment

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


def database_revision(d: Deployment, slot: Slot, release: Release) -> str | None:
    """The database's revision read (never changed) through the serving ``release``'s image: a revision,
    ``"base"`` before any migration, or None when it cannot tell. Runs even in a dry run."""
    alembic_current = commands.alembic(d.settings, "current")
    done = d.host.query(commands.one_off(d.settings, d.target, slot, release, alembic_current))
    if not done.ok:
        return None
    return commands.parse_current(done.stdout) or "base"


def upgrade_head(d: Deployment, slot: Slot, release: Release) -> MigrationRun:
    """``alembic upgrade head`` with the release's image and settings, and the revision before and after."""
    upgrade = commands.upgrade_with_revisions(d.settings)
    done = d.host.run(commands.one_off(d.settings, d.target, slot, release, upgrade))
    before, after, output = commands.parse_upgrade(done.stdout)
    return MigrationRun(done.ok, before, after, (done.stderr + "\n" + output).strip())


def revision_of_release(d: Deployment, release: Release, labels: dict[str, str] | None) -> str | None:
    """The revision the database was at when ``release`` last went live: its container's label, else the
    audit record of its last successful deploy."""
    if labels and labels.get(f"{commands.LABEL_PREFIX}{REVISION_LABEL}"):
        return labels[f"{commands.LABEL_PREFIX}{REVISION_LABEL}"]
    for record in reversed(audit.read(d.host, commands.audit_log_path(d.target))):
        if record.result == "ok" and record.to_sha == release.sha and record.extra.get(AFTER):
            return str(record.extra[AFTER])
    return None
