"""The database in a deploy's steps: the migrate step (nothing to run when the database is at the release's
head) and a rollback's schema check.

The database's revision is read through the serving release (``docker exec``, see
:mod:`shipflow.deploy.migration`). When the serving release's label says it went live with the database
at the new release's head, the deploy does not wait for that read: the new release starts at once and the
read, running beside its boot, must confirm the label before the switch. A database moved behind
shipflow's back since then is migrated (and the new release started again) before any traffic reaches it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import migration
from shipflow.deploy.background import Background
from shipflow.deploy.commands import short_sha
from shipflow.deploy.context import DeployFailed

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shipflow.deploy.commands import Release, Slot
    from shipflow.deploy.context import Deployment
    from shipflow.deploy.runrecord import RunRecord
    from shipflow.deploy.state import SlotState


@dataclass(frozen=True)
class Confirmation:
    """The database's revision, being read beside the new release's boot, and the head it must be at."""

    head: str
    reading: Background[str | None]


def migrate(
    d: Deployment,
    slot: Slot,
    release: Release,
    record: RunRecord,
    serving: SlotState | None,
    image_labels: Mapping[str, str] | None = None,
) -> Confirmation | None:
    """The migrate step before the new release starts: nothing to run when the database is at the
    release's head (as the serving release's label records it: confirmed by :func:`confirmed` before the
    switch; else read now), else ``alembic upgrade head`` in a one-off container. A failed migration stops
    the deploy here. The head is read from ``image_labels`` when the deploy brought the image (the same
    image id, so the same labels), else from the image on the host."""
    with d.reporter.step("migrate", "alembic upgrade head (one-off container)") as step:
        if image_labels is None:
            head = migration.release_head(d.host, release.image)
        else:
            head = migration.head_in(image_labels)
        recorded = serving.label(migration.REVISION_LABEL) if serving else None
        live = serving is not None and serving.running and not d.host.rehearses
        if head and serving and live and migration.at_head(head, recorded):
            record.db_checked, record.db_before, record.db_after = True, recorded, recorded
            step.detail = (
                f"at head {recorded} when {serving.slot.name} went live: nothing to run (confirming)"
            )
            return Confirmation(head, Background(lambda: migration.database_revision(d, serving)))
        database = migration.database_revision(d, serving) if head and serving else None
        if migration.at_head(head, database):
            record.db_checked, record.db_before, record.db_after = True, database, database
            step.detail = f"at head {database}, nothing to run"
            return None
        _upgrade(d, slot, release, record)
    if record.db_before != record.db_after:
        d.reporter.line(f"  database: {record.db_before or 'base'} -> {record.db_after or 'base'}")
    return None


def _upgrade(d: Deployment, slot: Slot, release: Release, record: RunRecord) -> None:
    run = migration.upgrade_head(d, slot, release)
    record.db_checked, record.db_before, record.db_after = True, run.before, run.after
    if run.ok:
        return
    d.reporter.line("  alembic's last lines:")
    for line in run.output.splitlines()[-20:]:
        d.reporter.line(f"    | {line}")
    raise DeployFailed(
        f"the migrations of release {short_sha(release.sha)} failed (`alembic upgrade head` in a "
        f"one-off container of {release.image}); the database is at revision {run.after or 'base'} "
        f"(it was at {run.before or 'base'}). The new release was not started and nginx was not "
        "touched, so the previous release keeps serving. alembic's output is above: fix the "
        "migration in a new commit and deploy again."
    )


def confirmed(d: Deployment, confirmation: Confirmation, record: RunRecord) -> bool:
    """Whether the database is at the head the serving release's label recorded (the read that ran beside
    the boot); False, with the revision found in the record, when it moved or cannot be read."""
    with d.reporter.step("database", "its revision, read while the release booted") as step:
        found = confirmation.reading.result()
        if migration.at_head(confirmation.head, found):
            step.detail = f"at {found}, as recorded"
            return True
        record.db_before = record.db_after = None if found == "base" else found
        step.detail = (
            f"at {found or 'a revision that could not be read'}, not {confirmation.head}: "
            "migrating, then starting the new release again"
        )
        return False


def start_schema_read(d: Deployment, active: SlotState) -> Background[str | None] | None:
    """The serving release's database revision, read beside a rollback's start (see :func:`schema_check`)."""
    if active.release is None or d.settings.migrate == "off" or d.host.rehearses:
        return None
    return Background(lambda: migration.database_revision(d, active))


def schema_check(
    d: Deployment,
    reading: Background[str | None],
    release: Release,
    labels: dict[str, str],
    record: RunRecord,
) -> None:
    """A rollback to a release deployed at another database revision: say so, naming both revisions."""
    with d.reporter.step("schema", "the database's revision, read through the serving release") as step:
        revision = reading.result()
        step.detail = f"database at {revision or 'an unknown revision'}"
    current = None if revision == "base" else revision  # audit records say null at base, as upgrades do
    wanted = migration.revision_of_release(d, release, labels)
    record.db_checked, record.db_before, record.db_after = True, current, current
    if current and wanted and current != wanted:
        downgrade = shlex.join(["alembic", "downgrade", wanted])
        d.reporter.line(
            f"  warning: rolling back across a schema change: {short_sha(release.sha)} went live with the "
            f"database at revision {wanted}; it is now at {current}, and a rollback does not downgrade it. "
            f"If the old release cannot work with revision {current}, run `{downgrade}` in a one-off "
            "container of the current release first."
        )
