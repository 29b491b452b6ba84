"""What a deploy runs and writes, built as data from settings: argv lists and file texts, no I/O.

Kamal's ``lib/kamal/commands/`` builds command arrays the same way; the engine runs them on a host.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy.settings import SLOT_NAMES, local_nginx
from shipflow.deploy.templates import render_template
from shipflow.images.plan import REVISION_LABEL, VERSION_LABEL

if TYPE_CHECKING:
    from shipflow.deploy.settings import DeploySettings, TargetSettings

CONTAINER_ENV_FILE = "/run/shipflow/app.env"
LABEL_PREFIX = "shipflow."
UPSTREAM_HEADER = "X-Shipflow-Upstream"
_UPSTREAM_SERVER = re.compile(r"^\s*server\s+[^\s:;]+:(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Slot:
    """One of the two places a release can run: a name and the host port it listens on."""

    name: str
    port: int


@dataclass(frozen=True)
class Release:
    """An image to run and how it is known to people."""

    image: str  # a reference docker can run: "app:<sha>" or an image id
    sha: str
    version: str

    @classmethod
    def from_labels(cls, reference: str, labels: Mapping[str, str]) -> Release:
        """The release an image carries in the OCI labels ``inv build`` sets (else its tag names it)."""
        sha = labels.get(REVISION_LABEL) or reference.rsplit(":", 1)[-1]
        return cls(image=reference, sha=sha, version=labels.get(VERSION_LABEL) or sha[:12])


def slots_of(target: TargetSettings) -> tuple[Slot, Slot]:
    return Slot(SLOT_NAMES[0], target.slots[0]), Slot(SLOT_NAMES[1], target.slots[1])


def other_slot(target: TargetSettings, slot: Slot) -> Slot:
    first, second = slots_of(target)
    return second if slot == first else first


def slot_for_port(target: TargetSettings, port: int) -> Slot | None:
    return next((slot for slot in slots_of(target) if slot.port == port), None)


def container_name(settings: DeploySettings, target: TargetSettings, slot: Slot) -> str:
    return f"{settings.app}-{target.environment}-{slot.name}"


def aside_name(container: str) -> str:
    """Where a slot's older release waits while a new candidate runs in its slot."""
    return f"{container}-aside"


def env_file_path(target: TargetSettings, slot: Slot) -> str:
    return f"{target.state_dir}/env/{slot.name}.env"


def aside_env_file_path(target: TargetSettings, slot: Slot) -> str:
    """The env file of a slot's container while it is set aside (back in its slot, it mounts the slot's)."""
    return f"{target.state_dir}/env/{slot.name}.aside.env"


def move_file_if_present(source: str, destination: str) -> list[str]:
    return ["sh", "-c", 'if [ -e "$1" ]; then mv -f "$1" "$2"; fi', "sh", source, destination]


def remove_file(path: str) -> list[str]:
    return ["rm", "-f", path]


def make_folders(*paths: str) -> list[str]:
    return ["mkdir", "-p", *paths]


def process_alive(pid: str) -> list[str]:
    """Exits 0 when process ``pid`` exists (``kill -0`` sends no signal)."""
    return ["kill", "-0", pid]


# --- the lock and the audit log: bytes travel on stdin, never in argv --------------------------------

# The holder is written to a private file first and hard-linked into place: `ln` fails when the lock
# exists, and whoever reads the lock sees a complete holder, never an empty file. The lock's folder is
# made first in the same round trip; a folder that cannot be made exits LOCK_FOLDER_FAILED.
LOCK_FOLDER_FAILED = 3
_CREATE_LOCK = (
    f'mkdir -p "${{1%/*}}" || exit {LOCK_FOLDER_FAILED}; '
    'tmp="$1.$$"; cat > "$tmp" && ln "$tmp" "$1"; created=$?; rm -f "$tmp"; exit $created'
)
# One takeover at a time (`mkdir` is atomic), and the lock is replaced only if it still holds the dead
# holder we read: two deploys that both found the same stale lock cannot both end up holding it.
_TAKE_OVER_LOCK = (
    'mkdir "$1.takeover" 2>/dev/null || exit 1; '
    'if [ "$(cat "$1" 2>/dev/null)" = "$2" ]; then rm -f "$1"; fi; '
    'tmp="$1.$$"; cat > "$tmp" && ln "$tmp" "$1"; created=$?; rm -f "$tmp"; '
    'rmdir "$1.takeover"; exit $created'
)
# Remove the lock only while it is ours: a lock taken over by someone else is theirs now.
_RELEASE_OWN_LOCK = '[ ! -e "$1" ] || [ "$(cat "$1")" != "$2" ] || rm -f "$1"'


