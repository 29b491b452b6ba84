"""``[tool.shipflow.gates.load]`` in pyproject.toml: how hard ``inv gate.load`` pushes and what it must meet.

```toml
[tool.shipflow.gates.load]
locustfile = "examples/service/locustfile.py"  # default "locustfile.py"
users = 20             # simulated users (default 10)
spawn_rate = 10        # users started per second (default 10)
run_time = 30          # whole seconds of load (default 30)
max_fail_ratio = 0.01  # share of failed requests allowed, 0 to 1 (default 0.01)
max_p95_ms = 300       # 95th percentile response time allowed, in ms (default 500)
min_rps = 20           # requests per second required over the run (default 0: none)
```

Every key can be given for one run as a flag (``--max-p95-ms 250``); a flag is checked
like the setting it replaces. An unknown key names the file, the dotted key and the closest known one.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from shipflow.errors import BadInput
from shipflow.project import (
    PYPROJECT,
    NumberRange,
    Project,
    SettingsError,
    check_keys,
    check_range,
    shown,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

GATES_KEYS = ("load", "required")
"""The keys of ``[tool.shipflow.gates]``: the load gate's table, and the gates a promotion requires."""
GATES = ("integration", "load")
"""Every gate shipflow runs (``inv gate.<name>``)."""

WHOLE = "a whole number"
DECIMAL = "a number"
LIMITS: dict[str, tuple[str, NumberRange]] = {
    "users": (WHOLE, NumberRange(minimum=1, maximum=100_000)),
    "spawn_rate": (DECIMAL, NumberRange(above=0, maximum=100_000)),
    "run_time": (WHOLE, NumberRange(minimum=1, maximum=86_400)),
    "max_fail_ratio": (DECIMAL, NumberRange(minimum=0, maximum=1)),
    "max_p95_ms": (DECIMAL, NumberRange(above=0)),
    "min_rps": (DECIMAL, NumberRange(minimum=0)),
}
"""Each numeric setting: its kind and the range it must be in (run_time in whole seconds)."""


class BadGateFlag(BadInput):
    """A gate's flag holds no number, or one out of its setting's range; nothing ran."""


@dataclass(frozen=True)
class LoadSettings:
    """How ``inv gate.load`` runs Locust and the thresholds its figures must meet."""

    locustfile: str = "locustfile.py"
    users: int = 10
    spawn_rate: float = 10.0
    run_time: int = 30
    max_fail_ratio: float = 0.01
    max_p95_ms: float = 500.0
    min_rps: float = 0.0


LOAD_KEYS = tuple(field.name for field in fields(LoadSettings))


def _typed(key: str, value: Any, *, where: str, got: str | None = None) -> float | int:
    kind = LIMITS[key][0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{where}{key} must be {kind}, got {got or shown(value)}")
    if kind == WHOLE and value != int(value):
        raise SettingsError(f"{where}{key} must be {kind}, got {got or shown(value)}")
    return int(value) if kind == WHOLE else float(value)


def load_settings(project: Project) -> LoadSettings:
    """Read ``[tool.shipflow.gates.load]`` (absent: the defaults); :class:`SettingsError` naming the file
    and the dotted key for an unknown key, a value of the wrong kind or a number out of range."""
    path = project.root / PYPROJECT
    table = project.section("gates", GATES_KEYS).get("load", {})
    prefix = "tool.shipflow.gates.load."
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [tool.shipflow.gates.load] must be a table, got {shown(table)}")
    check_keys(table, LOAD_KEYS, file=path, prefix=prefix)
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key == "locustfile":
            if not isinstance(raw, str) or not raw.strip():
                raise SettingsError(f"{path}: {prefix}locustfile must be a path, got {shown(raw)}")
            values[key] = raw.strip()
            continue
        value = _typed(key, raw, where=f"{path}: {prefix}")
        check_range(value, LIMITS[key][1], file=path, key=f"{prefix}{key}")
        values[key] = value
    return LoadSettings(**values)


def flag_name(key: str) -> str:
    """The flag that overrides ``key``: ``--max-p95-ms`` for ``max_p95_ms``."""
    return "--" + key.replace("_", "-")


def _flag_number(key: str, text: str) -> float | int:
    kind, allowed = LIMITS[key]
    flag = flag_name(key)
    try:
        value: float | int = int(text) if kind == WHOLE else float(text)
    except ValueError:
        raise BadGateFlag(f"{flag} must be {kind}, got {shown(text)}") from None
    if value not in allowed:
        raise BadGateFlag(f"{flag} must be {allowed.text}, got {shown(text)}")
    return value


def with_flags(settings: LoadSettings, flags: Mapping[str, str | None]) -> LoadSettings:
    """``settings`` with each flag given (not None) in its place, checked like the setting it replaces;
    :class:`BadGateFlag` naming the flag otherwise."""
    changes: dict[str, Any] = {}
    for key, text in flags.items():
        if text is None:
            continue
        if key == "locustfile":
            if not text.strip():
                raise BadGateFlag("--locustfile is empty; give the path of a locustfile")
            changes[key] = text.strip()
        else:
            changes[key] = _flag_number(key, text.strip())
    return replace(settings, **changes)


def required_gates(project: Project) -> tuple[str, ...]:
    """``[tool.shipflow.gates] required``: the gates an image must have passed on the environment it is
    promoted from (default: every gate); an unknown gate names the file, the key and the closest gate."""
    path = project.root / PYPROJECT
    value = project.section("gates", GATES_KEYS).get("required", list(GATES))
    key = "tool.shipflow.gates.required"
    if not isinstance(value, list) or not all(isinstance(gate, str) for gate in value):
        raise SettingsError(
            f"{path}: {key} must be a list of gate names ({', '.join(GATES)}), got {shown(value)}"
        )
    for gate in value:
        if gate not in GATES:
            close = difflib.get_close_matches(gate, GATES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingsError(
                f"{path}: {key} names an unknown gate {shown(gate)}{hint}; the gates are {', '.join(GATES)}"
            )
    return tuple(dict.fromkeys(value))
