"""Which environment a command is about: --env, APP_ENV, ENV, development; aliases; unknown names."""

from __future__ import annotations

import pytest

from shipflow.env.names import ENVIRONMENTS, UnknownEnvironment, resolve_environment
from shipflow.project import SettingsError

pytestmark = pytest.mark.unit


def test_the_known_environments_include_local_for_this_machine() -> None:
    assert ENVIRONMENTS == ("development", "test", "staging", "production", "local")


def test_the_flag_wins_over_app_env_and_env() -> None:
    assert resolve_environment("staging", {"APP_ENV": "test", "ENV": "local"}) == "staging"


def test_app_env_wins_over_env() -> None:
    assert resolve_environment(None, {"APP_ENV": "test", "ENV": "local"}) == "test"


def test_env_is_used_when_app_env_is_unset_or_empty() -> None:
    assert resolve_environment(None, {"APP_ENV": "", "ENV": "local"}) == "local"


def test_development_is_the_default() -> None:
    assert resolve_environment(None, {}) == "development"


def test_an_empty_env_flag_is_refused_not_taken_for_the_default() -> None:
    with pytest.raises(UnknownEnvironment, match=r"unknown environment '' \(from --env\)"):
        resolve_environment("", {"APP_ENV": "production"})


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("dev", "development"), ("stage", "staging"), ("prod", "production"), ("PROD", "production")],
)
def test_short_aliases_and_any_case_are_accepted(name: str, canonical: str) -> None:
    assert resolve_environment(name, {}) == canonical


def test_env_set_to_prod_as_in_the_seed_document_means_production() -> None:
    assert resolve_environment(None, {"ENV": "prod"}) == "production"


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownEnvironment) as raised:
        resolve_environment("qa", {})
    message = str(raised.value)
    assert "'qa'" in message
    assert all(name in message for name in ENVIRONMENTS)
    assert isinstance(raised.value, SettingsError)


def test_an_unknown_app_env_says_where_the_name_came_from() -> None:
    with pytest.raises(UnknownEnvironment, match="APP_ENV"):
        resolve_environment(None, {"APP_ENV": "qa"})
