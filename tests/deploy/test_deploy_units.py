"""The deploy's pure parts: settings, commands as data, state parsing, health schedule, lock, audit."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import subprocess
from pathlib import Path

import pytest
from build_stream_support import Ticks, recorded

from shipflow.deploy import audit, commands, lock
from shipflow.deploy.commands import Release, Slot
from shipflow.deploy.health import poll_delays
from shipflow.deploy.rollout import build_output
from shipflow.deploy.session import dotenv_text, masker
from shipflow.deploy.settings import DeploySettings, load_deploy_settings
from shipflow.deploy.state import parse_inspect
from shipflow.env.schema import env_schema
from shipflow.hosts import DryRunHost, LocalHost
from shipflow.images.progress import follow
from shipflow.project import SettingsError, load_project
from shipflow.report import Reporter

pytestmark = pytest.mark.unit

SETTINGS_TEXT = """\
app = "demo"
container_port = 8000
volumes = ["demo-data:/data"]

[health]
path = "/health"
deploy_timeout = 20

[targets.local]
slots = [18000, 18001]
proxy_port = 18080

[targets.production]
host = "${PROD_SSH_HOST}"
port = "${PROD_SSH_PORT}"
public_url = "https://example.invalid"
"""


def write_settings(root: Path, text: str = SETTINGS_TEXT) -> None:
    (root / "deploy").mkdir(exist_ok=True)
    (root / "deploy" / "deploy.toml").write_text(text)


@pytest.fixture
def settings(tmp_path: Path) -> DeploySettings:
    write_settings(tmp_path)
    return load_deploy_settings(tmp_path, {"PROD_SSH_HOST": "127.0.0.1", "PROD_SSH_PORT": "2222"})


def test_local_target_keeps_everything_under_its_state_dir(settings: DeploySettings, tmp_path: Path) -> None:
    local = settings.target("local")
    assert local.is_local and local.slots == (18000, 18001)
    assert local.state_dir == f"{tmp_path}/.shipflow/local"
    assert local.upstream_path == f"{local.state_dir}/nginx/upstream.conf"
    assert local.public_url == "http://127.0.0.1:18080"
    assert settings.health.deploy_timeout == 20.0 and settings.health.interval == 1.0


def test_values_can_come_from_the_environment(settings: DeploySettings) -> None:
    production = settings.target("production")
    assert (production.host, production.port) == ("127.0.0.1", 2222)
    assert production.upstream_path == "/etc/nginx/conf.d/demo_upstream.conf"


def test_an_unset_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    write_settings(tmp_path)
    with pytest.raises(
        SettingsError, match=r"targets.production.host reads \$\{PROD_SSH_HOST\}, which is not set"
    ):
        load_deploy_settings(tmp_path, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'app = "demo"\n[targets.local]\nslots = [8000, 8000]\n',
            r"targets.local.slots must be two different",
        ),
        ('app = "Demo App"\n[targets.local]\n', r"app must be a lower-case name"),
        ('app = "demo"\n', r"no \[targets.NAME\] tables"),
        ('app = "demo"\n[health]\ntimeout = "soon"\n[targets.local]\n', r"health.timeout must be a float"),
        ('app = "demo"\n[targets.local\n', r"deploy.toml: not valid TOML"),
    ],
)
def test_bad_settings_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    write_settings(tmp_path, text)
    with pytest.raises(SettingsError, match=message):
        load_deploy_settings(tmp_path, {})


@pytest.mark.parametrize(
    ("text", "dotted", "closest"),
    [
        ('app = "demo"\ncontaner_port = 8000\n[targets.local]\n', "contaner_port", "container_port"),
        ('app = "demo"\n[health]\nintervall = 2\n[targets.local]\n', "health.intervall", "health.interval"),
        ('app = "demo"\n[hooks]\npreswitch = []\n[targets.local]\n', "hooks.preswitch", "hooks.pre_switch"),
        (
            'app = "demo"\n[targets.production]\nhostt = "203.0.113.10"\npublic_url = "https://x.invalid"\n',
            "targets.production.hostt",
            "targets.production.host",
        ),
    ],
)
def test_an_unknown_key_names_the_file_the_dotted_key_and_the_closest_known_one(
    tmp_path: Path, text: str, dotted: str, closest: str
) -> None:
    write_settings(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_deploy_settings(tmp_path, {})
    expected = f"{tmp_path / 'deploy' / 'deploy.toml'}: unknown key {dotted} (did you mean {closest}?)"
    assert str(caught.value).startswith(expected)


def test_a_server_target_without_a_host_never_becomes_this_machine(tmp_path: Path) -> None:
    write_settings(
        tmp_path, 'app = "demo"\n[targets.production]\npublic_url = "https://x.invalid"\nuser = "d"\n'
    )
    with pytest.raises(SettingsError, match=r"targets.production.public_url is for a server over SSH, but"):
        load_deploy_settings(tmp_path, {})


@pytest.mark.parametrize(
    ("table", "line", "message"),
    [
        ("", "container_port = 0", r"container_port must be from 1 to 65535, got 0"),
        ("", "container_port = 99999", r"container_port must be from 1 to 65535, got 99999"),
        ("", "container_port = -1", r"container_port must be from 1 to 65535, got -1"),
        ("[health]", "interval = -1.0", r"health.interval must be greater than 0, got -1.0"),
        ("[health]", "interval = nan", r"health.interval must be greater than 0, got nan"),
        ("[health]", "timeout = 0", r"health.timeout must be greater than 0"),
        ("[health]", "deploy_timeout = -5", r"health.deploy_timeout must be greater than 0"),
        ("[targets.local]", "proxy_port = 0", r"targets.local.proxy_port must be from 1 to 65535"),
        ("[targets.local]", "drain_timeout = -1", r"targets.local.drain_timeout must be greater than 0"),
        ("[targets.local]", "stop_timeout = -1", r"targets.local.stop_timeout must be 0 or more, got -1"),
        ("[targets.local]", "slots = [0, 8001]", r"targets.local.slots must be two different port numbers"),
        (
            '[targets.production]\nhost = "h"\npublic_url = "https://x.invalid"',
            "port = 65536",
            r"targets.production.port must be from 1 to 65535",
        ),
        (
            '[targets.production]\nhost = "h"\npublic_url = "https://x.invalid"',
            'port = "${PROD_SSH_PORT}"',
            r"targets.production.port must be from 1 to 65535, got the value of \$\{PROD_SSH_PORT\}$",
        ),
    ],
)
def test_numbers_out_of_range_are_refused_at_load(
    tmp_path: Path, table: str, line: str, message: str
) -> None:
    sections = 'app = "demo"\n' + (f"{line}\n[targets.local]\n" if not table else "")
    if table:
        local = "" if table.startswith("[targets.local]") else "[targets.local]\n"
        sections += f"{local}{table}\n{line}\n"
    write_settings(tmp_path, sections)
    with pytest.raises(SettingsError, match=message):
        load_deploy_settings(tmp_path, {"PROD_SSH_PORT": "0"})


def test_stop_timeout_zero_is_allowed(tmp_path: Path) -> None:
    write_settings(tmp_path, 'app = "demo"\n[targets.local]\nstop_timeout = 0\n')
    assert load_deploy_settings(tmp_path, {}).target("local").stop_timeout == 0


def test_an_unknown_target_lists_the_known_ones(settings: DeploySettings) -> None:
    with pytest.raises(
        SettingsError, match=r"no \[targets.staging\] table \(known targets: local, production\)"
    ):
        settings.target("staging")


def test_docker_run_publishes_on_loopback_and_mounts_the_env_file(settings: DeploySettings) -> None:
    target = settings.target("local")
    release = Release(image="demo:abc123", sha="abc123", version="v1.0.0")
    argv = commands.run_container(settings, target, Slot("green", 18001), release)
    assert argv[:5] == ["docker", "run", "--detach", "--name", "demo-local-green"]
    assert argv[-1] == "demo:abc123"
    joined = " ".join(argv)
    assert "--publish 127.0.0.1:18001:8000" in joined
    assert f"-v {target.state_dir}/env/green.env:/run/shipflow/app.env:ro" in joined
    assert "--label shipflow.sha=abc123" in joined and "--label shipflow.slot=green" in joined
    assert "-v demo-data:/data" in joined
    assert "--env-file" not in argv


def test_the_upstream_file_names_the_slot_and_is_read_back(settings: DeploySettings) -> None:
    template = "upstream {{ app }}_backend {\n    server 127.0.0.1:{{port}};\n}\n"
    text = commands.upstream_conf(template, settings, 18001, source="t")
    assert "upstream demo_backend" in text
    assert commands.routed_port(text) == 18001
    assert commands.slot_for_port(settings.target("local"), 18001) == Slot("green", 18001)


def test_an_unknown_template_placeholder_is_named(settings: DeploySettings) -> None:
    with pytest.raises(
        SettingsError, match=r"upstream.tmpl: unknown placeholder \{\{ host \}\} \(known: app, port\)"
    ):
        commands.upstream_conf("server {{ host }};", settings, 1, source="upstream.tmpl")


def test_probe_output_is_parsed_to_status_and_body() -> None:
    assert commands.parse_probe('{"status": "ok"}\n200') == (200, '{"status": "ok"}')
    assert commands.parse_probe("\n000") == (0, "")
    assert commands.parse_probe("") == (0, "")


def test_docker_inspect_output_gives_running_state_and_labels() -> None:
    stdout = json.dumps(
        [
            {
                "Name": "/demo-local-blue",
                "Image": "sha256:123",
                "State": {"Running": True},
                "Config": {"Labels": {"shipflow.sha": "abc"}},
            }
        ]
    )
    assert parse_inspect(stdout) == {"demo-local-blue": (True, {"shipflow.sha": "abc"}, "sha256:123")}
    assert parse_inspect("[]") == {}


def test_health_polls_fast_at_first_then_backs_off_to_the_interval() -> None:
    delays = list(itertools.islice(poll_delays(1.0), 40))
    assert delays[0] <= 0.1 and sum(delays[:30]) == pytest.approx(3.0)
    assert delays[30:33] == [0.2, 0.4, 0.8]
    assert set(delays[33:]) == {1.0}


def actor(pid: int = 4242) -> lock.Actor:
    return lock.Actor("dev", "builder-7", pid, "inv deploy.local", "2026-11-21T00:00:00+00:00")


def test_a_second_deploy_is_refused_naming_the_holder(tmp_path: Path) -> None:
    host, path = LocalHost(), str(tmp_path / "state" / "deploy.lock")
    assert lock.acquire(host, path, actor()) is None
    with pytest.raises(
        lock.LockHeld, match=r"locked by dev@builder-7 pid 4242 .* running `inv deploy.local`"
    ):
        lock.acquire(host, path, actor(pid=1))
    lock.release(host, path)
    assert lock.acquire(host, path, actor(pid=1)) is None


def test_a_dead_holder_on_this_machine_is_stale_and_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    holder = lock.Actor.current("inv deploy.local")
    holder = lock.Actor(holder.user, holder.machine, dead.pid, holder.command, holder.started_at)
    host, path = LocalHost(), str(tmp_path / "deploy.lock")
    lock.acquire(host, path, holder)
    assert lock.is_stale(lock.read_holder(host, path))
    with pytest.raises(lock.LockHeld, match="stale lock"):
        lock.acquire(host, path, lock.Actor.current("x"), take_over_stale=False)
    assert lock.acquire(host, path, lock.Actor.current("inv deploy.local")) == holder


def test_audit_records_are_appended_and_read_back(tmp_path: Path) -> None:
    host, path = LocalHost(), str(tmp_path / "audit.log")
    for sha in ("a1", "b2", "c3"):
        audit.append(host, path, audit.AuditRecord("deploy", "ok", "now", "dev@box", "local", to_sha=sha))
    assert [r.to_sha for r in audit.read(host, path)] == ["a1", "b2", "c3"]
    assert [r.to_sha for r in audit.read(host, path, last=2)] == ["b2", "c3"]


def test_a_dry_run_host_reads_for_real_and_only_prints_changes(tmp_path: Path) -> None:
    out = io.StringIO()
    host = DryRunHost(LocalHost(), Reporter(stream=out))
    target = tmp_path / "nginx" / "upstream.conf"
    host.write_file(str(target), b"upstream demo { server 127.0.0.1:1; }\n")
    host.run(["rm", "-rf", str(tmp_path)])
    assert host.query(["printf", "read"]).stdout == "read"
    assert not target.exists() and tmp_path.exists()
    assert f"would write local:{target} (mode 0644" in out.getvalue()
    assert "| upstream demo { server 127.0.0.1:1; }" in out.getvalue()
    assert f"would run on local: rm -rf {tmp_path}" in out.getvalue()


def test_no_secret_reaches_a_dry_run_plan_in_any_form_it_is_written_in(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.shipflow.env.keys.SENTRY_DSN]\nsecret = true\n")
    values = {
        "API_TOKEN": 'ab"c\\d-canary-1',
        "SENTRY_DSN": "canary-2-declared-secret",
        "DB_SECRET": "line one\ncanary-3",
        "DATABASE_URL": "postgresql://app:canary-4@db/app",
        "LOG_LEVEL": "INFO",
    }
    out = io.StringIO()
    reporter = Reporter(mask=masker(values, env_schema(load_project(tmp_path))), stream=out)
    host = DryRunHost(LocalHost(), reporter)

    host.write_file(str(tmp_path / "env" / "blue.env"), dotenv_text(values), mode=0o600)
    host.write_file(str(tmp_path / "echo.txt"), dotenv_text(values))  # a readable file is printed, masked
    reporter.line(f"an error quoting {dotenv_text(values).decode()}")

    printed = out.getvalue()
    assert "keys: API_TOKEN, SENTRY_DSN, DB_SECRET, DATABASE_URL, LOG_LEVEL" in printed
    for canary in ("canary-1", "canary-2", "canary-3", "canary-4"):
        assert canary not in printed
    assert 'LOG_LEVEL="INFO"' in printed


def test_a_migration_reports_the_revision_before_and_after_even_when_it_fails() -> None:
    upgrade, current = commands.UPGRADE_MARK, commands.CURRENT_MARK
    applied = f"0002\n{upgrade}\nRunning upgrade 0002 -> 0003\n{current}\n0003 (head)\n"
    assert commands.parse_upgrade(applied) == ("0002", "0003", "Running upgrade 0002 -> 0003")
    failed_halfway = f"0002\n{upgrade}\nRunning upgrade 0003 -> 0004\nTraceback ...\n{current}\n0003\n"
    assert commands.parse_upgrade(failed_halfway)[:2] == ("0002", "0003")
    from_base = f"{upgrade}\nRunning upgrade  -> 0001\n{current}\n0001 (head)\n"
    assert commands.parse_upgrade(from_base)[:2] == (None, "0001")


def test_migrations_run_in_one_interpreter_when_the_image_runs_alembic_as_a_module(
    settings: DeploySettings,
) -> None:
    argv = commands.upgrade_with_revisions(settings)
    assert argv[:2] == ("python3", "-c") and 'main(argv=["upgrade", "head"])' in argv[2]
    plain = dataclasses.replace(settings, alembic=("alembic",))
    script = commands.upgrade_with_revisions(plain)
    assert script[:2] == ("sh", "-c") and "alembic upgrade head; status=$?" in script[2]


def test_without_a_template_of_its_own_a_project_uses_shipflows_and_a_named_one_must_exist(
    tmp_path: Path,
) -> None:
    write_settings(tmp_path, 'app = "demo"\n[targets.local]\n')
    assert load_deploy_settings(tmp_path, {}).upstream_template.is_file()
    write_settings(tmp_path, 'app = "demo"\nupstream_template = "deploy/nginx/mine.tmpl"\n[targets.local]\n')
    with pytest.raises(SettingsError, match=r"mine.tmpl: the upstream template cannot be read"):
        load_deploy_settings(tmp_path, {})
    (tmp_path / "deploy" / "nginx").mkdir()
    (tmp_path / "deploy" / "nginx" / "mine.tmpl").write_text("upstream {{ app }} { server {{ host }}; }")
    with pytest.raises(SettingsError, match=r"mine.tmpl: unknown placeholder \{\{ host \}\}"):
        load_deploy_settings(tmp_path, {})


def test_two_deploys_taking_over_the_same_stale_lock_do_not_both_hold_it(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    me = lock.Actor.current("inv deploy.local")
    host, path = LocalHost(), str(tmp_path / "deploy.lock")
    lock.acquire(host, path, lock.Actor(me.user, me.machine, dead.pid, me.command, me.started_at))
    stale_text = host.read_file(path)
    assert stale_text is not None
    first = lock.Actor(me.user, me.machine, me.pid, "first", me.started_at)
    second = lock.Actor(me.user, me.machine, me.pid, "second", me.started_at)

    assert lock._take_over(host, path, stale_text, first)
    assert not lock._take_over(host, path, stale_text, second)  # saw the same stale holder, too late
    assert lock.read_holder(host, path) == first
    lock.release(host, path, second)  # not second's lock: left alone
    assert lock.read_holder(host, path) == first
    lock.release(host, path, first)
    assert host.read_file(path) is None


def test_a_set_aside_release_keeps_its_env_file_apart_and_moving_a_missing_file_is_no_error(
    settings: DeploySettings, tmp_path: Path
) -> None:
    target = settings.target("local")
    blue, _ = commands.slots_of(target)
    assert commands.aside_name("app-production-blue") == "app-production-blue-aside"
    assert commands.aside_env_file_path(target, blue) != commands.env_file_path(target, blue)
    source, destination = tmp_path / "blue.env", tmp_path / "blue.aside.env"
    source.write_text("SECRET_KEY=x\n")

    moved = subprocess.run(commands.move_file_if_present(str(source), str(destination)), check=False)
    again = subprocess.run(commands.move_file_if_present(str(source), str(destination)), check=False)

    assert moved.returncode == 0 and again.returncode == 0
    assert not source.exists() and destination.read_text() == "SECRET_KEY=x\n"


def test_a_deploys_build_output_goes_through_the_reporters_mask() -> None:
    stream = io.StringIO()
    reporter = Reporter(mask=lambda text: text.replace("boom", "****"), stream=stream)
    output = build_output(reporter, verbose=False)
    assert output.terminal is None  # not a terminal: finished lines only, nothing redrawn
    follow(recorded("failed"), output, Ticks())
    assert "    | ****-output" in stream.getvalue().splitlines()
    assert "boom" not in stream.getvalue()

    verbose = io.StringIO()
    follow(recorded("failed"), build_output(Reporter(reporter.mask, verbose), verbose=True), Ticks())
    assert "Step 5/8 : RUN echo ****-output && exit 3" in verbose.getvalue().splitlines()
