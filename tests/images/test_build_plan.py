"""What `inv build` tells docker, as data: settings, tags, labels, build args, and image-facts commands."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support import REPO, ShipflowCli

from shipflow.images.facts import (
    ReleaseImage,
    image_id_argv,
    parse_image_details,
    parse_prune_facts,
    prunable,
    prune_facts_argv,
    remove_image_argv,
)
from shipflow.images.plan import (
    SourceFacts,
    base_image_command,
    build_plan,
    image_tags,
    iso_utc,
    public_source,
    version_of,
)
from shipflow.images.settings import (
    DEFAULT_BASE_PACKAGES,
    BaseImage,
    BuildSettings,
    base_image_tag,
    build_settings,
)
from shipflow.project import Project, SettingsError, load_project

pytestmark = pytest.mark.unit

SHA = "0123456789abcdef0123456789abcdef01234567"
COMMITTED = datetime(2026, 11, 21, 20, 48, 5, tzinfo=UTC)
CLEAN = SourceFacts(sha=SHA, committed_at=COMMITTED, source="https://git.example.invalid/team/app.git")


def settings_from(tmp_path: Path, section: dict[str, Any]) -> BuildSettings:
    return build_settings(Project(root=tmp_path, settings={"build": section}))


def test_this_repository_builds_the_example_service_on_the_debian_base() -> None:
    settings = build_settings(load_project(REPO))
    assert settings.image == "shipflow-example"
    assert settings.dockerfile_in_repo == "examples/service/Dockerfile"
    assert (REPO / settings.dockerfile_in_repo).is_file()
    assert settings.retain == 5
    assert settings.clean_tree == ("staging", "production")
    assert settings.base is not None and settings.base.is_built_here
    assert set(settings.base.packages) == set(DEFAULT_BASE_PACKAGES)


def test_only_the_image_name_is_required(tmp_path: Path) -> None:
    assert settings_from(tmp_path, {"image": "myapp"}) == BuildSettings(image="myapp")
    with pytest.raises(
        SettingsError, match=r"\[tool.shipflow.build\] image is not set: add e.g. image = \"myapp\""
    ):
        settings_from(tmp_path, {})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"image": "MyApp:1.0"}, r"\] image must be a lowercase image name without a tag"),
        ({"image": "app", "retain": 0}, r"\] retain must be a whole number of images >= 1, got 0"),
        ({"image": "app", "clean_tree": ["prod", "qa"]}, r"unknown environment 'qa' \(from .*clean_tree\)"),
        (
            {"image": "app", "dockerfile": "../Dockerfile"},
            r"\] dockerfile must be a path inside the repository",
        ),
        (
            {"image": "app", "tagz": 1},
            r"unknown key tool.shipflow.build.tagz; known keys of tool.shipflow.build: image",
        ),
        (
            {"image": "app", "base": {"image": "python:3.11-slim", "packages": ["python3"]}},
            r"\[tool.shipflow.build.base\] names a registry image, so packages",
        ),
        ({"image": "app", "base": {"packages": ["python3", "Bad Name"]}}, r"not valid: 'Bad Name'"),
        ({"image": "app", "base": {"script": "nope.sh"}}, r"script 'nope.sh' is not a file"),
    ],
)
def test_malformed_settings_name_the_key(tmp_path: Path, section: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from(tmp_path, section)


def test_a_registry_base_image_is_passed_as_is(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, {"image": "app", "base": {"image": "python:3.11-slim"}})
    assert settings.base == BaseImage(image="python:3.11-slim")
    assert not settings.base.is_built_here
    assert build_plan(settings, CLEAN).build_args["BASE_IMAGE"] == "python:3.11-slim"


def test_the_base_tag_changes_with_the_package_list_and_agrees_with_the_builder_script() -> None:
    packages = ("python3", "ca-certificates")
    tag = base_image_tag("shipflow-base", "bookworm", packages)
    assert tag.startswith("shipflow-base:bookworm-")
    assert base_image_tag("shipflow-base", "bookworm", tuple(reversed(packages))) == tag
    assert base_image_tag("shipflow-base", "bookworm", (*packages, "curl")) != tag
    script = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-base-image.sh"), "--print-tag", *packages],
        capture_output=True,
        text=True,
        check=True,
    )
    assert script.stdout.strip() == tag


def test_the_base_builder_command_names_the_tag_suite_and_packages() -> None:
    base = BaseImage(packages=("python3", "ca-certificates"))
    assert base_image_command(base, script_path=Path("/repo/scripts/build-base-image.sh")) == [
        "bash",
        "/repo/scripts/build-base-image.sh",
        "--tag",
        base.reference,
        "--suite",
        "bookworm",
        "python3",
        "ca-certificates",
    ]


def test_a_clean_commit_is_tagged_by_sha_and_latest_and_by_its_release_tag() -> None:
    assert image_tags("app", CLEAN) == (f"app:{SHA}", "app:latest")
    released = SourceFacts(sha=SHA, committed_at=COMMITTED, release_tag="v1.4.0")
    assert image_tags("app", released) == (f"app:{SHA}", "app:latest", "app:v1.4.0")


def test_a_dirty_build_is_only_tagged_sha_dirty() -> None:
    dirty = SourceFacts(sha=SHA, committed_at=COMMITTED, release_tag="v1.4.0", dirty=True)
    assert image_tags("app", dirty) == (f"app:{SHA}-dirty",)
    assert version_of(dirty) == "0.0.0+0123456789ab.dirty"


def test_labels_and_build_args_come_from_the_commit_only() -> None:
    settings = BuildSettings(image="app", base=BaseImage(image="debian:12"))
    plan = build_plan(settings, SourceFacts(sha=SHA, committed_at=COMMITTED, release_tag="v2.0.1"))
    assert dict(plan.labels) == {
        "org.opencontainers.image.revision": SHA,
        "org.opencontainers.image.version": "v2.0.1",
        "org.opencontainers.image.created": "2026-11-21T20:48:05Z",
        "org.opencontainers.image.source": "",
        "shipflow.app": "app",
        "shipflow.release": SHA,
    }
    assert dict(plan.build_args) == {
        "SHIPFLOW_VERSION": "v2.0.1",
        "SHIPFLOW_SHA": SHA,
        "BASE_IMAGE": "debian:12",
    }
    # Same commit, same plan: nothing depends on the clock, so docker's cache gives the same image id.
    assert build_plan(settings, SourceFacts(sha=SHA, committed_at=COMMITTED, release_tag="v2.0.1")) == plan


def test_a_commit_with_migrations_labels_the_image_with_their_head() -> None:
    settings = BuildSettings(image="app")
    facts = SourceFacts(sha=SHA, committed_at=COMMITTED, migrations_head="0003")
    assert dict(build_plan(settings, facts).labels)["shipflow.migrations_head"] == "0003"
    assert "shipflow.migrations_head" not in build_plan(settings, CLEAN).labels


def test_an_untagged_commit_has_a_semver_build_version() -> None:
    assert version_of(CLEAN) == "0.0.0+0123456789ab"


def test_created_is_rfc3339_utc_whatever_the_committer_timezone() -> None:
    tokyo = COMMITTED.astimezone(timezone(timedelta(hours=9)))
    assert iso_utc(tokyo) == "2026-11-21T20:48:05Z"


@pytest.mark.parametrize(
    ("remote", "published"),
    [
        (
            "https://deploy:s3cret@git.example.invalid/team/app.git",
            "https://git.example.invalid/team/app.git",
        ),
        ("https://ghp_token@git.example.invalid:8443/app.git", "https://git.example.invalid:8443/app.git"),
        ("git@git.example.invalid:team/app.git", "git@git.example.invalid:team/app.git"),
        (None, "/work/app"),
    ],
)
def test_the_source_label_never_holds_credentials(remote: str | None, published: str) -> None:
    assert public_source(remote, Path("/work/app")) == published


# --- the task refuses bad input before it reaches docker ------------------------------------------------


def test_build_with_an_unknown_environment_names_the_known_ones(
    shipflow_cli: ShipflowCli, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.shipflow.build]\nimage = "app"\n')
    done = shipflow_cli("build", "--env", "qa", cwd=tmp_path)
    assert done.returncode == 2
    assert "build: unknown environment 'qa' (from --env); known: development" in done.stderr
    assert "Traceback" not in done.stderr


def test_build_without_settings_says_which_key_to_add(shipflow_cli: ShipflowCli, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    done = shipflow_cli("build", cwd=tmp_path)
    assert done.returncode == 2
    assert "[tool.shipflow.build] image is not set" in done.stderr


@pytest.mark.needs("git")
def test_build_outside_a_git_repository_says_to_commit_first(
    shipflow_cli: ShipflowCli, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.shipflow.build]\nimage = "app"\n')
    done = shipflow_cli("build", cwd=tmp_path)
    assert done.returncode == 1
    assert "is not inside a git repository: run 'git init' and commit first" in done.stderr
    assert "Traceback" not in done.stderr


# --- image facts on a host: the commands and the pruning rule --------------------------------------


def test_image_fact_commands_are_plain_docker_cli_argv() -> None:
    assert image_id_argv("sha256:abc") == ["docker", "image", "inspect", "--format", "{{.Id}}", "sha256:abc"]
    assert prune_facts_argv("app")[:2] == ["sh", "-c"]
    assert prune_facts_argv("app")[4] == "shipflow.app=app"  # a word of its own, never in the script
    tagged = ReleaseImage("sha256:a", "2026-01-01T00:00:00Z", ("app:one", "app:latest"))
    assert remove_image_argv(tagged) == ["docker", "image", "rm", "app:one", "app:latest"]
    assert remove_image_argv(ReleaseImage("sha256:b", "x")) == ["docker", "image", "rm", "sha256:b"]


def test_image_details_are_parsed_from_one_json_line_each() -> None:
    output = (
        '{"id":"sha256:a","created":"2026-01-02T00:00:00Z","tags":["app:1","app:latest"]}\n'
        '{"id":"sha256:b","created":"2026-01-01T00:00:00Z","tags":null}\n'
    )
    assert parse_image_details(output) == [
        ReleaseImage("sha256:a", "2026-01-02T00:00:00Z", ("app:1", "app:latest")),
        ReleaseImage("sha256:b", "2026-01-01T00:00:00Z", ()),
    ]


def test_a_prunes_facts_come_in_one_answer_the_apps_images_then_the_images_in_use() -> None:
    details = '{"id":"sha256:a","created":"2026-01-02T00:00:00Z","tags":["app:1"]}\n'
    output = f"{details}--- images in use\nsha256:a\nsha256:z\nsha256:a\n"
    assert parse_prune_facts(output) == (
        [ReleaseImage("sha256:a", "2026-01-02T00:00:00Z", ("app:1",))],
        {"sha256:a", "sha256:z"},
    )
    assert parse_prune_facts("") == ([], set())  # the app has no image: nothing else is asked


def test_pruning_keeps_the_newest_the_used_and_the_named() -> None:
    images = [
        ReleaseImage(f"sha256:{day}", f"2026-01-0{day}T00:00:00Z", (f"app:r{day}",)) for day in range(1, 8)
    ]
    doomed = prunable(images, retain=3, in_use={"sha256:2"}, keep=["app:r1"])
    assert [image.image_id for image in doomed] == ["sha256:4", "sha256:3"]
    assert prunable(images, retain=10, in_use=set()) == []
