"""tests_config.yaml against hostile input: alias bombs, duplicate keys, deep nesting and huge values end in
one short message (exit 4 through the plugin), quickly, never a MemoryError or a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shipflow.testing.groups import GroupsError, parse_groups_config

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.unit

MESSAGE_LIMIT = 400

# Each level repeats the one above nine times: 9**9 values once expanded, from a few hundred bytes.
ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "test_groups:\n  unit: {enabled: *i}\n"
)


def source(tmp_path: Path) -> Path:
    return tmp_path / "tests_config.yaml"


def refusal(tmp_path: Path, text: str) -> str:
    started = time.perf_counter()
    with pytest.raises(GroupsError) as caught:
        parse_groups_config(text, source(tmp_path))
    assert time.perf_counter() - started < 1.0
    message = str(caught.value)
    assert len(message) < MESSAGE_LIMIT, message[:MESSAGE_LIMIT]
    return message


def test_an_alias_bomb_is_refused_quickly_in_one_short_line(tmp_path: Path) -> None:
    assert len(ALIAS_BOMB) < 700
    message = refusal(tmp_path, ALIAS_BOMB)
    assert "aliases" in message and "line 5" in message


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "test_groups:\n  unit: &loop {enabled: *loop}\n")
    assert "aliases" in message


def test_a_few_aliases_that_share_paths_still_work(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    text = "test_groups:\n  unit: {paths: &shared [tests]}\n  slow: {enabled: false, paths: *shared}\n"
    config = parse_groups_config(text, source(tmp_path))
    assert config.group("slow").paths == config.group("unit").paths == ((tmp_path / "tests").resolve(),)


def test_a_duplicate_group_names_both_lines(tmp_path: Path) -> None:
    message = refusal(tmp_path, "test_groups:\n  unit: true\n  cli: true\n  unit: false\n")
    assert "'unit'" in message and "lines 2 and 4" in message


def test_a_duplicate_key_inside_a_group_is_an_error_too(tmp_path: Path) -> None:
    message = refusal(tmp_path, "test_groups:\n  unit:\n    enabled: true\n    enabled: false\n")
    assert "'enabled'" in message and "lines 3 and 4" in message


def test_a_long_value_is_cut_in_the_message(tmp_path: Path) -> None:
    value = "x" * 50_000
    message = refusal(tmp_path, f"test_groups:\n  unit: {value}\n")
    assert "..." in message and "x" * 100 not in message


def test_a_long_group_name_and_top_level_key_are_cut_too(tmp_path: Path) -> None:
    assert "..." in refusal(tmp_path, f"test_groups:\n  {'n-' * 450}n: true\n")
    assert "..." in refusal(tmp_path, f"{'k' * 900}: 1\n")


def test_deep_nesting_is_one_message_not_a_recursion_error(tmp_path: Path) -> None:
    depth = 20_000
    message = refusal(tmp_path, "test_groups:\n  unit: " + "[" * depth + "]" * depth + "\n")
    assert "tests_config.yaml" in message


def test_the_plugin_stops_an_alias_bomb_with_exit_4_and_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_GROUPS", raising=False)
    pytester.makefile(".yaml", tests_config=ALIAS_BOMB)
    pytester.makepyfile(test_app="def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "no:hypothesispytest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *tests_config.yaml*aliases*"])
    assert "Traceback" not in result.stderr.str()
    assert len(result.stderr.str()) < 2 * MESSAGE_LIMIT
