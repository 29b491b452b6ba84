"""Maintenance mode on the scripted server: where the front routes, what is recorded, what a deploy, a lost
rule, a refusal and a remove do with the page up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripted_host import RELEASES, ScriptedHost, deployment, make_host, output

from shipflow.deploy import audit, bluegreen, commands, housekeeping, nat, responder, status
from shipflow.deploy.maintenance import PageRequest, checked_request, turn_off, turn_on
from shipflow.deploy.present import status_lines
from shipflow.errors import BadInput, Refused
from shipflow.hosts.base import CommandResult

BLUE, GREEN, PAGE = 18000, 18001, 18091
REQUEST = PageRequest("Back at 10:00", 120)

pytestmark = pytest.mark.unit


@pytest.fixture
def host(tmp_path: Path) -> ScriptedHost:
    return make_host(tmp_path)


def page_record(host: ScriptedHost) -> dict[str, object] | None:
    raw = host.files.get(responder.record_path(host.target))
    return json.loads(raw) if raw is not None else None


def audited(host: ScriptedHost) -> list[audit.AuditRecord]:
    return audit.read(host, commands.audit_log_path(host.target))


def test_on_routes_the_front_to_the_page_by_the_rule_alone_and_keeps_the_health_path_on_the_live_slot(
    host: ScriptedHost,
) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    d = deployment(host)

    line = turn_on(d, REQUEST)

    assert line == (
        "scripted: maintenance on: http://127.0.0.1:18080 answers 503 (Retry-After 120 s) for every path but "
        "/health, which still reaches blue"
    )
    assert host.routed_port() == PAGE and host.page_health_port() == BLUE
    assert host.nginx_reloads == 0  # under nat the front is never reloaded
    assert page_record(host) == {
        "by": f"{d.actor.user}@{d.actor.machine}",
        "message": "Back at 10:00",
        "retry_after": 120,
        "since": page_record(host)["since"],  # type: ignore[index]
        "slot_port": BLUE,
    }
    last = audited(host)[-1]
    assert (last.action, last.result, last.detail, last.slot) == (
        "maintenance",
        "ok",
        "on: Back at 10:00",
        "blue",
    )
    assert commands.lock_path(host.target) not in host.files


def test_a_deploy_during_maintenance_keeps_the_page_up_and_moves_only_its_health_path(
    host: ScriptedHost,
) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    turn_on(deployment(host), REQUEST)
    d = deployment(host)

    bluegreen.deploy(d, RELEASES["v2"])

    assert "maintenance is on (since" in output(d) and "the page stays up" in output(d)
    assert host.routed_port() == PAGE and host.page_health_port() == GREEN
    assert page_record(host)["slot_port"] == GREEN  # type: ignore[index]
    recorded = host.files[commands.switch_record_path(host.target)].decode()
    assert nat.routed_port(recorded, host.target.switch_port) == GREEN  # where traffic goes when it ends
    assert audited(host)[-1].extra["maintenance"] == "on"
    assert status.status(deployment(host)).active_slot == "green"

    assert (
        turn_off(deployment(host)) == "scripted: maintenance off: http://127.0.0.1:18080 serves green again"
    )
    assert host.routed_port() == GREEN and host.serving_image() == "demo:v2"
    assert page_record(host) is None and host.page_health_port() is None
    assert [(r.action, r.detail.split(" (")[0]) for r in audited(host)[-2:]] == [
        ("deploy", ""),
        ("maintenance", "off"),
    ]


def test_a_rollback_during_maintenance_keeps_the_page_up_too(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    bluegreen.deploy(deployment(host), RELEASES["v2"])
    turn_on(deployment(host), REQUEST)

    bluegreen.rollback(deployment(host))

    assert host.routed_port() == PAGE and host.page_health_port() == BLUE


def test_with_the_reload_switch_the_page_is_the_include_and_the_live_slot_stays_known(tmp_path: Path) -> None:
    host = make_host(tmp_path, 'switch = "reload"\n')
    bluegreen.deploy(deployment(host), RELEASES["v1"])

    turn_on(deployment(host), REQUEST)
    assert host.routed_port() == PAGE and host.nginx_reloads == 1
    assert status.status(deployment(host)).active_slot == "blue"

    bluegreen.deploy(deployment(host), RELEASES["v2"])
    assert host.routed_port() == PAGE and host.page_health_port() == GREEN and host.nginx_reloads == 1

    turn_off(deployment(host))
    assert host.routed_port() == GREEN and host.serving_image() == "demo:v2" and host.nginx_reloads == 2


def test_status_shows_maintenance_and_a_page_the_host_lost_which_repair_brings_back(
    host: ScriptedHost,
) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    turn_on(deployment(host), REQUEST)
    host.nat_rules.clear()  # a reboot: the kernel's rule and the page's nginx are gone
    host.files.pop(responder.pid_file(host.target))

    lines = "\n".join(status_lines(status.status(deployment(host))))
    assert "maintenance: ON since" in lines and "(503, Retry-After 120 s): Back at 10:00" in lines
    assert "the maintenance page is not running" in lines and "inv deploy.repair --env local" in lines
    assert "lost the traffic rule to the maintenance page" in lines

    assert (
        housekeeping.repair(deployment(host)) == "scripted: restored the maintenance page (127.0.0.1:18091)"
    )
    assert host.routed_port() == PAGE and host.page_health_port() == BLUE


def test_the_next_deploy_puts_a_lost_page_back_instead_of_ending_maintenance(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    turn_on(deployment(host), REQUEST)
    host.nat_rules.clear()
    d = deployment(host)

    bluegreen.deploy(d, RELEASES["v2"])

    assert "restored the maintenance page" in output(d)
    assert host.routed_port() == PAGE and host.page_health_port() == GREEN


def test_on_again_changes_the_page_text_and_keeps_since(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    turn_on(deployment(host), REQUEST)
    since = page_record(host)["since"]  # type: ignore[index]

    line = turn_on(deployment(host), PageRequest("Later, sorry", 600))

    assert line == "scripted: maintenance was on already; the page now says: Later, sorry"
    assert page_record(host)["since"] == since and page_record(host)["retry_after"] == 600  # type: ignore[index]
    conf = host.files[f"{responder.folder(host.target)}/nginx.conf"].decode()
    assert "Later, sorry" in conf and "Retry-After 600" in conf


def test_a_dry_run_prints_the_plan_and_changes_nothing(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    before, rules = dict(host.files), dict(host.nat_rules)
    d = deployment(host, dry_run=True)

    turn_on(d, REQUEST)

    assert "would run" in output(d) and "nginx.conf" in output(d)
    assert host.files == before and host.nat_rules == rules


def test_off_when_it_is_not_on_changes_nothing(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    before = dict(host.files)

    assert turn_off(deployment(host)) == "scripted: maintenance is not on; nothing to do"
    assert host.files == before


def test_on_before_any_deploy_is_refused_and_changes_nothing(host: ScriptedHost) -> None:
    with pytest.raises(Refused, match="nothing is deployed yet"):
        turn_on(deployment(host), REQUEST)
    assert host.files == {} and host.nat_rules == {}


def test_nft_refusing_the_page_rule_leaves_traffic_on_the_live_slot_and_no_page(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    host.fail[tuple(nat.apply(()))] = CommandResult((), 1, "", "Error: Could not process rule")

    with pytest.raises(Exception, match="nft refused the traffic rule"):
        turn_on(deployment(host), REQUEST)

    assert host.routed_port() == BLUE and host.serving_image() == "demo:v1"
    assert page_record(host) is None and host.page_health_port() is None
    assert audited(host)[-1].result == "failed"
    assert commands.lock_path(host.target) not in host.files


def test_a_secret_in_the_message_is_masked_on_the_page_in_the_record_and_in_the_audit_log(
    host: ScriptedHost,
) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    d = deployment(host)
    d.reporter.mask = lambda text: text.replace("canary-value-123", "********")

    turn_on(d, PageRequest("key canary-value-123 leaked", 60))

    for path, content in host.files.items():
        assert b"canary-value-123" not in content, path


def test_remove_takes_the_page_down_with_the_app(host: ScriptedHost) -> None:
    bluegreen.deploy(deployment(host), RELEASES["v1"])
    turn_on(deployment(host), REQUEST)

    removed = housekeeping.remove(deployment(host))

    assert "the maintenance page" in removed
    assert page_record(host) is None and host.page_health_port() is None and host.nat_rules == {}


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        (("maybe", None, 300), "give on or off, not 'maybe'"),
        (("off", "bye", 300), "--message is for `on`"),
        (("on", "x" * 301, 300), "--message is 301 characters long; keep it to 300"),
        (("on", "   ", 300), "--message is empty"),
        (("on", None, 0), "--retry-after must be from 1 to 86400 seconds, got 0"),
    ],
)
def test_bad_words_and_flags_are_refused_before_any_host_is_contacted(
    words: tuple[str, str | None, int], problem: str
) -> None:
    with pytest.raises(BadInput, match=problem.replace("(", r"\(").replace(")", r"\)")):
        checked_request(*words)


def test_the_page_escapes_the_message_for_html_and_for_the_nginx_string_it_sits_in() -> None:
    html = responder.page_html("demo", 'a "quoted" <b>$host</b> \\ back')

    assert '"' not in html and "$" not in html and "\\" not in html
    assert "a &quot;quoted&quot; &lt;b&gt;&#36;host&lt;/b&gt; &#92; back" in html
