"""Every settings reader refuses an unknown key (naming the file, the dotted key and the closest known one)
and a number out of range; this repository's own settings and shipflow init's templates still load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import REPO

from shipflow.db.settings import db_settings
from shipflow.deploy.settings import load_deploy_settings
from shipflow.gates.settings import load_settings
from shipflow.images.settings import build_settings
from shipflow.lint import lint_settings
from shipflow.project import (
    PORT,
    POSITIVE,
    NumberRange,
    Project,
    SettingsError,
    check_keys,
    load_project,
    shown,
)
from shipflow.release.branches import git_settings
from shipflow.testing.groups import load_groups_config

pytestmark = pytest.mark.unit

TEMPLATES = REPO / "src" / "shipflow" / "templates" / "project"


def write_pyproject(root: Path, text: str) -> Project:
    (root / "pyproject.toml").write_text(text)
    return load_project(root)


def test_an_unknown_section_under_tool_shipflow_names_the_closest_one(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        write_pyproject(tmp_path, '[tool.shipflow.buidl]\nimage = "app"\n')
    message = str(caught.value)
    assert str(tmp_path / "pyproject.toml") in message
    assert "unknown key tool.shipflow.buidl (did you mean tool.shipflow.build?)" in message


def test_every_section_shipflow_reads_is_known(tmp_path: Path) -> None:
    names = ("env", "lint", "build", "git", "db", "gates")
    sections = "".join(f"[tool.shipflow.{name}]\n" for name in names)
    assert set(write_pyproject(tmp_path, sections).settings) == set(names)


@pytest.mark.parametrize(
    ("section", "read", "dotted", "closest"),
    [
        ({"lint": {"rufff": ["src"]}}, lint_settings, "tool.shipflow.lint.rufff", "tool.shipflow.lint.ruff"),
        (
            {"lint": {"extra": [{"name": "x", "run": ["x"], "fixx": ["x"]}]}},
            lint_settings,
            "tool.shipflow.lint.extra[0].fixx",
            "tool.shipflow.lint.extra[0].fix",
        ),
        (
            {"build": {"image": "app", "retian": 3}},
            build_settings,
            "tool.shipflow.build.retian",
            "tool.shipflow.build.retain",
        ),
        (
            {"build": {"image": "app", "base": {"pakages": ["python3"]}}},
            build_settings,
            "tool.shipflow.build.base.pakages",
            "tool.shipflow.build.base.packages",
        ),
        ({"git": {"modle": "gitflow"}}, git_settings, "tool.shipflow.git.modle", "tool.shipflow.git.model"),
        (
            {"db": {"base_brnach": "main"}},
            db_settings,
            "tool.shipflow.db.base_brnach",
            "tool.shipflow.db.base_branch",
        ),
        (
            {"gates": {"load": {"user": 3}}},
            load_settings,
            "tool.shipflow.gates.load.user",
            "tool.shipflow.gates.load.users",
        ),
    ],
)
def test_an_unknown_key_in_a_section_names_the_file_the_key_and_the_closest_one(
    tmp_path: Path, section: dict[str, Any], read: Any, dotted: str, closest: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        read(Project(root=tmp_path, settings=section))
    message = str(caught.value)
    assert message.startswith(
        f"{tmp_path / 'pyproject.toml'}: unknown key {dotted} (did you mean {closest}?)"
    )


def test_many_unknown_keys_make_one_bounded_line(tmp_path: Path) -> None:
    table = {f"{'k' * 200}{index}": 1 for index in range(50)}
    with pytest.raises(SettingsError) as caught:
        check_keys(table, ("image",), file=tmp_path / "pyproject.toml", prefix="tool.shipflow.build.")
    message = str(caught.value)
    assert "and 47 more" in message and len(message) < 400 and "\n" not in message


@pytest.mark.parametrize(
    ("value", "allowed", "inside"),
    [
        (1, PORT, True),
        (65535, PORT, True),
        (0, PORT, False),
        (65536, PORT, False),
        (-1, PORT, False),
        (True, PORT, False),
        (0.5, POSITIVE, True),
        (0, POSITIVE, False),
        (float("nan"), POSITIVE, False),
        (float("inf"), POSITIVE, False),
        ("5", POSITIVE, False),
    ],
)
def test_a_number_range_holds_only_finite_numbers_within_its_bounds(
    value: object, allowed: NumberRange, inside: bool
) -> None:
    assert (value in allowed) is inside


def test_a_value_in_a_message_is_cut() -> None:
    assert shown("x" * 10_000).endswith("...") or "..." in shown("x" * 10_000)
    assert len(shown("x" * 10_000)) <= 80
    assert len(shown(list(range(100_000)))) <= 80


def test_this_repositorys_settings_and_shipflow_inits_templates_load(tmp_path: Path) -> None:
    project = load_project(REPO)
    lint_settings(project)
    build_settings(project)
    git_settings(project)
    db_settings(project)
    load_deploy_settings(REPO, {})
    (tmp_path / "deploy" / "nginx").mkdir(parents=True)
    template = (TEMPLATES / "deploy" / "deploy.toml").read_text().replace("__APP__", "demo")
    (tmp_path / "deploy" / "deploy.toml").write_text(template)
    for path in (TEMPLATES / "deploy" / "nginx").iterdir():
        (tmp_path / "deploy" / "nginx" / path.name).write_text(path.read_text())
    assert load_deploy_settings(tmp_path, {}).target("local").is_local
    assert load_groups_config(TEMPLATES / "tests_config.yaml", required=True).names == (
        "unit",
        "slow",
        "integration",
    )
    assert "unit" in load_groups_config(REPO / "tests_config.yaml", required=True).names
