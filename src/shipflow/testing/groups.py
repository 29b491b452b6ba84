"""Test groups from ``tests_config.yaml``: which groups exist, which are on, and the overrides.

The file has a short form (``group: true``) and a long form per group::

    test_groups:
      unit: true
      ai_intelligence:
        enabled: false
        paths: [tests/ai]          # files or folders whose tests belong to the group
        reason: calls a paid API   # shown on skip

Overrides (``--groups=+a,-b``, ``TEST_GROUPS``, ``--all-groups``) are applied on top without editing the
file.  Groups and overrides are plain data (parsing checks that ``paths`` exist); the pytest hooks live
in :mod:`shipflow.testing.plugin`.

"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from shipflow.project import SettingsError, check_keys, cut, shown

CONFIG_FILE = "tests_config.yaml"
TOP_KEY = "test_groups"
GROUP_KEYS = ("enabled", "paths", "reason")
ENV_VAR = "TEST_GROUPS"
MAX_FILE_CHARACTERS = 100_000
MAX_DEPTH = 20
MAX_EXPANDED_VALUES = 10_000
"""Aliases may share values, but a document that expands beyond this is refused (an alias bomb)."""
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Names that pytest or this plugin already use as markers, or that `-m` expressions reserve.
RESERVED_NAMES = frozenset(
    {"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings", "needs", "and", "or", "not"}
)


class GroupsError(SettingsError):
    """tests_config.yaml or a group override is malformed or names an unknown group."""


@dataclass(frozen=True)
class Group:
    """One test group: whether it runs, which paths belong to it, and why it is off (if configured)."""

    name: str
    enabled: bool
    paths: tuple[Path, ...] = ()
    reason: str | None = None
    decided_by: str = CONFIG_FILE
    overridden: bool = False

    @property
    def skip_reason(self) -> str:
        """What a skipped test of this group shows: the configured reason unless an override decided."""
        if self.overridden:
            return f"group '{self.name}' disabled by {self.decided_by}"
        return self.reason or f"group '{self.name}' disabled in {self.decided_by}"


@dataclass(frozen=True)
class GroupsConfig:
    """All groups of a project, in file order, and the file they came from."""

    source: Path
    found: bool
    groups: tuple[Group, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Group names in file order."""
        return tuple(group.name for group in self.groups)

    @property
    def enabled(self) -> tuple[str, ...]:
        """Names of the groups that run."""
        return tuple(group.name for group in self.groups if group.enabled)

    @property
    def disabled(self) -> tuple[str, ...]:
        """Names of the groups whose tests are skipped."""
        return tuple(group.name for group in self.groups if not group.enabled)

    def group(self, name: str) -> Group:
        """The group called ``name`` (KeyError when there is none)."""
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(name)


@dataclass(frozen=True)
class Override:
    """Switch one group on or off; ``origin`` is where it was asked for (``--groups``, ``TEST_GROUPS``)."""

    name: str
    enabled: bool
    origin: str

    @property
    def text(self) -> str:
        """The override as it is written: ``+name`` or ``-name``."""
        return f"{'+' if self.enabled else '-'}{self.name}"


def _yaml_error(error: Exception, source: Path) -> GroupsError:
    import yaml

    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = cut(error.problem or error.context or "not valid YAML")
        return GroupsError(f"{source}: not valid YAML at {where}: {problem}; fix the file and run again")
    return GroupsError(f"{source}: not valid YAML: {cut(str(error))}; fix the file and run again")


