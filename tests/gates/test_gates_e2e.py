"""Both gates against the example service deployed blue-green on this machine (real docker, nginx, pytest
and Locust): the integration tests pass and write JUnit XML; a short load run meets its thresholds and
sends load for the time asked; an impossible threshold fails the gate, named."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator

import pytest
from deploy_support import CANARY_SECRET, DeployProject, base_image, build_release, make_project
from support import REPO, docker

from shipflow.gates.integration import junit_counts

pytestmark = [pytest.mark.e2e, pytest.mark.needs("docker", "nginx")]

REPOSITORY = f"shipflow-gates-{uuid.uuid4().hex[:6]}"
RUN_TIME = 6
GATES_SETTINGS = f"""
[tool.shipflow.gates.load]
locustfile = "locustfile.py"
users = 4
spawn_rate = 4
run_time = {RUN_TIME}
max_fail_ratio = 0.01
max_p95_ms = 2000
min_rps = 1
"""
TESTS_CONFIG = """\
test_groups:
  integration:
    enabled: false
    paths: [tests/integration]
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployProject]:
    """The example service deployed on free 127.0.0.1 ports, in a project that ships the example's
    integration tests and locustfile."""
    release = build_release(REPOSITORY, "v1", base_image())
    project = make_project(tmp_path_factory.mktemp("gates"), REPOSITORY, deploy_timeout=20.0)
    try:
        with (project.root / "pyproject.toml").open("a") as pyproject:
            pyproject.write(GATES_SETTINGS)
        (project.root / "tests_config.yaml").write_text(TESTS_CONFIG)
        shutil.copytree(REPO / "tests" / "integration", project.root / "tests" / "integration")
        shutil.copy(REPO / "examples" / "service" / "locustfile.py", project.root / "locustfile.py")
        done = project.deploy(release)
        assert done.returncode == 0, done.stdout + done.stderr
        yield project
    finally:
        project.tear_down()
        docker("rmi", "--force", release.image, check=False)


def test_the_integration_gate_runs_the_api_tests_and_writes_junit_xml(deployed: DeployProject) -> None:
    done = deployed.shipflow("gate.integration", "--env", "local")

    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout)
    counts = junit_counts((deployed.root / "reports" / "integration-local.xml").read_text())
    assert counts.tests >= 8 and (counts.failures, counts.errors, counts.skipped) == (0, 0, 0)
    assert f"{counts.tests} passed" in done.stdout  # pytest's own lines, passed through
    assert f"against local at {deployed.proxy_url}" in done.stdout
    assert "gate.integration local: passed" in done.stdout
    assert CANARY_SECRET not in done.stdout + done.stderr


def test_the_load_gate_meets_its_thresholds_and_sends_load_for_the_time_asked(
    deployed: DeployProject,
) -> None:
    done = deployed.shipflow("gate.load", "--env", "local")

    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout)  # the figures, for a person reading the test's output (-s)
    outcome = json.loads((deployed.root / "reports" / "load-local.json").read_text())
    figures = outcome["figures"]
    assert outcome["passed"] is True and outcome["gate"] == "load"
    assert abs(figures["duration_s"] - RUN_TIME) <= 2, figures
    assert figures["requests"] > 0 and figures["failures"] == 0
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    settings = [check["setting"] for check in outcome["thresholds"]]
    assert settings == ["max_p95_ms", "max_fail_ratio", "min_rps"]
    assert "rps now" in done.stdout  # a progress line while it ran
    assert f"p95 {figures['p95_ms']:g} ms <= 2000 ms  ok" in done.stdout
    assert "gate.load local: passed, every threshold met" in done.stdout
    assert (deployed.root / "reports" / "load-local.html").stat().st_size > 0
    assert CANARY_SECRET not in done.stdout + done.stderr


def test_an_impossible_threshold_fails_the_load_gate_and_names_it(deployed: DeployProject) -> None:
    done = deployed.shipflow(
        "gate.load", "--env", "local", "--run-time", "3", "--max-p95-ms", "0.001", "--min-rps", "1000000"
    )

    assert done.returncode == 1, done.stdout + done.stderr
    print(done.stdout + done.stderr)
    assert "p95" in done.stdout and "<= 0.001 ms  BROKEN" in done.stdout
    assert "failures 0.00% <= 1.00%  ok" in done.stdout
    assert "2 threshold(s) broken: max_p95_ms (p95 " in done.stderr
    assert "min_rps (rps " in done.stderr and "< 1000000)" in done.stderr
    outcome = json.loads((deployed.root / "reports" / "load-local.json").read_text())
    assert outcome["passed"] is False
