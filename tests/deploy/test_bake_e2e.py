"""The bake window for real: the example service in docker behind shipflow's nginx, under keep-alive load,
with releases made bad by its test knobs (``FAIL_RATIO``, ``EXTRA_LATENCY_MS``) while their /health stays
200."""

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
    DeployProject,
    ServiceRelease,
    base_image,
    build_release,
    build_variant,
    make_project,
)
from support import user_environ

from shipflow.testing.loadgen import NO_ANSWER, LoadGenerator, missing_writes

pytestmark = [pytest.mark.e2e, pytest.mark.needs("docker", "nginx")]

REPOSITORY = f"shipflow-bake-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def releases() -> Iterator[dict[str, ServiceRelease]]:
    base = base_image()
    v1 = build_release(REPOSITORY, "v1", base)
    v2 = build_release(REPOSITORY, "v2", base)
    built = {
        "v1": v1,
        "v2": v2,
        "failing": build_variant(REPOSITORY, v2, "failing", {"FAIL_RATIO": "0.2"}),
        "slow": build_variant(REPOSITORY, v2, "slow", {"EXTRA_LATENCY_MS": "500"}),
    }
    yield built
    subprocess.run(
        ["docker", "rmi", "--force", *(r.image for r in built.values())], capture_output=True, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[DeployProject]:
    watched = "max_p95_ms = 300\n\n[canary]\nstep_seconds = 4"
    made = make_project(tmp_path, REPOSITORY, deploy_timeout=20.0, bake=watched)
    yield made
    made.tear_down()


def last_record(project: DeployProject) -> dict[str, object]:
    lines = project.shipflow("deploy.audit", "--env", "local", "--json").stdout.splitlines()
    record: dict[str, object] = json.loads(lines[-1])
    return record


def test_a_release_failing_a_fifth_of_its_requests_is_reverted_under_load_then_a_good_one_goes_live(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    v1, v2, failing = releases["v1"], releases["v2"], releases["failing"]
    assert project.deploy(v1).returncode == 0
    with LoadGenerator(
        f"{project.proxy_url}/", workers=2, keepalive_workers=4, write_share=0.2, max_seconds=120
    ) as load:
        time.sleep(0.5)
        started = time.monotonic()
        reverted = project.deploy(failing, "--bake", "20")
        took = time.monotonic() - started
        time.sleep(0.5)

    assert reverted.returncode == 1, reverted.stdout + reverted.stderr
    assert "bake" in reverted.stdout and "5xx ratio" in reverted.stderr + reverted.stdout
    assert took < 20, reverted.stdout
    assert project.served_sha() == v1.sha
    record = last_record(project)
    assert record["result"] == "reverted" and record["to_sha"] is None
    baked = record["extra"]["bake"]  # type: ignore[index]
    assert 0.05 < baked["new"]["error_ratio"] < 0.5 and baked["reverted_after_s"] < 5
    result = load.result
    assert NO_ANSWER not in result.failed_by, result.failures  # the switches cost nothing
    assert set(result.failed_by) <= {failing.sha}, result.failed_by  # only the bad release's own 500s
    assert result.served_by[failing.sha] and result.served_by[v1.sha]
    assert missing_writes(f"{project.proxy_url}/", result.acknowledged_writes) == []

    good = project.deploy(v2, "--bake", "3")

    assert good.returncode == 0, good.stdout + good.stderr
    assert "  bake  3s  new: 0.0% 5xx" in good.stdout
    assert project.served_sha() == v2.sha
    running = {name for name, (up, _) in project.containers().items() if up}
    assert running == {f"{project.app}-local-green"}


def test_a_release_adding_half_a_second_breaches_the_p95_limit(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    assert project.deploy(releases["v1"]).returncode == 0
    with LoadGenerator(f"{project.proxy_url}/", workers=0, keepalive_workers=4, max_seconds=60) as load:
        time.sleep(0.3)
        reverted = project.deploy(releases["slow"], "--bake", "15")

    assert reverted.returncode == 1, reverted.stdout + reverted.stderr
    assert "p95" in reverted.stderr and "> 300 ms" in reverted.stderr
    assert project.served_sha() == releases["v1"].sha
    assert last_record(project)["result"] == "reverted"
    assert load.result.failed == 0, load.result.failures


def test_a_failing_release_is_reverted_at_the_10_percent_step_and_a_good_one_goes_through_every_step(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    v1, v2, failing = releases["v1"], releases["v2"], releases["failing"]
    assert project.deploy(v1).returncode == 0
    # Enough clients that nginx opens a few dozen upstream connections in a 4 s step: each goes to the new
    # slot with a probability of 10 %, and with too few of them the new release might get none at all.
    with LoadGenerator(
        f"{project.proxy_url}/", workers=4, keepalive_workers=8, write_share=0.2, max_seconds=120
    ) as load:
        time.sleep(0.5)
        reverted = project.deploy(failing, "--canary", "10,50")
        time.sleep(0.5)

    assert reverted.returncode == 1, reverted.stdout + reverted.stderr
    assert "canary 10%: release" in reverted.stderr and "50%" not in reverted.stdout
    assert project.served_sha() == v1.sha
    steps = last_record(project)["extra"]["canary"]  # type: ignore[index]
    assert [step["percent"] for step in steps] == [10] and steps[0]["breach"].startswith("5xx ratio")
    assert 0 < steps[0]["new"]["requests"] < steps[0]["old"]["requests"]  # the new release had a share
    result = load.result
    assert NO_ANSWER not in result.failed_by, result.failures
    assert set(result.failed_by) <= {failing.sha}, result.failed_by

    good = project.deploy(v2, "--canary", "10,50", "--bake", "2")

    assert good.returncode == 0, good.stdout + good.stderr
    assert "canary 10%  4s  new:" in good.stdout and "canary 50%  4s  new:" in good.stdout
    assert project.served_sha() == v2.sha
    running = {name for name, (up, _) in project.containers().items() if up}
    assert running == {f"{project.app}-local-green"}


def signal_during_canary(
    project: DeployProject, release: ServiceRelease, sent: signal.Signals
) -> tuple[int, str]:
    """Start ``deploy.local --canary 50`` of ``release`` and send it ``sent`` during its (4 s) step."""
    command = [
        sys.executable,
        "-u",
        "-m",
        "shipflow",
        "deploy.local",
        "--image",
        release.image,
        "--canary",
        "50",
    ]
    victim = subprocess.Popen(
        command, cwd=project.root, env=user_environ(), stdout=subprocess.PIPE, text=True
    )
    assert victim.stdout is not None
    seen = []
    for line in victim.stdout:
        seen.append(line)
        if line.strip().startswith("health"):
            break
    time.sleep(1.5)  # inside the step
    victim.send_signal(sent)
    rest, _ = victim.communicate(timeout=60)
    return victim.returncode, "".join(seen) + rest


def test_sigterm_during_a_canary_switches_back_and_a_killed_canary_converges_to_the_old_release(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    v1, v2 = releases["v1"], releases["v2"]
    assert project.deploy(v1).returncode == 0
    green = f"{project.app}-local-green"
    with LoadGenerator(f"{project.proxy_url}/", workers=1, keepalive_workers=2, max_seconds=120) as load:
        time.sleep(0.3)
        code, out = signal_during_canary(project, v2, signal.SIGTERM)
        time.sleep(0.3)

    assert code != 0 and "interrupted: traffic is back on blue" in out, out
    assert project.served_sha() == v1.sha and green not in project.containers()
    assert load.result.failed == 0, load.result.failures
    assert load.result.served_by[v2.sha] > 0  # the step had given it its share

    signal_during_canary(project, v2, signal.SIGKILL)
    status = project.shipflow("deploy.status", "--env", "local").stdout
    repaired = project.shipflow("deploy.repair", "--env", "local")
    # Each connection nginx pooled to the new slot during the step serves one more request, then closes.
    served = [project.served_sha() for _ in range(40)]

    assert "a deploy was killed during the canary steps of" in status, status
    assert "traffic is back on blue" in status and "canary:" not in status, status
    assert set(served[-10:]) == {v1.sha}, served
    assert "is in place" in repaired.stdout, repaired.stdout + repaired.stderr
    again = project.deploy(v2, "--canary", "50")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "took over a stale lock" in again.stdout and project.served_sha() == v2.sha


def test_under_the_reload_switch_a_canary_step_is_nginx_weights_and_a_breach_puts_them_back(
    tmp_path: Path, releases: dict[str, ServiceRelease]
) -> None:
    watched = "max_p95_ms = 300\n\n[canary]\nstep_seconds = 4"
    project = make_project(tmp_path, REPOSITORY, deploy_timeout=20.0, switch="reload", bake=watched)
    try:
        v1, failing = releases["v1"], releases["failing"]
        assert project.deploy(v1).returncode == 0
        with LoadGenerator(f"{project.proxy_url}/", workers=4, max_seconds=60) as load:
            time.sleep(0.3)
            reverted = project.deploy(failing, "--canary", "10,50")

        assert reverted.returncode == 1, reverted.stdout + reverted.stderr
        assert "canary 10%: release" in reverted.stderr
        assert project.served_sha() == v1.sha and "weight=" not in project.upstream_file().read_text()
        assert load.result.served_by[failing.sha] > 0  # nginx's weights gave it a share
        assert set(load.result.failed_by) <= {failing.sha}, load.result.failed_by  # new connections
    finally:
        project.tear_down()
