"""The env schema from [tool.shipflow.env] and every validation rule, production rules included."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.env.files import load_env
from shipflow.env.schema import EnvSchema, KeySpec, ProductionRules, env_schema, validate
from shipflow.problems import Problem, errors
from shipflow.project import Project, SettingsError, load_project

pytestmark = pytest.mark.unit

GOOD_KEY = "x7Gd2kLq9PzR4vWb8NcE1sYt6HuJ3mFa"
SCHEMA = EnvSchema(
    keys=(
        KeySpec("DEBUG", "bool", frozenset({"production", "test"})),
        KeySpec("PORT", "int", frozenset({"production"})),
        KeySpec("DATABASE_URL", "url", frozenset({"production"})),
        KeySpec("CORS_ORIGINS", "list", frozenset({"production"})),
        KeySpec("SECRET_KEY", "str", frozenset({"production"})),
        KeySpec("LOG_LEVEL", "str", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    )
)
GOOD_PRODUCTION = {
    "DEBUG": "false",
    "PORT": "8000",
    "DATABASE_URL": "postgresql://app:pw-real-1@db:5432/app",
    "CORS_ORIGINS": "https://app.example.com,https://admin.example.com",
    "SECRET_KEY": GOOD_KEY,
    "LOG_LEVEL": "WARNING",
}


def write_env(root: Path, environment: str, values: dict[str, str]) -> None:
    (root / "envs").mkdir(exist_ok=True)
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    (root / "envs" / f".env.{environment}").write_text(text, encoding="utf-8")


def problems_for(
    root: Path,
    environment: str,
    values: dict[str, str],
    schema: EnvSchema = SCHEMA,
    development: dict[str, str] | None = None,
) -> list[Problem]:
    write_env(root, environment, values)
    return errors(validate(load_env(root, environment, environ={}), schema, development))


def keys_of(problems: list[Problem]) -> list[str | None]:
    return [problem.key for problem in problems]


def test_good_production_values_pass(tmp_path: Path) -> None:
    assert problems_for(tmp_path, "production", GOOD_PRODUCTION) == []


def test_a_required_key_that_is_missing_is_reported_with_how_to_add_it(tmp_path: Path) -> None:
    values = {key: value for key, value in GOOD_PRODUCTION.items() if key != "PORT"}
    (problem,) = problems_for(tmp_path, "production", values)
    assert problem.key == "PORT" and "required" in problem.message
    assert "envs/.env.production" in problem.fix


def test_a_required_key_that_is_empty_is_reported_at_its_line(tmp_path: Path) -> None:
    (problem,) = problems_for(tmp_path, "production", {**GOOD_PRODUCTION, "PORT": ""})
    assert (problem.key, problem.line) == ("PORT", 2)
    assert "empty" in problem.message


def test_keys_are_required_only_in_the_environments_that_say_so(tmp_path: Path) -> None:
    assert problems_for(tmp_path, "test", {"DEBUG": "false"}) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DEBUG", "maybe"),
        ("PORT", "eighty"),
        ("DATABASE_URL", "not a url"),
        ("CORS_ORIGINS", "https://a.example.com,,https://b.example.com"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_value_of_the_wrong_type_is_reported(tmp_path: Path, key: str, value: str) -> None:
    problems = problems_for(tmp_path, "production", {**GOOD_PRODUCTION, key: value})
    assert keys_of(problems) == [key]
    assert problems[0].line == list(GOOD_PRODUCTION).index(key) + 1


@pytest.mark.parametrize("value", ["TRUE", "yes", "0", "off"])
def test_booleans_accept_the_usual_words(tmp_path: Path, value: str) -> None:
    assert problems_for(tmp_path, "test", {"DEBUG": value}) == []


def test_a_malformed_url_is_reported_without_its_value(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, "production", {**GOOD_PRODUCTION, "DATABASE_URL": "app:canary-pw@db"})
    assert keys_of(problems) == ["DATABASE_URL"]
    assert "canary-pw" not in str(problems[0])


def test_a_secret_of_the_wrong_type_is_reported_without_its_value(tmp_path: Path) -> None:
    schema = EnvSchema(keys=(KeySpec("WORKER_TOKEN", "int"),))
    (problem,) = problems_for(tmp_path, "test", {"WORKER_TOKEN": "canary-tok"}, schema)
    assert "canary-tok" not in str(problem)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SECRET_KEY", "change-me-" + GOOD_KEY),
        ("DATABASE_URL", "postgresql://app:<password>@db:5432/app"),
        ("CORS_ORIGINS", "https://<frontend-domain>"),
        ("SOME_OTHER", "CHANGEME"),
    ],
)
def test_placeholders_are_rejected_in_every_environment(tmp_path: Path, key: str, value: str) -> None:
    for environment in ("production", "test"):
        values = (
            {**GOOD_PRODUCTION, key: value} if environment == "production" else {"DEBUG": "no", key: value}
        )
        problems = problems_for(tmp_path, environment, values)
        assert [problem.message for problem in problems if problem.key == key] == [
            "still holds a placeholder"
        ]


def test_debug_must_be_off_in_production(tmp_path: Path) -> None:
    (problem,) = problems_for(tmp_path, "production", {**GOOD_PRODUCTION, "DEBUG": "true"})
    assert problem.key == "DEBUG" and problem.fix == "set DEBUG=false"


@pytest.mark.parametrize(
    "origins", ["*", "https://app.example.com,*", "http://app.example.com", "https://a.example.com,http://b"]
)
def test_cors_origins_must_be_https_and_not_a_wildcard_in_production(tmp_path: Path, origins: str) -> None:
    problems = problems_for(tmp_path, "production", {**GOOD_PRODUCTION, "CORS_ORIGINS": origins})
    assert keys_of(problems) == ["CORS_ORIGINS"]


def test_secret_key_needs_32_characters_in_production(tmp_path: Path) -> None:
    (problem,) = problems_for(tmp_path, "production", {**GOOD_PRODUCTION, "SECRET_KEY": "s" * 31})
    assert problem.key == "SECRET_KEY" and "31 characters" in problem.message
    assert "s" * 31 not in str(problem)


def test_secret_key_must_not_be_the_development_value(tmp_path: Path) -> None:
    development = {"SECRET_KEY": GOOD_KEY}
    (problem,) = problems_for(tmp_path, "production", GOOD_PRODUCTION, development=development)
    assert problem.key == "SECRET_KEY" and "development" in problem.message


def test_log_level_must_not_be_debug_in_production(tmp_path: Path) -> None:
    (problem,) = problems_for(tmp_path, "production", {**GOOD_PRODUCTION, "LOG_LEVEL": "debug"})
    assert problem.key == "LOG_LEVEL"


def test_production_rules_do_not_apply_to_other_environments(tmp_path: Path) -> None:
    loose = {"DEBUG": "true", "CORS_ORIGINS": "*", "SECRET_KEY": "short", "LOG_LEVEL": "DEBUG"}
    assert problems_for(tmp_path, "test", loose) == []


def test_every_problem_is_reported_in_one_run_sorted_by_line(tmp_path: Path) -> None:
    bad = {"DEBUG": "true", "PORT": "x", "DATABASE_URL": "nope", "CORS_ORIGINS": "*", "SECRET_KEY": "short"}
    problems = problems_for(tmp_path, "production", bad)
    assert keys_of(problems) == ["DEBUG", "PORT", "DATABASE_URL", "CORS_ORIGINS", "SECRET_KEY"]
    assert [problem.line for problem in problems] == [1, 2, 3, 4, 5]


def test_an_env_line_naming_another_environment_is_reported(tmp_path: Path) -> None:
    (problem,) = problems_for(tmp_path, "production", {**GOOD_PRODUCTION, "ENV": "staging"})
    assert problem.key == "ENV" and problem.fix == "set ENV=production"
    assert problems_for(tmp_path, "production", {**GOOD_PRODUCTION, "ENV": "prod"}) == []


def test_a_file_that_cannot_be_read_is_reported_alone(tmp_path: Path) -> None:
    problems = validate(load_env(tmp_path, "production", environ={}), SCHEMA)
    assert [problem.message for problem in problems] == ["file not found"]


# --- reading the schema from pyproject.toml ------------------------------------------------------------


def project_with(tmp_path: Path, toml: str) -> Project:
    (tmp_path / "pyproject.toml").write_text(toml, encoding="utf-8")
    return load_project(tmp_path)


def test_the_schema_is_read_from_pyproject(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        """
[tool.shipflow.env]
secret_patterns = ["*_DSN"]
[tool.shipflow.env.keys]
DEBUG = { type = "bool", required = true }
REDIS_URL = { type = "url", required = ["stage", "prod"], secret = true }
[tool.shipflow.env.production_rules]
environments = ["staging", "production"]
debug_off = false
secret_key_min_length = 48
""",
    )
    schema = env_schema(project)
    debug, redis = schema.keys
    assert debug.required == frozenset({"development", "test", "staging", "production", "local"})
    assert redis.required == frozenset({"staging", "production"})
    assert (
        schema.is_secret("REDIS_URL")
        and schema.is_secret("SENTRY_DSN")
        and not schema.is_secret("SECRET_KEY")
    )
    assert schema.production == ProductionRules(
        environments=("staging", "production"), debug_off=False, secret_key_min_length=48
    )


def test_no_settings_give_the_documented_defaults(tmp_path: Path) -> None:
    assert env_schema(project_with(tmp_path, "")) == EnvSchema()


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[tool.shipflow.env.keys]\nPORT = { type = "number" }', "type is 'number'"),
        ('[tool.shipflow.env.keys]\nPORT = { type = "int", required = ["qa"] }', "unknown environment 'qa'"),
        ('[tool.shipflow.env.keys]\nPORT = "int"', "must be a table"),
        ('[tool.shipflow.env.keys]\nPORT = { kind = "int" }', "unknown field(s) kind"),
        ("[tool.shipflow.env.production_rules]\ndebug = false", "unknown rule(s) debug"),
        ("[tool.shipflow.env.production_rules]\nsecret_key_min_length = -1", "secret_key_min_length"),
        ("[tool.shipflow.env]\nsecret_patterns = '*_KEY'", "secret_patterns must be a list"),
    ],
)
def test_a_bad_schema_names_pyproject_and_the_key(tmp_path: Path, toml: str, named: str) -> None:
    with pytest.raises(SettingsError) as raised:
        env_schema(project_with(tmp_path, toml))
    assert "pyproject.toml" in str(raised.value)
    assert named in str(raised.value)


def test_this_repositorys_committed_environments_are_valid(repo_root: Path) -> None:
    schema = env_schema(load_project(repo_root))
    for environment in ("development", "test", "local"):
        load = load_env(repo_root, environment, environ={})
        assert errors(validate(load, schema)) == [], environment


def test_the_production_example_fails_on_every_placeholder(repo_root: Path, tmp_path: Path) -> None:
    schema = env_schema(load_project(repo_root))
    (tmp_path / "envs").mkdir()
    example = (repo_root / "envs" / ".env.production.example").read_text(encoding="utf-8")
    (tmp_path / "envs" / ".env.production").write_text(example, encoding="utf-8")
    problems = errors(validate(load_env(tmp_path, "production", environ={}), schema))
    placeholders = {problem.key for problem in problems if "placeholder" in problem.message}
    assert placeholders == {"CORS_ORIGINS", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "INTERNAL_API_TOKEN"}
