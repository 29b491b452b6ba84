"""Reading envs/: precedence, interpolation, provenance, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.env.files import EnvFileError, env_file_values, env_values, load_env
from shipflow.problems import PROCESS_ENVIRONMENT, errors

pytestmark = pytest.mark.unit


def write(root: Path, name: str, text: str) -> Path:
    path = root / "envs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_environment_file_overrides_shared_defaults(tmp_path: Path) -> None:
    write(tmp_path, ".env", "APP_NAME=demo\nLOG_LEVEL=INFO\n")
    write(tmp_path, ".env.staging", "LOG_LEVEL=WARNING\n")
    assert env_file_values(tmp_path, "staging") == {"APP_NAME": "demo", "LOG_LEVEL": "WARNING"}


def test_the_shared_file_is_optional(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "A=1\n")
    assert env_file_values(tmp_path, "test") == {"A": "1"}


def test_the_process_environment_wins_for_keys_the_files_or_schema_know(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "A=file\nB=file\n")
    environ = {"A": "process", "C": "declared", "PATH": "/bin"}
    values = env_values(tmp_path, "test", environ, declared_keys=["C"])
    assert values == {"A": "process", "B": "file", "C": "declared"}


def test_files_only_values_ignore_the_process_environment(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "A=file\n")
    load = load_env(tmp_path, "test")
    assert load.values() == {"A": "file"}


def test_each_key_remembers_the_file_and_line_or_environment_that_set_it(tmp_path: Path) -> None:
    write(tmp_path, ".env", "# shared\nA=1\nB=2\n")
    write(tmp_path, ".env.test", "\n\nB=3\n")
    load = load_env(tmp_path, "test", environ={"A": "9"})
    assert (load.settings["A"].source, load.settings["A"].line) == (PROCESS_ENVIRONMENT, None)
    assert (load.settings["B"].source, load.settings["B"].line) == ("envs/.env.test", 3)


def test_interpolation_reads_lines_above_and_the_shared_file(tmp_path: Path) -> None:
    write(tmp_path, ".env", "HOST=db\n")
    write(
        tmp_path,
        ".env.test",
        "USER=app\nDATABASE_URL=postgresql://${USER}@${HOST}/app\nX=${MISSING:-fallback}\n",
    )
    values = env_file_values(tmp_path, "test")
    assert values["DATABASE_URL"] == "postgresql://app@db/app"
    assert values["X"] == "fallback"


def test_interpolation_takes_the_process_environment_first(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "DB_PASSWORD=file\nDATABASE_URL=postgresql://app:${DB_PASSWORD}@db/app\n")
    values = env_values(tmp_path, "test", {"DB_PASSWORD": "from-ci"})
    assert values["DATABASE_URL"] == "postgresql://app:from-ci@db/app"


def test_the_rules_match_python_dotenv_load_dotenv_for_a_service_to_replicate(tmp_path: Path) -> None:
    import io
    import os

    from dotenv import load_dotenv

    write(tmp_path, ".env", "APP_NAME=demo\nHOST=db\n")
    write(tmp_path, ".env.test", "HOST=db2\nURL=http://${HOST}/${SHIPFLOW_TEST_PART}\nAPP_NAME=x\n")
    text = "".join((tmp_path / "envs" / name).read_text() + "\n" for name in (".env", ".env.test"))
    saved = dict(os.environ)
    try:
        os.environ["SHIPFLOW_TEST_PART"] = "p"
        os.environ["APP_NAME"] = "process"
        load_dotenv(stream=io.StringIO(text), override=False)
        replicated = {key: os.environ[key] for key in ("APP_NAME", "HOST", "URL")}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    ours = env_values(tmp_path, "test", {"SHIPFLOW_TEST_PART": "p", "APP_NAME": "process"})
    assert ours == replicated


def test_an_undefined_variable_is_an_error_naming_file_line_and_variable(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "A=1\nURL=http://${NOWHERE}/x\n")
    with pytest.raises(EnvFileError) as raised:
        env_file_values(tmp_path, "test")
    assert "envs/.env.test:2" in str(raised.value)
    assert "${NOWHERE}" in str(raised.value)


def test_a_variable_defined_only_below_is_undefined(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "URL=http://${HOST}/\nHOST=db\n")
    problems = errors(load_env(tmp_path, "test").problems)
    assert [(problem.line, problem.key) for problem in problems] == [(1, "URL")]


def test_a_missing_environment_file_says_how_to_create_it_from_its_example(tmp_path: Path) -> None:
    write(tmp_path, ".env.production.example", "SECRET_KEY=change-me\n")
    with pytest.raises(EnvFileError) as raised:
        env_file_values(tmp_path, "production")
    message = str(raised.value)
    assert "envs/.env.production" in message and "not found" in message
    assert "cp envs/.env.production.example envs/.env.production" in message


def test_a_missing_file_without_example_says_what_to_create(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match=r"create envs/\.env\.test"):
        env_file_values(tmp_path, "test")


def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "envs" / ".env.test").mkdir(parents=True)
    with pytest.raises(EnvFileError, match=r"envs/\.env\.test: cannot be read"):
        env_file_values(tmp_path, "test")


def test_a_non_utf8_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "envs" / ".env.test"
    path.parent.mkdir()
    path.write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(EnvFileError, match=r"envs/\.env\.test:2: not UTF-8"):
        env_file_values(tmp_path, "test")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("A=1\nB='unterminated\nC=3\n", 2),
        ("A=1\n\n\nBARE_KEY\n", 4),
        ("A=1\nnot-a-name=2\n", 2),
        ("A=1\n= no key\n", 2),
    ],
)
def test_a_malformed_line_is_reported_with_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    write(tmp_path, ".env.test", text)
    problems = errors(load_env(tmp_path, "test").problems)
    assert [(problem.source, problem.line) for problem in problems] == [("envs/.env.test", line)]
    with pytest.raises(EnvFileError, match=rf"envs/\.env\.test:{line}:"):
        env_file_values(tmp_path, "test")


def test_a_malformed_line_never_shows_its_content(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "SECRET_KEY 'hunter2-canary\n")
    with pytest.raises(EnvFileError) as raised:
        env_file_values(tmp_path, "test")
    assert "hunter2" not in str(raised.value)


def test_a_duplicate_key_is_a_warning_naming_both_lines_and_the_later_value_wins(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "A=1\nB=2\nA=3\n")
    load = load_env(tmp_path, "test")
    assert load.values() == {"B": "2", "A": "3"}
    (warning,) = load.problems
    assert warning.warning and warning.key == "A"
    assert "line 1" in warning.message and "line 3" in warning.message
    assert env_file_values(tmp_path, "test")["A"] == "3"


def test_quoted_values_export_and_comments_are_read_as_python_dotenv_reads_them(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "export A='x y'\nB=\"a#b\"  # note\nC=plain # comment\n")
    assert env_file_values(tmp_path, "test") == {"A": "x y", "B": "a#b", "C": "plain"}


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, ".env", "A=1\nbroken line\n")
    write(tmp_path, ".env.test", "B=${UNDEFINED}\nC\n")
    with pytest.raises(EnvFileError) as raised:
        env_file_values(tmp_path, "test")
    message = str(raised.value)
    assert "envs/.env:2" in message and "envs/.env.test:1" in message and "envs/.env.test:2" in message


def test_the_committed_environment_files_of_this_repository_load(repo_root: Path) -> None:
    for environment in ("development", "test", "local"):
        values = env_file_values(repo_root, environment)
        assert values["ENV"] == environment
    assert env_file_values(repo_root, "local")["DATABASE_URL"] == "sqlite:////data/app.db"
