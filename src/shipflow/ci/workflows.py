"""CI pipelines as data: GitHub Actions workflows and a GitLab CI file whose every step is one command.

Each job checks out the code, sets up Python, installs with one bootstrap line and then runs one-line
``inv``/``nox`` commands, so a pipeline runs exactly what a developer runs on a laptop. Jobs that need
system services (docker, nginx, sshd, PostgreSQL) bootstrap with ``bash scripts/setup.sh``, the README's
installer; the others with ``pip install``. The YAML text is deterministic: the same settings always give
the same bytes, so the committed files can be checked against a fresh generation.

The tests fan out by test group: each group that ``tests_config.yaml`` enables is one job of a matrix
(``inv test --group G``), so the pipeline takes as long as its slowest group, not their sum. The fast
group (``unit``, in-process) runs on every supported Python with only pip installs; the others on the
default Python with the system services. A project without a groups file runs its whole suite per Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

PROVIDERS: tuple[str, ...] = ("github", "gitlab")
PYTHONS: tuple[str, ...] = ("3.11", "3.12", "3.13")
DEFAULT_PYTHON = "3.11"

INSTALL = "python -m pip install -e '.[dev]'"
"""Bootstrap of jobs that only need Python packages."""
SETUP = "bash scripts/setup.sh"
"""Bootstrap of jobs that need docker, nginx, sshd or PostgreSQL: the README's installer."""
BOOTSTRAPS: tuple[str, ...] = (INSTALL, SETUP)

PRODUCTION_SECRETS: tuple[str, ...] = (
    "PROD_SSH_HOST",
    "PROD_SSH_PORT",
    "PROD_SSH_USER",
    "PROD_SSH_KEY",
    "PROD_ENV_FILE",
)
"""What ``inv deploy.prod`` reads from CI secrets."""
STAGING_SECRETS: tuple[str, ...] = tuple(name.replace("PROD_", "STAGING_") for name in PRODUCTION_SECRETS)
"""What ``inv deploy.staging`` (and the gates, which record their results on staging's hosts) read."""


def known_hosts_line(*secrets: str) -> str:
    """A deploy job's step before it reaches servers: a fresh runner knows no server's host key, and shipflow
    refuses a key it cannot verify; each of ``secrets`` holds servers' known_hosts lines, written to the
    runner's private ~/.ssh/known_hosts (a job reaching staging and production names both)."""
    values = " ".join(
        f'"${{{secret}:?set the {secret} secret to the known_hosts lines of the servers}}"'
        for secret in secrets
    )
    return f"printf '%s\\n' {values} | install -D -m 600 /dev/stdin ~/.ssh/known_hosts"


KNOWN_HOSTS_SECRET = "PROD_SSH_KNOWN_HOSTS"  # noqa: S105  # nosec B105 - a variable name, not a value
STAGING_KNOWN_HOSTS_SECRET = "STAGING_SSH_KNOWN_HOSTS"  # noqa: S105  # nosec B105 - a variable name
KNOWN_HOSTS_LINE = known_hosts_line(KNOWN_HOSTS_SECRET)
STAGING_KNOWN_HOSTS_LINE = known_hosts_line(STAGING_KNOWN_HOSTS_SECRET)
BOTH_KNOWN_HOSTS_LINE = known_hosts_line(STAGING_KNOWN_HOSTS_SECRET, KNOWN_HOSTS_SECRET)
HOST_KEY_LINES: tuple[str, ...] = (KNOWN_HOSTS_LINE, STAGING_KNOWN_HOSTS_LINE, BOTH_KNOWN_HOSTS_LINE)
CI_SECRETS: tuple[str, ...] = (
    *STAGING_SECRETS, STAGING_KNOWN_HOSTS_SECRET, *PRODUCTION_SECRETS, KNOWN_HOSTS_SECRET
)  # fmt: skip
"""Every secret the generated pipelines read."""

GATES: tuple[str, ...] = ("integration", "load")
"""Every gate (``inv gate.<name>``); a project's ``[tool.shipflow.gates] required`` names those it runs."""
IMAGE_ARCHIVE = "image.tar"
"""The build job's image (``inv build --archive``), the one file every later job deploys."""
REPORTS = "reports/"
"""Where the gates write their reports (JUnit XML, Locust's HTML and JSON), kept as an artifact."""
UPLOAD_ARTIFACT = "actions/upload-artifact@v7"
DOWNLOAD_ARTIFACT = "actions/download-artifact@v7"

