"""deploy.logs, deploy.exec and deploy.audit --stats over SSH, for real: a server in a network namespace
of the test with its own docker engine, sshd and nginx (tests/netns_support.py), two real production
deploys of the example service to it (each image streamed over SSH into the server's empty engine), then
`inv` run as a user would: without a terminal (as in CI) and at a pseudo-terminal of the test.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_support import CANARY_SECRET, base_image, build_release
from netns_support import NamespaceServer, make_namespace_project
from shipped_support import server_behind_balancer
from ssh_support import PRODUCTION_ENV, ServerNginx
from support import commit_all, git, lines_of, remove_test_images, user_environ, wait_for_line
from terminal_support import Screen, run_in_terminal

pytestmark = [pytest.mark.ssh, pytest.mark.e2e, pytest.mark.needs("sshd", "docker", "nginx", "git")]

REPOSITORY = f"shipflow-ops-{uuid.uuid4().hex[:6]}"
APP = f"sfops-{uuid.uuid4().hex[:8]}"
ISATTY = "import sys; print('stdin is a terminal:', sys.stdin.isatty())"


@dataclass
class Served:
    """A project on main whose production target is the namespace server, deployed twice."""

    root: Path
    server: NamespaceServer
    balancer: ServerNginx
    shas: tuple[str, str]

    @property
    def host(self) -> str:
        return f"root@{self.server.address}:{self.server.ssh_port}"

    @property
    def env(self) -> dict[str, str]:
        return user_environ(PROD_ENV_FILE=PRODUCTION_ENV)

    def inv(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`inv ARGS` without a terminal, as CI runs it."""
        return subprocess.run(
            inv_argv(*args), cwd=self.root, env=self.env, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    def at_terminal(self, *args: str, keys: bytes = b"", after: str | None = None) -> Screen:
        """`inv ARGS` at a terminal; the screen shows `stty -g` before and after it (the terminal's mode)."""
        command = shlex.join(inv_argv(*args))
        script = f"stty -g; {command}; code=$?; stty -g; exit $code"
        return run_in_terminal(["sh", "-c", script], cwd=self.root, env=self.env, keys=keys, after=after)

    def remote_docker_logs(self) -> list[str]:
        """The `docker logs` commands running on the server (in its namespace)."""
        listed = subprocess.run(["ip", "netns", "pids", self.server.netns], capture_output=True, text=True)
        running = []
        for pid in listed.stdout.split():
            try:
                words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if words[:2] == ["docker", "logs"]:
                running.append(" ".join(words))
        return running


def inv_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = base_image()
    folder = tmp_path_factory.mktemp("ops")
    archives = []
    for name in ("v1", "v2"):  # `docker save` files; this machine's engine no longer has the images
        release = build_release(REPOSITORY, name, base)
        path = folder / f"{name}.tar"
        subprocess.run(["docker", "save", "-o", str(path), release.image], check=True)
        subprocess.run(["docker", "rmi", release.image], capture_output=True, check=True)
        archives.append((path, release.sha))
    try:
        with server_behind_balancer(folder, app=APP) as (server, balancer):
            root = folder / "project"
            make_namespace_project(
                root, folder, [server], app=APP, repository=REPOSITORY, public_url=balancer.url,
                deploy_extra=f'volumes = ["{APP}-data:/data"]\n',
            )  # fmt: skip
            (root / "tasks.py").write_text("from shipflow.tasks import namespace as namespace\n")
            commit_all(root, "inv runs shipflow's tasks here")
            git(root, "push", "--quiet")
            made = Served(root, server, balancer, (archives[0][1], archives[1][1]))
            for path, _sha in archives:
                shipped = made.inv("deploy.prod", "--yes", "--image-archive", str(path))
                assert shipped.returncode == 0, shipped.stdout + shipped.stderr
                assert "sent " in shipped.stdout  # the image travelled over SSH into the server's engine
            yield made
    finally:
        remove_test_images(REPOSITORY)


def test_logs_over_ssh_show_what_the_service_wrote_prefixed_with_the_host(served: Served) -> None:
    logs = served.inv("deploy.logs", "--env", "production", "-n", "500")

    assert logs.returncode == 0, logs.stdout + logs.stderr
    lines = logs.stdout.splitlines()
    assert lines and all(line.startswith(f"{served.host} ") for line in lines), logs.stdout
    assert any("listening on 0.0.0.0:8000 (environment production, version v2" in line for line in lines)
    assert CANARY_SECRET not in logs.stdout + logs.stderr


def test_exec_over_ssh_without_a_terminal_masks_every_line_and_passes_the_exit_code_on(
    served: Served,
) -> None:
    env_name = served.inv(
        "deploy.exec", "--env", "production", "--", "python3", "-c", 'import os; print(os.environ["ENV"])'
    )

    assert env_name.returncode == 0, env_name.stdout + env_name.stderr
    assert env_name.stdout.splitlines() == ["production"]

    leaky = 'import os, sys; print("key:", os.environ["SECRET_KEY"]); sys.exit(4)'
    failed = served.inv("deploy.exec", "--env", "production", "--", "python3", "-c", leaky)

    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert failed.stdout.startswith("key: ") and CANARY_SECRET not in failed.stdout + failed.stderr

    audit = served.inv("deploy.audit", "--env", "production", "--json", "-n", "2")
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(r["action"], r["result"], r["extra"], r["to_sha"]) for r in records] == [
        ("exec", "ok", {"exit_code": 0}, served.shas[1]),
        ("exec", "failed", {"exit_code": 4}, served.shas[1]),
    ]
    assert "SECRET_KEY" in records[1]["detail"]  # the command as given (masked: it holds no secret)
    assert CANARY_SECRET not in audit.stdout


