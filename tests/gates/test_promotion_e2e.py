"""Promotion on this machine, as a user tries the staging -> gates -> approval -> production flow on a laptop:
the example service deployed on the local target, a second local target (``local-prod``, environment
production) to promote it to. Real docker, nginx, pytest and Locust.

An image without passing gate records is refused (exit 2, nothing deployed there); its gates pass and are
recorded against its image id; the promotion then runs production's deploy of exactly that image (no
build); a newer image without records goes only with --force, which the audit record keeps."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator

import pytest
from deploy_support import CANARY_SECRET, DeployProject, base_image, build_release, free_port, make_project
from ssh_support import PRODUCTION_ENV
from support import REPO, docker, run_shipflow

pytestmark = [pytest.mark.e2e, pytest.mark.needs("docker", "nginx")]

REPOSITORY = f"shipflow-promote-{uuid.uuid4().hex[:6]}"
GATES_SETTINGS = """
[tool.shipflow.gates]
required = ["integration", "load"]

[tool.shipflow.gates.load]
locustfile = "locustfile.py"
users = 2
spawn_rate = 2
run_time = 3
max_fail_ratio = 0.01
max_p95_ms = 2000
"""
TESTS_CONFIG = """\
test_groups:
  integration:
    enabled: false
    paths: [tests/integration]
"""


def local_prod_target(proxy: int) -> str:
    """A second target on this machine, for production: its own slots, front and state."""
    return f"""
[targets.local-prod]
host = "local"
environment = "production"
slots = [{free_port()}, {free_port()}]
proxy_port = {proxy}
drain_timeout = 10
stop_timeout = 5
switch_port = {free_port()}
maintenance_port = {free_port()}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DeployProject, str]]:
    """The example service's project with a local target and a local production target (its front's URL
    second), the gates' tests and locustfile; everything it ran removed afterwards."""
    project = make_project(tmp_path_factory.mktemp("promote"), REPOSITORY, deploy_timeout=20.0)
    proxy = free_port()
    with (project.root / "deploy" / "deploy.toml").open("a") as toml:
        toml.write(local_prod_target(proxy))
    with (project.root / "pyproject.toml").open("a") as pyproject:
        pyproject.write(GATES_SETTINGS)
    (project.root / "envs" / ".env.production").write_text(PRODUCTION_ENV)
    (project.root / "tests_config.yaml").write_text(TESTS_CONFIG)
    shutil.copytree(REPO / "tests" / "integration", project.root / "tests" / "integration")
    shutil.copy(REPO / "examples" / "service" / "locustfile.py", project.root / "locustfile.py")
    try:
        yield project, f"http://127.0.0.1:{proxy}"
    finally:
        run_shipflow("deploy.remove", "--env", "production", cwd=project.root)
        project.tear_down()
        for name in docker("ps", "-aq", "--filter", f"label=shipflow.app={project.app}").stdout.split():
            docker("rm", "--force", name, check=False)
        for image in docker("images", "-q", REPOSITORY).stdout.split():
            docker("rmi", "--force", image, check=False)


def live_image(project: DeployProject, environment: str) -> str | None:
    """The image id of the one release of ``environment`` running here, once the one a deploy left
    stopping in the background is down."""
    labels = (
        "--filter",
        f"label=shipflow.app={project.app}",
        "--filter",
        f"label=shipflow.env={environment}",
    )
    deadline = time.monotonic() + 30
    while True:
        names = docker("ps", *labels, "--format", "{{.Names}}").stdout.split()
        ids = {docker("inspect", "--format", "{{.Image}}", name).stdout.strip() for name in names}
        if len(ids) <= 1 or time.monotonic() > deadline:
            assert len(ids) <= 1, ids
            return ids.pop() if ids else None
        time.sleep(0.2)


