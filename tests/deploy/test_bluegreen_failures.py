"""The blue-green engine's failure paths, against a scripted in-memory server (tests/scripted_host.py): a
candidate that never gets healthy, nginx rejecting the new upstream, a deploy killed between two steps, and
a dry run. Each asserts what a person would see on the host afterwards: which release serves, which
containers exist, the upstream file, the audit log and the lock."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripted_host import RELEASES, Killed, ScriptedHost, deployment, make_host, output

from shipflow.deploy import audit, bluegreen, commands
from shipflow.deploy.context import DeployFailed
from shipflow.deploy.proxy import SwitchFailed
from shipflow.hosts.base import CommandResult

pytestmark = pytest.mark.unit

DEAD_PID = 2**22 + 7  # above Linux's pid_max: never a live process


@pytest.fixture
def host(tmp_path: Path) -> ScriptedHost:
    return make_host(tmp_path)


def records(host: ScriptedHost) -> list[audit.AuditRecord]:
    return audit.read(host, commands.audit_log_path(host.target))


def two_releases_deployed(host: ScriptedHost) -> None:
    """v1 went live in blue, then v2 in green; v1 is kept, stopped, for an instant rollback."""
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    bluegreen.deploy(deployment(host), RELEASES["v2"])


def test_two_deploys_alternate_the_slots_and_keep_the_previous_release_stopped(host: ScriptedHost) -> None:
    two_releases_deployed(host)

    assert host.serving_image() == "demo:v2" and host.routed_port() == 18001
    blue = host.containers["demo-local-blue"]
    assert blue.image == "demo:v1" and not blue.running
    assert [(r.action, r.result, r.to_sha) for r in records(host)] == [
        ("deploy", "ok", RELEASES["v1"].sha),
        ("deploy", "ok", RELEASES["v2"].sha),
    ]
    assert commands.lock_path(host.target) not in host.files


def test_a_candidate_that_never_gets_healthy_is_removed_and_its_slot_given_back(host: ScriptedHost) -> None:
    two_releases_deployed(host)
    upstream = host.files[host.target.upstream_path]
    host.unhealthy.add("demo:v3")
    d = deployment(host)

    with pytest.raises(DeployFailed, match=r"did not pass its health check.*previous release keeps serving"):
        bluegreen.deploy(d, RELEASES["v3"])

    assert host.files[host.target.upstream_path] == upstream and host.serving_image() == "demo:v2"
    assert set(host.containers) == {"demo-local-blue", "demo-local-green"}
    assert host.containers["demo-local-blue"].image == "demo:v1"  # the release set aside is back in its slot
    assert commands.env_file_path(host.target, commands.slots_of(host.target)[0]) in host.files
    assert "last log lines of demo-local-blue" in output(d) and "| booting" in output(d)
    last = records(host)[-1]
    assert (last.action, last.result, last.from_sha) == ("deploy", "failed", RELEASES["v2"].sha)
    assert commands.lock_path(host.target) not in host.files


def test_nginx_rejecting_the_new_upstream_restores_the_file_and_removes_the_candidate(
    tmp_path: Path,
) -> None:
    host = make_host(tmp_path, 'switch = "reload"\n')
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    upstream = host.files[host.target.upstream_path]
    host.fail[host.target.nginx_test] = CommandResult((), 1, "", "nginx: [emerg] unexpected end of file")

    with pytest.raises(SwitchFailed, match=r"nginx rejected the new upstream.*still routes as before"):
        bluegreen.deploy(deployment(host), RELEASES["v2"])

    assert host.files[host.target.upstream_path] == upstream and host.serving_image() == "demo:v1"
    assert set(host.containers) == {"demo-local-blue"}
    assert host.nginx_reloads == 0
    assert records(host)[-1].result == "failed"


def test_a_deploy_killed_after_setting_a_release_aside_converges_when_run_again(host: ScriptedHost) -> None:
    two_releases_deployed(host)
    host.kill_at = ("docker", "run", "--detach")  # dies right before starting the candidate

    with pytest.raises(Killed):
        bluegreen.deploy(deployment(host, pid=DEAD_PID), RELEASES["v3"])

    assert "demo-local-blue-aside" in host.containers and commands.lock_path(host.target) in host.files
    host.dead, host.kill_at = False, None
    again = deployment(host)

    outcome = bluegreen.deploy(again, RELEASES["v3"])

    assert "took over a stale lock of dev@" in output(again)
    assert "put demo-local-blue back from an unfinished deploy" in output(again)
    assert outcome.changed and host.serving_image() == "demo:v3"
    assert set(host.containers) == {"demo-local-blue", "demo-local-green"}  # v1, two releases back, is gone
    assert not host.containers["demo-local-green"].running  # v2 kept for an instant rollback
    back = bluegreen.rollback(deployment(host))
    assert back.release == RELEASES["v2"] and host.serving_image() == "demo:v2"


def test_a_dry_run_reads_the_host_and_changes_nothing(host: ScriptedHost) -> None:
    two_releases_deployed(host)
    files, containers = dict(host.files), {name: (c.image, c.running) for name, c in host.containers.items()}
    d = deployment(host, dry_run=True)

    bluegreen.deploy(d, RELEASES["v3"])

    assert host.files == files
    assert {name: (c.image, c.running) for name, c in host.containers.items()} == containers
    plan = output(d)
    assert "would run on scripted: docker rename demo-local-blue demo-local-blue-aside" in plan
    assert "keys: SECRET_KEY" in plan and "canary" not in plan