FAST_GROUP = "unit"
"""The group of in-process tests: the one test job run on every supported Python."""
MATRIX_GROUP = "<group>"
"""Stands for the matrix's group in a step's command line; each provider writes its own variable."""
GROUP_VARIABLE = {"github": "${{ matrix.group }}", "gitlab": "${GROUP}"}

CHECKOUT = "actions/checkout@v5"
SETUP_PYTHON = "actions/setup-python@v6"


@dataclass(frozen=True)
class Step:
    """One named step: a single command line; ``secrets`` are given to this step only."""

    name: str
    run: str
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Artifact:
    """Files a job hands to later jobs: ``name`` and ``path``; ``always`` keeps them when a step failed
    (the gates' reports say why)."""

    name: str
    path: str
    always: bool = False


IMAGE = Artifact("image", IMAGE_ARCHIVE)
GATE_REPORTS = Artifact("gate-reports", REPORTS, always=True)


@dataclass(frozen=True)
class Job:
    """A job: its bootstrap line, then its steps; ``needs`` are jobs that must pass first.

    ``full_history`` checks out every commit and tag (the build labels its image with the release tag,
    the migration check compares with the base branch); ``writes`` lets it push to the repository.
    ``matrix_groups``: one job per test group, :data:`MATRIX_GROUP` in a step naming the job's group.
    """

    name: str
    bootstrap: str
    steps: tuple[Step, ...]
    needs: tuple[str, ...] = ()
    matrix_python: bool = False
    full_history: bool = False
    writes: bool = False
    matrix_groups: tuple[str, ...] = ()
    environment: str | None = None  # the CI environment (its secrets, its approval rules)
    secrets: tuple[str, ...] = ()  # given to every step of the job
    uploads: tuple[Artifact, ...] = ()
    downloads: tuple[tuple[str, Artifact], ...] = ()  # (the job that uploaded it, the artifact)


LINT = Job("lint", INSTALL, (Step("ruff, format, bandit", "nox -s lint"),))
TYPECHECK = Job("typecheck", INSTALL, (Step("mypy --strict", "nox -s typecheck"),))
MIGRATIONS = Job("migrations", SETUP, (Step("migration check", "inv db.check"),), full_history=True)


def suite_jobs(groups: Sequence[str] | None) -> tuple[Job, ...]:
    """The test jobs for the groups ``tests_config.yaml`` enables (None: the project has no groups file).

    The fast group is one job per supported Python, bootstrapped with pip alone; every other group is one
    job of a matrix on the default Python, bootstrapped with the system services; without a groups file,
    the whole suite runs per Python."""
    if groups is None:
        return (Job("tests", SETUP, (Step("test suite", "inv test"),), matrix_python=True),)
    jobs = []
    if FAST_GROUP in groups:
        step = Step(f"{FAST_GROUP} tests", f"inv test --group {FAST_GROUP}")
        jobs.append(Job(f"tests-{FAST_GROUP}", INSTALL, (step,), matrix_python=True))
    others = tuple(group for group in groups if group != FAST_GROUP)
    if others:
        step = Step(f"{MATRIX_GROUP} tests", f"inv test --group {MATRIX_GROUP}")
        jobs.append(Job("tests", SETUP, (step,), matrix_groups=others))
    return tuple(jobs)


def ci_jobs(groups: Sequence[str] | None) -> tuple[Job, ...]:
    """Lint, typecheck, the test jobs and the migration check, then the build once they all passed."""
    checks = (LINT, TYPECHECK, *suite_jobs(groups), MIGRATIONS)
    build = Job(
        "build",
        SETUP,
        (Step("image of this commit", "inv build"),),
        needs=tuple(job.name for job in checks),
        full_history=True,
    )
    return (*checks, build)


STAGING_HOST_KEYS = Step(
    "trust staging's host keys", STAGING_KNOWN_HOSTS_LINE, secrets=(STAGING_KNOWN_HOSTS_SECRET,)
)
BOTH_HOST_KEYS = Step(
    "trust staging's and production's host keys",
    BOTH_KNOWN_HOSTS_LINE,
    secrets=(STAGING_KNOWN_HOSTS_SECRET, KNOWN_HOSTS_SECRET),
)
PROMOTE = "inv deploy.promote --from staging --to production --yes --image-archive " + IMAGE_ARCHIVE
GATE_STEPS = {
    "integration": Step("integration tests against staging", "inv gate.integration --env staging"),
    "load": Step("load test against staging", "inv gate.load --env staging"),
}