def served_sha(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{url}/", timeout=5) as response:  # noqa: S310 (loopback)
        return str(json.loads(response.read())["sha"])


def gate_records(project: DeployProject) -> list[dict[str, object]]:
    log = project.root / ".shipflow" / "local" / "gates.log"
    return [json.loads(line) for line in log.read_text().splitlines()]


def last_audit(project: DeployProject, environment: str) -> dict[str, object]:
    done = project.shipflow("deploy.audit", "--env", environment, "--json", "-n", "1")
    (record,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return dict(record)


def test_an_image_goes_to_production_only_once_its_gates_passed_against_it(
    project: tuple[DeployProject, str],
) -> None:
    local, production_url = project
    v1 = build_release(REPOSITORY, "v1", base_image())
    assert local.deploy(v1).returncode == 0
    proven = live_image(local, "local")
    assert proven is not None

    refused = local.shipflow("deploy.promote", "--from", "local", "--to", "local-prod", "--yes")

    assert refused.returncode == 2, refused.stdout + refused.stderr
    print(refused.stdout + refused.stderr)  # for a person reading the test's output (-s)
    assert "gate integration: no passing record for image" in refused.stderr
    assert "run `inv gate.load --env local`" in refused.stderr
    assert live_image(local, "production") is None  # nothing deployed there

    for gate in ("gate.integration", "gate.load"):
        done = local.shipflow(gate, "--env", "local")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"recorded on local: {gate.split('.')[1]} passed against image {proven[7:19]}" in done.stdout
    records = gate_records(local)
    assert [(r["gate"], r["passed"], r["image_id"]) for r in records] == [
        ("integration", True, proven),
        ("load", True, proven),
    ]
    assert records[1]["figures"] and records[1]["thresholds"]

    promoted = local.shipflow("deploy.promote", "--from", "local", "--to", "local-prod", "--yes")

    out = promoted.stdout + promoted.stderr
    assert promoted.returncode == 0, out
    print(out)
    assert f"promoting image {proven[7:19]} from local to production:" in out
    assert "gate load: passed" in out and "step " not in out  # nothing was built
    assert live_image(local, "production") == proven  # exactly the image the gates ran against
    assert served_sha(production_url) == v1.sha
    audit = last_audit(local, "production")
    assert audit["result"] == "ok" and audit["extra"]["promoted_from"] == "local"  # type: ignore[index]
    assert CANARY_SECRET not in out

    v2 = build_release(REPOSITORY, "v2", base_image())
    assert local.deploy(v2).returncode == 0
    again = local.shipflow("deploy.promote", "--from", "local", "--to", "production", "--yes")
    assert again.returncode == 2 and live_image(local, "production") == proven, again.stdout + again.stderr

    forced = local.shipflow("deploy.promote", "--from", "local", "--to", "production", "--yes", "--force")

    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "WARNING: --force: promoting although gate integration has no passing record" in forced.stdout
    assert served_sha(production_url) == v2.sha
    kept = last_audit(local, "production")["extra"]["forced"]  # type: ignore[index]
    assert any("gate load has no passing record" in reason for reason in kept)


def test_a_promotion_names_its_bad_input_and_changes_nothing(project: tuple[DeployProject, str]) -> None:
    local, _ = project
    before = live_image(local, "production")

    unknown = local.shipflow("deploy.promote", "--from", "nowhere", "--to", "local-prod")
    archive = str(local.root / "missing.tar")
    no_archive = local.shipflow("deploy.promote", "--to", "local-prod", "--from", "local", "--force",
                                "--yes", "--image-archive", archive)  # fmt: skip
    with_image = local.shipflow("deploy.prod", "--promote", "--image", "app:v1")

    assert unknown.returncode == 2
    assert "no [targets.nowhere] table (known targets: local, local-prod)" in unknown.stderr
    assert no_archive.returncode == 2 and f"{archive}: no such file" in no_archive.stderr
    assert with_image.returncode == 2 and "drop --image" in with_image.stderr
    for done in (unknown, no_archive, with_image):
        assert "Traceback" not in done.stderr
    assert live_image(local, "production") == before