def create_lock(path: str) -> list[str]:
    """Create ``path`` from stdin (the holder) only if it does not exist; exits non-zero when it does."""
    return ["sh", "-c", _CREATE_LOCK, "lock", path]


def take_over_lock(path: str, stale_holder: str) -> list[str]:
    """Replace the lock with stdin's holder, only while it still holds ``stale_holder``."""
    return ["sh", "-c", _TAKE_OVER_LOCK, "lock", path, stale_holder]


def release_own_lock(path: str, holder: str) -> list[str]:
    return ["sh", "-c", _RELEASE_OWN_LOCK, "lock", path, holder]


def append_stdin(path: str) -> list[str]:
    """Append stdin to ``path`` (its folder made first): one short write to an O_APPEND file is not
    interleaved with others."""
    return ["sh", "-c", 'mkdir -p "${1%/*}" && cat >> "$1"', "audit", path]


def append_and_release_own_lock(path: str, lock: str, holder: str) -> list[str]:
    """:func:`append_stdin`, then :func:`release_own_lock` whatever the append did, in one round trip;
    the exit code is the append's."""
    script = f'mkdir -p "${{1%/*}}" && cat >> "$1"; appended=$?; set -- "$2" "$3"; {_RELEASE_OWN_LOCK}; '
    return ["sh", "-c", script + "exit $appended", "audit", path, lock, holder]


def audit_log_path(target: TargetSettings) -> str:
    return f"{target.state_dir}/audit.log"


def gate_log_path(target: TargetSettings) -> str:
    """The gates' results on the host, beside the audit log: one JSON line per gate run."""
    return f"{target.state_dir}/gates.log"


def switch_record_path(target: TargetSettings) -> str:
    """The NAT rule set of the live slot, kept on the host so that it can be restored (nft -f)."""
    return f"{target.state_dir}/switch.nft"


def lock_path(target: TargetSettings) -> str:
    return f"{target.state_dir}/deploy.lock"


def labels(
    settings: DeploySettings, target: TargetSettings, slot: Slot, release: Release, **extra: str
) -> dict[str, str]:
    """Container labels: the truth about which release runs in which slot, read back by ``state``."""
    return {
        f"{LABEL_PREFIX}app": settings.app,
        f"{LABEL_PREFIX}env": target.environment,
        f"{LABEL_PREFIX}slot": slot.name,
        f"{LABEL_PREFIX}sha": release.sha,
        f"{LABEL_PREFIX}version": release.version,
        f"{LABEL_PREFIX}image": release.image,
        **{f"{LABEL_PREFIX}{key}": value for key, value in extra.items()},
    }


def _env_and_volumes(settings: DeploySettings, target: TargetSettings, slot: Slot) -> list[str]:
    # The env file is mounted, not passed with --env-file: values given to docker show in `docker inspect`.
    args = [
        "-v", f"{env_file_path(target, slot)}:{CONTAINER_ENV_FILE}:ro",
        "-e", f"SHIPFLOW_ENV_FILE={CONTAINER_ENV_FILE}",
        "-e", f"APP_ENV={target.environment}",
        "-e", f"PORT={settings.container_port}",
    ]  # fmt: skip
    for volume in settings.volumes:
        args += ["-v", volume]
    return args


