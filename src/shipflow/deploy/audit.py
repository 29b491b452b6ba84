"""The audit log on the host: one JSON line per deploy, rollback, removal and unlock. A record, not the truth.

:func:`new_record` is the one place a record is assembled (who and when are filled in the same way for
every action).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipflow.deploy import commands

if TYPE_CHECKING:
    from shipflow.deploy.lock import Actor
    from shipflow.hosts.base import Host


@dataclass(frozen=True)
class AuditRecord:
    """What happened, by whom, from which release to which; never a setting's value."""

    action: str  # deploy | rollback | unlock | remove
    result: str  # ok | failed | refused
    at: str
    by: str
    environment: str
    from_sha: str | None = None
    to_sha: str | None = None
    version: str | None = None
    slot: str | None = None
    duration_s: float | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def utc_now() -> str:
    """Now, as records and container labels write it (seconds, UTC)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_record(action: str, result: str, actor: Actor, environment: str, **fields: Any) -> AuditRecord:
    """A record of ``action`` by ``actor``, at this moment."""
    return AuditRecord(
        action=action,
        result=result,
        at=utc_now(),
        by=f"{actor.user}@{actor.machine}",
        environment=environment,
        **fields,
    )


def append(host: Host, path: str, record: AuditRecord) -> None:
    """Append one line to the log at ``path`` (its folder is created)."""
    host.run(commands.append_stdin(path), stdin=line_of(record)).check(host.name)


def line_of(record: AuditRecord) -> bytes:
    """``record`` as the log keeps it: one JSON line."""
    return (record.to_json() + "\n").encode()


def read(host: Host, path: str, *, last: int | None = None) -> list[AuditRecord]:
    """The records, oldest first (the last ``last`` of them); unreadable lines are skipped."""
    raw = host.read_file(path) or b""
    records = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            records.append(AuditRecord(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return records[-last:] if last else records