def _expanded_size(node: Any, source: Path, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many values ``node`` holds once its aliases are expanded (each shared node is counted once per
    use but walked once); refuses a recursive alias, an expansion beyond the bound and a duplicate key."""
    import yaml

    if id(node) in open_nodes:
        raise GroupsError(f"{source}, line {node.start_mark.line + 1}: aliases refer to themselves; "
                          "write the values out")  # fmt: skip
    if id(node) in sizes:
        return sizes[id(node)]
    children: list[Any] = []
    if isinstance(node, yaml.MappingNode):
        _refuse_duplicate_keys(node, source)
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    open_nodes.add(id(node))
    size = 1 + sum(_expanded_size(child, source, sizes, open_nodes) for child in children)
    open_nodes.discard(id(node))
    if size > MAX_EXPANDED_VALUES:
        raise GroupsError(
            f"{source}, line {node.start_mark.line + 1}: aliases (*name) expand to more than "
            f"{MAX_EXPANDED_VALUES} values; write the values out instead"
        )
    sizes[id(node)] = size
    return size


def _refuse_duplicate_keys(node: Any, source: Path) -> None:
    import yaml

    first_line: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        if key.value in first_line:
            raise GroupsError(
                f"{source}, line {line}: key {shown(key.value)} is given twice "
                f"(lines {first_line[key.value]} and {line}); keep one"
            )
        first_line[key.value] = line


@cache
def _bounded_loader() -> type[Any]:
    """A safe loader that refuses nesting deeper than a groups file needs: PyYAML's scanner slows down
    quadratically with the depth of ``[[[...]]]``, and its composer recurses once per level."""
    import yaml
    from yaml.scanner import ScannerError

    class BoundedLoader(yaml.SafeLoader):
        def _refuse_depth(self, depth: int) -> None:
            if depth > MAX_DEPTH:
                problem = f"values nested deeper than {MAX_DEPTH} levels"
                raise ScannerError(None, None, problem, self.get_mark())

        def fetch_flow_collection_start(self, token_class: Any) -> None:
            self._refuse_depth(self.flow_level + 1)
            super().fetch_flow_collection_start(token_class)

        def add_indent(self, column: int) -> bool:
            self._refuse_depth(len(self.indents) + 1)
            added: bool = super().add_indent(column)
            return added

    return BoundedLoader


def _line_of_groups(root: Any) -> dict[str, int]:
    """1-based line of each group key under ``test_groups`` (for error messages)."""
    import yaml

    lines: dict[str, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        if key.value == TOP_KEY and isinstance(value, yaml.MappingNode):
            for group_key, _ in value.value:
                lines[str(group_key.value)] = group_key.start_mark.line + 1
    return lines


def _yaml(text: str, source: Path) -> tuple[Any, dict[str, int]]:
    """The document's data and the line of each group; composed once, checked (size, aliases, duplicate
    keys), then constructed from the checked nodes."""
    import yaml

    if len(text) > MAX_FILE_CHARACTERS:
        raise GroupsError(
            f"{source}: {len(text)} characters, more than a groups file needs ({MAX_FILE_CHARACTERS}); "
            "check that this is the right file"
        )
    loader = _bounded_loader()(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, {}
        _expanded_size(root, source, {}, set())
        return loader.construct_document(root), _line_of_groups(root)
    except yaml.YAMLError as error:
        raise _yaml_error(error, source) from None
    except RecursionError:
        raise GroupsError(f"{source}: values nested too deeply to read; fix the file and run again") from None
    finally:
        loader.dispose()


def _listed(values: Iterable[Any], shown_at_most: int = 3) -> str:
    """A few of ``values``, each cut, and how many more there are."""
    values = list(values)
    more = f" and {len(values) - shown_at_most} more" if len(values) > shown_at_most else ""
    return ", ".join(map(shown, values[:shown_at_most])) + more


def _group(name: Any, value: Any, where: str, root: Path) -> Group:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise GroupsError(
            f"{where}: group name {shown(name)} must be a word of letters, digits and '_' "
            "(it becomes a pytest marker)"
        )
    if name in RESERVED_NAMES:
        raise GroupsError(
            f"{where}: group name {shown(name)} is reserved by pytest or shipflow; choose another"
        )
    if isinstance(value, bool):
        return Group(name=name, enabled=value)
    if not isinstance(value, dict):
        raise GroupsError(
            f"{where}: group {shown(name)} must be true, false or a mapping with {', '.join(GROUP_KEYS)}; "
            f"got {shown(value)}"
        )
    check_keys(value, GROUP_KEYS, file=where, prefix=f"{TOP_KEY}.{name}.", error=GroupsError)
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise GroupsError(f"{where}: group {shown(name)} enabled must be true or false, got {shown(enabled)}")
    reason = value.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise GroupsError(f"{where}: group {shown(name)} reason must be text, got {shown(reason)}")
    paths = value.get("paths", [])
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not all(isinstance(path, str) and path for path in paths):
        raise GroupsError(
            f"{where}: group {shown(name)} paths must be a list of files or folders, got {shown(paths)}"
        )
    missing = [path for path in paths if not (root / path).exists()]
    if missing:
        raise GroupsError(
            f"{where}: group {shown(name)} paths names {_listed(missing)}, which does not exist "
            f"under {root}; fix or remove it"
        )
    return Group(
        name=name,
        enabled=enabled,
        paths=tuple((root / path).resolve() for path in paths),
        reason=reason or None,
    )


def parse_groups_config(text: str, source: Path) -> GroupsConfig:
    """Parse the text of a tests_config.yaml; ``paths`` are relative to the file's folder."""
    data, lines = _yaml(text, source)
    if data is None:
        return GroupsConfig(source=source, found=True)
    if not isinstance(data, dict) or set(map(str, data)) != {TOP_KEY}:
        keys = _listed(data) if isinstance(data, dict) else type(data).__name__
        raise GroupsError(
            f"{source}: expected one top-level key 'test_groups:' holding the groups, got {keys}"
        )
    groups = data[TOP_KEY]
    if groups is None:
        return GroupsConfig(source=source, found=True)
    if not isinstance(groups, dict):
        raise GroupsError(
            f"{source}: 'test_groups' must map group names to true/false or a mapping, got {shown(groups)}"
        )
    label = source.name
    parsed = []
    for name, value in groups.items():
        line = lines.get(str(name))
        where = f"{source}, line {line}" if line else str(source)
        parsed.append(replace(_group(name, value, where, source.parent), decided_by=label))
    return GroupsConfig(source=source, found=True, groups=tuple(parsed))


