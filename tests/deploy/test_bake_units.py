"""The bake window: its figures, limits and verdict as pure functions, the traffic log as data, its settings,
and the engine reverting (or keeping) a release on the scripted server."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest
from scripted_host import RELEASES, Killed, ScriptedHost, deployment, make_host, output

from shipflow.deploy import (
    audit,
    bake,
    baking,
    bluegreen,
    commands,
    housekeeping,
    present,
    status,
    traffic_log,
)
from shipflow.deploy.bake import Figures, Limits, Sample, Verdict
from shipflow.deploy.context import Deployment
from shipflow.deploy.settings import BakeSettings, load_deploy_settings
from shipflow.deploy.traffic_log import Entry
from shipflow.project import SettingsError

pytestmark = pytest.mark.unit

BLUE, GREEN = 18000, 18001
BAKE = "\n[bake]\nmin_requests = 2\n"
DEAD_PID = 2**22 + 12345  # above Linux's pid_max: never a live process


def samples(ok: int, failed: int = 0, ms: float = 10.0) -> list[Sample]:
    return [Sample(200, ms)] * ok + [Sample(500, ms)] * failed


# --- figures, limits, verdict ---------------------------------------------------------------------


def test_figures_count_5xx_and_no_answer_as_errors_and_take_p95_by_nearest_rank() -> None:
    figures = Figures.of([*samples(17, ms=10), Sample(0, 0), Sample(503, 30), Sample(200, 900)])

    assert (figures.requests, figures.errors, figures.p95_ms) == (20, 2, 30.0)
    assert figures.text() == "10.0% 5xx p95 30 ms (20 req)"
    assert Figures.of([]).text() == "no requests"


def test_a_5xx_ratio_above_the_limit_breaches_once_enough_requests_were_seen() -> None:
    within = Limits(error_ratio=0.05, p95_ms=500)

    assert bake.judge(Figures.of(samples(5, 5)), within, 20, 0) == Verdict(False)
    breached = bake.judge(Figures.of(samples(16, 4)), within, 20, 0)
    assert breached.breached and breached.reason == "5xx ratio 20.0% > 5.0% over 20 requests"
    assert not bake.judge(Figures.of(samples(19, 1)), within, 20, 0).breached


def test_a_p95_above_the_limit_breaches() -> None:
    verdict = bake.judge(Figures.of(samples(20, ms=640)), Limits(0.05, 300), 20, 0)

    assert verdict == Verdict(True, "p95 640 ms > 300 ms over 20 requests")


def test_a_health_path_failing_three_probes_in_a_row_breaches_without_traffic() -> None:
    verdict = bake.judge(Figures(), Limits(0.05, 300), 20, 3)

    assert verdict == Verdict(True, "the health path failed 3 probes in a row")


def test_relative_limits_add_the_old_releases_figures_when_it_had_enough_requests() -> None:
    relative = BakeSettings(max_error_ratio=0.01, max_p95_ms=100, relative_to_baseline=True)
    before = Figures.of(samples(90, 10, ms=200))

    found = bake.limits(relative, before)
    assert found.error_ratio == pytest.approx(0.11) and found.p95_ms == 300.0
    assert bake.limits(relative, Figures.of(samples(3))) == Limits(0.01, 100)
    assert bake.limits(dataclasses.replace(relative, relative_to_baseline=False), before) == Limits(0.01, 100)


def test_requests_go_to_a_release_by_its_header_else_by_when_they_ended() -> None:
    new_sha = "abc123" + "0" * 34
    switched = 1000.0
    entries = [
        Entry(999.0, 200, 5, None),  # before the switch: the old release
        Entry(1000.5, 502, 5, None),  # while nginx's pooled connections turn over: nobody's
        Entry(1000.6, 500, 5, "abc123"),  # a short sha names the new release
        Entry(1000.7, 200, 5, "old999"),
        Entry(1002.0, 200, 5, None),  # well after the switch: the new release
    ]

    new, old = bake.attribute(entries, new_sha, switched)

    assert [s.status for s in new] == [500, 200] and [s.status for s in old] == [200, 200]


def test_the_baseline_is_the_serving_releases_requests_of_the_last_minutes() -> None:
    entries = [
        Entry(100.0, 500, 1, None),  # too long ago
        Entry(500.0, 200, 8, "old1"),
        Entry(550.0, 500, 9, "bad2"),  # a release reverted in the meantime
        Entry(590.0, 200, 12, None),
    ]

    assert bake.baseline(entries, now=600.0, serving_sha="old1" + "0" * 36) == Figures(2, 0, 12.0)


def test_the_line_shows_both_releases_and_the_outcome() -> None:
    line = bake.line("bake", 20.2, Figures.of(samples(20)), None, Verdict(False))
    breach = Verdict(True, "5xx ratio 20.0% > 5.0% over 20 requests")

    assert line == "  bake  20s  new: 0.0% 5xx p95 10 ms (20 req)  ok"
    assert bake.line("bake", 3, Figures.of(samples(16, 4)), Figures.of(samples(5)), breach).endswith(
        "| before: 0.0% 5xx p95 10 ms (5 req)  breach: 5xx ratio 20.0% > 5.0% over 20 requests"
    )


@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "", "3601"])
def test_a_bad_bake_flag_is_bad_input(value: str) -> None:
    with pytest.raises(bake.BadBakeFlag, match="--bake takes whole seconds"):
        bake.window_flag(value)


def test_the_bake_flag_is_whole_seconds_or_unset() -> None:
    assert bake.window_flag(None) is None and bake.window_flag("20") == 20.0 and bake.window_flag("0") == 0.0


# --- the traffic log as data -------------------------------------------------------------------------


def test_log_lines_parse_and_a_line_still_being_written_waits() -> None:
    text = "1700000000.123\t500\t0.041\tabc\n1700000000.200\t200\t0.002\t-\n17000000"

    lines, used = traffic_log.complete_lines(text)

    assert used == text.rfind("\n") + 1
    assert traffic_log.parse(lines) == [
        Entry(1700000000.123, 500, 41.0, "abc"),
        Entry(1700000000.2, 200, 2.0, None),
    ]
    assert traffic_log.parse_line("not\tours") is None and traffic_log.parse_line("x\t1\t2\t3") is None


def test_the_include_logs_only_the_apps_upstream_with_the_release_header(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "deploy.toml").write_text(
        'app = "my-app"\n[bake]\nrelease_header = "X-App-Version"\n[targets.local]\n'
    )
    settings = load_deploy_settings(tmp_path, {})
    target = settings.target("local")

    text = traffic_log.log_conf(settings, target)

    assert (
        "log_format shipflow_my_app '$msec\\t$status\\t$request_time\\t$upstream_http_x_app_version';" in text
    )
    assert "map $proxy_host $shipflow_my_app_logged {\n    my-app_backend 1;\n    default 0;\n}" in text
    assert f"access_log {target.state_dir}/traffic.log shipflow_my_app if=$shipflow_my_app_logged;" in text


def test_a_timed_probe_parses_its_status_and_milliseconds() -> None:
    assert commands.parse_timed_probe("500 0.041000") == (500, 41.0)
    assert commands.parse_timed_probe("000 0.000") == (0, 0.0)
    assert commands.parse_timed_probe("garbage") == (0, 0.0)


# --- settings -----------------------------------------------------------------------------------------


def load_with(tmp_path: Path, bake_table: str) -> BakeSettings:
    (tmp_path / "deploy").mkdir(exist_ok=True)
    (tmp_path / "deploy" / "deploy.toml").write_text(f'app = "demo"\n[bake]\n{bake_table}\n[targets.local]\n')
    return load_deploy_settings(tmp_path, {}).bake


def test_bake_settings_are_read_and_default_by_environment(tmp_path: Path) -> None:
    read = load_with(tmp_path, "max_error_ratio = 0.01\nmax_p95_ms = 250\nrelative_to_baseline = true")

    assert (read.max_error_ratio, read.max_p95_ms, read.relative_to_baseline) == (0.01, 250.0, True)
    assert read.seconds_for("production") == 30 and read.seconds_for("staging") == 30
    assert read.seconds_for("local") == 0
    assert load_with(tmp_path, "seconds = 12").seconds_for("production") == 12


def test_an_unknown_bake_key_names_the_file_and_the_closest_key(tmp_path: Path) -> None:
    with pytest.raises(
        SettingsError, match=r"deploy\.toml: unknown key bake\.max_error_rate.*max_error_ratio"
    ):
        load_with(tmp_path, "max_error_rate = 0.1")


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("max_error_ratio = 1.5", "bake.max_error_ratio"),
        ("seconds = -1", "bake.seconds"),
        ("max_p95_ms = 0", "bake.max_p95_ms"),
        ("min_requests = 0", "bake.min_requests"),
        ('release_header = "X Release"', "bake.release_header"),
        ('paths = ["health"]', "bake.paths"),
    ],
)
def test_bake_numbers_are_range_checked(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_with(tmp_path, line)


# --- the engine on the scripted server --------------------------------------------------------------


@pytest.fixture
def host(tmp_path: Path) -> ScriptedHost:
    return make_host(tmp_path, BAKE)


def baking_run(host: ScriptedHost, seconds: float = 2.0) -> Deployment:
    return dataclasses.replace(deployment(host), bake_window=seconds)


def records(host: ScriptedHost) -> list[audit.AuditRecord]:
    return audit.read(host, commands.audit_log_path(host.target))


def recorded_port(host: ScriptedHost) -> int | None:
    from shipflow.deploy import nat

    raw = host.files.get(commands.switch_record_path(host.target))
    return nat.routed_port(raw.decode(), host.target.switch_port) if raw else None


def test_a_release_failing_its_requests_is_switched_back_and_removed(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.failing.add("demo:v2")
    run = baking_run(host, seconds=30)

    with pytest.raises(baking.Reverted, match=r"breached \(5xx ratio 100\.0% > 5\.0%.*back on blue"):
        bluegreen.deploy(run, RELEASES["v2"])

    assert host.routed_port() == BLUE and recorded_port(host) == BLUE and host.serving_image() == "demo:v1"
    assert "demo-local-green" not in host.containers and host.containers["demo-local-blue"].running
    last = records(host)[-1]
    assert last.result == "reverted" and "5xx ratio" in last.detail
    assert last.extra["bake"]["new"]["error_ratio"] == 1.0 and last.extra["bake"]["reverted_after_s"] < 5
    assert "bake" in output(run) and "breach: 5xx ratio" in output(run)


def test_a_good_release_bakes_then_the_old_slot_stops(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    run = baking_run(host, seconds=0.3)

    bluegreen.deploy(run, RELEASES["v2"])

    assert host.serving_image() == "demo:v2" and recorded_port(host) == GREEN
    assert not host.containers["demo-local-blue"].running
    last = records(host)[-1]
    assert last.result == "ok" and last.extra["bake"]["new"]["errors"] == 0
    assert last.extra["bake"]["new"]["requests"] >= 2
    assert re.search(r"^  bake  \ds  new: 0\.0% 5xx", output(run), re.MULTILINE), output(run)


def test_the_old_slot_keeps_running_and_the_switch_is_unrecorded_while_baking(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.kill_at = tuple(traffic_log.read_from(traffic_log.log_path(host.target), 0)[:2])

    with pytest.raises(Killed):
        bluegreen.deploy(baking_run(host), RELEASES["v2"])

    assert host.routed_port() == GREEN and recorded_port(host) == BLUE
    assert host.containers["demo-local-blue"].running


def test_status_shows_a_release_baking_and_a_bake_left_by_a_killed_deploy(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.kill_at = tuple(traffic_log.read_from(traffic_log.log_path(host.target), 0)[:2])
    with pytest.raises(Killed):
        bluegreen.deploy(baking_run(host), RELEASES["v2"])
    host.dead, host.kill_at = False, None

    baking_now = status.status(deployment(host))
    lines = present.status_lines(baking_now)

    assert baking_now.bake is not None and baking_now.bake["state"] == "in progress"
    assert baking_now.switch is not None and "problem" not in baking_now.switch
    assert any(line.startswith("bake: v20000000000 in green since") for line in lines), lines
    lock_file = commands.lock_path(host.target)
    host.files[lock_file] = host.files[lock_file].replace(str(os.getpid()).encode(), str(DEAD_PID).encode())
    interrupted = present.status_lines(status.status(deployment(host)))
    assert any("bake: interrupted" in line and "back on blue" in line for line in interrupted), interrupted


def test_a_deploy_killed_while_baking_converges_to_the_old_release_when_run_again(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.kill_at = tuple(traffic_log.read_from(traffic_log.log_path(host.target), 0)[:2])
    with pytest.raises(Killed):
        bluegreen.deploy(baking_run(host), RELEASES["v2"])
    host.dead, host.kill_at = False, None
    housekeeping.unlock(deployment(host))

    again = deployment(host)
    bluegreen.deploy(again, RELEASES["v1"])

    assert "restored the traffic rule to blue" in output(again)
    assert "a deploy was killed while v20000000000 baked: traffic is on blue again" in output(again)
    assert baking.record_path(host.target) not in host.files
    assert host.serving_image() == "demo:v1" and not host.containers["demo-local-green"].running


def test_ctrl_c_while_baking_switches_back_before_it_ends(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.interrupt_at = ("date",)

    with pytest.raises(KeyboardInterrupt):
        bluegreen.deploy(baking_run(host), RELEASES["v2"])

    assert host.serving_image() == "demo:v1" and recorded_port(host) == BLUE
    assert "demo-local-green" not in host.containers and records(host)[-1].result == "failed"


def test_a_rollback_after_a_revert_knows_the_old_release_still_serves(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.failing.add("demo:v2")
    with pytest.raises(baking.Reverted):
        bluegreen.deploy(baking_run(host), RELEASES["v2"])

    back = deployment(host)
    outcome = bluegreen.rollback(back)

    assert not outcome.changed and "still serves" in output(back)


def test_a_first_deploy_and_a_dry_run_do_not_bake(host: ScriptedHost) -> None:
    first = baking_run(host)
    bluegreen.deploy(first, RELEASES["v1"])
    assert "bake" not in output(first)

    rehearsal = dataclasses.replace(deployment(host, dry_run=True), bake_window=5)
    bluegreen.deploy(rehearsal, RELEASES["v2"])
    assert "would watch the new release for 5 s, blue (v10000000000) still running" in output(rehearsal)


def test_the_audit_record_of_a_revert_holds_figures_and_no_secret(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.failing.add("demo:v2")
    with pytest.raises(baking.Reverted):
        bluegreen.deploy(baking_run(host), RELEASES["v2"])

    raw = host.files[commands.audit_log_path(host.target)].decode()
    assert "canary" not in raw
    assert json.loads(raw.splitlines()[-1])["extra"]["bake"]["window_s"] == 2.0


def test_an_interrupt_of_parallel_hosts_switches_each_baking_one_back(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    baking.INTERRUPTED.set()  # what the main thread sets when Ctrl-C reaches it during --parallel
    try:
        with pytest.raises(KeyboardInterrupt):
            bluegreen.deploy(baking_run(host), RELEASES["v2"])
    finally:
        baking.INTERRUPTED.clear()

    assert host.serving_image() == "demo:v1" and "demo-local-green" not in host.containers
