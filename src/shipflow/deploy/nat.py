"""The NAT traffic switch as data: nftables rule sets and commands, parsed back from the host's answers.

nginx routes an app to one stable address, ``127.0.0.1:<switch_port>``, that never changes; a DNAT rule in
the ``nat`` hook of locally generated traffic sends each *new* connection to that address on to the live
slot's port. Replacing the rule is one nftables transaction, so no connection sees a half-done switch, and
connection tracking keeps every connection already open on the slot it started with. nginx is never
reloaded, so the keep-alive connections of its clients are never closed.

Every app and target gets its own chain in shipflow's own ``ip shipflow`` table: the host's firewall, and
docker's iptables rules, are never touched.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipflow.deploy.settings import TargetSettings

TABLE = "shipflow"
LOOPBACK = "127.0.0.1"
NFT = "nft"
WEIGHTED = "numgen random mod 100"
_DNAT = re.compile(r"tcp dport (\d+) (?:counter (?:packets \d+ bytes \d+ )?)?dnat to [\d.]+:(\d+)")


def chain_name(app: str, target: TargetSettings) -> str:
    """``sf_<app>_<target>``: letters, digits and underscores only, as nft names must be."""
    return "sf_" + re.sub(r"[^A-Za-z0-9_]", "_", f"{app}_{target.name}")


def ruleset(app: str, target: TargetSettings, slot_port: int, slot_name: str) -> str:
    """The chain, emptied and given one rule that sends new connections to ``slot_port``.

    Applied with ``nft -f`` it is one transaction: the chain is created when missing, and its old rule is
    replaced by the new one atomically. The same text restores the switch after a reboot or a flush.
    """
    chain = chain_name(app, target)
    return (
        f"# shipflow: {app} ({target.name}) -> slot {slot_name}. Restore with: nft -f <this file>\n"
        f"table ip {TABLE} {{\n"
        f"    chain {chain} {{\n"
        "        type nat hook output priority -100; policy accept;\n"
        "    }\n"
        "}\n"
        f"flush chain ip {TABLE} {chain}\n"
        f"add rule ip {TABLE} {chain} ip daddr {LOOPBACK} tcp dport {target.switch_port} "
        f'dnat to {LOOPBACK}:{slot_port} comment "shipflow {slot_name}"\n'
    )


def weighted_ruleset(
    app: str, target: TargetSettings, new: tuple[int, str], old: tuple[int, str], percent: int
) -> str:
    """The chain sending ``percent`` % of new connections (drawn at random) to the ``new`` slot's port and
    the others to the ``old`` one's (each ``(port, name)``): a canary step, one transaction like a switch.
    Never recorded: a run that dies during a canary leaves the record naming the old slot."""
    chain = chain_name(app, target)
    match = f"add rule ip {TABLE} {chain} ip daddr {LOOPBACK} tcp dport {target.switch_port}"
    return (
        ruleset(app, target, old[0], old[1]).split(f"add rule ip {TABLE}")[0]
        + f"{match} {WEIGHTED} < {percent} dnat to {LOOPBACK}:{new[0]} "
        f'comment "shipflow canary {new[1]} {percent}%"\n'
        f'{match} dnat to {LOOPBACK}:{old[0]} comment "shipflow {old[1]}"\n'
    )


def removal(app: str, target: TargetSettings) -> str:
    """Delete the app's chain (declared first, so deleting a chain that is already gone is no error)."""
    chain = chain_name(app, target)
    return (
        f"table ip {TABLE} {{\n    chain {chain} {{\n"
        "        type nat hook output priority -100; policy accept;\n    }\n}\n"
        f"delete chain ip {TABLE} {chain}\n"
    )


def apply(sudo: tuple[str, ...]) -> list[str]:
    """Apply the rule set given on stdin as one transaction."""
    return [*sudo, NFT, "-f", "-"]


def list_chain(sudo: tuple[str, ...], app: str, target: TargetSettings) -> list[str]:
    return [*sudo, NFT, "list", "chain", "ip", TABLE, chain_name(app, target)]


def can_use(sudo: tuple[str, ...]) -> list[str]:
    """A harmless command that needs the same right as a switch (CAP_NET_ADMIN): listing the tables."""
    return [*sudo, NFT, "list", "tables"]


def routed_port(text: str, switch_port: int) -> int | None:
    """The slot port the rule (in ``nft list`` output or a rule set file) sends ``switch_port`` to; None for a
    canary's weighted rules, which send it to two slots (no record ever names them, so a restore puts the
    recorded rule back)."""
    if WEIGHTED in text:
        return None
    for front, slot in _DNAT.findall(text):
        if int(front) == switch_port:
            return int(slot)
    return None


def established_to(port: int) -> list[str]:
    """Established TCP connections whose local end is ``port`` (the slot's published port), one a line."""
    return ["ss", "--no-header", "--tcp", "state", "established", f"( sport = :{port} )"]
