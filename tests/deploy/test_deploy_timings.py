"""Deploy timings: every deploy and rollback record keeps the seconds of each step that ran on its host
(scripted in-memory server, tests/scripted_host.py), and ``deploy.audit --stats`` figures come from those
records (pure functions, hand-made records)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from statistics import median
from typing import Any

import pytest
from scripted_host import RELEASES, ScriptedHost, deployment, make_host

from shipflow.deploy import audit, bluegreen, commands, fleet
from shipflow.deploy.audit import AuditRecord
from shipflow.deploy.context import DeployFailed
from shipflow.deploy.present import stats_lines
from shipflow.deploy.runrecord import RunRecord
from shipflow.deploy.timings import (
    Figures,
    Slowest,
    Transfers,
    deploy_stats,
    step_seconds,
    successful_runs,
)
from shipflow.deploy.transfer import TransferResult
from shipflow.figures import nearest_rank

pytestmark = pytest.mark.unit


def record(
    action: str = "deploy",
    result: str = "ok",
    *,
    steps: Any = None,
    duration: float | None = 10.0,
    version: str = "v1",
    at: str = "2026-12-01T10:00:00+00:00",
) -> AuditRecord:
    extra = {} if steps is None else {"steps": steps}
    return AuditRecord(
        action, result, at, "dev@box", "local",
        to_sha=f"{version}{'0' * 38}", version=version, duration_s=duration, extra=extra,
    )  # fmt: skip


# --- the statistics ------------------------------------------------------------------------------


def test_median_and_the_nearest_rank_percentile() -> None:
    assert median([3.0]) == 3.0
    assert median([4.0, 1.0, 3.0]) == 3.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 95) == 4.0  # few samples: p95 is the maximum
    assert nearest_rank([float(v) for v in range(1, 21)], 95) == 19.0  # ceil(0.95 * 20) = 19th
    assert nearest_rank([float(v) for v in range(1, 101)], 95) == 95.0
    assert nearest_rank([5.0, 1.0], 0) == 1.0


def test_each_step_has_its_count_median_p95_and_max_and_the_slowest_run_is_named() -> None:
    slow = {"lock": 0.03, "image": 4.0, "health": 3.0, "switch": 0.04, "drain": 0.5}
    records = [
        record(steps={"lock": 0.01, "image": 2.0, "health": 1.0, "switch": 0.02}, duration=5.0, version="v1"),
        record(steps=slow, duration=9.5, version="v2", at="2026-12-02T10:00:00+00:00"),
        record("rollback", steps={"lock": 0.02, "health": 2.0, "switch": 0.03, "drain": 0.7}, duration=3.0),
    ]

    stats = deploy_stats(records)

    assert stats.runs == 3
    assert list(stats.steps) == ["lock", "image", "health", "switch", "drain"]  # the order a deploy runs
    assert stats.steps["lock"] == Figures(3, 0.02, 0.03, 0.03)
    assert stats.steps["image"] == Figures(2, 3.0, 4.0, 4.0)  # the rollback brought no image
    assert stats.steps["drain"] == Figures(2, 0.6, 0.7, 0.7)
    assert stats.total == Figures(3, 5.0, 9.5, 9.5)
    assert stats.slowest == Slowest(
        "2026-12-02T10:00:00+00:00", "deploy", f"v2{'0' * 38}", "v2", 9.5, "image", 4.0
    )


def test_failed_runs_unlocks_and_removals_are_left_out_and_only_the_last_n_count() -> None:
    records = [
        record(steps={"health": 100.0}, duration=100.0, version="old"),
        record(steps={"health": 1.0}, duration=2.0),
        record(result="failed", steps={"health": 50.0}, duration=50.0),
        record("unlock", duration=None),
        record("remove", duration=0.1),
        record("rollback", steps={"health": 3.0}, duration=4.0),
    ]

    assert [r.version for r in successful_runs(records, 2)] == ["v1", "v1"]
    assert len(successful_runs(records, 0)) == 3  # 0: all of them
    stats = deploy_stats(records, last=2)
    assert stats.runs == 2
    assert stats.steps == {"health": Figures(2, 2.0, 3.0, 3.0)}
    assert stats.total == Figures(2, 3.0, 4.0, 4.0)
    assert stats.slowest is not None and stats.slowest.action == "rollback"


def test_records_written_before_steps_were_kept_count_for_the_total_only() -> None:
    records = [
        record(duration=7.0),  # no steps at all
        record(steps="garbage", duration=1.0),
        record(steps={"health": "slow", "switch": True, "verify": 0.25}, duration=2.0),
    ]

    assert step_seconds(records[1]) == {}
    assert step_seconds(records[2]) == {"verify": 0.25}
    stats = deploy_stats(records)
    assert stats.steps == {"verify": Figures(1, 0.25, 0.25, 0.25)}
    assert stats.total == Figures(3, 2.0, 7.0, 7.0)
    assert stats.slowest is not None
    assert (stats.slowest.seconds, stats.slowest.step, stats.slowest.step_s) == (7.0, None, None)
    assert "slowest: deploy of v1" in stats_lines(stats, json=False, heading=None)[-1]
    only_old = stats_lines(deploy_stats(records[:1]), json=False, heading=None)
    assert "  (no step timings: these records were written before shipflow kept them)" in only_old


def test_no_successful_run_says_so_in_text_and_json() -> None:
    stats = deploy_stats([record(result="failed", steps={"health": 1.0}), record("unlock")])

    assert stats_lines(stats, json=False, heading=None) == [
        "no deploy or rollback has succeeded here yet: no timings to show"
    ]
    assert json.loads(stats_lines(stats, json=True, heading=None)[0]) == {
        "runs": 0, "steps": {}, "total": None, "slowest": None, "transfer": None,
    }  # fmt: skip


def test_the_stats_read_as_a_table_and_as_one_json_object() -> None:
    records = [
        record(steps={"health": 1.0, "switch": 0.02, "drain": 0.5}, duration=3.0),
        record(steps={"health": 2.0, "switch": 0.04, "drain": 0.1}, duration=4.0, version="v2"),
    ]
    stats = deploy_stats(records)

    lines = stats_lines(stats, json=False, heading="web-1")

    assert lines[0] == "== web-1"
    assert lines[1].startswith("timings of the last 2 successful deploys and rollbacks, in seconds")
    assert lines[2].split() == ["step", "runs", "median", "p95", "max"]
    assert lines[3].split() == ["health", "2", "1.500", "2.000", "2.000"]
    assert lines[5].split() == ["drain", "2", "0.300", "0.500", "0.500"]
    assert lines[6].split() == ["total", "2", "3.500", "4.000", "4.000"]
    assert lines[7] == (
        f"slowest: deploy of v2 (v2{'0' * 10}) at 2026-12-01T10:00:00+00:00, 4.000s; "
        "its slowest step: health 2.000s"
    )
    shown = json.loads(stats_lines(stats, json=True, heading="web-1")[0])
    assert shown["host"] == "web-1" and shown["runs"] == 2
    assert shown["steps"]["switch"] == {"count": 2, "median": 0.03, "p95": 0.04, "max": 0.04}
    assert shown["slowest"]["step"] == "health"


def test_the_images_streamed_over_ssh_have_their_size_and_rate_in_one_line() -> None:
    def sent(size: object, rate: object, result: str = "ok") -> AuditRecord:
        made = record(result=result, steps={"image": 1.0})
        made.extra.update(transfer_bytes=size, transfer_rate_bps=rate)
        return made

    records = [
        sent(60_000_000, 120_000_000),
        record(steps={"image": 0.01}),  # the image was already there: nothing sent
        sent(61_500_000, 80_000_000),
        sent(10**12, 1, result="failed"),  # failed runs are left out
        sent("lots", True),  # not numbers: left out
        sent(59_000_000, 100_000_000),
    ]

    stats = deploy_stats(records)

    assert stats.transfer == Transfers(3, 60_000_000, 61_500_000, 100_000_000, 80_000_000)
    lines = stats_lines(stats, json=False, heading=None)
    assert lines[-2] == (
        "transfer: 3 image(s) streamed over ssh: median 60.0 MB at 100.0 MB/s (largest 61.5 MB, "
        "slowest 80.0 MB/s)"
    )
    assert json.loads(stats_lines(stats, json=True, heading=None)[0])["transfer"] == {
        "count": 3, "median_bytes": 60_000_000, "max_bytes": 61_500_000,
        "median_rate_bps": 100_000_000, "min_rate_bps": 80_000_000,
    }  # fmt: skip
    assert deploy_stats(records[1:2]).transfer is None
    assert not any(
        line.startswith("transfer")
        for line in stats_lines(deploy_stats(records[1:2]), json=False, heading=None)
    )


def test_a_record_keeps_the_build_and_the_bytes_streamed() -> None:
    run = RunRecord(build_s=12.34567)
    run.image_brought("sha256:abc", TransferResult(True, 3000, 1000, 0.5, "ssh"))

    extra = run.audit_extra({"lock": 0.0012345, "image": 0.51})

    assert extra["steps"] == {"build": 12.346, "lock": 0.001, "image": 0.51}
    assert list(extra["steps"]) == ["build", "lock", "image"]
    assert (extra["transfer_bytes"], extra["transfer_rate_bps"]) == (1000, 2000)
    assert extra["transfer"] == "sent 1000 bytes over ssh in 0.5s"
    already = RunRecord()
    already.image_brought("sha256:abc", TransferResult(False))
    assert "transfer_bytes" not in already.audit_extra({}) and already.audit_extra({})["steps"] == {}


# --- what deploys record ---------------------------------------------------------------------------


@pytest.fixture
def host(tmp_path: Path) -> ScriptedHost:
    return make_host(tmp_path)


def records_on(host: ScriptedHost) -> list[AuditRecord]:
    return audit.read(host, commands.audit_log_path(host.target))


def assert_timed(steps: dict[str, float]) -> None:
    assert all(isinstance(s, float) and s >= 0 and round(s, 3) == s for s in steps.values()), steps


def test_deploys_and_a_rollback_record_the_steps_that_ran_on_the_host(host: ScriptedHost) -> None:
    d = deployment(host)
    bluegreen.deploy(d, RELEASES["v1"])
    bluegreen.deploy(d, RELEASES["v2"], build_s=3.21)  # the same reporter: each run keeps its own steps
    bluegreen.rollback(d)

    first, second, back = records_on(host)

    ran = {"lock", "read state", "image", "env file", "start", "front", "health", "switch", "verify"}
    assert set(first.extra["steps"]) == ran  # nothing served before: nothing to drain or stop
    assert set(second.extra["steps"]) == {
        "build", "lock", "read state", "image", "env file", "start", "health", "switch", "verify",
        "drain", "stop old",
    }  # fmt: skip
    assert second.extra["steps"]["build"] == 3.21
    assert set(back.extra["steps"]) == {
        "lock", "read state", "start", "health", "switch", "verify", "drain", "stop old",
    }  # fmt: skip
    for entry in (first, second, back):
        assert_timed(entry.extra["steps"])
        assert sum(entry.extra["steps"].values()) <= (entry.duration_s or 0) + 3.21 + 0.01
        assert "transfer_bytes" not in entry.extra  # the image was on the host
    assert d.reporter.timings["switch"] >= back.extra["steps"]["switch"]  # the caller's total of all three
    stats = deploy_stats(records_on(host))
    assert stats.runs == 3 and stats.steps["switch"].count == 3 and stats.steps["drain"].count == 2
    assert b"canary" not in host.files[commands.audit_log_path(host.target)]


def test_a_failed_deploy_records_the_steps_up_to_the_failure(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.unhealthy.add(RELEASES["v2"].image)

    with pytest.raises(DeployFailed):
        bluegreen.deploy(deployment(host), RELEASES["v2"])

    failed = records_on(host)[-1]
    assert failed.result == "failed"
    assert set(failed.extra["steps"]) == {"lock", "read state", "image", "env file", "start", "health"}
    assert failed.extra["steps"]["health"] > 0  # the failing step counts, up to its failure
    assert deploy_stats(records_on(host)).runs == 1  # the failure is not in the figures


def test_hosts_sharing_a_reporter_each_record_only_their_own_steps(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = make_host(tmp_path / "a"), make_host(tmp_path / "b")
    bluegreen.deploy(deployment(b), RELEASES["v1"])
    on_b = deployment(b)
    on_a = dataclasses.replace(deployment(a), reporter=on_b.reporter)  # one reporter for the fleet

    result = fleet.run_fleet([on_b, on_a], lambda d: bluegreen.deploy(d, RELEASES["v2"]))

    assert result.first_error is None
    assert "stop old" in records_on(b)[-1].extra["steps"]
    assert "stop old" not in records_on(a)[-1].extra["steps"]  # host b's step, not this host's
    assert "front" in records_on(a)[-1].extra["steps"] and "front" not in records_on(b)[-1].extra["steps"]
