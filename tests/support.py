"""Helpers shared by shipflow's own tests: running the CLI as a user would (in this process or as a
process), throw-away git repositories and the clean-up of test images."""

from __future__ import annotations

import contextlib
import copy
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from invoke.collection import Collection
    from invoke.program import Program
    from invoke.tasks import Task

    from shipflow.deploy.settings import TargetSettings

REPO = Path(__file__).resolve().parent.parent


SELECTORS = ("APP_ENV", "ENV", "TEST_GROUPS", "PYTEST_ADDOPTS")


def user_environ(**extra: str) -> dict[str, str]:
    """The environment a user's shell would have: this process's, without what `inv test` loaded from this
    repository's env files (they would override the settings of the project under test) or selectors."""
    from shipflow.env.files import env_file_values

    loaded = env_file_values(REPO, "test")
    kept = {k: v for k, v in os.environ.items() if k not in SELECTORS and loaded.get(k) != v}
    return {**kept, **extra}


def run_shipflow(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``shipflow`` CLI as a user would (by default in :func:`user_environ`), capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "shipflow", *args],
        cwd=cwd,
        env=user_environ() if env is None else env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class Ran:
    """What a user sees of one CLI run: its exit code and its two output streams."""

    returncode: int
    stdout: str
    stderr: str


class ShipflowCli(Protocol):
    """Runs the CLI with ``args`` in ``cwd`` (by default in :func:`user_environ`), as the fixture does."""

    def __call__(self, *args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Ran: ...


@contextlib.contextmanager
def environ_as(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` holds exactly ``values`` inside the block, and what it held before after it."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def exit_code_of(stop: SystemExit) -> int:
    """The process exit code ``sys.exit`` would give: None is 0, a message is 1 (printed to stderr)."""
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    print(stop.code, file=sys.stderr)
    return 1


def every_task(collection: Collection) -> list[Task[Any]]:
    """The tasks of ``collection`` and of every collection under it."""
    found = list(collection.tasks.values())
    for child in collection.collections.values():
        found.extend(every_task(child))
    return found


@contextlib.contextmanager
def flag_help_kept() -> Iterator[None]:
    """shipflow's tasks keep their flags' help: invoke's parser pops it out of each task it reads, so a
    second run in this process (or the docs reference built after it) would see none."""
    from shipflow.tasks import namespace

    saved = [(task, dict(task.help)) for task in every_task(namespace)]
    try:
        yield
    finally:
        for task, help_by_flag in saved:
            task.help = help_by_flag


def run_program_in_process(
    capfd: pytest.CaptureFixture[str],
    program: Program,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> Ran:
    """Run an invoke ``program`` with ``argv`` as its command line would, in this process: in ``cwd``, with
    ``env`` (by default :func:`user_environ`) as the whole environment, the output read from file
    descriptors 1 and 2 (so the output of the tools a task starts is seen too)."""
    capfd.readouterr()  # what the test printed before is not this run's output
    # A copy per run: a Program keeps the tasks and flags parsed by its last run.
    fresh = copy.copy(program)
    with environ_as(user_environ() if env is None else env), contextlib.chdir(cwd), flag_help_kept():
        try:
            fresh.run(list(argv))
            code = 0
        except SystemExit as stop:
            code = exit_code_of(stop)
    captured = capfd.readouterr()
    return Ran(code, captured.out, captured.err)


def run_shipflow_in_process(
    capfd: pytest.CaptureFixture[str], *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> Ran:
    """:func:`run_shipflow` without starting Python: the same program, arguments, folder and environment."""
    from shipflow.cli import program

    return run_program_in_process(capfd, program, ["shipflow", *args], cwd=cwd, env=env)


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}
GIT_SETTINGS = ("-c", "init.defaultBranch=main", "-c", "tag.gpgsign=false", "-c", "commit.gpgsign=false")


def git_environ(**extra: str) -> dict[str, str]:
    """This process's environment with a test identity for the commits and tags git (or a task) makes."""
    return {**os.environ, **GIT_IDENTITY, **extra}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` as the test identity, on ``main`` by default, without signing; its stdout."""
    done = subprocess.run(
        ["git", "-C", str(repo), *GIT_SETTINGS, *args],
        capture_output=True,
        text=True,
        check=True,
        env=git_environ(),
    )
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    """Every change in ``repo`` committed; the new commit's sha."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_repository(root: Path, message: str = "first") -> str:
    """A throw-away repository on ``main`` at ``root`` with what ``root`` holds committed; the sha."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    return commit_all(root, message)


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The docker CLI, output captured as text."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def remove_test_images(name: str) -> None:
    """Every image of ``name`` in this machine's engine gone, whether tagged ``name:*`` or labelled
    ``shipflow.app=name`` (test clean-up; never fails)."""

    def listed(*selector: str) -> list[str]:
        argv = ["docker", "image", "ls", "-q", "--no-trunc", *selector]
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.split()

    ids = sorted({*listed(name), *listed("--filter", f"label=shipflow.app={name}")})
    if ids:
        subprocess.run(["docker", "image", "rm", "--force", *ids], capture_output=True, check=False)


def production_target(env_file_from: str | None = None) -> TargetSettings:
    """A server target of environment production that nothing ever contacts (its env file's source only)."""
    from shipflow.deploy.settings import TargetSettings

    return TargetSettings(
        name="production",
        environment="production",
        host="prod.example.invalid",
        slots=(8000, 8001),
        state_dir="/var/lib/shipflow",
        upstream_path="/etc/nginx/upstream.conf",
        proxy_port=None,
        nginx_test=("nginx", "-t"),
        nginx_reload=("nginx", "-s", "reload"),
        nginx_pid_file="/run/nginx.pid",
        public_url="https://demo.example.invalid",
        env_file_from=env_file_from,
    )


def lines_of(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's stdout lines as they come (a reader thread); None once its output ended."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str | None], text: str, seconds: float = 60.0) -> str:
    """The first line with ``text``; fails when the output ends first or nothing comes in time."""
    deadline = time.monotonic() + seconds
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no line with {text!r} (output so far):\n" + "\n".join(seen))
