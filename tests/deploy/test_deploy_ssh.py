"""Deploys to a server over SSH: a real sshd on 127.0.0.1, the real docker engine and an nginx of the test.

How the image transfer is made real although the "server" shares this machine's docker engine: each
release is built, written to a file with ``docker save -o`` and then REMOVED from the engine, so the
server really lacks it. The deploy is given that file (``--image-archive``, the CI artifact route); shipflow
reads the image id from the archive, sees the server lacks it, gzips the archive (without the layers the
engine still holds: the base image's) over the SSH connection into ``gunzip | docker load`` on the server,
and checks the id is there afterwards. The second deploy of the same image finds the id on the server and
sends nothing. The default route (build HEAD, then ``docker save`` from the deployer's engine) needs a
server with an engine of its own: tests/deploy/test_deploy_ssh_head.py and test_deploy_thin_transfer.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import CANARY_SECRET, base_image, build_release, build_variant
from ssh_support import (
    PRODUCTION_ENV,
    RemoteProject,
    Sshd,
    fingerprint_of,
    git,
    make_remote_project,
)
from support import remove_test_images

from shipflow.testing.loadgen import KEEPALIVE, NO_ANSWER, LoadGenerator

pytestmark = [pytest.mark.ssh, pytest.mark.e2e, pytest.mark.needs("sshd", "docker", "nginx", "git")]

REPOSITORY = f"shipflow-ssh-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, str]]]:
    """Release name -> (a `docker save` file of it, its sha); the engine no longer has the images."""
    folder = tmp_path_factory.mktemp("archives")
    base = base_image()
    made: dict[str, tuple[Path, str]] = {}
    v2 = build_release(REPOSITORY, "v2", base)
    releases = {
        "v1": build_release(REPOSITORY, "v1", base),
        "v2": v2,
        "failing": build_variant(REPOSITORY, v2, "failing", {"FAIL_RATIO": "0.2"}),
    }
    for name, release in reversed(releases.items()):  # the failing release first: it is built on v2
        path = folder / f"{name}.tar"
        subprocess.run(["docker", "save", "-o", str(path), release.image], check=True)
        subprocess.run(["docker", "rmi", release.image], capture_output=True, check=True)
        made[name] = (path, release.sha)
    yield made
    remove_test_images(REPOSITORY)


@pytest.fixture
def project(tmp_path: Path, sshd: Sshd) -> Iterator[RemoteProject]:
    made = make_remote_project(tmp_path / "project", tmp_path / "server", sshd, REPOSITORY)
    yield made
    made.tear_down()
    made.nginx.stop()


@pytest.fixture
def baking_project(tmp_path: Path, sshd: Sshd) -> Iterator[RemoteProject]:
    """A project whose bake window judges by probes alone: the server's nginx says `access_log off;` at
    its http level, which silences shipflow's log too; three probes of / a second make up for it."""
    bake = 'min_requests = 5\npaths = ["/", "/", "/"]'
    made = make_remote_project(tmp_path / "project", tmp_path / "server", sshd, REPOSITORY, bake=bake)
    yield made
    made.tear_down()
    made.nginx.stop()


def served_sha(project: RemoteProject) -> str:
    with urllib.request.urlopen(f"{project.nginx.url}/", timeout=5) as response:  # noqa: S310 (loopback)
        return str(json.loads(response.read())["sha"])


