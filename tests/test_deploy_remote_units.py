"""The pure parts of deploying to servers: guards, image transfer commands and archives, remote target
settings, the rollout across hosts, approval."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from shipflow.deploy import fleet, guards, transfer
from shipflow.deploy.settings import load_deploy_settings
from shipflow.project import SettingsError
from shipflow.report import Reporter

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


def test_transfer_commands_stream_into_docker_load_or_go_through_a_registry() -> None:
    assert transfer.save_argv("app:abc") == ["docker", "save", "app:abc"]
    assert transfer.load_argv() == ["sh", "-c", "gunzip | docker load"]
    assert transfer.push_argvs("registry.example.invalid/team", "app:abc") == [
        ["docker", "tag", "app:abc", "registry.example.invalid/team/app:abc"],
        ["docker", "push", "registry.example.invalid/team/app:abc"],
    ]
    assert transfer.pull_argvs("registry.example.invalid/team/", "app:abc") == [
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
    assert fleet.approve(yes=True, interactive=False, ask=lambda _: "n")
    assert fleet.approve(yes=False, interactive=True, ask=lambda _: "y")
    assert not fleet.approve(yes=False, interactive=True, ask=lambda _: "")
    with pytest.raises(fleet.ApprovalImpossible, match="pass --yes"):
        fleet.approve(yes=False, interactive=False, ask=lambda _: "y")


def test_migrations_note_says_when_they_run() -> None:
    assert "before the switch" in fleet.migrations_note("before-switch")
    assert "none" in fleet.migrations_note("off")