def run_container(
    settings: DeploySettings, target: TargetSettings, slot: Slot, release: Release, **extra_labels: str
) -> list[str]:
    """``docker run`` for a release in a slot, published on 127.0.0.1 only (nginx is the front)."""
    argv = ["docker", "run", "--detach", "--name", container_name(settings, target, slot)]
    for key, value in labels(settings, target, slot, release, **extra_labels).items():
        argv += ["--label", f"{key}={value}"]
    argv += ["--publish", f"127.0.0.1:{slot.port}:{settings.container_port}"]
    argv += ["--stop-timeout", str(target.stop_timeout), "--restart", "unless-stopped"]
    if settings.migrate == "on-start":
        argv += ["-e", "MIGRATE_ON_START=true"]  # scripts/start.sh runs `alembic upgrade head` first
    return [*argv, *_env_and_volumes(settings, target, slot), release.image]


def one_off(
    settings: DeploySettings, target: TargetSettings, slot: Slot, release: Release, command: tuple[str, ...]
) -> list[str]:
    """A hook command in a throw-away container of the release, with the release's settings."""
    return ["docker", "run", "--rm", *_env_and_volumes(settings, target, slot), release.image, *command]


def short_sha(sha: str | None) -> str:
    """A release's sha as lines show it (12 characters), or "nothing"."""
    return sha[:12] if sha else "nothing"


def exec_in(container: str, command: tuple[str, ...]) -> list[str]:
    """``command`` in a running container (its environment, mounts and working folder)."""
    return ["docker", "exec", container, *command]


def alembic(settings: DeploySettings, *args: str) -> tuple[str, ...]:
    """An alembic command as the image runs it (``python3 -m alembic ARGS`` by default)."""
    return (*settings.alembic, *args)


_REVISION_LINE = re.compile(r"^([0-9A-Za-z_]+)(?: \(.*\))?\s*$")


UPGRADE_MARK = "--- shipflow: alembic upgrade head ---"
CURRENT_MARK = "--- shipflow: alembic current ---"


# alembic's commands run in one interpreter: Python and SQLAlchemy start once instead of three times.
_UPGRADE_IN_ONE_PROCESS = f"""\
import sys
from alembic.config import main
main(argv=["current"])
print({UPGRADE_MARK!r}, flush=True)
status = 0
try:
    main(argv=["upgrade", "head"])
except BaseException as error:
    import traceback
    traceback.print_exc()
    status = error.code if isinstance(error, SystemExit) and isinstance(error.code, int) else 1
print({CURRENT_MARK!r}, flush=True)
main(argv=["current"])
sys.exit(status)
"""


def upgrade_with_revisions(settings: DeploySettings) -> tuple[str, ...]:
    """One container's work: the revision before, ``alembic upgrade head``, the revision after.

    One container instead of three saves two container starts, and when the image runs alembic as
    ``PYTHON -m alembic`` (the default) one interpreter does all three; the marks split the output.
    """
    if settings.alembic[-2:] == ("-m", "alembic"):
        return (*settings.alembic[:-2], "-c", _UPGRADE_IN_ONE_PROCESS)
    alembic_command = shlex.join(settings.alembic)

    # The revision after is read even when the upgrade fails: earlier revisions may have been applied.
    script = (
        f"{alembic_command} current && echo '{UPGRADE_MARK}' && {{ {alembic_command} upgrade head; status=$?;"
        f" echo '{CURRENT_MARK}'; {alembic_command} current; exit $status; }}"
    )

    return ("sh", "-c", script)


def parse_upgrade(stdout: str) -> tuple[str | None, str | None, str]:
    """(revision before, revision after, upgrade output) from :func:`upgrade_with_revisions`' output."""
    before, _, rest = stdout.partition(UPGRADE_MARK)
    upgrade, marked, after = rest.partition(CURRENT_MARK)
    return parse_current(before), (parse_current(after) if marked else None), upgrade.strip()