def delivery_jobs(groups: Sequence[str] | None, gates: Sequence[str] = GATES) -> tuple[Job, ...]:
    """On main, after the tests: the image built once (an artifact), deployed to staging, the ``gates``
    against staging (their reports an artifact; no job without gates), then, once a person approves (the
    ``production`` environment's rule, or GitLab's manual job), that same image promoted to production."""
    tests = suite_jobs(groups)
    build = Job(
        "build",
        SETUP,
        (Step("image of this commit, once", f"inv build --env production --archive {IMAGE_ARCHIVE}"),),
        needs=tuple(job.name for job in tests),
        full_history=True,
        uploads=(IMAGE,),
    )
    staging = Job(
        "deploy-staging",
        SETUP,
        (
            STAGING_HOST_KEYS,
            Step("blue-green deploy to staging", f"inv deploy.staging --yes --image-archive {IMAGE_ARCHIVE}"),
        ),
        needs=("build",),
        full_history=True,  # the branch guard compares with the remote's history
        environment="staging",
        secrets=STAGING_SECRETS,
        downloads=(("build", IMAGE),),
    )
    checked = Job(
        "gates",
        SETUP,
        (STAGING_HOST_KEYS, *(GATE_STEPS[gate] for gate in gates)),
        needs=("deploy-staging",),
        environment="staging",
        secrets=STAGING_SECRETS,
        uploads=(GATE_REPORTS,),
    )
    promote = Job(
        "promote-production",
        SETUP,
        (BOTH_HOST_KEYS, Step("the image staging proved, to production", PROMOTE)),
        needs=("gates",) if gates else ("deploy-staging",),
        full_history=True,
        environment="production",
        secrets=(*STAGING_SECRETS, *PRODUCTION_SECRETS),
        downloads=(("build", IMAGE),),
    )
    return (*tests, build, staging, *((checked,) if gates else ()), promote)


HEADER = (
    "# Generated by `inv ci.generate --provider {provider}` (shipflow.ci.workflows): do not edit by hand;\n"
    "# change the generator and run the task again. Every step is one `inv` or `nox` command, the same\n"
    "# as on a laptop, after one bootstrap line (`{install}` or `{setup}`).\n"
)


def _header(provider: str, extra: str = "") -> str:
    return HEADER.format(provider=provider, install=INSTALL, setup=SETUP) + extra


# --- GitHub Actions -------------------------------------------------------------------------------


def _secret_env(names: tuple[str, ...]) -> dict[str, str]:
    return {name: "${{ secrets.%s }}" % name for name in names}  # noqa: UP031


def _for_provider(step: Step, provider: str) -> Step:
    """``step`` with the matrix's group written the way ``provider`` names it."""
    variable = GROUP_VARIABLE[provider]
    return replace(
        step, name=step.name.replace(MATRIX_GROUP, variable), run=step.run.replace(MATRIX_GROUP, variable)
    )


def _github_step(step: Step) -> dict[str, Any]:
    step = _for_provider(step, "github")
    body: dict[str, Any] = {"name": step.name, "run": step.run}
    if step.secrets:
        body["env"] = _secret_env(step.secrets)
    return body


def _github_steps(job: Job, python: str) -> list[dict[str, Any]]:
    checkout: dict[str, Any] = {"uses": CHECKOUT}
    if job.full_history:
        checkout["with"] = {"fetch-depth": 0}
    steps: list[dict[str, Any]] = [
        checkout,
        {"uses": SETUP_PYTHON, "with": {"python-version": python}},
        {"name": "bootstrap", "run": job.bootstrap},
    ]
    for _, artifact in job.downloads:
        steps.append({"uses": DOWNLOAD_ARTIFACT, "with": {"name": artifact.name}})
    steps.extend(_github_step(step) for step in job.steps)
    for artifact in job.uploads:
        upload: dict[str, Any] = {
            "uses": UPLOAD_ARTIFACT,
            "with": {"name": artifact.name, "path": artifact.path},
        }
        if artifact.always:
            upload = {"if": "always()", **upload}
        steps.append(upload)
    return steps


def _permissions(job: Job) -> dict[str, str]:
    """Least privilege: read the code, write only where the job pushes (the workflow grants nothing)."""
    return {"contents": "write" if job.writes else "read"}


