"""How shipflow reaches a server over SSH, against a real sshd on 127.0.0.1: a key file, ssh-agent, a key
in an environment variable (CI's PROD_SSH_KEY), and a server that does not answer.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import free_port
from ssh_support import RemoteProject, Sshd, make_remote_project

pytestmark = [pytest.mark.ssh, pytest.mark.e2e, pytest.mark.needs("sshd", "git")]

REPOSITORY = f"shipflow-access-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def project(tmp_path: Path, sshd: Sshd) -> Iterator[RemoteProject]:
    made = make_remote_project(tmp_path / "project", tmp_path / "server", sshd, REPOSITORY)
    yield made
    made.nginx.stop()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[str]:
    """A running ssh-agent holding no key yet; yields its socket."""
    socket_path = tmp_path / "agent.sock"
    process = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.05)
        yield str(socket_path)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def set_target_keys(project: RemoteProject, replacements: dict[str, str]) -> None:
    """Rewrite ``key = ...`` lines of the production target (an empty value drops the line)."""
    settings = project.root / "deploy" / "deploy.toml"
    text = settings.read_text()
    for key, value in replacements.items():
        line = re.compile(rf"^{key} = .*\n", re.MULTILINE)
        text = line.sub(f"{key} = {value}\n" if value else "", text) if line.search(text) else text
        if value and not line.search(text):
            text += f"{key} = {value}\n"
    settings.write_text(text)


def no_home_keys() -> dict[str, str]:
    """An environment whose HOME has no ~/.ssh keys, so only the configured way can authenticate."""
    return {"HOME": "/nonexistent-shipflow-home", "SSH_AUTH_SOCK": ""}


def test_ssh_agent_authenticates_when_no_key_file_is_named(project: RemoteProject, agent: str) -> None:
    set_target_keys(project, {"identity_file": ""})
    without_key = project.shipflow("deploy.status", "--env", "production", **no_home_keys())

    assert without_key.returncode == 1, without_key.stdout + without_key.stderr
    assert "ssh failed: ssh root@127.0.0.1" in without_key.stderr
    assert "authentication failed" in without_key.stderr and "ssh-agent" in without_key.stderr
    assert "lock" not in without_key.stderr

    env = {**os.environ, "SSH_AUTH_SOCK": agent}
    subprocess.run(["ssh-add", "-q", str(project.sshd.user_key)], env=env, check=True, capture_output=True)

    with_agent = project.shipflow(
        "deploy.status", "--env", "production", **{**no_home_keys(), "SSH_AUTH_SOCK": agent}
    )

    assert with_agent.returncode == 0, with_agent.stdout + with_agent.stderr
    assert "active slot: none (never deployed)" in with_agent.stdout


def test_a_private_key_given_in_an_environment_variable_authenticates_and_is_never_shown(
    project: RemoteProject,
) -> None:
    set_target_keys(project, {"identity_file": "", "identity_key_from": '"PROD_SSH_KEY"'})
    key_text = project.sshd.user_key.read_text()
    key_line = key_text.splitlines()[1]

    missing = project.shipflow("deploy.status", "--env", "production", **no_home_keys())

    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "PROD_SSH_KEY" in missing.stderr

    done = project.shipflow("deploy.status", "--env", "production", PROD_SSH_KEY=key_text, **no_home_keys())

    assert done.returncode == 0, done.stdout + done.stderr
    assert "active slot: none (never deployed)" in done.stdout
    assert key_line not in done.stdout + done.stderr

    broken = project.shipflow(
        "deploy.status", "--env", "production", PROD_SSH_KEY="not a key\n" + key_line, **no_home_keys()
    )

    assert broken.returncode != 0
    assert "PROD_SSH_KEY" in broken.stderr and key_line not in broken.stdout + broken.stderr


def test_a_server_that_does_not_answer_is_an_ssh_failure_and_nothing_starts(project: RemoteProject) -> None:
    set_target_keys(project, {"port": str(free_port())})

    done = project.shipflow("deploy.status", "--env", "production")

    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"ssh failed: ssh root@127\.0\.0\.1:\d+: cannot connect", done.stderr), done.stderr
    assert "lock" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
