"""deploy.logs and deploy.exec on a real local deploy: docker containers of the example service."""

from __future__ import annotations

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
    make_project,
)

pytestmark = [pytest.mark.e2e, pytest.mark.needs("docker", "nginx")]

REPOSITORY = f"shipflow-e2e-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def releases() -> Iterator[dict[str, ServiceRelease]]:
    import subprocess

    built = {"v1": build_release(REPOSITORY, "v1", base_image())}
    yield built
    subprocess.run(["docker", "rmi", "--force", built["v1"].image], capture_output=True, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[DeployProject]:
    made = make_project(tmp_path, REPOSITORY, deploy_timeout=20.0)
    yield made
    made.tear_down()


def test_logs_show_what_the_service_wrote_and_exec_runs_in_the_live_release(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed = project.deploy(releases["v1"])
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    logs = project.shipflow("deploy.logs", "--env", "local", "-n", "200")
    assert logs.returncode == 0, logs.stdout + logs.stderr
    lines = logs.stdout.splitlines()
    assert lines and all(line.startswith("local ") for line in lines), logs.stdout
    assert any("listening on 0.0.0.0:8000 (environment local" in line for line in lines), logs.stdout
    assert CANARY_SECRET not in logs.stdout + logs.stderr

    bad = project.shipflow("deploy.logs", "--env", "local", "--since", "yesterday")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1

    code = 'import os,sys; print(os.environ["ENV"]); print(os.environ["SECRET_KEY"]); sys.exit(3)'
    done = project.shipflow("deploy.exec", "--env", "local", "--", "python3", "-c", code)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "local" in done.stdout.splitlines()
    assert CANARY_SECRET not in done.stdout + done.stderr

    audit = project.shipflow("deploy.audit", "--env", "local", "--json")
    assert '"action": "exec"' in audit.stdout and CANARY_SECRET not in audit.stdout
