"""Both gates against the example service deployed over SSH to a network-namespace server (its own docker
engine, sshd and nginx) behind a balancer on 127.0.0.1: the gates reach it through its public URL, and
their results are recorded on the server, beside its audit log, against the image id live there."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator

import pytest
from deploy_support import CANARY_SECRET
from shipped_support import Shipped, example_service_shipped
from support import REPO

pytestmark = [pytest.mark.ssh, pytest.mark.e2e, pytest.mark.needs("sshd", "docker", "nginx", "git")]

REPOSITORY = f"shipflow-gatessh-{uuid.uuid4().hex[:6]}"
APP = f"sfgate-{uuid.uuid4().hex[:8]}"
GATES = """
[tool.shipflow.gates.load]
locustfile = "locustfile.py"
users = 4
spawn_rate = 4
run_time = 4
max_p95_ms = 2000
"""
TESTS_CONFIG = "test_groups:\n  integration:\n    enabled: false\n    paths: [tests/integration]\n"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shipped]:
    """The example service deployed to production on the server, from a project that ships its API tests
    and its locustfile."""
    with example_service_shipped(tmp_path_factory.mktemp("gates"), app=APP, repository=REPOSITORY) as made:
        with (made.root / "pyproject.toml").open("a") as pyproject:
            pyproject.write(GATES)
        (made.root / "tests_config.yaml").write_text(TESTS_CONFIG)
        shutil.copytree(REPO / "tests" / "integration", made.root / "tests" / "integration")
        shutil.copy(REPO / "examples" / "service" / "locustfile.py", made.root / "locustfile.py")
        made.commit_and_push("the gates' tests and locustfile")
        deployed = made.shipflow("deploy.prod", "--yes")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield made


def test_the_gates_reach_the_server_through_its_public_url_and_are_recorded_there(shipped: Shipped) -> None:
    live = shipped.server.docker("inspect", "--format", "{{.Image}}", f"{APP}-production-blue").stdout.strip()

    integration = shipped.shipflow("gate.integration", "--env", "production")
    load = shipped.shipflow("gate.load", "--env", "production")

    for done in integration, load:
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"against production at {shipped.balancer.url}" in done.stdout
        assert CANARY_SECRET not in done.stdout + done.stderr
    host = f"root@{shipped.server.address}:{shipped.server.ssh_port}"
    assert f"recorded on {host}: load passed against image {live[7:19]}" in load.stdout
    figures = json.loads((shipped.root / "reports" / "load-production.json").read_text())["figures"]
    assert figures["requests"] > 0 and figures["failures"] == 0
    log = shipped.server.files / "app" / ".shipflow" / "gates.log"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["gate"], r["passed"], r["image_id"]) for r in records] == [
        ("integration", True, live),
        ("load", True, live),
    ]
