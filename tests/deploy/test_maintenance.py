"""Maintenance mode on this machine: a real nginx in front, the page's own nginx, real containers, and
keep-alive clients reading and writing through all of it."""

from __future__ import annotations

import json
import subprocess
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
    build_release,
    fetch,
    make_project,
)

from shipflow.testing.loadgen import CLOSE, KEEPALIVE, PAGE, LoadGenerator, missing_writes

pytestmark = [pytest.mark.e2e, pytest.mark.needs("docker", "nginx")]

REPOSITORY = f"shipflow-maint-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def releases() -> Iterator[dict[str, ServiceRelease]]:
    base = base_image()
    built = {name: build_release(REPOSITORY, name, base) for name in ("v1", "v2")}
    yield built
    subprocess.run(
        ["docker", "rmi", "--force", *(r.image for r in built.values())], capture_output=True, check=False
    )


@pytest.fixture(params=["nat", "reload"])
def switch(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def project(switch: str, tmp_path: Path) -> Iterator[DeployProject]:
    made = make_project(tmp_path, REPOSITORY, deploy_timeout=8.0, switch=switch)
    yield made
    made.tear_down()


def shipflow_ok(project: DeployProject, *args: str) -> str:
    done = project.shipflow(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_maintenance_on_answers_503_under_keep_alive_load_keeps_it_through_a_deploy_and_off_serves_again(
    project: DeployProject, releases: dict[str, ServiceRelease], switch: str
) -> None:
    v1, v2 = releases["v1"], releases["v2"]
    assert project.deploy(v1).returncode == 0
    outputs = []
    with LoadGenerator(
        f"{project.proxy_url}/",
        workers=4,
        keepalive_workers=4,
        write_share=0.2,
        max_seconds=300,
        pages_ok=True,
    ) as load:
        time.sleep(0.5)
        outputs.append(
            shipflow_ok(
                project,
                "deploy.maintenance",
                "--env",
                "local",
                "on",
                "--message",
                f"Back at 10:00 <b>$host</b> {CANARY_SECRET}",
                "--retry-after",
                "120",
            )
        )
        time.sleep(1.5)  # nginx's pooled connections to the slot serve at most one more request, within 1 s
        status, headers, body = fetch(f"{project.proxy_url}/notes")
        health_status, _, health = fetch(f"{project.proxy_url}/health")
        shown = shipflow_ok(project, "deploy.status", "--env", "local")

        during = project.deploy(v2)  # keeps the page up; the new release takes over the health path
        outputs.append(during.stdout + during.stderr)
        after_deploy = fetch(f"{project.proxy_url}/")[0], json.loads(fetch(f"{project.proxy_url}/health")[2])

        outputs.append(shipflow_ok(project, "deploy.maintenance", "--env", "local", "off"))
        time.sleep(0.5)

    assert status == 503 and headers["Retry-After"] == "120"
    assert "Back at 10:00 &lt;b&gt;&#36;host&lt;/b&gt;" in body and CANARY_SECRET not in body
    assert health_status == 200 and json.loads(health)["sha"] == v1.sha
    assert "maintenance: ON since" in shown and "Retry-After 120 s" in shown

    assert during.returncode == 0, outputs[-2]
    assert "maintenance is on" in during.stdout and "the page stays up" in during.stdout
    assert after_deploy[0] == 503 and after_deploy[1]["sha"] == v2.sha

    assert project.served_sha() == v2.sha and fetch(f"{project.proxy_url}/")[0] == 200
    result = load.result
    if switch == "reload":
        # Each nginx reload (on, off) may reset a keep-alive connection with a request on it: what the
        # reload switch costs such clients (the nat switch exists to avoid it). New connections lose none.
        assert result.modes[CLOSE].failed == 0, result.failures
        assert all("HTTP" not in failure for failure in result.failures), result.failures
    else:
        assert result.failed == 0, result.failures  # no connection error, no answer but the page or the app
    assert result.served_by[PAGE] > 50 and result.served_by[v1.sha] and result.served_by[v2.sha]
    assert result.modes[KEEPALIVE].served_by[PAGE] > 0
    assert missing_writes(f"{project.proxy_url}/", result.acknowledged_writes) == []

    records = project.shipflow("deploy.audit", "--env", "local", "--json").stdout.splitlines()
    audited = [json.loads(line) for line in records]
    switched = [
        (r["result"], r["detail"].split(":")[0].split(" (")[0])
        for r in audited
        if r["action"] == "maintenance"
    ]
    assert switched == [("ok", "on"), ("ok", "off")]
    assert [r for r in audited if r["action"] == "deploy"][-1]["extra"]["maintenance"] == "on"
    for text in [*outputs, *records]:
        assert CANARY_SECRET not in text
    page_nginx = subprocess.run(["pgrep", "-f", f"{project.root}/.shipflow/local/maintenance"], check=False)
    assert page_nginx.returncode == 1  # the page's nginx stopped