def test_exec_over_ssh_at_a_terminal_is_interactive_and_the_terminal_is_restored(served: Served) -> None:
    screen = served.at_terminal("deploy.exec", "--env", "production", "--", "python3", "-c", ISATTY)

    assert screen.returncode == 0, screen.output
    assert "stdin is a terminal: True" in screen.output
    modes = [line for line in screen.output.splitlines() if re.fullmatch(r"[0-9a-f]+(:[0-9a-f]+)+", line)]
    assert len(modes) == 2 and modes[0] == modes[1], screen.output  # not left in raw mode

    asked = served.at_terminal(
        "deploy.exec", "--env", "production", "--", "python3", "-c", "print(input('name? ').upper())",
        keys=b"shipflow\r", after="name? ",
    )  # fmt: skip

    assert asked.returncode == 0, asked.output
    assert "SHIPFLOW" in asked.output  # typed here, read by the command in the container on the server

    failed = served.at_terminal("deploy.exec", "--env", "production", "--", "sh", "-c", "exit 5")

    assert failed.returncode == 5, failed.output
    audit = served.inv("deploy.audit", "--env", "production", "--json", "-n", "1")
    (record,) = [json.loads(line) for line in audit.stdout.splitlines()]
    assert (record["action"], record["extra"]) == ("exec", {"exit_code": 5, "terminal": True})


def test_follow_over_ssh_streams_new_lines_and_sigint_ends_it_on_the_server_too(
    served: Served, tmp_path: Path
) -> None:
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        follow = subprocess.Popen(
            inv_argv("deploy.logs", "--env", "production", "--follow", "-n", "1"),
            cwd=served.root, env=served.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    lines = lines_of(follow)
    try:
        wait_for_line(lines, f"{served.host} ")
        # A line the service writes after the follow began: gunicorn logs the SIGHUP it is sent.
        listed = served.server.docker("ps", "--filter", f"label=shipflow.app={APP}", "--format", "{{.Names}}")
        (live,) = listed.stdout.split()
        served.server.docker("kill", "--signal", "HUP", live)
        assert wait_for_line(lines, "Handling signal: hup").startswith(f"{served.host} ")
        assert served.remote_docker_logs(), "the follow runs `docker logs --follow` on the server"

        follow.send_signal(signal.SIGINT)
        code = follow.wait(timeout=30)
    except AssertionError as error:
        raise AssertionError(f"{error}\nits stderr:\n{errors.read_text()}") from None
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()

    assert code == 0, errors.read_text()
    assert "Traceback" not in errors.read_text() and "KeyboardInterrupt" not in errors.read_text()
    deadline = time.monotonic() + 30  # the server ends the command once it sees the channel closed
    while served.remote_docker_logs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert served.remote_docker_logs() == []


def test_audit_stats_over_ssh_time_each_step_of_the_real_deploys_and_their_transfers(served: Served) -> None:
    stats = served.inv("deploy.audit", "--env", "production", "--stats")

    assert stats.returncode == 0, stats.stdout + stats.stderr
    print(stats.stdout)  # the figures the report quotes
    lines = stats.stdout.splitlines()
    assert lines[0].startswith("timings of the last 2 successful deploys and rollbacks, in seconds")
    figures = {line.split()[0]: line.split()[1:] for line in lines[2:] if re.match(r"  \w", line)}
    for step in ("lock", "image", "start", "health", "switch", "total"):
        count, *seconds = figures[step]
        assert count == "2" and all(float(value) >= 0 for value in seconds), stats.stdout
    assert re.search(
        r"^transfer: 2 image\(s\) streamed over ssh: median [\d.]+ MB at [\d.]+ [KMG]?B/s "
        r"\(largest [\d.]+ MB, slowest [\d.]+ [KMG]?B/s\)$",
        stats.stdout,
        re.MULTILINE,
    ), stats.stdout
    assert lines[-1].startswith("slowest: deploy of v")
    assert CANARY_SECRET not in stats.stdout
