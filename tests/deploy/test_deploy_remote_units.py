"""The pure parts of deploying to servers: guards, image transfer commands and archives, remote target
settings, the rollout across hosts, approval."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support import run_shipflow, user_environ

from shipflow.deploy import commands, fleet, guards, rollout, transfer
from shipflow.deploy.bluegreen import Outcome
from shipflow.deploy.commands import Release, slots_of
from shipflow.deploy.context import Deployment
from shipflow.deploy.lock import Actor
from shipflow.deploy.settings import load_deploy_settings
from shipflow.hosts import DryRunHost
from shipflow.hosts.base import CommandResult
from shipflow.project import SettingsError
from shipflow.report import Reporter

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterable, Sequence

pytestmark = pytest.mark.unit

CLEAN_MAIN = guards.GitFacts(
    branch="main", head="a" * 40, dirty_paths=(), release_tag=None, pushed=True, tag_on_main=True
)


def facts(**changes: object) -> guards.GitFacts:
    from dataclasses import replace

    return replace(CLEAN_MAIN, **changes)  # type: ignore[arg-type]


def test_production_from_clean_pushed_main_passes_under_both_models() -> None:
    assert guards.refusals(CLEAN_MAIN, "production", "gitflow") == []
    assert guards.refusals(CLEAN_MAIN, "production", "github-flow") == []


def test_production_refuses_a_feature_branch_a_dirty_tree_and_an_unpushed_head_all_at_once() -> None:
    found = guards.refusals(
        facts(branch="feature/x", dirty_paths=("app.py",), pushed=False, tag_on_main=False),
        "production",
        "gitflow",
    )
    assert len(found) == 3
    assert "production deploys from 'main'" in found[0] and "not from branch 'feature/x'" in found[0]
    assert "uncommitted changes (app.py)" in found[1]
    assert "is not on origin" in found[2] or "push it first" in found[2]


def test_a_release_tag_on_main_may_deploy_from_a_detached_head() -> None:
    tagged = facts(branch=None, release_tag="v1.2.0", tag_on_main=True)
    assert guards.refusals(tagged, "production", "gitflow") == []
    untagged = facts(branch=None, release_tag="v1.2.0", tag_on_main=False)
    assert "detached HEAD" in guards.refusals(untagged, "production", "gitflow")[0]


def test_staging_wants_develop_under_gitflow_and_main_under_github_flow() -> None:
    assert guards.refusals(CLEAN_MAIN, "staging", "github-flow") == []
    assert "staging deploys from 'develop'" in guards.refusals(CLEAN_MAIN, "staging", "gitflow")[0]
    assert guards.refusals(facts(branch="develop", dirty_paths=("x",)), "staging", "gitflow") == []


def test_an_unknown_remote_tracking_branch_is_a_refusal_naming_the_fetch() -> None:
    found = guards.refusals(facts(pushed=None, pushed_to="origin/main"), "production", "gitflow")
    assert found == ["origin/main is unknown here, so HEAD cannot be shown to be pushed: `git fetch origin`"]


def test_a_suggested_git_command_quotes_the_remote_it_names() -> None:
    odd = "$(id) remote"
    unknown = guards.refusals(
        facts(pushed=None, remote=odd, pushed_to=f"{odd}/main"), "production", "gitflow"
    )
    unpushed = guards.refusals(facts(pushed=False, remote=odd), "production", "gitflow")
    assert unknown[0].endswith("`git fetch '$(id) remote'`")
    assert unpushed[0].endswith("(`git push '$(id) remote'`)")


def test_transfer_commands_stream_into_docker_load_or_go_through_a_registry() -> None:
    assert commands.save_image("app:abc") == ["docker", "save", "app:abc"]
    loading = commands.load_gzipped_image("sha256:abc")
    assert loading[:2] == ["sh", "-c"] and loading[2].startswith("gunzip | docker load && ")
    assert loading[-1] == "sha256:abc"  # a word of its own: the id it prints last
    assert commands.loaded_tags("Loaded image: app:abc\nsha256:abc\n") == {"app:abc"}
    assert commands.push_image("registry.example.invalid/team", "app:abc") == [
        ["docker", "tag", "app:abc", "registry.example.invalid/team/app:abc"],
        ["docker", "push", "registry.example.invalid/team/app:abc"],
    ]
    assert commands.pull_image("registry.example.invalid/team/", "app:abc") == [
        ["docker", "pull", "registry.example.invalid/team/app:abc"],
        ["docker", "tag", "registry.example.invalid/team/app:abc", "app:abc"],
    ]


def test_the_progress_stream_is_gzip_of_the_input_and_counts_both_sizes() -> None:
    data = [b"layer " * 50_000, b"more" * 10_000]
    progress = transfer.Progress("x", Reporter(stream=io.StringIO()))
    packed = b"".join(progress.gzip(iter(data)))
    assert gzip.decompress(packed) == b"".join(data)
    assert progress.raw == sum(map(len, data)) and progress.sent == len(packed)
    assert "sent" in progress.line(final=True) and "/s" in progress.line(final=True)


def test_an_image_archive_gives_dockers_image_id_labels_and_tag(tmp_path: Path) -> None:
    config = json.dumps(
        {
            "config": {
                "Labels": {
                    "org.opencontainers.image.revision": "c" * 40,
                    "org.opencontainers.image.version": "v3.0.0",
                }
            }
        }
    ).encode()
    digest = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{digest}.json", "RepoTags": ["app:ccc"], "Layers": []}]).encode()
    path = tmp_path / "image.tar"
    with tarfile.open(path, "w") as archive:
        for name, content in (("manifest.json", manifest), (f"{digest}.json", config)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))

    image = transfer.archive_image(path)

    assert image.image_id == f"sha256:{digest}"
    assert (image.release.image, image.release.sha, image.release.version) == ("app:ccc", "c" * 40, "v3.0.0")
    assert b"".join(image.source()) == path.read_bytes()


def test_a_file_that_is_not_an_image_archive_says_so(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(transfer.TransferFailed, match="not an image archive written by `docker save -o`"):
        transfer.archive_image(path)


REMOTE = """\
app = "demo"
[targets.production]
hosts = "${PROD_SSH_HOSTS}"
user = "${PROD_SSH_USER}"
identity_key_from = "PROD_SSH_KEY"
env_file_from = "PROD_ENV_FILE"
registry = "registry.example.invalid/team"
public_url = "https://demo.example.invalid"
"""


def write(root: Path, text: str) -> None:
    (root / "deploy").mkdir(exist_ok=True)
    (root / "deploy" / "deploy.toml").write_text(text)


def test_a_remote_target_takes_several_hosts_and_its_secrets_by_variable_name(tmp_path: Path) -> None:
    write(tmp_path, REMOTE)
    settings = load_deploy_settings(
        tmp_path, {"PROD_SSH_HOSTS": "10.0.0.1, 10.0.0.2", "PROD_SSH_USER": "deploy"}
    )
    target = settings.target("production")
    assert target.hosts == ("10.0.0.1", "10.0.0.2") and target.host == "10.0.0.1"
    assert (target.user, target.identity_key_from, target.env_file_from) == (
        "deploy",
        "PROD_SSH_KEY",
        "PROD_ENV_FILE",
    )
    assert target.registry == "registry.example.invalid/team"
    assert target.on_host("10.0.0.2").host == "10.0.0.2"
    assert target.nginx_reload == ("sudo", "nginx", "-s", "reload")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('host = "a"\nhosts = ["b"]', "host and targets.production.hosts are both set"),
        ('hosts = ["a", "a"]', "hosts must be one or more different"),
        ('hosts = ["a"]\nidentity_key_from = "not a name"', "identity_key_from must be the name of"),
    ],
)
def test_bad_remote_settings_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    write(tmp_path, f'app = "demo"\n[targets.production]\npublic_url = "https://x.invalid"\n{table}\n')
    with pytest.raises(SettingsError, match=message):
        load_deploy_settings(tmp_path, {})


def test_approval_needs_yes_or_a_terminal() -> None:
    assert rollout.approve_on_terminal(yes=True, interactive=False, ask=lambda _: "n")
    assert rollout.approve_on_terminal(yes=False, interactive=True, ask=lambda _: "y")
    assert not rollout.approve_on_terminal(yes=False, interactive=True, ask=lambda _: "")
    with pytest.raises(rollout.ApprovalImpossible, match="pass --yes"):
        rollout.approve_on_terminal(yes=False, interactive=False, ask=lambda _: "y")


def test_migrations_note_says_when_they_run() -> None:
    assert "before the switch" in rollout.migrations_note("before-switch")
    assert "none" in rollout.migrations_note("off")


def test_the_approval_lists_each_hosts_pending_migrations_when_the_database_and_the_scripts_are_known() -> (
    None
):
    v1, v2 = Release("app:aaa", "a" * 40, "v1"), Release("app:bbb", "b" * 40, "v2")
    plans = [
        rollout.HostPlan("web-1", v1, v2, database="0003"),
        rollout.HostPlan("web-2", v1, v2, database=None),  # its database could not be asked
        rollout.HostPlan("web-3", None, v2),
    ]
    scripts = ["0001 (notes)", "0002 (body)", "0003 (index)", "0004 (tags)"]

    def pending_for(revision: str) -> list[str] | None:
        return scripts if revision == "base" else scripts[[s[:4] for s in scripts].index(revision) + 1 :]

    lines = rollout.pending_lines(plans, "before-switch", pending_for)

    assert lines[0] == "  migrations pending on web-1 (database at 0003): 0004 (tags)"
    assert lines[1].startswith(
        "  migrations pending on web-2: unknown: its database's revision could not be read"
    )
    assert lines[2].startswith("  migrations on web-3: nothing deployed yet") and "0001 (notes)" in lines[2]
    assert rollout.pending_lines(plans, "off", pending_for) == [
        f"  migrations pending: {rollout.migrations_note('off')}"
    ]
    not_built_here = rollout.pending_lines(plans[:1], "before-switch", None)
    assert not_built_here == [
        "  migrations pending on web-1 (database at 0003): unknown: the image was not built from this "
        "checkout, so its migrations are not listed here; `alembic upgrade head` runs before the switch "
        '(migrate = "before-switch")'
    ]
    assert rollout.pending_lines(plans[:1], "before-switch", None, image_head="0003") == [
        "  migrations pending on web-1 (database at 0003): none (the release's head is 0003 too)"
    ]
    assert (
        "up to the release's head 0004" in rollout.pending_lines(plans[:1], "before-switch", None, "0004")[0]
    )
    recorded = rollout.HostPlan("web-1", v1, v2, database="0003", recorded=True)

    def never(revision: str) -> list[str] | None:
        raise AssertionError(f"the checkout's migrations are not read when the head is known ({revision})")

    assert rollout.pending_lines([recorded], "before-switch", never, image_head="0003") == [
        "  migrations pending on web-1 (database at 0003, as recorded when the live release started; read "
        "again before the deploy skips any): none (the release's head is 0003 too)"
    ]
    no_scripts = rollout.pending_lines(plans[2:], "before-switch", lambda _: [])
    assert no_scripts[0].endswith("on whatever database it finds (none)")


# --- a fleet of hosts, the image's route in a dry run ---------------------------------------------

LOCAL_ONLY = """\
app = "demo"
[targets.local]
slots = [18000, 18001]
proxy_port = 18080
"""


class EmptyServer:
    """A host with no image, no container and no file, that must never be asked to change anything."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def rehearses(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def run_stream(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes] | None,
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CommandResult:
        raise AssertionError(f"ran {argv}")

    def run_attached(self, argv: Sequence[str]) -> int:
        raise AssertionError(f"ran {argv}")

    def query(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        return CommandResult(tuple(argv), 1, "", "Error: No such object")

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        raise AssertionError(f"ran {argv}")

    def write_file(self, path: str, content: bytes, *, mode: int = 0o644) -> None:
        raise AssertionError(f"wrote {path}")

    def read_file(self, path: str) -> bytes | None:
        return None


def deployment(root: Path, host_name: str) -> Deployment:
    write(root, LOCAL_ONLY)
    settings = load_deploy_settings(root, {})
    return Deployment(
        settings=settings,
        target=settings.target("local"),
        host=EmptyServer(host_name),
        reporter=Reporter(stream=io.StringIO()),
        actor=Actor("dev", "box", 1, "inv deploy.prod", "2026-01-01T00:00:00+00:00"),
    )


@pytest.mark.parametrize("parallel", [1, 2])
def test_any_error_on_one_host_fails_the_fleet_deploy_also_in_parallel(tmp_path: Path, parallel: int) -> None:
    deployments = [deployment(tmp_path, "a"), deployment(tmp_path, "b")]
    release = Release(image="app:abc", sha="abc", version="v1")
    crash = RuntimeError("a bug, not a HostError")

    def action(d: Deployment) -> Outcome:
        if d.host.name == "b":
            raise crash
        return Outcome("deploy", release, slots_of(d.target)[0], None, changed=True, seconds=0.0)

    result = fleet.run_fleet(deployments, action, parallel=parallel)

    assert result.first_error is crash
    assert fleet.result_lines(result) == ["  a: deployed v1 (abc)", "  b: FAILED; serves nothing"]


def test_a_dry_run_with_a_registry_prints_the_pull_and_changes_nothing() -> None:
    out = io.StringIO()
    host = DryRunHost(EmptyServer("root@127.0.0.1:2222"), Reporter(stream=out))
    image = transfer.LocalImage(
        Release(image="app:abc", sha="abc", version="v1"), "sha256:" + "0" * 64, lambda: iter(()), "engine"
    )

    result = transfer.ensure_image(host, image, host.reporter, registry="registry.example.invalid/team")

    assert not result.sent
    assert out.getvalue().splitlines() == [
        "  would run on root@127.0.0.1:2222: docker pull registry.example.invalid/team/app:abc",
        "  would run on root@127.0.0.1:2222: docker tag registry.example.invalid/team/app:abc app:abc",
    ]


def test_publishing_an_archive_loads_it_here_first_and_a_dry_run_only_prints(tmp_path: Path) -> None:
    out = io.StringIO()
    archive = tmp_path / "app.tar"
    image = transfer.LocalImage(
        Release(image="app:abc", sha="abc", version="v1"),
        "sha256:" + "0" * 64,
        lambda: iter(()),
        str(archive),
    )

    reporter = Reporter(stream=out)
    here = DryRunHost(EmptyServer("local"), reporter)

    transfer.publish(image, "registry.example.invalid/team", here, reporter, archive=archive)

    assert out.getvalue().splitlines() == [
        f"  would run on local: docker load --input {archive}",
        "  would run on local: docker tag app:abc registry.example.invalid/team/app:abc",
        "  would run on local: docker push registry.example.invalid/team/app:abc",
    ]


def test_an_image_without_a_tag_cannot_be_published() -> None:
    image_id = "sha256:" + "0" * 64
    image = transfer.LocalImage(
        Release(image=image_id, sha="abc", version="v1"), image_id, lambda: iter(()), "x"
    )

    with pytest.raises(transfer.TransferFailed, match="has no name:tag to push"):
        transfer.publish(
            image, "registry.example.invalid", EmptyServer("local"), Reporter(stream=io.StringIO())
        )


def test_the_proxy_task_refuses_a_server_target_before_reaching_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    write(
        tmp_path,
        'app = "demo"\n[targets.production]\nhost = "127.0.0.1"\nport = 9\n'
        'env_file_from = "PROD_ENV_FILE"\npublic_url = "https://demo.example.invalid"\n',
    )

    done = run_shipflow("deploy.proxy", "--env", "production", cwd=tmp_path)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "target production is not local; its nginx is the server's" in done.stderr
    assert "ssh" not in done.stderr and "env file" not in done.stderr


def test_an_env_file_error_while_opening_a_deploy_hides_url_passwords(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n[tool.shipflow.env.keys.DEBUG]\ntype = "bool"\n'
    )
    write(
        tmp_path,
        'app = "demo"\n[targets.production]\nhost = "127.0.0.1"\nport = 9\n'
        'env_file_from = "PROD_ENV_FILE"\npublic_url = "https://demo.example.invalid"\n',
    )
    password = "pw-canary-71c3"
    environ = user_environ(PROD_ENV_FILE=f"DEBUG=postgresql://app:{password}@db/app\n")

    done = run_shipflow("deploy.status", "--env", "production", cwd=tmp_path, env=environ)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "DEBUG: is not a boolean ('postgresql://app:****@db/app')" in done.stderr
    assert password not in done.stdout + done.stderr