def ship(project: RemoteProject, archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return project.shipflow("deploy.prod", "--yes", "--image-archive", str(archive), *args)


def test_prod_deploy_over_ssh_sends_the_image_once_switches_under_load_and_audits(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    (v1, v1_sha), (v2, v2_sha) = archives["v1"], archives["v2"]
    host = f"root@127.0.0.1:{project.sshd.port}"
    logins_before = project.sshd.logins()

    first = ship(project, v1)

    assert first.returncode == 0, first.stdout + first.stderr
    assert project.sshd.logins() - logins_before == 1  # one connection for the transfer, files and commands
    assert "plan: deploy to production, 1 host(s)" in first.stdout
    assert f"{host}: nothing -> v1 ({v1_sha[:12]})" in first.stdout
    sent = re.search(
        r"sent ([\d.]+ [KMG]?B) \(gzip of ([\d.]+ [KMG]?B)(?:; [\d.]+ [KMG]?B already on the server)?\) "
        r"in ([\d.]+)s, ([\d.]+ [KMG]?B)/s",
        first.stdout,
    )
    assert sent, first.stdout
    print(f"transfer: {sent.group(0)}")  # the figure the report quotes
    assert served_sha(project) == v1_sha
    assert "smoke" in first.stdout and CANARY_SECRET not in first.stdout + first.stderr

    again = ship(project, v1)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "already serving v1" in again.stdout
    assert "sending" not in again.stdout and "sent " not in again.stdout

    with LoadGenerator(f"{project.nginx.url}/", workers=4, keepalive_workers=4, max_seconds=180) as load:
        time.sleep(0.5)
        started = time.monotonic()
        switched = ship(project, v2)
        took = time.monotonic() - started
        time.sleep(0.5)

    assert switched.returncode == 0, switched.stdout + switched.stderr
    print(f"remote deploy of v2 with the transfer: {took:.1f}s")
    assert "sent " in switched.stdout
    assert "no nginx reload" in switched.stdout  # root on the server: the NAT switch
    assert load.result.failed == 0, load.result.failures
    assert load.result.modes[KEEPALIVE].requests > 0
    assert load.result.served_by[v1_sha] > 0 and load.result.served_by[v2_sha] > 0
    assert served_sha(project) == v2_sha
    status = json.loads(project.shipflow("deploy.status", "--env", "production", "--json").stdout)
    assert status["host"] == host and status["release"]["sha"] == v2_sha
    assert status["switch"]["kind"] == "nat" and status["switch"]["live_slot"] == status["active_slot"]

    with LoadGenerator(f"{project.nginx.url}/", workers=4, keepalive_workers=4, max_seconds=120) as load:
        time.sleep(0.5)
        back = project.shipflow("deploy.rollback", "--env", "production")
        time.sleep(0.5)

    assert back.returncode == 0, back.stdout + back.stderr
    assert load.result.failed == 0, load.result.failures
    assert served_sha(project) == v1_sha

    started = time.monotonic()
    forward = ship(project, v2)
    print(f"remote deploy of v2, image already there: {time.monotonic() - started:.1f}s")

    assert forward.returncode == 0, forward.stdout + forward.stderr
    assert f"is already on {host}: nothing sent" in forward.stdout
    assert served_sha(project) == v2_sha
    audit = project.shipflow("deploy.audit", "--env", "production", "--json")
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(r["action"], r["result"], r["to_sha"]) for r in records] == [
        ("deploy", "ok", v1_sha),
        ("deploy", "ok", v1_sha),
        ("deploy", "ok", v2_sha),
        ("rollback", "ok", v1_sha),
        ("deploy", "ok", v2_sha),
    ]
    assert records[0]["extra"]["transfer"].startswith("sent ")
    assert records[2]["extra"]["transfer"].startswith("sent ")
    assert records[4]["extra"]["transfer"] == "already on the host"
    assert records[4]["extra"]["smoke"].startswith(f"GET {project.nginx.url}/health: 200 (version v2")
    env_file = project.app_dir / ".shipflow" / "env" / "blue.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert CANARY_SECRET in env_file.read_text()
    assert CANARY_SECRET not in audit.stdout


def test_an_unknown_host_key_is_refused_with_its_fingerprint_and_trusted_once_on_request(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    project.known_hosts.write_text("")

    refused = project.shipflow("deploy.status", "--env", "production")

    assert refused.returncode == 1
    assert "ssh failed: ssh root@127.0.0.1" in refused.stderr and "unknown host key" in refused.stderr
    assert fingerprint_of(project.sshd.host_public) in refused.stderr
    assert "--trust-new-host" in refused.stderr and "lock" not in refused.stderr

    trusted = ship(project, archives["v1"][0], "--dry-run", "--trust-new-host")

    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert project.known_hosts.read_text() == project.sshd.known_hosts_line
    assert project.shipflow("deploy.status", "--env", "production").returncode == 0


def test_a_changed_host_key_is_refused_even_with_trust_new_host(
    project: RemoteProject, archives: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, key = (tmp_path / "other_host_key.pub").read_text().split()[:2]
    project.known_hosts.write_text(f"[127.0.0.1]:{project.sshd.port} {kind} {key}\n")

    refused = ship(project, archives["v1"][0], "--trust-new-host")

    assert refused.returncode == 1
    assert "host key CHANGED" in refused.stderr
    assert fingerprint_of(project.sshd.host_public) in refused.stderr
    assert fingerprint_of(tmp_path / "other_host_key.pub") in refused.stderr
    assert project.containers() == []


def test_production_from_a_feature_branch_is_refused_and_nothing_changes(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    git(project.root, "checkout", "--quiet", "-b", "feature/login")

    refused = ship(project, archives["v1"][0])

    assert refused.returncode == 2
    assert "production deploys from 'main'" in refused.stderr and "--force" in refused.stderr
    assert project.containers() == [] and not project.app_dir.exists()


def test_a_dirty_tree_is_refused_for_production(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    template = project.root / "deploy" / "nginx" / "upstream.conf.tmpl"
    template.write_text(template.read_text() + "# edited\n")

    refused = ship(project, archives["v1"][0])

    assert refused.returncode == 2
    assert "uncommitted changes (deploy/nginx/upstream.conf.tmpl)" in refused.stderr
    assert project.containers() == []


def test_production_without_yes_and_without_a_terminal_is_an_error(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    done = project.shipflow("deploy.prod", "--image-archive", str(archives["v1"][0]))

    assert done.returncode == 2
    assert "pass --yes" in done.stderr
    assert "plan: deploy to production" in done.stdout
    assert project.containers() == []


def test_dry_run_prints_the_remote_plan_with_secrets_masked_and_changes_nothing(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    upstream_before = project.nginx.upstream_path.read_text()
    # An earlier test may have loaded v1 into the engine this "server" shares: make the server lack it again.
    subprocess.run(
        ["docker", "rmi", "--force", f"{REPOSITORY}:{archives['v1'][1]}"], capture_output=True, check=False
    )

    done = ship(project, archives["v1"][0], "--dry-run")

    assert done.returncode == 0, done.stdout + done.stderr
    host = f"root@127.0.0.1:{project.sshd.port}"
    assert f"would send {REPOSITORY}:" in done.stdout
    assert f"without the layers {host} holds, into `gunzip | docker load` there" in done.stdout
    assert f"would write {host}:{project.app_dir}/.shipflow/env/blue.env (mode 0600" in done.stdout
    assert "(mode 0600, " in done.stdout and "SECRET_KEY" in done.stdout
    assert f"would run on {host}: docker run --detach" in done.stdout
    assert f"would write {host}:{project.nginx.upstream_path}" in done.stdout
    assert CANARY_SECRET not in done.stdout + done.stderr
    assert project.containers() == [] and not project.app_dir.exists()
    assert project.nginx.upstream_path.read_text() == upstream_before


def test_with_a_registry_nothing_is_pushed_before_approval_and_a_dry_run_prints_push_and_pull(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    archive, sha = archives["v1"]
    settings = project.root / "deploy" / "deploy.toml"
    settings.write_text(settings.read_text() + 'registry = "127.0.0.1:9/shipflow-test"\n')
    project.commit("pull releases from a registry")
    git(project.root, "push", "--quiet")
    subprocess.run(["docker", "rmi", "--force", f"{REPOSITORY}:{sha}"], capture_output=True, check=False)
    remote = f"127.0.0.1:9/shipflow-test/{REPOSITORY}:{sha}"
    host = f"root@127.0.0.1:{project.sshd.port}"

    unapproved = project.shipflow("deploy.prod", "--image-archive", str(archive))

    assert unapproved.returncode == 2, unapproved.stdout + unapproved.stderr
    assert "pass --yes" in unapproved.stderr
    assert "docker load" not in unapproved.stdout and "docker push" not in unapproved.stdout

    dry = ship(project, archive, "--dry-run")

    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"would run on local: docker load --input {archive}" in dry.stdout
    assert f"would run on local: docker push {remote}" in dry.stdout
    assert f"would run on {host}: docker pull {remote}" in dry.stdout
    assert project.containers() == [] and not project.app_dir.exists()
    for reference in (f"{REPOSITORY}:{sha}", remote):
        inspect = subprocess.run(["docker", "image", "inspect", reference], capture_output=True, check=False)
        assert inspect.returncode != 0, f"{reference} was loaded or tagged by a refused or dry-run deploy"


def test_force_deploys_from_a_feature_branch_with_a_loud_warning_that_the_audit_keeps(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    archive, sha = archives["v1"]
    git(project.root, "checkout", "--quiet", "-b", "feature/login")

    forced = ship(project, archive, "--force")

    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "!!! WARNING: --force: deploying to production although production deploys from 'main'" in (
        forced.stdout
    )
    assert served_sha(project) == sha
    audit = project.shipflow("deploy.audit", "--env", "production", "--json")
    (record,) = [json.loads(line) for line in audit.stdout.splitlines()]
    assert record["result"] == "ok" and record["to_sha"] == sha
    assert any("deploys from 'main'" in reason for reason in record["extra"]["forced"])


def test_staging_deploys_from_develop_under_gitflow_and_refuses_main(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    archive, sha = archives["v1"]
    settings = project.root / "deploy" / "deploy.toml"
    text = settings.read_text()
    text = text.replace(
        '[targets.production]\nenvironment = "production"', '[targets.staging]\nenvironment = "staging"'
    )
    settings.write_text(text.replace('env_file_from = "PROD_ENV_FILE"', 'env_file_from = "STAGING_ENV_FILE"'))
    project.commit("a staging target")
    git(project.root, "push", "--quiet")
    env_file = PRODUCTION_ENV.replace("ENV=production", "ENV=staging")

    from_main = project.shipflow("deploy.staging", "--image-archive", str(archive), STAGING_ENV_FILE=env_file)

    assert from_main.returncode == 2, from_main.stdout + from_main.stderr
    assert (
        "staging deploys from 'develop' under the gitflow model, not from branch 'main'" in from_main.stderr
    )
    assert project.containers() == []

    git(project.root, "checkout", "--quiet", "-b", "develop")
    from_develop = project.shipflow(
        "deploy.staging", "--image-archive", str(archive), STAGING_ENV_FILE=env_file
    )

    assert from_develop.returncode == 0, from_develop.stdout + from_develop.stderr
    assert "pass --yes" not in from_develop.stderr  # approval is production's
    assert served_sha(project) == sha
    assert project.containers() == [f"{project.app}-staging-blue"]


def test_a_lock_held_elsewhere_refuses_the_deploy_until_deploy_unlock_clears_it(
    project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    archive, sha = archives["v1"]
    state = project.app_dir / ".shipflow"
    state.mkdir(parents=True)
    (state / "deploy.lock").write_text(
        '{"user": "ci", "machine": "runner-7", "pid": 4242, "command": "inv deploy.prod",'
        ' "started_at": "2026-11-21T08:00:00+00:00"}'
    )

    locked = ship(project, archive)

    assert locked.returncode == 3, locked.stdout + locked.stderr
    assert "locked by ci@runner-7 pid 4242" in locked.stderr and "active lock" in locked.stderr
    assert project.containers() == []

    unlocked = project.shipflow("deploy.unlock", "--env", "production")

    assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
    assert "unlocked: removed the lock of ci@runner-7 pid 4242" in unlocked.stdout
    assert not (state / "deploy.lock").exists()
    shipped = ship(project, archive)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert served_sha(project) == sha
    audit = project.shipflow("deploy.audit", "--env", "production", "--json")
    assert [json.loads(line)["action"] for line in audit.stdout.splitlines()] == ["unlock", "deploy"]


def test_a_failing_release_is_reverted_over_ssh_during_its_bake_window(
    baking_project: RemoteProject, archives: dict[str, tuple[Path, str]]
) -> None:
    project = baking_project
    (v1, v1_sha), (failing, failing_sha) = archives["v1"], archives["failing"]
    assert ship(project, v1).returncode == 0
    with LoadGenerator(f"{project.nginx.url}/", workers=2, keepalive_workers=4, max_seconds=120) as load:
        time.sleep(0.5)
        reverted = ship(project, failing, "--bake", "30")
        time.sleep(0.5)

    assert reverted.returncode == 1, reverted.stdout + reverted.stderr
    assert "bake: release failing" in reverted.stderr and "5xx ratio" in reverted.stderr
    assert served_sha(project) == v1_sha
    assert NO_ANSWER not in load.result.failed_by, load.result.failures
    assert set(load.result.failed_by) <= {failing_sha}, load.result.failed_by
    records = project.shipflow("deploy.audit", "--env", "production", "--json").stdout.splitlines()
    assert json.loads(records[-1])["result"] == "reverted"