def _github_job(job: Job, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"runs-on": "ubuntu-latest", "permissions": _permissions(job)}
    if job.needs:
        body["needs"] = list(job.needs)
    python = DEFAULT_PYTHON
    if job.matrix_python:
        body["strategy"] = {"fail-fast": False, "matrix": {"python": list(PYTHONS)}}
        python = "${{ matrix.python }}"
    elif job.matrix_groups:
        body["strategy"] = {"fail-fast": False, "matrix": {"group": list(job.matrix_groups)}}
    if job.environment:
        body["environment"] = job.environment
    if job.secrets:
        body["env"] = _secret_env(job.secrets)
    body.update(extra)
    body["steps"] = _github_steps(job, python)
    return body


def github_ci(groups: Sequence[str] | None = None) -> dict[str, Any]:
    """``.github/workflows/ci.yml``: lint, typecheck, the tests by group (the fast one on every supported
    Python), migrations, build."""
    return {
        "name": "ci",
        "on": {
            "push": {"branches-ignore": ["documentation", "documentation/**"]},
            "pull_request": {},
        },
        "permissions": {},
        "jobs": {job.name: _github_job(job) for job in ci_jobs(groups)},
    }


def github_deploy_prod(groups: Sequence[str] | None = None, gates: Sequence[str] = GATES) -> dict[str, Any]:
    """``.github/workflows/deploy-prod.yml``: on push to main, the tests by group, then the delivery:
    build once -> staging -> gates -> approval -> the same image promoted to production.

    The staging jobs run in the ``staging`` environment and the promotion in ``production``, whose
    protection rules hold it for a reviewer's approval; SSH settings come from each environment's secrets.
    """
    return {
        "name": "deploy-prod",
        "on": {"push": {"branches": ["main"]}},
        "concurrency": {"group": "deploy-production", "cancel-in-progress": False},
        "permissions": {},
        "jobs": {job.name: _github_job(job) for job in delivery_jobs(groups, gates)},
    }


def github_docs() -> dict[str, Any]:
    """``.github/workflows/docs.yml``: ``documentation`` publishes; ``documentation/*`` and PRs only build."""
    build = Job("build", INSTALL, (Step("build the site (strict)", "inv docs.build"),), full_history=True)
    deploy = Job(
        "deploy", INSTALL, (Step("build and publish", "inv docs.deploy"),), full_history=True, writes=True
    )
    return {
        "name": "docs",
        "on": {
            "push": {"branches": ["documentation", "documentation/**"]},
            "pull_request": {"branches": ["documentation"]},
        },
        "permissions": {},
        "jobs": {
            "build": _github_job(build, **{"if": "github.event_name == 'pull_request'"}),
            "deploy": _github_job(deploy, **{"if": "github.event_name == 'push'"}),
        },
    }


# --- GitLab CI ------------------------------------------------------------------------------------

GITLAB_STAGES: tuple[str, ...] = ("lint", "test", "build", "staging", "gates", "production")
_STAGE_OF_JOB = {"lint": "lint", "typecheck": "lint", "migrations": "test", "build": "build"}
_DELIVERY_STAGE = {
    "build": "build", "deploy-staging": "staging", "gates": "gates", "promote-production": "production"
}  # fmt: skip
"""Every other job of the CI jobs is a test job (stage ``test``)."""
_ON_MAIN = '$CI_COMMIT_BRANCH == "main"'
_ON_MERGE_REQUEST = '$CI_PIPELINE_SOURCE == "merge_request_event"'


def _gitlab_job(job: Job, stage: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"stage": stage}
    if job.matrix_python:
        body["image"] = "python:${PYTHON}-bookworm"
        body["parallel"] = {"matrix": [{"PYTHON": list(PYTHONS)}]}
    elif job.matrix_groups:
        body["parallel"] = {"matrix": [{"GROUP": list(job.matrix_groups)}]}
    if job.needs:
        body["needs"] = list(job.needs)
    if job.bootstrap != INSTALL:
        body["before_script"] = [job.bootstrap]
    if job.full_history:
        body["variables"] = {"GIT_DEPTH": "0"}
    if job.environment:
        body["environment"] = {"name": job.environment}
    if job.uploads:
        (artifact,) = job.uploads
        body["artifacts"] = {"paths": [artifact.path], "expire_in": "1 week"}
        if artifact.always:
            body["artifacts"]["when"] = "always"
    if job.downloads:
        body["needs"] = [
            {"job": name, "artifacts": any(source == name for source, _ in job.downloads)}
            for name in dict.fromkeys((*job.needs, *(source for source, _ in job.downloads)))
        ]
    body.update(extra)
    body["script"] = [_for_provider(step, "gitlab").run for step in job.steps]
    return body


