"""The NAT traffic switch against a scripted in-memory server (tests/scripted_host.py, which simulates nft
transactions and ``ss``): nginx is started once and never reloaded, the live slot is recorded and a rule
the kernel lost comes back, a refused or failed switch leaves traffic where it was, and settings choose
the way."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripted_host import RELEASES, SETTINGS, Killed, ScriptedHost, deployment, make_host, output

from shipflow.deploy import bluegreen, commands, housekeeping, nat, status
from shipflow.deploy.present import status_lines
from shipflow.deploy.proxy import SwitchFailed
from shipflow.deploy.settings import load_deploy_settings
from shipflow.deploy.traffic import NatNotPermitted
from shipflow.errors import BadInput, Refused
from shipflow.hosts.base import CommandResult, HostError
from shipflow.project import SettingsError

pytestmark = pytest.mark.unit

BLUE, GREEN = 18000, 18001


@pytest.fixture
def host(tmp_path: Path) -> ScriptedHost:
    return make_host(tmp_path)


def record_port(host: ScriptedHost) -> int | None:
    text = host.files.get(commands.switch_record_path(host.target))
    return nat.routed_port(text.decode(), host.target.switch_port) if text else None


def test_deploys_and_a_rollback_move_traffic_by_nat_without_ever_reloading_nginx(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    include = host.files[host.target.upstream_path]
    assert commands.routed_port(include.decode()) == 18090  # nginx routes to the stable port, once
    assert host.routed_port() == BLUE and record_port(host) == BLUE

    second = deployment(host)
    bluegreen.deploy(second, RELEASES["v2"])
    assert host.serving_image() == "demo:v2" and host.routed_port() == GREEN and record_port(host) == GREEN
    assert "nat 127.0.0.1:18090 -> green (127.0.0.1:18001), no nginx reload" in output(second)

    bluegreen.rollback(deployment(host))
    assert host.serving_image() == "demo:v1" and host.routed_port() == BLUE and record_port(host) == BLUE
    assert host.files[host.target.upstream_path] == include
    assert host.nginx_reloads == 0


def test_a_rule_the_kernel_lost_is_reported_by_status_and_put_back_by_repair(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    bluegreen.deploy(deployment(host), RELEASES["v2"])
    host.nat_rules.clear()  # a reboot or `nft flush ruleset`

    report = status.status(deployment(host))
    assert report.switch is not None
    assert report.switch["live_slot"] is None and report.switch["recorded_slot"] == "green"
    assert "inv deploy.repair --env local" in "\n".join(status_lines(report))
    assert host.routed_port() is None

    assert housekeeping.repair(deployment(host)) == (
        "scripted: restored the traffic rule 127.0.0.1:18090 -> green"
    )
    assert host.routed_port() == GREEN and host.serving_image() == "demo:v2"
    in_place = housekeeping.repair(deployment(host))
    assert in_place == "scripted: the traffic rule 127.0.0.1:18090 -> green is in place"


def test_the_next_deploy_restores_a_lost_rule_before_it_changes_anything(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.nat_rules.clear()
    d = deployment(host)

    bluegreen.deploy(d, RELEASES["v2"])

    assert "restored the traffic rule to blue" in output(d)
    assert host.serving_image() == "demo:v2"


def test_switch_nat_where_it_is_not_permitted_is_refused_before_any_change(tmp_path: Path) -> None:
    host = make_host(tmp_path, 'switch = "nat"\n')
    host.nat_permitted = False

    grant = r"NOPASSWD: /usr/sbin/nft.*or set switch = \"reload\""
    with pytest.raises(NatNotPermitted, match=grant) as refused:
        bluegreen.deploy(deployment(host), RELEASES["v1"])

    assert isinstance(refused.value, Refused)  # exit code 2
    assert host.containers == {} and host.files == {}


def test_unset_switch_falls_back_to_reload_with_a_warning_where_nat_is_not_permitted(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.nat_permitted = False
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    d = deployment(host)

    bluegreen.deploy(d, RELEASES["v2"])

    assert "warning: switch: nat is not permitted on scripted, so nginx reloads instead" in output(d)
    assert commands.routed_port(host.files[host.target.upstream_path].decode()) == GREEN
    assert host.nginx_reloads == 1


def test_moving_a_host_from_reload_to_nat_reloads_nginx_once_and_back_removes_the_rule(
    tmp_path: Path,
) -> None:
    host = make_host(tmp_path, 'switch = "reload"\n')
    bluegreen.deploy(deployment(host), RELEASES["v1"])

    make_host(tmp_path, 'switch = "nat"\n')  # the same project, its settings changed
    bluegreen.deploy(deployment(host), RELEASES["v2"])
    assert host.nginx_reloads == 1 and host.routed_port() == GREEN and host.nat_rules

    make_host(tmp_path, 'switch = "reload"\n')
    bluegreen.deploy(deployment(host), RELEASES["v3"])
    assert host.routed_port() == BLUE and host.serving_image() == "demo:v3"
    assert host.nat_rules == {} and commands.switch_record_path(host.target) not in host.files


def test_nft_refusing_the_rule_leaves_traffic_where_it_was(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.fail[tuple(nat.apply(()))] = CommandResult(
        (), 1, "", "Error: Could not process rule: No such file or directory"
    )

    with pytest.raises(SwitchFailed, match="nft refused the traffic rule; traffic still goes where it went"):
        bluegreen.deploy(deployment(host), RELEASES["v2"])

    assert host.serving_image() == "demo:v1" and record_port(host) == BLUE
    assert set(host.containers) == {"demo-local-blue"}


def test_a_failed_verify_puts_the_previous_rule_back(
    host: ScriptedHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bluegreen, "VERIFY_SECONDS", 0.2)
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.fail[tuple(commands.http_probe(f"{host.target.public_url}/health", 5.0, headers=True))] = (
        CommandResult((), 0, "\n502", "")
    )

    with pytest.raises(HostError, match="did not answer 200"):
        bluegreen.deploy(deployment(host), RELEASES["v2"])

    assert host.routed_port() == BLUE and record_port(host) == BLUE and host.serving_image() == "demo:v1"


def test_a_deploy_killed_between_the_rule_and_its_record_converges_when_run_again(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.kill_at = ("write", commands.switch_record_path(host.target))

    with pytest.raises(Killed):
        bluegreen.deploy(deployment(host), RELEASES["v2"])
    assert host.nat_rules and next(iter(host.nat_rules.values())) == GREEN and record_port(host) == BLUE

    host.dead, host.kill_at = False, None
    host.open_connections[GREEN] = 2  # the candidate served while the rule pointed at it
    housekeeping.unlock(deployment(host))
    again = deployment(host)
    ran_before = len(host.ran)
    bluegreen.deploy(again, RELEASES["v2"])

    assert "restored the traffic rule to blue" in output(again)
    rerun = host.ran[ran_before:]
    drained = rerun.index(tuple(nat.established_to(GREEN)))
    assert drained < rerun.index(tuple(commands.stop_container("demo-local-green", 10)))
    assert host.serving_image() == "demo:v2" and host.routed_port() == record_port(host) == GREEN


def test_the_drain_waits_for_the_old_slots_connections_before_stopping_it(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.open_connections[BLUE] = 3

    bluegreen.deploy(deployment(host), RELEASES["v2"])

    queries = [argv for argv in host.ran if argv == tuple(nat.established_to(BLUE))]
    record = commands.stopping_record_path(host.target)
    stop = host.ran.index(tuple(commands.stop_in_background("demo-local-blue", 10, record)))
    assert len(queries) == 2 and host.ran.index(queries[-1]) < stop
    assert not host.containers["demo-local-blue"].running


def test_a_dry_run_prints_the_rule_change_and_changes_nothing(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    files, rules = dict(host.files), dict(host.nat_rules)
    d = deployment(host, dry_run=True)

    bluegreen.deploy(d, RELEASES["v2"])

    plan = output(d)
    assert "tcp dport 18090 dnat to 127.0.0.1:18001" in plan
    assert "would run on scripted: nft -f -" in plan
    assert host.files == files and host.nat_rules == rules


def test_remove_deletes_the_rule_and_its_record(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])

    removed = housekeeping.remove(deployment(host))

    assert "the NAT traffic rule" in removed
    assert host.nat_rules == {} and commands.switch_record_path(host.target) not in host.files


def test_the_rule_set_is_one_transaction_that_names_only_its_own_chain(host: ScriptedHost) -> None:
    text = nat.ruleset("my-app", host.target, 18001, "green")

    assert "flush chain ip shipflow sf_my_app_local" in text
    assert text.count("add rule") == 1 and "flush ruleset" not in text
    assert nat.routed_port(text, 18090) == 18001 and nat.routed_port(text, 9999) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('switch = "natt"', r'targets\.local\.switch must be "nat" \(no nginx reload\) or "reload", got'),
        ("switch_port = 18001", r"targets\.local\.switch_port must be a port apart from the slots"),
        ("switch_port = 70000", r"targets\.local\.switch_port"),
    ],
)
def test_a_bad_switch_setting_is_refused_naming_the_file_and_key(
    tmp_path: Path, line: str, message: str
) -> None:
    (tmp_path / "deploy").mkdir()
    settings = SETTINGS.replace("switch_port = 18090", line) if "port" in line else SETTINGS + line
    (tmp_path / "deploy" / "deploy.toml").write_text(settings + "\n")

    with pytest.raises(SettingsError, match=message) as refused:
        load_deploy_settings(tmp_path, {})

    assert isinstance(refused.value, BadInput)  # exit code 2
    assert str(tmp_path / "deploy" / "deploy.toml") in str(refused.value)


def test_the_old_slot_stops_in_the_background_and_the_next_run_waits_for_it_first(host: ScriptedHost) -> None:
    host.slow_stops = True  # its graceful shutdown takes a while
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    bluegreen.deploy(deployment(host), RELEASES["v2"])

    assert host.containers["demo-local-blue"].running  # still finishing, serving no one
    assert [s.state for s in status.status(deployment(host)).slots] == ["stopping", "running"]

    host.ran.clear()
    bluegreen.rollback(deployment(host))

    waited = host.ran.index(tuple(commands.stop_container("demo-local-blue", 10)))
    started = host.ran.index(tuple(commands.start_container("demo-local-blue")))
    assert waited < started  # down before the rollback starts it again
    assert host.serving_image() == "demo:v1"
