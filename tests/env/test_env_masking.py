"""The one masking function: secret values become ****, URLs keep scheme, user and host."""

from __future__ import annotations

import pytest

from shipflow.env.masking import is_secret_key, mask, secret_values

pytestmark = pytest.mark.unit


def test_url_passwords_are_removed_keeping_scheme_user_and_host() -> None:
    text = "connecting to postgresql://app:s3cret@db.internal:5432/app"
    assert mask(text) == "connecting to postgresql://app:****@db.internal:5432/app"


def test_a_url_with_an_empty_user_keeps_its_shape() -> None:
    assert mask("redis://:pw123@cache:6379/0") == "redis://:****@cache:6379/0"


def test_urls_without_a_password_and_ports_are_left_alone() -> None:
    text = "sqlite:////data/app.db https://example.com:8443/a@b http://127.0.0.1:8000/ git@github.com:o/r.git"
    assert mask(text) == text


def test_a_url_missing_its_scheme_separator_still_loses_its_password() -> None:
    assert "pw" not in mask("DATABASE_URL=postgres//user:pw@host/db")


def test_every_occurrence_of_every_secret_is_replaced() -> None:
    text = "key=abc123xyz token=tok-1 again abc123xyz"
    assert mask(text, ["abc123xyz", "tok-1"]) == "key=**** token=**** again ****"


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole() -> None:
    assert mask("value: secret-long", ["secret", "secret-long"]) == "value: ****"


def test_empty_secrets_are_ignored() -> None:
    assert mask("text", ["", "x" * 0]) == "text"


@pytest.mark.parametrize("key", ["SECRET_KEY", "INTERNAL_API_TOKEN", "AWS_SECRET", "DB_PASSWORD", "api_key"])
def test_default_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["DATABASE_URL", "DEBUG", "KEYBOARD", "TOKEN_URL"])
def test_keys_that_are_not_secrets_by_default(key: str) -> None:
    assert not is_secret_key(key)


def test_secret_patterns_can_be_replaced() -> None:
    assert is_secret_key("SENTRY_DSN", ["*_DSN"])
    assert not is_secret_key("SECRET_KEY", ["*_DSN"])


def test_secret_values_are_secret_keys_values_and_url_passwords() -> None:
    values = {
        "SECRET_KEY": "k" * 40,
        "DATABASE_URL": "postgresql://app:p%40ss@db/app",
        "DEBUG": "true",
        "EMPTY_TOKEN": "",
    }
    assert sorted(secret_values(values)) == sorted(["k" * 40, "p%40ss", "p@ss"])