def gitlab_ci(groups: Sequence[str] | None = None, gates: Sequence[str] = GATES) -> dict[str, Any]:
    """``.gitlab-ci.yml``: stages lint -> test (the tests by group) -> build -> deploy.

    Merge requests and main run lint and test; main also builds, and the production deploy waits for
    someone to press play (``when: manual``). SSH settings are masked CI/CD variables.
    """
    document: dict[str, Any] = {
        "stages": list(GITLAB_STAGES),
        "default": {
            "image": f"python:{DEFAULT_PYTHON}-bookworm",
            "before_script": [INSTALL],
        },
        "workflow": {
            "rules": [
                {"if": _ON_MERGE_REQUEST},
                {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"},
                {"if": "$CI_COMMIT_BRANCH"},
            ]
        },
    }
    checks = ci_jobs(groups)
    for job in checks:
        if job.name != "build":
            document[job.name] = _gitlab_job(job, _STAGE_OF_JOB.get(job.name, "test"))
    for job in delivery_jobs(groups, gates):
        if job.name in document:  # a test job, already there
            continue
        if job.name == "build":  # on main, after every check
            job = replace(job, needs=tuple(check.name for check in checks if check.name != "build"))
        when = {"when": "manual"} if job.name == "promote-production" else {}
        document[job.name] = _gitlab_job(job, _DELIVERY_STAGE[job.name], rules=[{"if": _ON_MAIN, **when}])
    return document


# --- files ----------------------------------------------------------------------------------------


def dump_yaml(document: dict[str, Any]) -> str:
    """YAML text for ``document``: keys in the order given, block style, lists indented, no line wrap."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    text: str = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=10_000, allow_unicode=True
    )
    return text


def ci_files(
    provider: str, groups: Sequence[str] | None = None, gates: Sequence[str] = GATES
) -> dict[str, str]:
    """The files ``inv ci.generate --provider PROVIDER`` writes: path (relative to the root) -> text.
    ``groups``: the test groups ``tests_config.yaml`` enables, in its order (None: no groups file);
    ``gates``: those run against staging before the promotion to production."""
    if provider == "github":
        staging = ", ".join((*STAGING_SECRETS, STAGING_KNOWN_HOSTS_SECRET))
        production = ", ".join((*PRODUCTION_SECRETS, KNOWN_HOSTS_SECRET))
        deploy_note = (
            "# Needs two environments (Settings -> Environments): `staging`, with these secrets: "
            f"{staging};\n# and `production`, with required reviewers (so each promotion waits for "
            f"approval) and these secrets: {staging}, {production}.\n"
            f"# {STAGING_KNOWN_HOSTS_SECRET} and {KNOWN_HOSTS_SECRET} hold the servers' known_hosts lines: "
            "the jobs write them to\n# ~/.ssh/known_hosts first, since shipflow refuses a host key it cannot "
            "verify.\n"
        )
        return {
            ".github/workflows/ci.yml": _header("github") + dump_yaml(github_ci(groups)),
            ".github/workflows/deploy-prod.yml": _header("github", deploy_note)
            + dump_yaml(github_deploy_prod(groups, gates)),
            ".github/workflows/docs.yml": _header("github") + dump_yaml(github_docs()),
        }
    if provider == "gitlab":
        secrets = ", ".join(CI_SECRETS)
        note = (
            f"# Set {secrets} as protected CI/CD variables (Settings -> CI/CD -> Variables),\n"
            "# masked where GitLab can mask them (not multi-line values: *_SSH_KEY, *_ENV_FILE,\n"
            "# *_SSH_KNOWN_HOSTS), never in this file; the staging ones for the `staging` environment.\n"
            "# promote-production runs only when started by hand on main, after the gates passed.\n"
        )
        return {".gitlab-ci.yml": _header("gitlab", note) + dump_yaml(gitlab_ci(groups, gates))}
    raise ValueError(f"unknown CI provider {provider!r}; known: {', '.join(PROVIDERS)}")


def run_lines(document: dict[str, Any]) -> list[str]:
    """Every command line a pipeline document runs (``run:`` of GitHub steps, GitLab script entries)."""
    lines: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "run" and isinstance(value, str):
                    lines.append(value)
                elif key in ("script", "before_script", "after_script") and isinstance(value, list):
                    lines.extend(str(item) for item in value)
                else:
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(document)
    return lines