def parse_current(stdout: str) -> str | None:
    """The revision(s) ``alembic current`` printed (``0003 (head)`` -> ``0003``); None at base."""
    found = [match.group(1) for line in stdout.splitlines() if (match := _REVISION_LINE.match(line.strip()))]
    return ",".join(found) or None


def image_labels(reference: str) -> list[str]:
    return ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", reference]


# The user an image runs as (`USER`, as name or uid, maybe with a group) owns the file; root's images
# leave it to root. A name is turned into the uid it has inside the image (the host may not know it, or by
# another number).
_GIVE_TO_IMAGE_USER = (
    'user=$(docker image inspect --format "{{.Config.User}}" "$1") || exit 1; name=${user%%:*}; '
    'case "$name" in ""|root|0) exit 0 ;; *[!0-9]*) uid=$(docker run --rm --entrypoint id "$1" -u) '
    '|| exit 1 ;; *) uid=$name ;; esac; chown "$uid" "$2"'
)


def give_to_image_user(reference: str, path: str) -> list[str]:
    """Make ``path`` owned by the (numeric) user the image ``reference`` runs as, unless that is root."""
    return ["sh", "-c", _GIVE_TO_IMAGE_USER, "owner", reference, path]


def image_tags(repository: str) -> list[str]:
    return ["docker", "image", "ls", repository, "--format", "{{.Tag}}"]


def inspect_containers(names: list[str]) -> list[str]:
    return ["docker", "inspect", "--type", "container", *names]


def start_container(name: str) -> list[str]:
    return ["docker", "start", name]


def stop_container(name: str, timeout: int) -> list[str]:
    return ["docker", "stop", "--time", str(timeout), name]


# The record is removed once the stop is done, unless it names another container by then.
_STOP_IN_BACKGROUND = (
    'record=$1; name=$2; shift 2; nohup sh -c \'n=$1; shift; "$@"; [ "$(cat "$0")" != "$n" ] || rm -f "$0"\' '
    '"$record" "$name" "$@" </dev/null >/dev/null 2>&1 &'
)


def stop_in_background(name: str, timeout: int, record: str) -> list[str]:
    """``docker stop`` left running on the host (it outlives this command and the SSH session): the
    container's in-flight requests finish while the deploy goes on; SIGKILL after ``timeout`` as usual.
    When it is down, the file ``record`` that named it as stopping goes (see :func:`stopping_record_path`):
    the next run then finds nothing to wait for."""
    return ["sh", "-c", _STOP_IN_BACKGROUND, "stop", record, name, *stop_container(name, timeout)]


def stopping_record_path(target: TargetSettings) -> str:
    """The containers a deploy left stopping in the background (one name a line); the next run on the
    host waits for them first."""
    return f"{target.state_dir}/stopping"


def remove_container(name: str) -> list[str]:
    return ["docker", "rm", "--force", "--volumes", name]


def rename_container(name: str, new_name: str) -> list[str]:
    return ["docker", "rename", name, new_name]


def container_logs(name: str, lines: int = 30) -> list[str]:
    return ["docker", "logs", "--tail", str(lines), name]


def http_probe(url: str, timeout: float, *, headers: bool = False) -> list[str]:
    """curl that prints the body (and headers), then the status code on the last line."""
    argv = ["curl", "--silent", "--show-error", "--max-time", f"{timeout:g}", "--output", "-"]
    if headers:
        argv.append("--include")
    return [*argv, "--write-out", "\n%{http_code}", url]


def timed_probe(url: str, timeout: float) -> list[str]:
    """curl that prints only ``<status> <seconds>`` (status 000 when nothing answered)."""
    return [
        "curl", "--silent", "--max-time", f"{timeout:g}", "--output", "/dev/null",
        "--write-out", "%{http_code} %{time_total}", url,
    ]  # fmt: skip


def parse_timed_probe(stdout: str) -> tuple[int, float]:
    """(status, milliseconds) from :func:`timed_probe` output; (0, 0.0) for anything else."""
    parts = stdout.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return 0, 0.0
    try:
        return int(parts[0]), float(parts[1]) * 1000
    except ValueError:
        return int(parts[0]), 0.0


