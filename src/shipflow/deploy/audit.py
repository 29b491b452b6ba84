"""The audit log on the host: one JSON line per deploy, rollback and unlock. A record, not the truth."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def append(host: Host, path: str, record: AuditRecord) -> None:
    """Append one line; a single short write to an O_APPEND file is not interleaved with others."""
    parent = path.rsplit("/", 1)[0]
    host.run(["mkdir", "-p", parent]).check(host.name)
    host.run(["sh", "-c", 'cat >> "$1"', "audit", path], stdin=(record.to_json() + "\n").encode()).check(
        host.name
    )


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
