"""Secrets under any key, every common secret form, odd env files and big inputs: what output shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import production_target as target

from shipflow.deploy.session import masker, release_env
from shipflow.env.check import load_environment
from shipflow.env.files import MAX_ENV_FILE_BYTES, EnvFileError, load_env
from shipflow.env.masking import is_secret_key, mask, secret_values
from shipflow.env.schema import EnvSchema, KeySpec, validate
from shipflow.problems import errors
from shipflow.release import git
from shipflow.release.tags import PushError, ReleasePlan, make_release

pytestmark = pytest.mark.unit

CANARY = "canary-4e7b1d9a3c6f0b2e8d5a7c1f3e9b0d6a"
SCHEMA = EnvSchema(
    keys=(
        KeySpec("PORT", type="int"),
        KeySpec("ENV", required=frozenset({"production"})),
        KeySpec("DEBUG", type="bool", required=frozenset({"production"})),
        KeySpec("LOG_LEVEL", choices=("INFO", "DEBUG")),
    )
)


def write(root: Path, name: str, data: str | bytes) -> None:
    path = root / "envs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


# --- a secret under another key ---------------------------------------------------------------------


def test_a_secret_taken_by_a_non_secret_key_is_not_quoted_by_validation(tmp_path: Path) -> None:
    write(
        tmp_path,
        ".env.production",
        f"SECRET_KEY={CANARY}\nPORT=${{SECRET_KEY}}\nLOG_LEVEL=x${{SECRET_KEY}}\n",
    )
    problems = validate(load_env(tmp_path, "production"), SCHEMA)
    text = "\n".join(str(problem) for problem in problems)
    assert "PORT: is not a whole number" in text
    assert CANARY not in text


def test_a_long_value_is_cut_in_messages(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", f"PORT={'9x' * 50_000}\n")
    (problem,) = errors(validate(load_env(tmp_path, "test"), SCHEMA))
    assert "PORT: is not a whole number" in str(problem)
    assert len(str(problem)) < 300


def test_the_deploy_sessions_env_file_error_is_masked_when_raised(tmp_path: Path) -> None:
    write(
        tmp_path,
        ".env.production",
        f"ENV=production\nDEBUG=false\nSECRET_KEY={CANARY}\nPORT=${{SECRET_KEY}}\n",
    )
    with pytest.raises(EnvFileError) as raised:
        release_env(tmp_path, target(), SCHEMA, {})
    assert "PORT: is not a whole number" in str(raised.value)
    assert CANARY not in str(raised.value)


def test_a_token_in_an_env_file_from_variable_is_masked_under_any_key(tmp_path: Path) -> None:
    environ = {"PROD_ENV_FILE": f"INTERNAL_API_TOKEN={CANARY}\nENV={CANARY}\nDEBUG=false\n"}
    with pytest.raises(EnvFileError) as raised:
        release_env(tmp_path, target("PROD_ENV_FILE"), SCHEMA, environ)
    assert "ENV: names an unknown environment" in str(raised.value)
    assert CANARY not in str(raised.value)


def test_the_deploy_mask_hides_secrets_in_the_form_the_env_file_writes_them() -> None:
    hide = masker({"DB_PASS": 'a"b\\c-canary'}, SCHEMA)
    assert hide('DB_PASS="a\\"b\\\\c-canary"') == 'DB_PASS="****"'


# --- default secret names and forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["PASSWORD", "SECRET", "DB_PASS", "PGPASSWORD", "SECRET_KEY_BASE", "SMTP_PASSWD", "CLIENT_SECRET_ID"],
)
def test_common_secret_names_are_secrets_by_default(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://app:pa/ss-canary@db:5432/app", "postgresql://app:****@db:5432/app"),
        (
            "postgresql://app@db/app?password=canary-q&sslmode=require",
            "postgresql://app@db/app?password=****&sslmode=require",
        ),
        ("host=db user=app password=canary-dsn dbname=app", "host=db user=app password=**** dbname=app"),
        ("dsn: host=db password='canary dsn' port=5", "dsn: host=db password=**** port=5"),
        (
            "fatal: 'https://x-access-token:ghs_canary1@github.com/o/r.git/'",
            "fatal: 'https://x-access-token:****@github.com/o/r.git/'",
        ),
        (
            "fatal: unable to access 'https://ghp_canary2@github.com/o/r.git/'",
            "fatal: unable to access 'https://****@github.com/o/r.git/'",
        ),
    ],
)
def test_passwords_and_tokens_in_urls_and_dsns_are_masked(text: str, shown: str) -> None:
    assert mask(text) == shown


def test_the_password_forms_are_secret_values_masked_everywhere() -> None:
    values = {"DATABASE_URL": "postgresql://u@db/app?password=canary-q", "DSN": "host=db password=canary-d"}
    assert sorted(secret_values(values)) == ["canary-d", "canary-q"]


def test_a_failed_push_hides_the_token_of_the_remote(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(root: Path, remote: str, ref: str) -> None:
        raise git.GitError(f"fatal: unable to access 'https://{CANARY}@github.com/o/r.git/': 403")

    monkeypatch.setattr(git, "create_annotated_tag", lambda *args: None)
    monkeypatch.setattr(git, "push_ref", refuse)
    plan = ReleasePlan(tag="v1.0.0", commit="a" * 40, previous_tag=None, message="v1.0.0", commit_count=0)
    with pytest.raises(PushError) as raised:
        make_release(tmp_path, plan, push_to="origin")
    assert CANARY not in str(raised.value)
    assert "https://****@github.com/o/r.git/" in str(raised.value)


# --- odd env files ------------------------------------------------------------------------------------


def test_a_non_utf8_byte_is_the_one_error(tmp_path: Path) -> None:
    write(tmp_path, ".env.production", b"ENV=production\nNAME=caf\xe9\n")
    problems = errors(validate(load_env(tmp_path, "production"), SCHEMA))
    assert [str(problem) for problem in problems] == [
        "envs/.env.production:2: not UTF-8 text (byte 23) (fix: save the file as UTF-8)"
    ]


def test_an_env_file_over_the_limit_is_refused_in_one_line(tmp_path: Path) -> None:
    write(tmp_path, ".env.test", "A=" + "x" * (MAX_ENV_FILE_BYTES + 10) + "\n")
    problems = errors(validate(load_env(tmp_path, "test"), SCHEMA))
    assert len(problems) == 1
    assert str(problems[0]).startswith("envs/.env.test: is larger than 1 MB")


def test_env_file_from_text_is_merged_with_the_shared_file_and_named_in_errors(tmp_path: Path) -> None:
    write(tmp_path, ".env", "HOST=db\nLOG_LEVEL=INFO\n")
    write(tmp_path, ".env.production", "ENV=production\nDEBUG=false\n")
    environ = {"PROD_ENV_FILE": "ENV=production\nURL=http://${HOST}/\n"}
    with pytest.raises(EnvFileError) as raised:
        release_env(tmp_path, target("PROD_ENV_FILE"), SCHEMA, environ)
    message = str(raised.value)
    assert "$PROD_ENV_FILE: DEBUG: required in production but not set" in message
    assert "envs/.env.production" not in message

    environ["PROD_ENV_FILE"] += "DEBUG=false\n"
    values = release_env(tmp_path, target("PROD_ENV_FILE"), SCHEMA, environ).values
    assert values == {
        "HOST": "db",
        "LOG_LEVEL": "INFO",
        "ENV": "production",
        "URL": "http://db/",
        "DEBUG": "false",
    }


def test_load_environment_reads_the_own_text_instead_of_the_file(tmp_path: Path) -> None:
    write(tmp_path, ".env", "A=1\n")
    load = load_environment(tmp_path, "production", SCHEMA, {}, own_text=("$PROD_ENV_FILE", "B=${A}2\n"))
    assert load.values() == {"A": "1", "B": "12"}
    assert load.files == ("envs/.env", "$PROD_ENV_FILE")


def test_env_file_from_text_is_not_overridden_by_the_process_environment(tmp_path: Path) -> None:
    environ = {"PROD_ENV_FILE": "ENV=production\nDEBUG=false\n", "DEBUG": "true", "ENV": "test"}
    values = release_env(tmp_path, target("PROD_ENV_FILE"), SCHEMA, environ).values
    assert values == {"ENV": "production", "DEBUG": "false"}


def test_a_secret_line_taken_in_by_an_unclosed_quote_stays_masked(tmp_path: Path) -> None:
    write(tmp_path, ".env.production", f'PORT="unterminated\nSECRET_KEY={CANARY}\nPORT="\n')
    load = load_env(tmp_path, "production")
    problems = "\n".join(str(problem) for problem in validate(load, SCHEMA))
    assert "PORT: is not a whole number ('unterminated...')" in problems
    assert CANARY in SCHEMA.secret_values(load.values())
