"""Canary steps: the flag, the weighted rule and include as data, and the engine on the scripted server
(a breach at a step sends everything back, a good release goes to 100 %, a killed canary converges)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from scripted_host import RELEASES, Killed, ScriptedHost, deployment, make_host, output

from shipflow.deploy import audit, bake, baking, bluegreen, commands, housekeeping, nat, proxy, traffic_log
from shipflow.deploy.context import Deployment
from shipflow.deploy.settings import load_deploy_settings
from shipflow.project import SettingsError

pytestmark = pytest.mark.unit

BLUE, GREEN = 18000, 18001
WATCHED = "\n[bake]\nmin_requests = 1\n[canary]\nstep_seconds = 0.1\n"


@pytest.mark.parametrize(("value", "steps"), [(None, ()), ("10,50", (10, 50)), (" 5 , 25,75", (5, 25, 75))])
def test_the_canary_flag_is_increasing_percentages(value: str | None, steps: tuple[int, ...]) -> None:
    assert bake.canary_flag(value) == steps


@pytest.mark.parametrize(
    "value", ["", "0,50", "50,10", "10,10", "10,100", "ten", "10;50", ",".join(["5"] * 11)]
)
def test_a_bad_canary_flag_is_bad_input(value: str) -> None:
    with pytest.raises(bake.BadCanaryFlag, match="--canary takes increasing percentages from 1 to 99"):
        bake.canary_flag(value)


def test_the_step_seconds_are_range_checked_and_unknown_keys_named(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    toml = tmp_path / "deploy" / "deploy.toml"
    toml.write_text('app = "demo"\n[canary]\nstep_seconds = 0\n[targets.local]\n')
    with pytest.raises(SettingsError, match=r"canary\.step_seconds must be greater than 0"):
        load_deploy_settings(tmp_path, {})
    toml.write_text('app = "demo"\n[canary]\nstep_second = 5\n[targets.local]\n')
    with pytest.raises(SettingsError, match=r"unknown key canary\.step_second.*step_seconds"):
        load_deploy_settings(tmp_path, {})


def test_a_weighted_rule_set_sends_a_share_to_the_new_slot_and_names_no_single_slot(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    settings = load_deploy_settings(tmp_path, {})

    text = nat.weighted_ruleset("demo", host.target, (GREEN, "green"), (BLUE, "blue"), 10)

    assert text.startswith(nat.ruleset("demo", host.target, BLUE, "blue").split("add rule")[0])
    assert (
        f"tcp dport 18090 numgen random mod 100 < 10 dnat to 127.0.0.1:{GREEN} "
        '"shipflow canary green 10%"' in text.replace("comment ", "")
    )
    assert text.endswith(f'tcp dport 18090 dnat to 127.0.0.1:{BLUE} comment "shipflow blue"\n')
    assert nat.routed_port(text, 18090) is None  # a restore puts the recorded rule back
    weighted = proxy.weighted_text(settings, host.target, GREEN, BLUE, 10)
    assert f"server 127.0.0.1:{BLUE} weight=90;\n    server 127.0.0.1:{GREEN} weight=10;" in weighted
    assert commands.routed_port(weighted) == BLUE


@pytest.fixture
def host(tmp_path: Path) -> ScriptedHost:
    return make_host(tmp_path, WATCHED)


def canary_run(host: ScriptedHost, steps: tuple[int, ...] = (10, 50), bake_s: float = 0.0) -> Deployment:
    return dataclasses.replace(deployment(host), canary_steps=steps, bake_window=bake_s)


def last(host: ScriptedHost) -> audit.AuditRecord:
    return audit.read(host, commands.audit_log_path(host.target))[-1]


def test_a_breach_at_the_first_step_sends_everything_back_and_removes_the_new_release(
    host: ScriptedHost,
) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.failing.add("demo:v2")
    run = canary_run(host)

    with pytest.raises(baking.Reverted, match=r"canary 10%: release v20000000000 breached \(5xx ratio"):
        bluegreen.deploy(run, RELEASES["v2"])

    assert host.routed_port() == BLUE and not host.weighted and host.serving_image() == "demo:v1"
    assert "demo-local-green" not in host.containers and host.containers["demo-local-blue"].running
    record = last(host)
    assert record.result == "reverted" and [step["percent"] for step in record.extra["canary"]] == [10]
    assert record.extra["canary"][0]["new"]["error_ratio"] == 1.0
    assert "  canary 10%  0s  new: 100.0% 5xx" in output(run) and "| old: " in output(run)
    assert baking.record_path(host.target) not in host.files


def test_a_good_release_goes_through_each_step_to_100_percent_and_the_old_slot_stops(
    host: ScriptedHost,
) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    run = canary_run(host, bake_s=0.1)

    bluegreen.deploy(run, RELEASES["v2"])

    assert host.routed_port() == GREEN and not host.weighted and host.serving_image() == "demo:v2"
    assert not host.containers["demo-local-blue"].running
    record = last(host)
    assert record.result == "ok" and [step["percent"] for step in record.extra["canary"]] == [10, 50]
    assert "bake" in record.extra
    shown = output(run)
    assert shown.index("canary 10%") < shown.index("canary 50%") < shown.index("switch ")


def test_a_deploy_killed_during_a_canary_converges_to_the_old_release(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.kill_at = tuple(traffic_log.read_from(traffic_log.log_path(host.target), 0)[:2])
    with pytest.raises(Killed):
        bluegreen.deploy(canary_run(host), RELEASES["v2"])
    assert host.weighted  # the share the killed run left in force
    host.dead, host.kill_at = False, None
    housekeeping.unlock(deployment(host))

    again = deployment(host)
    bluegreen.deploy(again, RELEASES["v1"])

    assert "restored the traffic rule to blue" in output(again)
    assert not host.weighted and host.routed_port() == BLUE and host.serving_image() == "demo:v1"


def test_status_after_a_deploy_killed_during_a_canary_puts_traffic_back_on_the_old_release(
    host: ScriptedHost,
) -> None:
    gone = 2**22 + 17  # no process has this pid: the lock's holder is provably gone
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.kill_at = tuple(traffic_log.read_from(traffic_log.log_path(host.target), 0)[:2])
    with pytest.raises(Killed):
        bluegreen.deploy(
            dataclasses.replace(canary_run(host), actor=deployment(host, pid=gone).actor), RELEASES["v2"]
        )
    host.dead, host.kill_at = False, None
    assert host.weighted  # the share the killed run left in force

    said = housekeeping.converge_interrupted(deployment(host))

    assert (
        said
        == "scripted: a deploy was killed during the canary steps of v20000000000: traffic is back on blue"
    )
    assert not host.weighted and host.routed_port() == BLUE and host.serving_image() == "demo:v1"
    assert baking.read_record(deployment(host)) is None and last(host).action == "repair"
    assert housekeeping.converge_interrupted(deployment(host)) is None  # nothing left to converge


def test_status_leaves_a_canary_whose_deploy_still_runs_alone(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.kill_at = tuple(traffic_log.read_from(traffic_log.log_path(host.target), 0)[:2])
    with pytest.raises(Killed):
        bluegreen.deploy(canary_run(host), RELEASES["v2"])  # its holder (this process) is alive
    host.dead, host.kill_at = False, None

    assert housekeeping.converge_interrupted(deployment(host)) is None
    assert host.weighted


def test_ctrl_c_during_a_canary_step_sends_everything_back(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.interrupt_at = ("tail",)

    with pytest.raises(KeyboardInterrupt):
        bluegreen.deploy(canary_run(host), RELEASES["v2"])

    assert not host.weighted and host.routed_port() == BLUE and "demo-local-green" not in host.containers


def test_under_reload_a_step_is_a_weighted_include(tmp_path: Path) -> None:
    host = make_host(tmp_path, 'switch = "reload"\n' + WATCHED)
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.failing.add("demo:v2")
    reloads = host.nginx_reloads

    with pytest.raises(baking.Reverted):
        bluegreen.deploy(canary_run(host), RELEASES["v2"])

    assert host.nginx_reloads > reloads and host.serving_image() == "demo:v1"
    assert b"weight=" not in host.files[host.target.upstream_path]


def test_a_dry_run_says_what_the_steps_would_be(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    rehearsal = dataclasses.replace(deployment(host, dry_run=True), canary_steps=(10, 50))

    bluegreen.deploy(rehearsal, RELEASES["v2"])

    assert "would send 10%, then 50% of new connections to green, 0.1 s each, watched" in output(rehearsal)


def test_status_shows_a_canary_in_progress(host: ScriptedHost) -> None:
    from shipflow.deploy import present, status

    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.kill_at = tuple(traffic_log.read_from(traffic_log.log_path(host.target), 0)[:2])
    with pytest.raises(Killed):
        bluegreen.deploy(canary_run(host), RELEASES["v2"])
    host.dead, host.kill_at = False, None

    lines = present.status_lines(status.status(deployment(host)))

    assert any(line.startswith("canary: v20000000000 in green since") for line in lines), lines
    assert any("(steps 10%, 50%); blue serves the rest" in line for line in lines), lines


def test_the_audit_shows_each_steps_figures_under_its_deploy(host: ScriptedHost) -> None:
    from shipflow.deploy import present

    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.failing.add("demo:v2")
    with pytest.raises(baking.Reverted):
        bluegreen.deploy(canary_run(host), RELEASES["v2"])
    bluegreen.deploy(canary_run(host, bake_s=0.1), RELEASES["v3"])

    lines = present.audit_lines(
        audit.read(host, commands.audit_log_path(host.target)), json=False, heading=None
    )

    reverted = next(index for index, line in enumerate(lines) if " reverted " in line)
    assert lines[reverted + 1].startswith("    canary 10%  0s  new: 100.0% 5xx p95 4 ms")
    assert lines[reverted + 1].endswith("breach: 5xx ratio 100.0% > 5.0% over 1 requests")
    assert [line.split("  ")[2] for line in lines[reverted + 3 : reverted + 6]] == [
        "canary 10%",
        "canary 50%",
        "bake",
    ]
