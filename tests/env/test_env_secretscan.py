"""The committed-secret guard, on real git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import git

from shipflow.env.schema import EnvSchema
from shipflow.env.secretscan import committed_secret_problems, scan_text
from shipflow.problems import Problem, errors

pytestmark = [pytest.mark.unit, pytest.mark.needs("git")]
SCHEMA = EnvSchema()


def git_repo(root: Path, files: dict[str, str]) -> Path:
    git(root, "init", "-q")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(root, "add", "-f", *files)
    return root


def found(root: Path) -> list[Problem]:
    return errors(committed_secret_problems(root, SCHEMA))


def test_committed_env_files_with_placeholders_and_declared_fakes_pass(tmp_path: Path) -> None:
    git_repo(
        tmp_path,
        {
            "envs/.env.development": "SECRET_KEY=dev-insecure-key\nDATABASE_URL=sqlite:///./dev.db\n",
            "envs/.env.production.example": (
                "SECRET_KEY=change-me\nDATABASE_URL=postgresql://app:<password>@<db-host>/app\n"
                "REDIS_URL=redis://:${REDIS_PASSWORD}@cache/0\nINTERNAL_API_TOKEN=\n"
            ),
        },
    )
    assert found(tmp_path) == []


def test_this_repositorys_env_files_would_pass_once_committed(repo_root: Path, tmp_path: Path) -> None:
    names = [
        path.name
        for path in (repo_root / "envs").iterdir()
        if path.name not in {".env.staging", ".env.production"}
    ]
    files = {f"envs/{name}": (repo_root / "envs" / name).read_text(encoding="utf-8") for name in names}
    git_repo(tmp_path, files)
    assert found(tmp_path) == []


@pytest.mark.parametrize(
    "name", ["envs/.env.production", "envs/.env.staging", "deploy/server.pem", "id_ed25519"]
)
def test_a_tracked_secret_file_fails_with_how_to_untrack_it(tmp_path: Path, name: str) -> None:
    git_repo(tmp_path, {name: "A=1\n"})
    (problem,) = found(tmp_path)
    assert problem.source == name
    assert f"git rm --cached {name}" in problem.fix


def test_a_secret_file_that_is_only_in_the_index_still_fails(tmp_path: Path) -> None:
    git_repo(tmp_path, {"envs/.env.production": "A=1\n"})
    (tmp_path / "envs" / ".env.production").unlink()
    assert [problem.source for problem in found(tmp_path)] == ["envs/.env.production"]


def test_an_untracked_secret_file_is_fine(tmp_path: Path) -> None:
    git_repo(tmp_path, {"envs/.env": "A=1\n"})
    (tmp_path / "envs" / ".env.production").write_text("SECRET_KEY=real-value-123\n", encoding="utf-8")
    assert found(tmp_path) == []


def test_a_credential_url_in_a_tracked_file_fails_at_its_line(tmp_path: Path) -> None:
    git_repo(tmp_path, {"deploy/hosts.yml": "name: web\ndatabase: postgresql://app:hunter2-canary@db/app\n"})
    (problem,) = found(tmp_path)
    assert (problem.source, problem.line) == ("deploy/hosts.yml", 2)
    assert "hunter2" not in str(problem)


def test_a_real_looking_secret_assignment_fails_naming_the_key(tmp_path: Path) -> None:
    git_repo(tmp_path, {"envs/.env.development": "DEBUG=true\nexport SECRET_KEY='sk-live-8f3a'\n"})
    (problem,) = found(tmp_path)
    assert (problem.source, problem.line, problem.key) == ("envs/.env.development", 2, "SECRET_KEY")
    assert "sk-live" not in str(problem)


def test_files_outside_the_scanned_paths_are_not_read(tmp_path: Path) -> None:
    git_repo(tmp_path, {"tests/test_x.py": 'URL = "postgresql://app:pw@db/app"\nSECRET_KEY=abc\n'})
    assert found(tmp_path) == []


def test_scan_patterns_are_configurable(tmp_path: Path) -> None:
    git_repo(tmp_path, {"config/app.ini": "url = postgresql://app:pw@db/app\n"})
    schema = EnvSchema(scan=("config/*",))
    assert [problem.source for problem in errors(committed_secret_problems(tmp_path, schema))] == [
        "config/app.ini"
    ]


def test_outside_a_git_work_tree_the_guard_warns_and_passes(tmp_path: Path) -> None:
    problems = committed_secret_problems(tmp_path, SCHEMA)
    assert errors(problems) == [] and problems[0].warning


def test_scan_text_ignores_masked_and_referenced_passwords() -> None:
    text = "A=postgresql://u:****@h/d\nB=postgresql://u:${PW}@h/d\nC_TOKEN=${TOKEN}\nD_PASSWORD=\n"
    assert scan_text("envs/.env", text, SCHEMA) == []
