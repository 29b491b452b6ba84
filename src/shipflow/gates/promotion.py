"""Promotion: the image one environment serves, proven there by its gates, deployed as it is to the next one.

The image is the one live on every host of the source environment (its id, not a tag or a commit). Each
gate of ``[tool.shipflow.gates] required`` must have a passing record for that id on the source's hosts
(:mod:`shipflow.gates.records`); a missing one refuses the promotion before any host changes, unless
``--force`` (which the destination's audit record keeps). The same image then takes the destination's
normal deploy: the plan and its approval, the image sent only to hosts that lack it, blue-green, the smoke
check. It comes from this machine's docker engine (a build of the same commit gives the same id) or from
``--image-archive`` (CI's build artifact); nothing is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from shipflow.deploy import bluegreen, commands, transfer
from shipflow.deploy.rollout import RolloutRequest, deploy_one, plan_rollout, run_rollout
from shipflow.errors import BadInput, Refused
from shipflow.gates.records import live_image_ids, missing_gates, read_records
from shipflow.images.plan import APP_LABEL, RELEASE_LABEL

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from shipflow.deploy.session import Session
    from shipflow.hosts.base import Host


class NotProven(Refused):
    """The image lacks a passing record of a required gate; nothing changed."""


@dataclass(frozen=True)
class Proven:
    """The image live on the source environment and the required gates it has no passing record of."""

    environment: str
    image_id: str
    required: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def short_id(self) -> str:
        return self.image_id.removeprefix("sha256:")[:12]

    def gate_lines(self) -> list[str]:
        return [
            f"  gate {gate}: {'no passing record' if gate in self.missing else 'passed'} "
            f"for image {self.short_id} on {self.environment}"
            for gate in self.required
        ]


def proven_image(source: Session, required: Sequence[str]) -> Proven:
    """The one image live on every host of ``source``, and which of ``required`` it has not passed there.
    Nothing live, or hosts serving different images, is :class:`~shipflow.errors.Refused`."""
    live = live_image_ids(source)
    idle = [host for host, image_id in live.items() if image_id is None]
    if idle:
        raise Refused(
            f"nothing is live on {source.environment} ({', '.join(idle)}): deploy there first, gate it, "
            "then promote"
        )
    images = sorted({image_id for image_id in live.values() if image_id})
    if len(images) > 1:
        listing = ", ".join(f"{host}: {str(image_id)[7:19]}" for host, image_id in live.items())
        raise Refused(
            f"the hosts of {source.environment} serve different images ({listing}): finish its rollout (or "
            "roll it back) first, so that one image is proven there"
        )
    image_id = images[0]
    missing = missing_gates(read_records(source), image_id, required)
    return Proven(source.environment, image_id, tuple(required), tuple(missing))


def refusal(proven: Proven, destination: str) -> str:
    """Why ``proven`` may not go to ``destination``, and what to do."""
    listing = "\n".join(
        f"  - gate {gate}: no passing record for image {proven.short_id} on {proven.environment} "
        f"(run `inv gate.{gate} --env {proven.environment}`)"
        for gate in proven.missing
    )
    return (
        f"nothing changed: image {proven.short_id} has not passed every required gate on "
        f"{proven.environment}:\n{listing}\npass --force to promote it to {destination} anyway (it is kept "
        "in the audit log)"
    )


def local_reference(here: Host, proven: Proven, archive: Path | None) -> tuple[str | None, Path | None]:
    """What the destination's deploy ships: ``archive`` when given (it must hold the proven image), else
    the proven image in this machine's engine, by its release tag when that tag names it."""
    if archive is not None:
        if not archive.is_file():
            raise BadInput(f"{archive}: no such file; give the `docker save -o` file of the proven image")
        found = transfer.archive_image(archive)
        if found.image_id != proven.image_id:
            raise BadInput(
                f"{archive} holds image {found.short_id}, not {proven.short_id} (live on "
                f"{proven.environment}): pass the archive of the image that was proven there"
            )
        return None, archive
    try:
        image = transfer.engine_image(here, proven.image_id)
    except transfer.TransferFailed:
        raise Refused(
            f"image {proven.short_id} (live on {proven.environment}) is not in this machine's docker engine: "
            "build its commit here (`inv build` of the same commit gives the same image id) or pass "
            "--image-archive FILE"
        ) from None
    tag = f"{image.labels.get(APP_LABEL)}:{image.labels.get(RELEASE_LABEL)}"
    if APP_LABEL in image.labels and RELEASE_LABEL in image.labels:
        try:
            if transfer.engine_image(here, tag).image_id == proven.image_id:
                return tag, None
        except transfer.TransferFailed:
            pass
    return proven.image_id, None


def promote(
    source: Session,
    destination: Session,
    required: Sequence[str],
    approve: Callable[[], bool],
    *,
    force: bool = False,
    archive: Path | None = None,
    parallel: int = 1,
) -> None:
    """Check the gates of the image live on ``source`` and deploy that image to ``destination``."""
    proven = proven_image(source, required)
    destination.line(
        f"promoting image {proven.short_id} from {proven.environment} to {destination.environment}:"
    )
    for line in proven.gate_lines():
        destination.line(line)
    if proven.missing and not force:
        raise NotProven(refusal(proven, destination.environment))
    forced = tuple(
        f"gate {gate} has no passing record for image {proven.short_id} on {proven.environment}"
        for gate in proven.missing
    )
    for reason in forced:
        destination.line(f"!!! WARNING: --force: promoting although {reason}")
    reference, archive = local_reference(destination.here, proven, archive)
    if destination.target.is_local:
        if archive is not None:  # this machine's engine is the destination's: load the archive into it
            destination.here.run(commands.load_image_archive(str(archive))).check(destination.here.name)
        image = transfer.engine_image(destination.here, reference or proven.image_id)
        delivery = bluegreen.Delivery(image, forced=forced, promoted_from=proven.environment)
        deploy_one(destination.first, image.release, delivery)
        return
    request = RolloutRequest(image=reference, image_archive=archive, force=force, parallel=parallel)
    plan = plan_rollout(destination, request)
    plan = replace(plan, forced=plan.forced + forced, promoted_from=proven.environment)
    run_rollout(destination, plan, approve)
