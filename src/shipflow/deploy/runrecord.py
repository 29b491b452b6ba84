"""What one deploy or rollback learns as it goes (:class:`RunRecord`), kept in its audit record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipflow.deploy import migration

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shipflow.deploy.transfer import TransferResult


@dataclass
class RunRecord:
    """What one deploy or rollback learns as it goes; it ends in its audit record, success or not.

    ``build_s`` is the time the run spent building its image before any host was touched (a rollout
    builds once and every host's record carries it); ``transfer_bytes`` and ``transfer_rate_bps`` are the
    gzipped bytes streamed to the host and their rate, when the image was sent over SSH, and
    ``transfer_skipped_bytes`` the layers left out of the stream because the host held them."""

    image_id: str | None = None
    transfer: str | None = None
    transfer_bytes: int | None = None
    transfer_rate_bps: int | None = None
    transfer_skipped_bytes: int | None = None
    build_s: float | None = None
    db_checked: bool = False
    db_before: str | None = None
    db_after: str | None = None
    smoke: str | None = None
    forced: tuple[str, ...] = ()
    maintenance: bool = False  # the page was up during the run (and stayed up)
    promoted_from: str | None = None  # the environment whose gates proved the image
    bake: dict[str, Any] | None = None  # the bake window's figures and verdict
    canary: list[dict[str, Any]] | None = None  # each canary step's share, figures and verdict

    def image_brought(self, image_id: str, result: TransferResult) -> None:
        self.image_id = image_id
        self.transfer = result.audit()
        if result.sent and result.sent_bytes > 0:
            self.transfer_bytes = result.sent_bytes
            self.transfer_rate_bps = round(result.sent_bytes / result.seconds) if result.seconds > 0 else None
            self.transfer_skipped_bytes = result.skipped_bytes or None

    def audit_extra(self, steps: Mapping[str, float]) -> dict[str, Any]:
        """The audit record's ``extra``: what the run learned, and ``steps``, the seconds of each step this
        run timed on this host (``build`` first when it built the image), to the millisecond."""
        timed = {**({"build": self.build_s} if self.build_s is not None else {}), **steps}
        extra: dict[str, Any] = {"steps": {name: round(seconds, 3) for name, seconds in timed.items()}}
        if self.forced:
            extra["forced"] = list(self.forced)
        if self.image_id is not None:
            extra["image_id"] = self.image_id
        if self.transfer is not None:
            extra["transfer"] = self.transfer
        if self.transfer_bytes is not None:
            extra["transfer_bytes"] = self.transfer_bytes
        if self.transfer_rate_bps is not None:
            extra["transfer_rate_bps"] = self.transfer_rate_bps
        if self.transfer_skipped_bytes is not None:
            extra["transfer_skipped_bytes"] = self.transfer_skipped_bytes
        if self.db_checked:
            extra[migration.BEFORE] = self.db_before
            extra[migration.AFTER] = self.db_after
        if self.smoke is not None:
            extra["smoke"] = self.smoke
        if self.maintenance:
            extra["maintenance"] = "on"
        if self.promoted_from is not None:
            extra["promoted_from"] = self.promoted_from
        if self.bake is not None:
            extra["bake"] = self.bake
        if self.canary is not None:
            extra["canary"] = self.canary
        return extra