def load_groups_config(path: Path, *, required: bool) -> GroupsConfig:
    """Read the groups file at ``path``; when it is absent, every group is enabled unless ``required``."""
    if not path.is_file():
        if required:
            raise GroupsError(f"{path}: no such file (given with --tests-config); check the path")
        return GroupsConfig(source=path, found=False)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise GroupsError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return parse_groups_config(text, path)


def parse_overrides(text: str, origin: str) -> tuple[Override, ...]:
    """Parse ``+a,-b,c`` (a bare name switches a group on); whitespace and empty items are ignored."""
    overrides = []
    for item in (part.strip() for part in text.replace(" ", ",").split(",")):
        if not item:
            continue
        enabled = not item.startswith("-")
        name = item.lstrip("+-")
        if not NAME_PATTERN.fullmatch(name) or item[1:2] in ("+", "-"):
            raise GroupsError(f"{origin}: {shown(item)} is not +GROUP or -GROUP")
        overrides.append(Override(name=name, enabled=enabled, origin=origin))
    return tuple(overrides)


def apply_overrides(
    config: GroupsConfig, overrides: Iterable[Override], *, all_groups: bool = False
) -> GroupsConfig:
    """The config with ``all_groups`` and then each override applied in order; unknown names are errors."""
    overrides = tuple(overrides)
    unknown = [override for override in overrides if override.name not in config.names]
    if unknown:
        first = unknown[0]
        known = ", ".join(config.names) or "none"
        where = config.source if config.found else f"{config.source} (absent)"
        raise GroupsError(f"{first.origin}: unknown group {shown(first.name)}; groups in {where}: {known}")
    groups = {group.name: group for group in config.groups}
    if all_groups:
        groups = {
            name: group
            if group.enabled
            else replace(group, enabled=True, decided_by="--all-groups", overridden=True)
            for name, group in groups.items()
        }
    for override in overrides:
        groups[override.name] = replace(
            groups[override.name],
            enabled=override.enabled,
            decided_by=f"{override.origin}={override.text}",
            overridden=True,
        )
    return replace(config, groups=tuple(groups.values()))


def selected_groups(
    config: GroupsConfig,
    *,
    cli_overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    all_groups: bool = False,
) -> GroupsConfig:
    """The file's groups with ``TEST_GROUPS``, then ``--all-groups``, then each ``--groups`` applied."""
    env_text = (environ or {}).get(ENV_VAR, "")
    env = parse_overrides(env_text, ENV_VAR)
    config = apply_overrides(config, env)
    cli = tuple(override for text in cli_overrides for override in parse_overrides(text, "--groups"))
    return apply_overrides(config, cli, all_groups=all_groups)


def header_lines(config: GroupsConfig) -> list[str]:
    """What the pytest report header says about the groups."""
    if not config.found:
        return [f"test groups: no {config.source.name} at {config.source.parent}, so every group is enabled"]
    if not config.groups:
        return [f"test groups ({config.source}): none declared"]
    enabled = ", ".join(config.enabled) or "none"
    disabled = ", ".join(
        f"{group.name} ({group.decided_by})" if group.overridden else group.name
        for group in config.groups
        if not group.enabled
    )
    line = f"test groups ({config.source}): enabled: {enabled}; disabled: {disabled or 'none'}"
    return [line]


def marker_expression(names: Iterable[str]) -> str:
    """A ``-m`` expression selecting the tests of any of ``names``."""
    return " or ".join(names)
