"""Migrations inside a blue-green deploy, with real containers and nginx: a new migration is applied in a
one-off container before the switch; a failing one stops the deploy while the old release keeps serving;
a rollback across the schema change warns naming both revisions."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from db_support import NEW_MIGRATION
from deploy_support import (
    MIGRATION_VERSIONS,
    DeployProject,
    ServiceRelease,
    base_image,
    build_release,
    make_project,
    service_context,
)

pytestmark = [pytest.mark.e2e, pytest.mark.needs("docker", "nginx")]

REPOSITORY = f"shipflow-dbe2e-{uuid.uuid4().hex[:6]}"
BROKEN_MIGRATION = NEW_MIGRATION.replace(
    'op.create_table("tags", sa.Column("id", sa.Integer(), nullable=False), sa.PrimaryKeyConstraint("id"))',
    'raise RuntimeError("this migration fails on purpose")',
)


@pytest.fixture(scope="module")
def releases() -> Iterator[dict[str, ServiceRelease]]:
    base = base_image()
    built = {
        "v1": build_release(REPOSITORY, "v1", base),
        "v1-code": build_release(REPOSITORY, "v1-code", base),  # the same migrations, other code
        "v1-again": build_release(REPOSITORY, "v1-again", base),
        "v2": build_release(
            REPOSITORY,
            "v2",
            base,
            service_context({f"{MIGRATION_VERSIONS}/0004_add_tags.py": NEW_MIGRATION.encode()}),
        ),
        "broken": build_release(
            REPOSITORY,
            "broken",
            base,
            service_context({f"{MIGRATION_VERSIONS}/0004_broken.py": BROKEN_MIGRATION.encode()}),
        ),
    }
    yield built
    subprocess.run(
        ["docker", "rmi", "--force", *(r.image for r in built.values())], capture_output=True, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[DeployProject]:
    made = make_project(tmp_path, REPOSITORY, deploy_timeout=15.0)
    yield made
    made.tear_down()


def deploy_records(project: DeployProject) -> list[dict[str, object]]:
    done = project.shipflow("deploy.audit", "--env", "local", "--json")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def deployed(project: DeployProject, release: ServiceRelease) -> subprocess.CompletedProcess[str]:
    done = project.deploy(release)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_a_new_migration_is_applied_before_the_switch_and_recorded(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    first = deployed(project, releases["v1"])
    assert "database: base -> 0003" in first.stdout
    second = deployed(project, releases["v2"])
    output = second.stdout
    assert "database: 0003 -> 0004" in output
    assert output.index("migrate") < output.index("  start ")  # migrated before the new slot started
    assert project.served_sha() == releases["v2"].sha
    last = deploy_records(project)[-1]
    assert last["result"] == "ok"
    assert last["extra"]["db_revision_before"] == "0003"  # type: ignore[index]
    assert last["extra"]["db_revision_after"] == "0004"  # type: ignore[index]

    back = project.shipflow("deploy.rollback", "--env", "local")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "rolling back across a schema change" in back.stdout
    assert "revision 0003" in back.stdout and "now at 0004" in back.stdout
    assert project.served_sha() == releases["v1"].sha


def test_a_release_without_a_new_migration_runs_no_migration_container_unless_the_database_moved(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])

    same = deployed(project, releases["v1-code"])

    assert "at head 0003 when blue went live: nothing to run" in same.stdout, same.stdout
    assert "at 0003, as recorded" in same.stdout and "database: " not in same.stdout
    record = deploy_records(project)[-1]
    assert record["extra"]["db_revision_before"] == record["extra"]["db_revision_after"] == "0003"  # type: ignore[index]

    # Behind shipflow's back: the database is taken one revision down through the live release.
    live = f"{project.app}-local-green"
    downgrade = ["docker", "exec", live, "python3", "-m", "alembic", "downgrade", "-1"]
    subprocess.run(downgrade, check=True, capture_output=True)
    moved = deployed(project, releases["v1-again"])

    assert "at 0002, not 0003: migrating, then starting the new release again" in moved.stdout
    assert "database: 0002 -> 0003" in moved.stdout
    assert project.served_sha() == releases["v1-again"].sha


def test_a_failing_migration_stops_the_deploy_and_the_old_release_keeps_serving(
    project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    deployed(project, releases["v1"])
    done = project.deploy(releases["broken"])
    assert done.returncode == 1
    assert "this migration fails on purpose" in done.stdout
    assert "previous release keeps serving" in done.stderr
    assert project.served_sha() == releases["v1"].sha
    assert releases["broken"].sha not in {sha for _, sha in project.containers().values()}  # never started
    last = deploy_records(project)[-1]
    assert last["result"] == "failed"
    assert last["extra"]["db_revision_before"] == "0003"  # type: ignore[index]


@pytest.fixture
def on_start_project(tmp_path: Path) -> Iterator[DeployProject]:
    made = make_project(tmp_path, REPOSITORY, deploy_timeout=15.0, migrate="on-start")
    yield made
    made.tear_down()


def database_revision(project: DeployProject, slot: str) -> str:
    """``alembic current`` inside the running container of ``slot``, against the database it uses."""
    done = subprocess.run(
        ["docker", "exec", f"{project.app}-local-{slot}", "python3", "-m", "alembic", "current"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()[0]


def test_on_start_the_new_container_migrates_itself_and_a_failing_migration_never_gets_traffic(
    on_start_project: DeployProject, releases: dict[str, ServiceRelease]
) -> None:
    project = on_start_project
    first = deployed(project, releases["v1"])

    assert "  migrate " not in first.stdout  # no one-off container: the release's own start runs alembic
    assert database_revision(project, "blue") == "0003"

    broken = project.deploy(releases["broken"])

    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "this migration fails on purpose" in broken.stdout  # the candidate's last log lines
    assert project.served_sha() == releases["v1"].sha
    assert database_revision(project, "blue") == "0003"

    second = deployed(project, releases["v2"])

    assert "  migrate " not in second.stdout
    assert database_revision(project, "green") == "0004"
    assert project.served_sha() == releases["v2"].sha