def parse_probe(stdout: str) -> tuple[int, str]:
    """(status, body-with-headers) from :func:`http_probe` output; status 0 when nothing answered."""
    body, _, status = stdout.rpartition("\n")
    return (int(status) if status.strip().isdigit() else 0), body


def upstream_conf(template: str, settings: DeploySettings, port: int, *, source: str) -> str:
    """The nginx upstream include, routing the app to ``127.0.0.1:port`` (a slot, or the NAT switch)."""
    return render_template(template, {"app": settings.app, "port": str(port)}, source=source)


def routed_port(upstream_text: str) -> int | None:
    """The port the upstream file routes to (its first ``server host:port``), or None."""
    match = _UPSTREAM_SERVER.search(upstream_text)
    return int(match.group(1)) if match else None


def private_nginx_head(prefix: str, workers: int, *, access_log: bool = False) -> str:
    """The start of an nginx.conf of shipflow's own whose pid, log and spool live under ``prefix``, up to
    and inside ``http {`` (the caller adds its servers and the closing brace). Without ``access_log``
    nothing is logged; with it, only what the config's includes ask for (shipflow's traffic log)."""
    quiet = "" if access_log else "    access_log off;\n"
    return f"""\
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
{quiet}    client_body_temp_path {prefix}/spool/body;
    proxy_temp_path {prefix}/spool/proxy;
    fastcgi_temp_path {prefix}/spool/fastcgi;
    uwsgi_temp_path {prefix}/spool/uwsgi;
    scgi_temp_path {prefix}/spool/scgi;
"""


def local_nginx_conf(settings: DeploySettings, target: TargetSettings) -> str:
    """shipflow's own nginx for the local target: 127.0.0.1 only, everything under the state dir."""
    prefix = f"{target.state_dir}/nginx"
    head = private_nginx_head(prefix, workers=2, access_log=True)
    return f"""\
# Written by shipflow for the local target (the upstream include is shipflow's too).
{head}    include {target.upstream_path};
    server {{
        listen 127.0.0.1:{target.proxy_port};
        location / {{
            proxy_pass http://{settings.app}_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            add_header {UPSTREAM_HEADER} $upstream_addr always;
        }}
    }}
}}
"""


def nginx_start(target: TargetSettings) -> list[str]:
    return list(local_nginx(target.state_dir))


def nginx_stop(target: TargetSettings) -> list[str]:
    return [*nginx_start(target), "-s", "quit"]


def worker_pids(master_pid: int) -> list[str]:
    """The nginx master's current worker processes (one pid a line)."""
    return ["ps", "-o", "pid=", "--ppid", str(master_pid)]


def pids_alive(pids: list[int]) -> list[str]:
    return ["ps", "-o", "pid=", "-p", ",".join(map(str, pids))]


# --- the image's journey -----------------------------------------------------------------------------


def save_image(reference: str) -> list[str]:
    """``docker save`` of a reference on this machine (its tags travel with it)."""
    return ["docker", "save", reference]


def load_gzipped_image(image_id: str) -> list[str]:
    """What the server runs, reading the gzip stream on stdin; after ``docker load``'s own lines (``Loaded
    image: <tag>``), the id ``image_id`` has there, as the last line (the command fails without it)."""
    script = 'gunzip | docker load && docker image inspect --format "{{.Id}}" "$1"'
    return ["sh", "-c", script, "load", image_id]


def loaded_tags(stdout: str) -> set[str]:
    """The tags ``docker load`` says it set, from its output."""
    prefix = "Loaded image: "
    return {line[len(prefix) :].strip() for line in stdout.splitlines() if line.startswith(prefix)}


# One round trip however many images: their ids, then each one's id and layers; an engine without images
# prints nothing (`docker image inspect` with no id would fail).
_HELD_LAYERS = (
    "ids=$(docker image ls --all --quiet --no-trunc | sort -u); "
    '[ -z "$ids" ] || docker image inspect --format '
    '\'{"id":{{json .Id}},"layers":{{json .RootFS.Layers}}}\' $ids'
)


