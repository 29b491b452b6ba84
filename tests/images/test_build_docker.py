"""`inv build` against a real docker engine and real git repositories: ids, tags, labels, clean exports,
the dirty-tree guard, pruning, and this repository's example service answering /health after boot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import REPO, commit_all, docker, git, make_repository, remove_test_images, run_shipflow

from shipflow.hosts import LocalHost
from shipflow.images.build import connect_docker, ensure_base_image
from shipflow.images.facts import host_has_image, prune_release_images
from shipflow.images.settings import build_settings
from shipflow.project import load_project

pytestmark = [pytest.mark.docker, pytest.mark.needs("docker", "git")]

TINY_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY . /src
ARG SHIPFLOW_SHA=unknown
ENV SHIPFLOW_SHA=${SHIPFLOW_SHA}
CMD ["ls", "-A", "/src"]
"""


def image_id(reference: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", reference).stdout.strip()


def app_image_ids(app: str) -> list[str]:
    """The distinct ids of the images labelled as ``app``'s (``docker image ls`` shows one row per tag)."""
    listed = docker("image", "ls", "-q", "--no-trunc", "--filter", f"label=shipflow.app={app}").stdout
    return sorted(set(listed.split()))


@pytest.fixture(scope="session")
def base_image() -> str:
    """This repository's base image, built by the real builder once (about a minute) and then kept."""
    settings = build_settings(load_project(REPO))
    assert settings.base is not None
    ensure_base_image(connect_docker(), settings.base, REPO)
    return settings.base.reference


@pytest.fixture
def image_name() -> Iterator[str]:
    """A unique image name; every image labelled with it is removed afterwards."""
    name = f"shipflow-test-{uuid.uuid4().hex[:10]}"
    yield name
    remove_test_images(name)


@pytest.fixture
def project(tmp_path: Path, base_image: str, image_name: str) -> Path:
    """A tiny committed project whose image lists its own files."""
    repo = tmp_path / "tiny"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(
        f'[tool.shipflow.build]\nimage = "{image_name}"\n\n'
        f'[tool.shipflow.build.base]\nimage = "{base_image}"\n'
    )
    (repo / "Dockerfile").write_text(TINY_DOCKERFILE)
    (repo / ".gitignore").write_text("ignored.txt\n")
    (repo / "app.txt").write_text("committed\n")
    make_repository(repo)
    return repo


def build(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_shipflow("build", *args, cwd=repo, env=env)


def run_image(reference: str, *command: str) -> str:
    return docker("run", "--rm", reference, *command).stdout


def test_the_same_commit_builds_to_the_same_image_id_from_cache(project: Path, image_name: str) -> None:
    sha = git(project, "rev-parse", "HEAD")
    first = build(project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"^  step 3/7  ran     \d+\.\d\ds  COPY \. /src$", first.stdout, re.MULTILINE)
    first_id = image_id(f"{image_name}:{sha}")
    assert f"built {first_id.removeprefix('sha256:')[:12]} (" in first.stdout
    # Every label in one instruction, the last: one step rather than one per label.
    label_steps = [line for line in first.stdout.splitlines() if "  LABEL " in line]
    assert len(label_steps) == 1 and label_steps[0].startswith("  step 7/7  ran"), first.stdout

    second = build(project)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "every step from cache" in second.stdout
    assert image_id(f"{image_name}:{sha}") == first_id
    assert app_image_ids(image_name) == [first_id]


def test_an_unchanged_commit_prints_a_few_lines_naming_the_image_id_and_tags(
    project: Path, image_name: str
) -> None:
    sha = git(project, "rev-parse", "HEAD")
    assert build(project).returncode == 0

    again = build(project)

    assert again.returncode == 0, again.stdout + again.stderr
    lines = again.stdout.splitlines()
    assert len(lines) <= 15, again.stdout
    # The ARG, FROM, the Dockerfile's instructions and the labels' one:
    assert lines[0].startswith("  steps 1-7/7  cached  ")
    short_id = image_id(f"{image_name}:{sha}").removeprefix("sha256:")[:12]
    assert re.fullmatch(
        rf"built {short_id} \(\d+\.\d MB\) for development in \d+\.\ds, every step from cache; "
        rf"tagged {image_name}:{sha}, {image_name}:latest",
        lines[-1],
    ), again.stdout
    assert "Step " not in again.stdout and "\r" not in again.stdout  # no terminal: nothing redrawn


def test_verbose_shows_dockers_whole_output(project: Path) -> None:
    done = build(project, "--verbose")
    assert done.returncode == 0, done.stdout + done.stderr
    for number in range(1, 8):
        assert f"Step {number}/7 : " in done.stdout
    assert "Successfully built " in done.stdout
    assert done.stdout.splitlines()[-1].startswith("built ")


FAILING_RUN = "RUN echo boom-output && exit 3"


def test_a_failing_run_shows_its_output_and_dockers_error_without_verbose(
    project: Path, image_name: str
) -> None:
    (project / "Dockerfile").write_text(TINY_DOCKERFILE.replace("COPY . /src", FAILING_RUN))
    commit_all(project, "a step that fails")

    done = build(project)

    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(
        rf"^  step 3/7  failed  \d+\.\d\ds  {re.escape(FAILING_RUN)}$", done.stdout, re.MULTILINE
    )
    assert "    | boom-output" in done.stdout.splitlines()
    docker_error = "The command '/bin/sh -c echo boom-output && exit 3' returned a non-zero code: 3"
    assert f"build failed: docker build failed: {docker_error}" in done.stderr
    assert "Step " not in done.stdout and "Traceback" not in done.stderr
    assert app_image_ids(image_name) == []


def test_uncommitted_and_ignored_files_never_reach_the_image(project: Path, image_name: str) -> None:
    (project / "untracked.txt").write_text("not committed\n")
    (project / "ignored.txt").write_text("ignored\n")
    done = build(project)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = run_image(f"{image_name}:latest").split()
    assert sorted(listed) == [".gitignore", "Dockerfile", "app.txt", "pyproject.toml"]


def test_tags_and_labels_name_the_commit(project: Path, image_name: str) -> None:
    git(project, "remote", "add", "origin", "https://deploy:s3cret-token@git.example.invalid/team/tiny.git")
    git(project, "tag", "-a", "v1.2.3", "-m", "release 1.2.3")
    sha = git(project, "rev-parse", "HEAD")
    committed = datetime.fromtimestamp(int(git(project, "show", "-s", "--format=%ct", "HEAD")), tz=UTC)

    done = build(project, "--env", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "s3cret-token" not in done.stdout + done.stderr

    expected_tags = {f"{image_name}:{sha}", f"{image_name}:latest", f"{image_name}:v1.2.3"}
    inspected = json.loads(docker("image", "inspect", f"{image_name}:{sha}").stdout)[0]
    assert set(inspected["RepoTags"]) == expected_tags
    labels = inspected["Config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == sha
    assert labels["org.opencontainers.image.version"] == "v1.2.3"
    assert labels["org.opencontainers.image.created"] == committed.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert labels["org.opencontainers.image.source"] == "https://git.example.invalid/team/tiny.git"
    assert labels["shipflow.app"] == image_name
    assert f"SHIPFLOW_SHA={sha}" in inspected["Config"]["Env"]


def test_a_dirty_tree_is_refused_for_production_and_allow_dirty_builds_it_as_dirty(
    project: Path, image_name: str
) -> None:
    sha = git(project, "rev-parse", "HEAD")
    (project / "app.txt").write_text("changed, not committed\n")

    refused = build(project, "--env", "prod")
    assert refused.returncode == 2
    assert "uncommitted changes (app.txt)" in refused.stderr
    assert "production builds only committed code" in refused.stderr
    assert "--allow-dirty" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert app_image_ids(image_name) == []

    allowed = build(project, "--env", "prod", "--allow-dirty")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    dirty = f"{image_name}:{sha}-dirty"
    assert json.loads(docker("image", "inspect", dirty).stdout)[0]["RepoTags"] == [dirty]
    assert run_image(dirty, "cat", "/src/app.txt") == "changed, not committed\n"
    # The working tree and the stash are as they were.
    assert git(project, "status", "--porcelain") == "M app.txt"
    assert git(project, "stash", "list") == ""


def test_prune_keeps_the_newest_and_any_image_a_container_uses(
    project: Path, image_name: str, containers: list[str]
) -> None:
    ids = []
    for release in ("one", "two", "three"):
        (project / "app.txt").write_text(f"{release}\n")
        commit_all(project, release)
        done = build(project)
        assert done.returncode == 0, done.stdout + done.stderr
        ids.append(image_id(f"{image_name}:latest"))
    oldest, middle, newest = ids
    stopped = f"{image_name}-stopped"
    docker("create", "--name", stopped, oldest)
    containers.append(stopped)
    host = LocalHost()

    assert prune_release_images(host, image_name, retain=1, keep=[middle]) == []
    assert prune_release_images(host, image_name, retain=1) == [middle]
    assert [host_has_image(host, image) for image in ids] == [True, False, True]
    assert image_id(f"{image_name}:latest") == newest


def test_an_unreachable_docker_engine_says_how_to_start_it(project: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}
    done = build(project, env=env)
    assert done.returncode == 1
    assert "docker engine not reachable at unix:///nonexistent.sock" in done.stderr
    assert "bash scripts/setup.sh" in done.stderr
    assert "Traceback" not in done.stderr


# --- this repository's example service ---------------------------------------------------------------


@pytest.fixture(scope="module")
def example_image(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[tuple[str, str]]:
    """This repository's example service, as it is in the working tree, built by `shipflow build`."""
    repo = tmp_path_factory.mktemp("example")
    name = f"shipflow-test-example-{uuid.uuid4().hex[:8]}"
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'image = "shipflow-example"' in pyproject
    (repo / "pyproject.toml").write_text(
        pyproject.replace('image = "shipflow-example"', f'image = "{name}"', 1)
    )
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "scripts", repo / "scripts", ignore=ignore)
    shutil.copytree(REPO / "examples" / "service", repo / "examples" / "service", ignore=ignore)
    sha = make_repository(repo, "example service")
    done = build(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    yield f"{name}:{sha}", sha
    remove_test_images(name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> tuple[int, dict[str, str]] | None:
    """Status and JSON body, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1 only
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def start(reference: str, containers: list[str], *flags: str) -> str:
    """Run ``reference`` detached on a free 127.0.0.1 port with extra ``docker run`` flags; its URL."""
    port = free_port()
    name = f"shipflow-test-service-{uuid.uuid4().hex[:8]}"
    containers.append(name)
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", *flags, reference)
    return f"http://127.0.0.1:{port}"


def health_answers(url: str, deadline_seconds: float = 30.0) -> list[tuple[int, dict[str, str]]]:
    """Every /health answer until the first 200 (or the deadline)."""
    answers: list[tuple[int, dict[str, str]]] = []
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        answer = get(f"{url}/health")
        if answer is not None:
            answers.append(answer)
            if answer[0] == 200:
                break
        time.sleep(0.1)
    return answers


def test_the_example_service_is_unhealthy_while_booting_then_healthy_with_its_sha(
    example_image: tuple[str, str], containers: list[str], tmp_path: Path
) -> None:
    reference, sha = example_image
    # As a deploy runs it: the release's env file mounted read-only and named by SHIPFLOW_ENV_FILE.
    env_file = tmp_path / "app.env"
    env_file.write_text("APP_ENV=staging\nBOOT_SECONDS=3\n")
    env_file.chmod(0o644)
    mount = f"{env_file}:/run/shipflow/app.env:ro"
    url = start(reference, containers, "-v", mount, "-e", "SHIPFLOW_ENV_FILE=/run/shipflow/app.env")
    answers = health_answers(url)
    assert answers[0] == (503, {"status": "starting"})
    assert answers[-1][0] == 200
    assert answers[-1][1]["status"] == "ok" and answers[-1][1]["sha"] == sha
    index = get(f"{url}/")
    assert index is not None and index[0] == 200
    assert index[1]["environment"] == "staging" and index[1]["sha"] == sha

    docker("stop", containers[-1])
    assert docker("inspect", "--format", "{{.State.ExitCode}}", containers[-1]).stdout.strip() == "0"


def test_the_example_service_is_unhealthy_when_its_database_is_unreachable(
    example_image: tuple[str, str], containers: list[str]
) -> None:
    reference, _ = example_image
    unreachable = f"DATABASE_URL=postgresql://app:pw@127.0.0.1:{free_port()}/app"
    url = start(reference, containers, "-e", "BOOT_SECONDS=0", "-e", unreachable)
    deadline = time.monotonic() + 30
    answer = None
    while answer is None and time.monotonic() < deadline:
        answer = get(f"{url}/health")
        time.sleep(0.1)
    assert answer == (503, {"status": "database unreachable"})


def test_the_example_service_refuses_an_env_file_it_cannot_read(
    example_image: tuple[str, str], tmp_path: Path
) -> None:
    reference, _ = example_image
    env_file = tmp_path / "app.env"
    env_file.write_text("SECRET_KEY=not-for-the-log\n")
    env_file.chmod(0o600)  # root's only: the service runs as uid 10001
    mount = f"{env_file}:/run/shipflow/app.env:ro"
    done = docker(
        "run", "--rm", "-v", mount, "-e", "SHIPFLOW_ENV_FILE=/run/shipflow/app.env", reference, check=False
    )
    assert done.returncode == 2
    assert "cannot read env file /run/shipflow/app.env: permission denied to uid 10001" in done.stderr
    assert "not-for-the-log" not in done.stdout + done.stderr


def test_an_archive_written_by_the_build_holds_the_image_and_its_tag(
    project: Path, image_name: str, tmp_path: Path
) -> None:
    from shipflow.deploy.transfer import archive_image

    sha = git(project, "rev-parse", "HEAD")
    archive = tmp_path / "image.tar"

    done = build(project, "--archive", str(archive))

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"saved {image_name}:{sha} to {archive}" in done.stdout
    saved = archive_image(archive)
    assert saved.image_id == image_id(f"{image_name}:{sha}")
    assert saved.release.image == f"{image_name}:{sha}" and saved.release.sha == sha
    assert not list(tmp_path.glob(".*.partial"))
