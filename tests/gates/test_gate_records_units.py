"""Gate records as data: what a record keeps, which gates an image still lacks, and the required gates'
setting; and the records written on a host against the image live there (the scripted server)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from scripted_host import RELEASES, ScriptedHost, deployment, make_host

from shipflow.deploy import bluegreen, commands
from shipflow.deploy.session import Session
from shipflow.gates.outcome import GateOutcome
from shipflow.gates.records import (
    GateRecord,
    live_image_ids,
    missing_gates,
    parse_records,
    read_records,
    record_of,
    record_outcome,
)
from shipflow.gates.settings import required_gates
from shipflow.project import Project, SettingsError

pytestmark = pytest.mark.unit

STARTED, FINISHED = datetime(2026, 12, 2, 5, 0, tzinfo=UTC), datetime(2026, 12, 2, 5, 1, tzinfo=UTC)


def outcome(gate: str = "load", *, passed: bool = True) -> GateOutcome:
    return GateOutcome(gate, "staging", "https://staging.example.invalid", passed, STARTED, FINISHED,
                       figures={"p95_ms": 41.0, "requests": 1200.0})  # fmt: skip


def record(gate: str, image_id: str, *, passed: bool = True) -> GateRecord:
    return record_of(outcome(gate, passed=passed), image_id, "ci@runner")


def test_a_record_keeps_the_verdict_the_image_who_when_and_the_figures_and_reads_back() -> None:
    kept = record("load", "sha256:aaa")

    assert (kept.gate, kept.passed, kept.image_id, kept.by) == ("load", True, "sha256:aaa", "ci@runner")
    assert kept.at == "2026-12-02T05:01:00+00:00" and kept.figures["p95_ms"] == 41.0
    raw = f"{kept.to_json()}\nnot a record\n{{}}\n{record('integration', 'sha256:b').to_json()}\n".encode()
    assert parse_records(raw) == [kept, record("integration", "sha256:b")]


def test_an_image_lacks_each_required_gate_it_never_passed_itself() -> None:
    records = [
        record("integration", "sha256:new"),
        record("load", "sha256:new", passed=False),
        record("load", "sha256:old"),  # another image's pass does not count
    ]

    assert missing_gates(records, "sha256:new", ["integration", "load"]) == ["load"]
    assert (
        missing_gates([*records, record("load", "sha256:new")], "sha256:new", ["integration", "load"]) == []
    )
    assert missing_gates(records, "sha256:new", []) == []


def project_with(tmp_path: Path, gates: str) -> Project:
    (tmp_path / "pyproject.toml").write_text(f"[tool.shipflow.gates]\n{gates}\n")
    from shipflow.project import load_project

    return load_project(tmp_path)


def test_the_required_gates_default_to_every_gate_and_an_unknown_one_is_named(tmp_path: Path) -> None:
    assert required_gates(project_with(tmp_path, "")) == ("integration", "load")
    assert required_gates(project_with(tmp_path, 'required = ["load"]')) == ("load",)
    with pytest.raises(SettingsError, match=r"unknown gate 'lod' \(did you mean 'load'\?\)"):
        required_gates(project_with(tmp_path, 'required = ["lod"]'))
    with pytest.raises(SettingsError, match="must be a list of gate names"):
        required_gates(project_with(tmp_path, 'required = "load"'))


def session_on(host: ScriptedHost, tmp_path: Path) -> Session:
    d = deployment(host)
    return Session(Project(tmp_path, {}), d.settings, "local", d.target, (d,), host)


def test_a_gate_is_recorded_against_the_image_live_when_it_began_unless_the_release_changed(
    tmp_path: Path,
) -> None:
    host = make_host(tmp_path)
    session = session_on(host, tmp_path)
    assert live_image_ids(session) == {"scripted": None}
    nothing = record_outcome(session, outcome(), {"scripted": None}, "me@here")
    assert nothing == ["  scripted: no release was live there, so the result is not recorded"]

    bluegreen.deploy(deployment(host), RELEASES["v1"])
    before = live_image_ids(session)
    lines = record_outcome(session, outcome(), before, "me@here")

    assert before == {"scripted": "sha256:demo:v1"}
    assert lines == ["  recorded on scripted: load passed against image demo:v1"]
    assert [(r.gate, r.image_id) for r in read_records(session)] == [("load", "sha256:demo:v1")]
    assert commands.gate_log_path(host.target) in host.files

    bluegreen.deploy(deployment(host), RELEASES["v2"])  # during the next gate
    changed = record_outcome(session, outcome("integration"), before, "me@here")
    assert changed == ["  scripted: the live release changed during the gate, so the result is not recorded"]
    assert len(read_records(session)) == 1
