"""Blue-green deploys on this machine with real docker containers, a real nginx and real load through it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import (
    CANARY_SECRET,
    DeployProject,
    ServiceRelease,
    base_image,
    build_never_healthy,
    build_release,
    make_project,
)
from support import user_environ

from shipflow.testing.loadgen import KEEPALIVE, LoadGenerator, LoadResult, missing_writes

pytestmark = [pytest.mark.e2e, pytest.mark.needs("docker", "nginx")]

REPOSITORY = f"shipflow-e2e-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def releases() -> Iterator[dict[str, ServiceRelease]]:
    base = base_image()
    v1 = build_release(REPOSITORY, "v1", base)
    v2 = build_release(REPOSITORY, "v2", base)
    built = {"v1": v1, "v2": v2, "broken": build_never_healthy(REPOSITORY, v2)}
    yield built
    subprocess.run(
        ["docker", "rmi", "--force", *(r.image for r in built.values())], capture_output=True, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[DeployProject]:
    made = make_project(tmp_path, REPOSITORY, deploy_timeout=8.0)
    yield made
    made.tear_down()


def deployed(project: DeployProject, release: ServiceRelease, *args: str) -> subprocess.CompletedProcess[str]:
    done = project.deploy(release, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def under_load(
    project: DeployProject, command: list[str]
) -> tuple[subprocess.CompletedProcess[str], LoadResult]:
    """Run a shipflow command while four workers send requests through nginx."""
    with LoadGenerator(f"{project.proxy_url}/", workers=4, max_seconds=120) as load:
        time.sleep(0.5)
        done = project.shipflow(*command)
        time.sleep(0.5)
    return done, load.result


def test_deploy_under_load_switches_releases_with_zero_failed_requests(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    v1, v2 = releases["v1"], releases["v2"]
    first = deployed(project, v1)
    assert "health" in first.stdout and "switch" in first.stdout
    assert project.served_sha() == v1.sha

    done, load = under_load(project, ["deploy.local", "--image", v2.image])

    assert done.returncode == 0, done.stdout + done.stderr
    assert load.failed == 0, load.failures
    assert load.served_by[v1.sha] > 0 and load.served_by[v2.sha] > 0
    assert project.served_sha() == v2.sha
    containers = project.containers()
    assert containers[f"{project.app}-local-blue"] == (False, v1.sha)  # stopped, kept for rollback
    assert containers[f"{project.app}-local-green"] == (True, v2.sha)


def test_a_release_that_never_gets_healthy_is_removed_and_the_old_one_keeps_serving(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    v1, v2 = releases["v1"], releases["v2"]
    deployed(project, v1)
    deployed(project, v2)

    done, load = under_load(project, ["deploy.local", "--image", releases["broken"].image])

    assert done.returncode == 1
    assert "did not pass its health check at /health within 8 s" in done.stderr
    assert "last log lines" in done.stdout
    assert load.failed == 0, load.failures
    assert project.served_sha() == v2.sha
    # The kept v1 had made room for the candidate in its slot; it is back, so rollback is still instant.
    assert project.containers() == {
        f"{project.app}-local-blue": (False, v1.sha),
        f"{project.app}-local-green": (True, v2.sha),
    }

    stay = project.shipflow("deploy.rollback", "--env", "local")  # undoing the failed deploy: nothing to do
    back = project.shipflow("deploy.rollback", "--env", "local", "--to", "v1")

    assert stay.returncode == 0 and "the last deploy here failed before switching" in stay.stdout
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"{project.app}-local-blue (existing container)" in back.stdout
    assert project.served_sha() == v1.sha


def test_a_broken_upstream_template_fails_nginx_t_and_the_old_file_is_restored(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    before = project.upstream_file().read_text()
    template = project.root / "deploy" / "nginx" / "upstream.conf.tmpl"
    template.write_text("upstream {{ app }}_backend {\n    server 127.0.0.1:{{ port }}\n}\n")  # no ";"

    done = project.deploy(releases["v2"])

    assert done.returncode == 1
    assert "nginx rejected the new upstream" in done.stderr
    assert project.upstream_file().read_text() == before
    assert project.served_sha() == releases["v1"].sha
    assert releases["v2"].sha not in [sha for _, sha in project.containers().values()]


def test_rollback_returns_to_the_kept_release_with_zero_failed_requests(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    deployed(project, releases["v2"])

    done, load = under_load(project, ["deploy.rollback", "--env", "local"])

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rolled back to v1 ({releases['v1'].sha[:12]})" in done.stdout
    assert load.failed == 0, load.failures
    assert project.served_sha() == releases["v1"].sha
    audit = project.shipflow("deploy.audit", "--env", "local", "--json")
    actions = [json.loads(line)["action"] for line in audit.stdout.splitlines()]
    assert actions == ["deploy", "deploy", "rollback"]


def test_audit_stats_show_each_steps_time_over_real_deploys_and_a_rollback(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    deployed(project, releases["v2"])
    back = project.shipflow("deploy.rollback", "--env", "local")
    assert back.returncode == 0, back.stdout + back.stderr

    done = project.shipflow("deploy.audit", "--env", "local", "--stats")
    shown = project.shipflow("deploy.audit", "--env", "local", "--stats", "--json")

    assert done.returncode == 0 and shown.returncode == 0, done.stderr + shown.stderr
    print(done.stdout)  # the figures, for a person reading the test's output (-s)
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.startswith("  ")}
    assert rows["health"][0] == "3" and rows["switch"][0] == "3" and rows["drain"][0] == "2"
    for name in ("health", "switch", "drain", "total"):
        assert all(float(figure) >= 0 for figure in rows[name][1:]), rows[name]
    assert float(rows["health"][3]) > 0
    assert "timings of the last 3 successful deploys and rollbacks" in done.stdout
    assert "slowest: " in done.stdout and "its slowest step: " in done.stdout
    stats = json.loads(shown.stdout)
    assert stats["runs"] == 3 and set(stats["steps"]) >= {"lock", "image", "health", "switch", "drain"}
    assert stats["total"]["count"] == 3 and stats["slowest"]["seconds"] == stats["total"]["max"]
    records = project.shipflow("deploy.audit", "--env", "local", "--json").stdout
    assert all("steps" in json.loads(line)["extra"] for line in records.splitlines())
    for text in (done.stdout, done.stderr, shown.stdout, shown.stderr, records):
        assert CANARY_SECRET not in text


def test_two_deploys_at_once_exactly_one_proceeds(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    command = [sys.executable, "-m", "shipflow", "deploy.local", "--image", releases["v2"].image]
    racers = [
        subprocess.Popen(
            command,
            cwd=project.root,
            env=user_environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(racer.wait(timeout=120), racer.communicate()) for racer in racers]

    codes = sorted(code for code, _ in results)
    assert codes == [0, 3], results
    refused = next(err for code, (_, err) in results if code == 3)
    assert "deploy refused: deploy locked by" in refused and "running `inv deploy.local" in refused
    assert project.served_sha() == releases["v2"].sha


def kill_deploy_at(project: DeployProject, release: ServiceRelease, step: str) -> None:
    """Start ``deploy.local`` of ``release`` and SIGKILL it as soon as it prints its ``step`` line."""
    command = [sys.executable, "-u", "-m", "shipflow", "deploy.local", "--image", release.image]
    victim = subprocess.Popen(
        command, cwd=project.root, env=user_environ(), stdout=subprocess.PIPE, text=True
    )
    assert victim.stdout is not None
    for line in victim.stdout:
        if line.strip().startswith(step):
            break
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def test_keep_alive_clients_lose_no_request_and_no_write_through_every_kind_of_switch(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    """One continuous load, as browsers and pooled clients send it (persistent connections beside new
    ones, reads and writes), through a deploy, a rollback, a deploy that never gets healthy, and a deploy
    killed half-way then run again."""
    v1, v2 = releases["v1"], releases["v2"]
    deployed(project, v1)
    with LoadGenerator(
        f"{project.proxy_url}/", workers=4, keepalive_workers=4, write_share=0.2, max_seconds=600
    ) as load:
        time.sleep(0.5)
        codes = [
            project.deploy(v2).returncode,
            project.shipflow("deploy.rollback", "--env", "local").returncode,
            project.deploy(releases["broken"]).returncode,
        ]
        kill_deploy_at(project, v2, "health")
        again = project.deploy(v2)
        time.sleep(0.5)

    assert codes == [0, 0, 1] and again.returncode == 0, again.stdout + again.stderr
    assert "switch" in again.stdout and "no nginx reload" in again.stdout
    result = load.result
    assert result.failed == 0, result.failures
    assert result.modes[KEEPALIVE].requests > 1000 and result.served_by[v1.sha] and result.served_by[v2.sha]
    assert len(result.acknowledged_writes) > 100
    assert missing_writes(f"{project.proxy_url}/", result.acknowledged_writes) == []
    assert project.served_sha() == v2.sha


def test_a_traffic_rule_lost_to_a_firewall_flush_is_reported_and_repaired(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    deployed(project, releases["v2"])
    chain = [part for part in nat_chains() if project.app.replace("-", "_") in part]
    assert len(chain) == 1, nat_chains()
    record = project.root / ".shipflow" / "local" / "switch.nft"
    subprocess.run(["nft", "delete", "chain", "ip", "shipflow", chain[0]], check=True)

    status = project.shipflow("deploy.status", "--env", "local", "--json")
    switch = json.loads(status.stdout)["switch"]
    assert (switch["live_slot"], switch["recorded_slot"]) == (None, "green")
    assert "inv deploy.repair --env local" in switch["problem"]

    repaired = project.shipflow("deploy.repair", "--env", "local")
    assert repaired.returncode == 0 and "restored the traffic rule" in repaired.stdout
    assert project.served_sha() == releases["v2"].sha

    # What the server's boot unit and an nftables.conf include run: the record, applied as it is.
    subprocess.run(["nft", "delete", "chain", "ip", "shipflow", chain[0]], check=True)
    include = project.root / "firewall.nft"
    include.write_text(f'include "{record.parent}/*.nft"\n')
    subprocess.run(["nft", "-f", str(include)], check=True)
    assert project.served_sha() == releases["v2"].sha


def nat_chains() -> list[str]:
    listed = subprocess.run(["nft", "list", "table", "ip", "shipflow"], capture_output=True, text=True)
    return [line.split()[1] for line in listed.stdout.splitlines() if line.strip().startswith("chain ")]


def test_a_deploy_killed_in_the_middle_converges_when_run_again(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    kill_deploy_at(project, releases["v2"], "start")  # the candidate runs; nginx has not switched yet

    again = project.deploy(releases["v2"])

    assert again.returncode == 0, again.stdout + again.stderr
    assert "took over a stale lock" in again.stdout
    assert project.served_sha() == releases["v2"].sha
    running = sorted(sha for running, sha in project.containers().values() if running)
    assert running == [releases["v2"].sha]


def test_a_deploy_killed_while_the_kept_release_is_aside_puts_it_back_on_the_next_run(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    v1, v2 = releases["v1"], releases["v2"]
    deployed(project, v1)
    deployed(project, v2)
    kill_deploy_at(project, releases["broken"], "health")  # v1 is aside, the candidate runs in its slot
    assert f"{project.app}-local-blue-aside" in project.containers()

    back = project.shipflow("deploy.rollback", "--env", "local")

    assert back.returncode == 0, back.stdout + back.stderr
    assert f"put {project.app}-local-blue back from an unfinished deploy" in back.stdout
    assert f"{project.app}-local-blue (existing container)" in back.stdout
    assert project.served_sha() == v1.sha
    assert project.containers() == {
        f"{project.app}-local-blue": (True, v1.sha),
        f"{project.app}-local-green": (False, v2.sha),
    }


def test_dry_run_prints_the_plan_with_secrets_masked_and_changes_nothing(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    before = (project.containers(), project.upstream_file().read_text())

    done = project.deploy(releases["v2"], "--dry-run")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "would run on local: docker run --detach" in done.stdout
    assert done.stdout.rstrip().endswith("nothing was changed")
    assert "would write local:" in done.stdout and "; keys: " in done.stdout and "SECRET_KEY" in done.stdout
    assert CANARY_SECRET not in done.stdout + done.stderr
    assert (project.containers(), project.upstream_file().read_text()) == before
    assert project.served_sha() == releases["v1"].sha


def test_status_names_the_active_release_its_health_and_the_url(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    deployed(project, releases["v2"])
    right_after = json.loads(project.shipflow("deploy.status", "--env", "local", "--json").stdout)
    assert right_after["slots"][0]["state"] in ("stopping", "stopped")  # blue shuts down in the background
    project.containers()  # until it is down

    report = json.loads(project.shipflow("deploy.status", "--env", "local", "--json").stdout)

    assert report["url"] == project.proxy_url
    assert report["active_slot"] == "green"
    assert report["release"]["sha"] == releases["v2"].sha and report["release"]["health"] == 200
    assert [s["state"] for s in report["slots"]] == ["stopped", "running"]
    assert report["lock"] is None
    assert [r["sha"] for r in report["last_releases"]] == [releases["v1"].sha, releases["v2"].sha]
    text = project.shipflow("deploy.status", "--env", "local").stdout
    assert "active slot: green" in text and CANARY_SECRET not in text


def test_remove_stops_everything_but_keeps_the_audit_log(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])

    done = project.shipflow("deploy.remove", "--env", "local")

    assert done.returncode == 0, done.stderr
    assert project.containers() == {}
    assert not project.upstream_file().exists()
    assert "local nginx: not running" in project.shipflow("deploy.proxy").stdout
    audit = project.shipflow("deploy.audit", "--env", "local").stdout
    assert "deploy" in audit and "remove" in audit


def test_rollback_starts_the_previous_image_when_its_container_is_gone_and_to_picks_a_release(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    v1, v2 = releases["v1"], releases["v2"]
    deployed(project, v1)
    deployed(project, v2)
    subprocess.run(["docker", "rm", "--force", f"{project.app}-local-blue"], capture_output=True, check=True)

    from_image = project.shipflow("deploy.rollback", "--env", "local", "--to", v1.sha[:12])

    assert from_image.returncode == 0, from_image.stdout + from_image.stderr
    assert "start" in from_image.stdout and "(existing container)" not in from_image.stdout
    assert project.served_sha() == v1.sha
    back = project.shipflow("deploy.rollback", "--env", "local", "--to", v2.sha[:10])
    assert back.returncode == 0, back.stdout + back.stderr
    assert "(existing container)" in back.stdout  # v2's kept container: the instant path
    assert project.served_sha() == v2.sha


def test_unlock_and_proxy_stop_dry_runs_change_nothing(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    lock_file = project.root / ".shipflow" / "local" / "deploy.lock"
    lock_file.write_text('{"user": "ci", "machine": "elsewhere", "pid": 1, "command": "inv deploy.local",'
                         ' "started_at": "2026-11-21T00:00:00+00:00"}')  # fmt: skip

    unlock = project.shipflow("deploy.unlock", "--env", "local", "--dry-run")
    stop = project.shipflow("deploy.proxy", "--stop", "--dry-run")

    assert unlock.returncode == 0 and stop.returncode == 0, unlock.stderr + stop.stderr
    assert f"would run on local: rm -f {lock_file}" in unlock.stdout
    assert "would run on local: nginx" in stop.stdout and "-s quit" in stop.stdout
    assert lock_file.exists()
    assert project.served_sha() == releases["v1"].sha
    refused = project.deploy(releases["v2"])
    assert refused.returncode == 3 and "locked by ci@elsewhere pid 1" in refused.stderr


def test_a_deploy_prunes_release_images_beyond_retain_but_never_one_a_container_uses(tmp_path: Path) -> None:
    repository = f"shipflow-prune-{uuid.uuid4().hex[:6]}"
    base = base_image()
    project = make_project(tmp_path, repository)
    with (project.root / "pyproject.toml").open("a") as pyproject:
        pyproject.write("retain = 1\n")
    built: list[ServiceRelease] = []
    try:
        for name in ("a", "b", "c"):  # build, then deploy: each build is the newest image
            built.append(build_release(repository, name, base))
            deployed(project, built[-1])
        _, b, c = built

        present = subprocess.run(
            ["docker", "image", "ls", repository, "--format", "{{.Tag}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert sorted(present) == sorted([b.sha, c.sha])  # a: beyond retain, unused; b: its container is kept
    finally:
        project.tear_down()
        subprocess.run(
            ["docker", "rmi", "--force", *(r.image for r in built)], capture_output=True, check=False
        )
