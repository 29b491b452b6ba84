"""Migrations inside a deploy: ``alembic upgrade head`` in a one-off container of a release's image, with
the release's env file and volumes (the database the service will use), only when the database is not
already at the head the release's image names; the database's revision is read through the serving
release (``docker exec``), never guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import audit, commands
from shipflow.images.plan import MIGRATIONS_HEAD_LABEL

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shipflow.deploy.commands import Release, Slot
    from shipflow.deploy.context import Deployment
    from shipflow.deploy.state import SlotState
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


def database_revision(d: Deployment, serving: SlotState) -> str | None:
    """The database's revision read (never changed) through the serving release: ``alembic current`` by
    ``docker exec`` in its running container (no new container), or in a one-off container of its image
    when it is stopped. A revision, ``"base"`` before any migration, or None when it cannot tell. Runs
    even in a dry run."""
    alembic_current = commands.alembic(d.settings, "current")
    if serving.running:
        argv = commands.exec_in(serving.container, alembic_current)
    elif serving.release is not None:
        argv = commands.one_off(d.settings, d.target, serving.slot, serving.release, alembic_current)
    else:
        return None
    done = d.host.query(argv)
    if not done.ok:
        return None
    return commands.parse_current(done.stdout) or "base"


def release_head(host: Host, image: str) -> str | None:
    """The head revision(s) of the migrations in ``image`` on ``host`` (its label, written by the build);
    None for an image built without it, or not there."""
    done = host.query(commands.image_labels(image))
    try:
        labels = json.loads(done.stdout) if done.ok else None
    except ValueError:
        return None
    return head_in(labels) if isinstance(labels, dict) else None


def head_in(labels: Mapping[str, object]) -> str | None:
    """The head revision(s) an image's ``labels`` name; None for an image built without the label."""
    head = labels.get(MIGRATIONS_HEAD_LABEL)
    return str(head) if head else None


def at_head(head: str | None, database: str | None) -> bool:
    """Whether a database at ``database`` has nothing to run for a release whose head is ``head``: both
    known and the same revision(s). Anything unknown counts as pending."""
    if not head or not database or database == "base":
        return False
    return set(head.split(",")) == set(database.split(","))


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
