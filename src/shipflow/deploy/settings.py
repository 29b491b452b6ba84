"""Deploy settings from ``deploy/deploy.toml``: the app, its health check, and one table per target.

Every value can be given as ``"${VAR}"`` to read it from the environment (how CI passes SSH secrets);
every error names the file and the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipflow.deploy.templates import render_template
from shipflow.project import (
    AT_LEAST_ONE,
    NOT_NEGATIVE,
    PORT,
    POSITIVE,
    NumberRange,
    SettingsError,
    check_keys,
    check_range,
    read_toml,
    shown,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

DEPLOY_SETTINGS = Path("deploy") / "deploy.toml"
DEFAULT_UPSTREAM_TEMPLATE = Path("deploy") / "nginx" / "upstream.conf.tmpl"
PACKAGED_UPSTREAM_TEMPLATE = (
    Path(__file__).parent.parent / "templates" / "project" / DEFAULT_UPSTREAM_TEMPLATE
)
"""Used when a project neither names an upstream template nor has deploy/nginx/upstream.conf.tmpl."""

SLOT_NAMES = ("blue", "green")
MIGRATE_MODES = ("before-switch", "on-start", "off")
"""before-switch: `alembic upgrade head` in a one-off container before the new slot starts (the default);
on-start: the container runs it itself (scripts/start.sh, MIGRATE_ON_START=true); off: never."""
DEFAULT_ALEMBIC = ("python3", "-m", "alembic")
RATIO = NumberRange(minimum=0, maximum=1)
BAKE_SECONDS = NumberRange(minimum=0, maximum=3600)
STEP_SECONDS = NumberRange(above=0, maximum=3600)
_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")

TOP_LEVEL_KEYS = (
    "app", "container_port", "upstream_template", "volumes", "migrate", "alembic",
    "health", "hooks", "targets", "bake", "canary",
)  # fmt: skip
CANARY_KEYS = ("step_seconds",)
BAKE_KEYS = (
    "seconds", "max_error_ratio", "max_p95_ms", "relative_to_baseline", "min_requests", "release_header",
    "paths",
)  # fmt: skip
BAKED_ENVIRONMENTS = ("staging", "production")
"""Where the bake window is on by default; elsewhere (this machine's target) it is 0 unless set."""
DEFAULT_BAKE_SECONDS = 30.0
HEALTH_KEYS = ("path", "interval", "timeout", "deploy_timeout")
HOOKS_KEYS = ("pre_switch",)
TARGET_KEYS = (
    "host", "hosts", "environment", "slots", "drain_timeout", "stop_timeout", "switch", "switch_port",
    "maintenance_port",
)  # fmt: skip
SWITCH_KINDS = ("nat", "reload")
LOCAL_TARGET_KEYS = ("state_dir", "proxy_port")
REMOTE_TARGET_KEYS = (
    "app_dir", "public_url", "upstream_path", "nginx_test", "nginx_reload", "nginx_pid_file", "user", "port",
    "identity_file", "identity_key_from", "known_hosts", "env_file_from", "registry",
)  # fmt: skip


@dataclass(frozen=True)
class HealthSettings:
    """How a candidate proves it is ready: polled at ``path`` until 200 or ``deploy_timeout``."""

    path: str = "/health"
    interval: float = 1.0
    timeout: float = 5.0
    deploy_timeout: float = 60.0


@dataclass(frozen=True)
class BakeSettings:
    """The window after a switch during which the new release is watched and reverted on a breach.

    ``seconds`` None: :data:`DEFAULT_BAKE_SECONDS` for staging and production targets, else 0. A breach is
    a 5xx ratio above ``max_error_ratio`` or a p95 above ``max_p95_ms``, judged once ``min_requests``
    requests were seen; with ``relative_to_baseline`` both limits are added to the old release's figures
    from before the deploy. ``release_header`` names the response header a release identifies itself
    with (nginx logs it per request); ``paths`` are probed besides the health path."""

    seconds: float | None = None
    max_error_ratio: float = 0.05
    max_p95_ms: float = 2000.0
    relative_to_baseline: bool = False
    min_requests: int = 20
    release_header: str = "X-Release"
    paths: tuple[str, ...] = ("/",)

    def seconds_for(self, environment: str) -> float:
        """The window for a target of ``environment`` when no flag overrides it."""
        if self.seconds is not None:
            return self.seconds
        return DEFAULT_BAKE_SECONDS if environment in BAKED_ENVIRONMENTS else 0.0


@dataclass(frozen=True)
class CanarySettings:
    """``--canary 10,50``: how long each step holds its share of traffic on the new release."""

    step_seconds: float = 60.0


@dataclass(frozen=True)
class TargetSettings:
    """Where and how one environment is deployed."""

    name: str
    environment: str
    host: str  # "local", or an SSH host
    slots: tuple[int, int]
    state_dir: str
    upstream_path: str
    proxy_port: int | None  # local target: the port of shipflow's own nginx
    nginx_test: tuple[str, ...]
    nginx_reload: tuple[str, ...]
    nginx_pid_file: str
    public_url: str
    drain_timeout: float = 30.0
    stop_timeout: int = 10
    user: str | None = None
    port: int = 22
    identity_file: str | None = None
    hosts: tuple[str, ...] = ()  # every server of a remote target (``host`` is the first, or the one at hand)
    identity_key_from: str | None = None  # a variable holding a private key's text (CI: PROD_SSH_KEY)
    known_hosts: str | None = None  # default ~/.ssh/known_hosts
    env_file_from: str | None = None  # a variable holding the env file's text (CI: PROD_ENV_FILE)
    registry: str | None = None  # push/pull through this registry instead of streaming the image over SSH
    switch: str | None = None  # "nat", "reload", or None: nat where the host permits it, else reload
    switch_port: int = 0  # the stable 127.0.0.1 port nginx routes to when traffic moves by NAT
    maintenance_port: int = 0  # where the maintenance page's responder listens on 127.0.0.1

    @property
    def is_local(self) -> bool:
        return self.host == "local"

    def on_host(self, host: str) -> TargetSettings:
        """This target narrowed to one of its servers."""
        return replace(self, host=host, hosts=(host,))


@dataclass(frozen=True)
class DeploySettings:
    """The whole ``deploy/deploy.toml``."""

    path: Path
    app: str
    container_port: int
    health: HealthSettings
    upstream_template: Path
    targets: Mapping[str, TargetSettings]
    pre_switch: tuple[tuple[str, ...], ...] = field(default=())
    volumes: tuple[str, ...] = field(default=())
    migrate: str = "before-switch"
    alembic: tuple[str, ...] = DEFAULT_ALEMBIC  # how the image runs alembic, from its working directory
    bake: BakeSettings = field(default_factory=BakeSettings)
    canary: CanarySettings = field(default_factory=CanarySettings)

    def target(self, name: str) -> TargetSettings:
        if name not in self.targets:
            known = ", ".join(sorted(self.targets)) or "none"
            raise SettingsError(
                f"{self.path}: no [targets.{name}] table (known targets: {known}); add one to deploy there"
            )
        return self.targets[name]

    def target_for_environment(self, environment: str) -> TargetSettings:
        for target in self.targets.values():
            if target.environment == environment:
                return target
        return self.target(environment)


class _Reader:
    """Typed access to a TOML table, with errors that name the file and the dotted key."""

    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ

    def fail(self, key: str, expected: str, value: Any) -> SettingsError:
        return SettingsError(f"{self.path}: {key} must be {expected}, got {shown(value)}")

    def check_keys(self, table: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
        check_keys(table, known, file=self.path, prefix=prefix)

    def resolve(self, key: str, value: Any) -> Any:
        if isinstance(value, str) and (match := _ENV_REFERENCE.match(value)):
            variable = match.group(1)
            if variable not in self.environ:
                raise SettingsError(f"{self.path}: {key} reads ${{{variable}}}, which is not set; export it")
            return self.environ[variable]
        return value

    def get(
        self,
        table: Mapping[str, Any],
        prefix: str,
        key: str,
        kind: type,
        default: Any,
        allowed: NumberRange | None = None,
    ) -> Any:
        """``table[key]`` as ``kind`` (``"${VAR}"`` read from the environment), within ``allowed``."""
        dotted = f"{prefix}{key}"
        if key not in table:
            return default
        raw = table[key]
        resolved = self.resolve(dotted, raw)
        # A value read from the environment may be a secret put in the wrong variable: never echo it.
        got = shown(raw) if resolved is raw else f"the value of {raw}"
        value = self._typed(dotted, resolved, kind, got)
        if allowed is not None:
            check_range(value, allowed, file=self.path, key=dotted, got=got)
        return value

    def _typed(self, dotted: str, value: Any, kind: type, got: str) -> Any:
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            return int(value)
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            raise SettingsError(f"{self.path}: {dotted} must be a {kind.__name__}, got {got}")
        return value

    def argv(
        self, table: Mapping[str, Any], prefix: str, key: str, default: tuple[str, ...]
    ) -> tuple[str, ...]:
        value = table.get(key, list(default))
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{prefix}{key}", "a non-empty list of strings (a command as argv)", value)
        return tuple(value)


def local_nginx(state_dir: str) -> tuple[str, ...]:
    """shipflow's own nginx for a local target, everything under ``state_dir``/nginx."""
    nginx_dir = f"{state_dir}/nginx"
    return ("nginx", "-p", nginx_dir, "-c", f"{nginx_dir}/nginx.conf")


def _local_target(reader: _Reader, name: str, table: Mapping[str, Any], root: Path) -> dict[str, Any]:
    prefix = f"targets.{name}."
    state_dir = str(root / reader.get(table, prefix, "state_dir", str, f".shipflow/{name}"))
    proxy_port = reader.get(table, prefix, "proxy_port", int, 8080, PORT)
    nginx_dir = f"{state_dir}/nginx"
    nginx = local_nginx(state_dir)
    return {
        "state_dir": state_dir,
        "upstream_path": f"{nginx_dir}/upstream.conf",
        "proxy_port": proxy_port,
        "nginx_test": (*nginx, "-t", "-q"),
        "nginx_reload": (*nginx, "-s", "reload"),
        "nginx_pid_file": f"{nginx_dir}/nginx.pid",
        "public_url": f"http://127.0.0.1:{proxy_port}",
    }


def _remote_target(reader: _Reader, name: str, table: Mapping[str, Any], app: str) -> dict[str, Any]:
    prefix = f"targets.{name}."
    app_dir = reader.get(table, prefix, "app_dir", str, f"/opt/{app}")
    public_url = reader.get(table, prefix, "public_url", str, None)
    if public_url is None:
        raise SettingsError(f"{reader.path}: {prefix}public_url is required for a remote target")
    return {
        "state_dir": f"{app_dir}/.shipflow",
        "upstream_path": reader.get(
            table, prefix, "upstream_path", str, f"/etc/nginx/conf.d/{app}_upstream.conf"
        ),
        "proxy_port": None,
        "nginx_test": reader.argv(table, prefix, "nginx_test", ("sudo", "nginx", "-t", "-q")),
        "nginx_reload": reader.argv(table, prefix, "nginx_reload", ("sudo", "nginx", "-s", "reload")),
        "nginx_pid_file": reader.get(table, prefix, "nginx_pid_file", str, "/run/nginx.pid"),
        "public_url": public_url,
        "user": reader.get(table, prefix, "user", str, None),
        "port": reader.get(table, prefix, "port", int, 22, PORT),
        "identity_file": reader.get(table, prefix, "identity_file", str, None),
        "identity_key_from": _variable_name(reader, table, prefix, "identity_key_from"),
        "known_hosts": reader.get(table, prefix, "known_hosts", str, None),
        "env_file_from": _variable_name(reader, table, prefix, "env_file_from"),
        "registry": reader.get(table, prefix, "registry", str, None),
    }


def _variable_name(reader: _Reader, table: Mapping[str, Any], prefix: str, key: str) -> str | None:
    """A setting that names an environment variable (read when needed, never stored with its value)."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise reader.fail(f"{prefix}{key}", 'the name of an environment variable, e.g. "PROD_SSH_KEY"', value)
    return value


def _hosts(reader: _Reader, table: Mapping[str, Any], prefix: str) -> tuple[str, ...]:
    """``hosts = ["a", "${B}"]`` or ``hosts = "${PROD_SSH_HOSTS}"`` (comma separated), else ``host``."""
    if "hosts" in table and "host" in table:
        raise SettingsError(f"{reader.path}: {prefix}host and {prefix}hosts are both set; keep one")
    if "hosts" not in table:
        return (reader.get(table, prefix, "host", str, "local"),)
    raw = reader.resolve(f"{prefix}hosts", table["hosts"])
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise reader.fail(f"{prefix}hosts", 'a list of host names, e.g. ["203.0.113.10", "${HOST_B}"]', raw)
    hosts = tuple(
        str(reader.resolve(f"{prefix}hosts[{index}]", item)).strip() for index, item in enumerate(items)
    )
    if not hosts or not all(hosts) or "local" in hosts or len(set(hosts)) != len(hosts):
        raise reader.fail(f"{prefix}hosts", "one or more different, non-empty SSH host names", raw)
    return hosts


def _target(reader: _Reader, name: str, table: Any, root: Path, app: str) -> TargetSettings:
    prefix = f"targets.{name}."
    if not isinstance(table, dict):
        raise reader.fail(f"targets.{name}", "a table", table)
    reader.check_keys(table, TARGET_KEYS + LOCAL_TARGET_KEYS + REMOTE_TARGET_KEYS, prefix)
    hosts = _hosts(reader, table, prefix)
    host = hosts[0]
    _check_keys_fit_the_host(reader, table, prefix, is_local=host == "local")
    slots = table.get("slots", [8000, 8001])
    if (
        not isinstance(slots, list)
        or len(slots) != 2
        or not all(isinstance(p, int) and 0 < p < 65536 for p in slots)
        or slots[0] == slots[1]
    ):
        raise reader.fail(f"{prefix}slots", "two different port numbers, e.g. [8000, 8001]", slots)
    where = (
        _local_target(reader, name, table, root)
        if host == "local"
        else _remote_target(reader, name, table, app)
    )
    switch = reader.get(table, prefix, "switch", str, None)
    if switch is not None and switch not in SWITCH_KINDS:
        raise reader.fail(f"{prefix}switch", '"nat" (no nginx reload) or "reload"', switch)
    switch_port = reader.get(table, prefix, "switch_port", int, max(slots) + 1, PORT)
    if switch_port in (*slots, where["proxy_port"]):
        raise reader.fail(
            f"{prefix}switch_port", "a port apart from the slots and the proxy port", switch_port
        )
    taken = (*slots, where["proxy_port"], switch_port)
    candidates = (*range(switch_port + 1, 65536), *range(switch_port - 1, 0, -1))
    next_free = next(port for port in candidates if port not in taken)
    maintenance_port = reader.get(table, prefix, "maintenance_port", int, next_free, PORT)
    if maintenance_port in taken:
        raise reader.fail(
            f"{prefix}maintenance_port",
            "a port apart from the slots, the proxy port and the switch port",
            maintenance_port,
        )
    return TargetSettings(
        name=name,
        environment=reader.get(table, prefix, "environment", str, name),
        host=host,
        hosts=() if host == "local" else hosts,
        slots=(slots[0], slots[1]),
        drain_timeout=reader.get(table, prefix, "drain_timeout", float, 30.0, POSITIVE),
        stop_timeout=reader.get(table, prefix, "stop_timeout", int, 10, NOT_NEGATIVE),
        switch=switch,
        switch_port=switch_port,
        maintenance_port=maintenance_port,
        **where,
    )


def _check_keys_fit_the_host(
    reader: _Reader, table: Mapping[str, Any], prefix: str, *, is_local: bool
) -> None:
    """Keys of a server on this machine's target (or the reverse) mean a missing or misspelt host: refuse
    rather than deploy to the wrong machine."""
    if is_local:
        misplaced = [key for key in REMOTE_TARGET_KEYS if key in table]
        if misplaced:
            raise SettingsError(
                f"{reader.path}: {prefix}{misplaced[0]} is for a server over SSH, but {prefix.rstrip('.')} "
                'has no host, so it would deploy to this machine; set host = "..." (or hosts), or remove it'
            )
        return
    misplaced = [key for key in LOCAL_TARGET_KEYS if key in table]
    if misplaced:
        raise SettingsError(
            f"{reader.path}: {prefix}{misplaced[0]} applies to this machine's target only "
            '(host = "local"); remove it'
        )


def _check_upstream_template(path: Path, app: str) -> None:
    """Read and render the upstream template once, so a missing or broken one is bad input before a deploy
    changes anything (``nginx -t`` still judges the rendered text at the switch)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(
            f"{path}: the upstream template cannot be read ({error}); set upstream_template in "
            f"{DEPLOY_SETTINGS} or restore the file (`shipflow init` writes one)"
        ) from None
    rendered = render_template(text, {"app": app, "port": "8000"}, source=str(path))
    if "8000" not in rendered:
        raise SettingsError(
            f"{path}: the upstream template never uses {{{{ port }}}}, so it cannot route to a slot"
        )


def _bake(reader: _Reader, data: Mapping[str, Any]) -> BakeSettings:
    table = data.get("bake", {})
    if not isinstance(table, dict):
        raise reader.fail("bake", "a table", table)
    reader.check_keys(table, BAKE_KEYS, "bake.")
    header = reader.get(table, "bake.", "release_header", str, BakeSettings.release_header)
    if not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise reader.fail(
            "bake.release_header", 'a header name (letters, digits, -), e.g. "X-Release"', header
        )
    paths = table.get("paths", list(BakeSettings.paths))
    if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
        raise reader.fail("bake.paths", 'a list of paths, each starting with "/", e.g. ["/"]', paths)
    return BakeSettings(
        seconds=reader.get(table, "bake.", "seconds", float, None, BAKE_SECONDS),
        max_error_ratio=reader.get(table, "bake.", "max_error_ratio", float, 0.05, RATIO),
        max_p95_ms=reader.get(table, "bake.", "max_p95_ms", float, 2000.0, POSITIVE),
        relative_to_baseline=reader.get(table, "bake.", "relative_to_baseline", bool, False),
        min_requests=reader.get(table, "bake.", "min_requests", int, 20, AT_LEAST_ONE),
        release_header=header,
        paths=tuple(paths),
    )


def _canary(reader: _Reader, data: Mapping[str, Any]) -> CanarySettings:
    table = data.get("canary", {})
    if not isinstance(table, dict):
        raise reader.fail("canary", "a table", table)
    reader.check_keys(table, CANARY_KEYS, "canary.")
    return CanarySettings(reader.get(table, "canary.", "step_seconds", float, 60.0, STEP_SECONDS))


def load_deploy_settings(root: Path, environ: Mapping[str, str] | None = None) -> DeploySettings:
    """Read and check ``deploy/deploy.toml`` under the project ``root``."""
    path = root / DEPLOY_SETTINGS
    if not path.is_file():
        raise SettingsError(f"{path}: not found; create it (see README, 'Deploys', or run `shipflow init`)")
    data = read_toml(path)
    reader = _Reader(path, os.environ if environ is None else environ)
    reader.check_keys(data, TOP_LEVEL_KEYS, "")
    app = reader.get(data, "", "app", str, None)
    if not app or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", app):
        raise reader.fail("app", "a lower-case name (letters, digits, - _ .)", app)
    health_table = data.get("health", {})
    if not isinstance(health_table, dict):
        raise reader.fail("health", "a table", health_table)
    reader.check_keys(health_table, HEALTH_KEYS, "health.")
    health = HealthSettings(
        path=reader.get(health_table, "health.", "path", str, "/health"),
        interval=reader.get(health_table, "health.", "interval", float, 1.0, POSITIVE),
        timeout=reader.get(health_table, "health.", "timeout", float, 5.0, POSITIVE),
        deploy_timeout=reader.get(health_table, "health.", "deploy_timeout", float, 60.0, POSITIVE),
    )
    targets_table = data.get("targets", {})
    if not isinstance(targets_table, dict) or not targets_table:
        raise SettingsError(f"{path}: no [targets.NAME] tables; add at least [targets.local]")
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict):
        raise reader.fail("hooks", "a table", hooks)
    reader.check_keys(hooks, HOOKS_KEYS, "hooks.")
    pre_switch = hooks.get("pre_switch", [])
    if not isinstance(pre_switch, list) or not all(
        isinstance(c, list) and c and all(isinstance(a, str) for a in c) for c in pre_switch
    ):
        raise reader.fail("hooks.pre_switch", "a list of commands, each a list of strings", pre_switch)
    volumes = data.get("volumes", [])
    if not isinstance(volumes, list) or not all(isinstance(v, str) and ":" in v for v in volumes):
        raise reader.fail("volumes", 'a list of "NAME:/container/path" strings', volumes)
    template = root / reader.get(data, "", "upstream_template", str, str(DEFAULT_UPSTREAM_TEMPLATE))
    if "upstream_template" not in data and not template.is_file():
        template = PACKAGED_UPSTREAM_TEMPLATE

    migrate = reader.get(data, "", "migrate", str, MIGRATE_MODES[0])
    if migrate not in MIGRATE_MODES:
        raise reader.fail("migrate", " or ".join(f'"{mode}"' for mode in MIGRATE_MODES), migrate)
    settings = DeploySettings(
        path=path,
        app=app,
        container_port=reader.get(data, "", "container_port", int, 8000, PORT),
        health=health,
        upstream_template=template,
        targets={name: _target(reader, name, table, root, app) for name, table in targets_table.items()},
        pre_switch=tuple(tuple(c) for c in pre_switch),
        volumes=tuple(volumes),
        migrate=migrate,
        alembic=reader.argv(data, "", "alembic", DEFAULT_ALEMBIC),
        bake=_bake(reader, data),
        canary=_canary(reader, data),
    )
    _check_upstream_template(template, app)
    return settings