def held_layers() -> list[str]:
    """The images the engine holds: one JSON object a line, each image's id and its layers' diff ids
    (``RootFS.Layers``)."""
    return ["sh", "-c", _HELD_LAYERS]


def load_image_archive(archive: str) -> list[str]:
    """``docker load`` of an image archive into this machine's engine (to push it to a registry)."""
    return ["docker", "load", "--input", archive]


def image_facts(reference: str) -> list[str]:
    """The image's id, labels and layers (diff ids, bottom first) as one JSON object."""
    return [
        "docker",
        "image",
        "inspect",
        "--format",
        '{"id":{{json .Id}},"labels":{{json .Config.Labels}},"layers":{{json .RootFS.Layers}}}',
        reference,
    ]


def tag_image(image_id: str, reference: str) -> list[str]:
    return ["docker", "tag", image_id, reference]


def registry_reference(registry: str, reference: str) -> str:
    """``registry.example.com/team/app:sha`` for ``app:sha`` under ``registry`` (a host and optional path)."""
    return f"{registry.rstrip('/')}/{reference}"


def push_image(registry: str, reference: str) -> list[list[str]]:
    """What runs here to publish ``reference`` to ``registry``."""
    remote = registry_reference(registry, reference)
    return [["docker", "tag", reference, remote], ["docker", "push", remote]]


def pull_image(registry: str, reference: str) -> list[list[str]]:
    """What runs on the server to fetch ``reference`` from ``registry`` under its own name."""
    remote = registry_reference(registry, reference)
    return [["docker", "pull", remote], ["docker", "tag", remote, reference]]


# --- operating a live release: its logs, one-off commands -------------------------------------------

EXEC_ENV_FILE = "/run/shipflow/exec.env"
# The one-off's command gets the release's settings in its environment: a file of `export KEY='value'`
# lines (values quoted by shlex, so the shell expands nothing in them) is sourced, then the command runs.
_SOURCE_THEN_EXEC = '. "$SHIPFLOW_EXEC_ENV" && exec "$@"'


def logs_with_timestamps(
    name: str, *, since: str | None = None, tail: int | None = None, follow: bool = False
) -> list[str]:
    """``docker logs --timestamps`` of a container, its stderr merged into stdout (services log there)."""
    argv = ["docker", "logs", "--timestamps"]
    if since:
        argv += ["--since", since]
    if tail is not None:
        argv += ["--tail", str(tail)]
    if follow:
        argv.append("--follow")
    return ["sh", "-c", 'exec "$@" 2>&1', "logs", *argv, name]


def exec_env_path(target: TargetSettings, token: str) -> str:
    """The exports file of one ``deploy.exec`` run on the host (mode 0600, removed afterwards)."""
    return f"{target.state_dir}/env/exec-{token}.env"


def exports_text(values: Mapping[str, str]) -> bytes:
    """``export KEY='value'`` lines a POSIX shell sources without expanding anything in the values."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items()).encode()


def exec_one_off(
    settings: DeploySettings,
    target: TargetSettings,
    slot: Slot,
    release: Release,
    exports: str,
    command: tuple[str, ...],
    *,
    interactive: bool = False,
) -> list[str]:
    """``docker run --rm`` of the live release running ``command`` with the release's env file (mounted
    as for the slot) and its values exported from ``exports`` (a file on the host, mounted read-only)."""
    argv = ["docker", "run", "--rm", *(["-it"] if interactive else [])]
    argv += [*_env_and_volumes(settings, target, slot), "-v", f"{exports}:{EXEC_ENV_FILE}:ro"]
    argv += ["-e", f"SHIPFLOW_EXEC_ENV={EXEC_ENV_FILE}", "--entrypoint", "sh", release.image]
    return [*argv, "-c", _SOURCE_THEN_EXEC, "shipflow-exec", *command]
