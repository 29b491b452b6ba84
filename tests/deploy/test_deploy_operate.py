"""deploy.logs and deploy.exec on a real local deploy: docker containers of the example service, run with
`inv` as a user would, at a terminal (a pseudo-terminal of the test) and without one (as in CI)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
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
from support import lines_of, user_environ, wait_for_line
from terminal_support import run_in_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.needs("docker", "nginx")]

REPOSITORY = f"shipflow-e2e-{uuid.uuid4().hex[:6]}"
ISATTY = "import sys; print('stdin is a terminal:', sys.stdin.isatty())"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployProject]:
    """A project with a tasks.py (so `inv` runs in it) whose local target serves one release; the
    service logs each request (LOG_LEVEL=DEBUG), so a follow can be shown a new line on demand."""
    release: ServiceRelease = build_release(REPOSITORY, "v1", base_image())
    made = make_project(tmp_path_factory.mktemp("operate"), REPOSITORY, deploy_timeout=20.0)
    env_file = made.root / "envs" / ".env.local"
    env_file.write_text(env_file.read_text().replace("LOG_LEVEL=INFO", "LOG_LEVEL=DEBUG"))
    (made.root / "tasks.py").write_text("from shipflow.tasks import namespace as namespace\n")
    try:
        deployed = inv(made, "deploy.local", "--image", release.image)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield made
    finally:
        made.tear_down()
        subprocess.run(["docker", "rmi", "--force", release.image], capture_output=True, check=False)


def inv_argv(*args: str) -> list[str]:
    """`inv ARGS` (invoke's own program, reading the project's tasks.py)."""
    return [sys.executable, "-m", "invoke", *args]


def inv(project: DeployProject, *args: str) -> subprocess.CompletedProcess[str]:
    """`inv ARGS` without a terminal, as CI runs it."""
    return subprocess.run(
        inv_argv(*args), cwd=project.root, env=user_environ(), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def test_logs_show_what_the_service_wrote_and_exec_runs_in_the_live_release(project: DeployProject) -> None:
    logs = inv(project, "deploy.logs", "--env", "local", "-n", "200")
    assert logs.returncode == 0, logs.stdout + logs.stderr
    lines = logs.stdout.splitlines()
    assert lines and all(line.startswith("local ") for line in lines), logs.stdout
    assert any("listening on 0.0.0.0:8000 (environment local" in line for line in lines), logs.stdout
    assert CANARY_SECRET not in logs.stdout + logs.stderr

    bad = inv(project, "deploy.logs", "--env", "local", "--since", "yesterday")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1

    code = 'import os,sys; print(os.environ["ENV"]); print(os.environ["SECRET_KEY"]); sys.exit(3)'
    done = inv(project, "deploy.exec", "--env", "local", "--", "python3", "-c", code)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "local" in done.stdout.splitlines()
    assert CANARY_SECRET not in done.stdout + done.stderr

    audit = inv(project, "deploy.audit", "--env", "local", "--json")
    assert '"action": "exec"' in audit.stdout and CANARY_SECRET not in audit.stdout


def test_exec_at_a_terminal_gives_the_command_a_terminal_and_passes_its_exit_code_on(
    project: DeployProject,
) -> None:
    env = user_environ()

    at_terminal = run_in_terminal(
        inv_argv("deploy.exec", "--env", "local", "--", "python3", "-c", ISATTY), cwd=project.root, env=env
    )

    assert at_terminal.returncode == 0, at_terminal.output
    assert "stdin is a terminal: True" in at_terminal.output

    in_ci = inv(project, "deploy.exec", "--env", "local", "--", "python3", "-c", ISATTY)

    assert in_ci.returncode == 0, in_ci.stdout + in_ci.stderr
    assert "stdin is a terminal: False" in in_ci.stdout.splitlines()

    asked = run_in_terminal(
        inv_argv("deploy.exec", "--env", "local", "--", "python3", "-c", "print(input('name? ').upper())"),
        cwd=project.root, env=env, keys=b"shipflow\r", after="name? ",
    )  # fmt: skip

    assert asked.returncode == 0, asked.output
    assert "SHIPFLOW" in asked.output  # what was typed reached the command

    failed = run_in_terminal(
        inv_argv("deploy.exec", "--env", "local", "--", "python3", "-c", "import sys; sys.exit(5)"),
        cwd=project.root, env=env,
    )  # fmt: skip

    assert failed.returncode == 5, failed.output
    audit = inv(project, "deploy.audit", "--env", "local", "--json", "-n", "4")
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(r["action"], r["extra"]) for r in records] == [
        ("exec", {"exit_code": 0, "terminal": True}),
        ("exec", {"exit_code": 0}),
        ("exec", {"exit_code": 0, "terminal": True}),
        ("exec", {"exit_code": 5, "terminal": True}),
    ]
    assert CANARY_SECRET not in audit.stdout


def docker_logs_processes(container_prefix: str) -> list[int]:
    """Pids of `docker logs` clients on this machine reading a container whose name starts so."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # ended meanwhile
            continue
        if words[:2] == ["docker", "logs"] and any(word.startswith(container_prefix) for word in words):
            found.append(int(entry.name))
    return found


def test_follow_streams_new_lines_until_sigint_then_exits_0_leaving_nothing_running(
    project: DeployProject, tmp_path: Path
) -> None:
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        follow = subprocess.Popen(
            inv_argv("deploy.logs", "--env", "local", "--follow", "-n", "1"),
            cwd=project.root, env=user_environ(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    try:
        lines = lines_of(follow)
        wait_for_line(lines, "local ")  # the last line the service wrote before
        probe = uuid.uuid4().hex
        with urllib.request.urlopen(f"{project.proxy_url}/health?probe={probe}", timeout=5):  # noqa: S310
            pass
        shown = wait_for_line(lines, probe)  # a line the service wrote after the follow began
        assert shown.startswith("local ")
        readers = docker_logs_processes(f"{project.app}-local-")
        assert readers, "the follow reads the container's log through `docker logs --follow`"

        follow.send_signal(signal.SIGINT)  # to shipflow alone, as `kill -INT PID` does
        code = follow.wait(timeout=30)
    except AssertionError as error:
        raise AssertionError(f"{error}\nits stderr:\n{errors.read_text()}") from None
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert code == 0, errors.read_text()
    assert "Traceback" not in errors.read_text() and "KeyboardInterrupt" not in errors.read_text()
    assert [pid for pid in readers if Path(f"/proc/{pid}").exists()] == []
    assert docker_logs_processes(f"{project.app}-local-") == []
