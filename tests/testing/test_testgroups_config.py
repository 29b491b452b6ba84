"""tests_config.yaml as data: the short and long forms, overrides, and the messages for bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipflow.testing.groups import (
    GroupsConfig,
    GroupsError,
    apply_overrides,
    header_lines,
    load_groups_config,
    marker_expression,
    parse_groups_config,
    parse_overrides,
    selected_groups,
)

pytestmark = pytest.mark.unit

SOURCE_DOCUMENT_FORM = """\
test_groups:
  recommendations: true # Recommendation algorithm tests
  routes: true # API endpoint tests
  ai_intelligence: false # Heavy AI tests (disabled by default)
"""


def parse(tmp_path: Path, text: str) -> GroupsConfig:
    path = tmp_path / "tests_config.yaml"
    path.write_text(textwrap.dedent(text))
    return load_groups_config(path, required=False)


def test_the_short_form_of_the_source_document_switches_groups(tmp_path: Path) -> None:
    config = parse(tmp_path, SOURCE_DOCUMENT_FORM)
    assert config.names == ("recommendations", "routes", "ai_intelligence")
    assert config.enabled == ("recommendations", "routes")
    assert config.disabled == ("ai_intelligence",)
    assert config.group("ai_intelligence").skip_reason == (
        "group 'ai_intelligence' disabled in tests_config.yaml"
    )


def test_the_long_form_gives_paths_and_a_reason(tmp_path: Path) -> None:
    (tmp_path / "tests" / "ai").mkdir(parents=True)
    (tmp_path / "tests" / "test_routes.py").write_text("")
    config = parse(
        tmp_path,
        """\
        test_groups:
          routes:
            paths: tests/test_routes.py
          ai_intelligence:
            enabled: false
            paths: [tests/ai]
            reason: calls the paid OpenAI API
        """,
    )
    routes, ai = config.groups
    assert routes.enabled and routes.paths == ((tmp_path / "tests" / "test_routes.py").resolve(),)
    assert not ai.enabled and ai.paths == ((tmp_path / "tests" / "ai").resolve(),)
    assert ai.skip_reason == "calls the paid OpenAI API"


def test_an_empty_file_or_empty_section_declares_no_groups(tmp_path: Path) -> None:
    assert parse(tmp_path, "").groups == ()
    assert parse(tmp_path, "test_groups:\n").groups == ()


def test_a_missing_default_file_enables_every_group_and_says_so(tmp_path: Path) -> None:
    config = load_groups_config(tmp_path / "tests_config.yaml", required=False)
    assert not config.found
    assert header_lines(config) == [
        f"test groups: no tests_config.yaml at {tmp_path}, so every group is enabled"
    ]


def test_a_missing_file_named_on_the_command_line_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GroupsError, match=r"ci\.yaml: no such file \(given with --tests-config\)"):
        load_groups_config(tmp_path / "ci.yaml", required=True)


def test_malformed_yaml_names_the_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(
        GroupsError,
        match=r"tests_config.yaml: not valid YAML at line 3, column 11: mapping values are not allowed here",
    ):
        parse(tmp_path, "test_groups:\n  unit: true\n    docker: true\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "test_groups:\n  unit: true\n  routes: maybe\n",
            r"line 3: group 'routes' must be true, false or a mapping",
        ),
        ("test_groups:\n  unit: 1\n", r"line 2: group 'unit' must be true, false or a mapping"),
        ("test_groups:\n  unit: {enabled: 'no way'}\n", r"group 'unit' enabled must be true or false"),
        (
            "test_groups:\n  unit: {enable: false}\n",
            r"line 2: unknown key test_groups.unit.enable \(did you mean test_groups.unit.enabled\?\); "
            r"known keys of test_groups.unit: enabled, paths, reason",
        ),
        (
            "test_groups:\n  unit: {paths: [tests/nowhere]}\n",
            r"group 'unit' paths names 'tests/nowhere', which",
        ),
        ("test_groups:\n  unit: {paths: 3}\n", r"group 'unit' paths must be a list of files or folders"),
        ("test_groups:\n  unit: {reason: [1]}\n", r"group 'unit' reason must be text"),
        ("test_groups:\n  unit-tests: true\n", r"group name 'unit-tests' must be a word"),
        ("test_groups:\n  needs: true\n", r"group name 'needs' is reserved"),
        (
            "test_group:\n  unit: true\n",
            r"expected one top-level key 'test_groups:' holding the groups, got 'test_group'",
        ),
        ("test_groups: [unit]\n", r"'test_groups' must map group names to true/false or a mapping"),
    ],
)
def test_a_wrong_value_names_the_file_the_group_and_what_is_expected(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(GroupsError, match=message) as caught:
        parse(tmp_path, text)
    assert str(tmp_path / "tests_config.yaml") in str(caught.value)


def test_overrides_are_plus_or_minus_group_names() -> None:
    overrides = parse_overrides("+ai_intelligence,-routes, recommendations", "--groups")
    assert [(o.name, o.enabled) for o in overrides] == [
        ("ai_intelligence", True),
        ("routes", False),
        ("recommendations", True),
    ]
    with pytest.raises(GroupsError, match=r"--groups: '\+-routes' is not \+GROUP or -GROUP"):
        parse_overrides("+-routes", "--groups")


def test_overrides_switch_groups_and_say_who_decided(tmp_path: Path) -> None:
    config = parse(tmp_path, SOURCE_DOCUMENT_FORM)
    switched = apply_overrides(config, parse_overrides("+ai_intelligence,-routes", "--groups"))
    assert switched.enabled == ("recommendations", "ai_intelligence")
    assert switched.group("routes").skip_reason == "group 'routes' disabled by --groups=-routes"
    assert header_lines(switched) == [
        f"test groups ({tmp_path / 'tests_config.yaml'}): enabled: recommendations, ai_intelligence; "
        "disabled: routes (--groups=-routes)"
    ]


def test_command_line_wins_over_the_environment_and_all_groups_comes_before_it(tmp_path: Path) -> None:
    config = parse(tmp_path, SOURCE_DOCUMENT_FORM)
    environ = {"TEST_GROUPS": "+ai_intelligence,-recommendations"}
    assert selected_groups(config, environ=environ).enabled == ("routes", "ai_intelligence")
    assert selected_groups(config, environ=environ, cli_overrides=["+recommendations"]).disabled == ()
    everything_but_routes = selected_groups(config, all_groups=True, cli_overrides=["-routes"])
    assert everything_but_routes.disabled == ("routes",)


def test_an_unknown_group_in_an_override_lists_the_known_ones(tmp_path: Path) -> None:
    config = parse(tmp_path, SOURCE_DOCUMENT_FORM)
    with pytest.raises(
        GroupsError, match=r"TEST_GROUPS: unknown group 'route'; groups in .*: recommendations, "
    ):
        selected_groups(config, environ={"TEST_GROUPS": "-route"})


def test_paths_are_relative_to_the_config_files_folder(tmp_path: Path) -> None:
    (tmp_path / "ci" / "suite").mkdir(parents=True)
    config = parse_groups_config("test_groups:\n  slow: {paths: [suite]}\n", tmp_path / "ci" / "groups.yaml")
    assert config.group("slow").paths == ((tmp_path / "ci" / "suite").resolve(),)
    assert config.group("slow").decided_by == "groups.yaml"


def test_a_marker_expression_selects_any_of_the_groups() -> None:
    assert marker_expression(["unit", "docker"]) == "unit or docker"
