"""Gate results kept on an environment's hosts, beside its audit log (``<state_dir>/gates.log``, one JSON
line per run), against the id of the image the gate ran against: ``inv deploy.promote`` ships an image on
only when every required gate passed against that very image.

The image is the one live on the host when the gate started; a gate during which the live release changed
is not recorded (its figures belong to neither release).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from shipflow.deploy import commands
from shipflow.deploy.state import read_state

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from shipflow.deploy.session import Session
    from shipflow.gates.outcome import GateOutcome


@dataclass(frozen=True)
class GateRecord:
    """One gate run against one image: the verdict, who ran it when, and what it measured."""

    gate: str
    passed: bool
    image_id: str
    environment: str
    at: str  # when the gate finished (ISO 8601, UTC)
    by: str  # user@machine
    url: str = ""
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def record_of(outcome: GateOutcome, image_id: str, by: str) -> GateRecord:
    """The record of ``outcome``, run against ``image_id``."""
    data = outcome.as_json()
    return GateRecord(
        gate=outcome.gate,
        passed=outcome.passed,
        image_id=image_id,
        environment=outcome.environment,
        at=outcome.finished.isoformat(timespec="seconds"),
        by=by,
        url=outcome.url,
        thresholds=list(data["thresholds"]),
        figures=dict(outcome.figures),
    )


def parse_records(raw: bytes) -> list[GateRecord]:
    """The records of a gate log, oldest first; a line that is not a record is skipped."""
    records = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            records.append(GateRecord(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return records


def missing_gates(records: Iterable[GateRecord], image_id: str, required: Sequence[str]) -> list[str]:
    """The gates of ``required`` with no passing record for ``image_id`` (a later failure does not undo
    a pass: the image passed that gate once, as promotion asks)."""
    passed = {record.gate for record in records if record.passed and record.image_id == image_id}
    return [gate for gate in required if gate not in passed]


def live_image_ids(session: Session) -> dict[str, str | None]:
    """Host name -> the id of the image its live release runs (None: nothing live there)."""
    found: dict[str, str | None] = {}
    for d in session.deployments:
        active = read_state(d.host, d.settings, d.target).active_state
        found[d.host.name] = active.image_id if active is not None and active.running else None
    return found


def read_records(session: Session) -> list[GateRecord]:
    """Every gate record on the environment's hosts."""
    records: list[GateRecord] = []
    for d in session.deployments:
        records.extend(parse_records(d.host.read_file(commands.gate_log_path(d.target)) or b""))
    return records


def record_outcome(
    session: Session, outcome: GateOutcome, before: Mapping[str, str | None], by: str
) -> list[str]:
    """Append ``outcome`` to each host's gate log against the image live there when the gate started
    (``before``), unless nothing was live or the live release changed meanwhile; what was done, a line
    per host."""
    after = live_image_ids(session)
    lines = []
    verdict = "passed" if outcome.passed else "failed"
    for d in session.deployments:
        name = d.host.name
        image_id = before.get(name)
        if image_id is None:
            lines.append(f"  {name}: no release was live there, so the result is not recorded")
            continue
        if after.get(name) != image_id:
            lines.append(f"  {name}: the live release changed during the gate, so the result is not recorded")
            continue
        line = (record_of(outcome, image_id, by).to_json() + "\n").encode()
        d.host.run(commands.append_stdin(commands.gate_log_path(d.target)), stdin=line).check(name)
        short = image_id.removeprefix("sha256:")[:12]
        lines.append(f"  recorded on {name}: {outcome.gate} {verdict} against image {short}")
    return lines
