"""Canary steps on one host, before the full switch: ``--canary 10,50`` sends 10 % of traffic to the new
release, holds ``[canary] step_seconds`` while both releases' figures are watched (the bake window's
analysis, per release by its response header), then 50 %, then the switch takes it to 100 %. A breach at
any step sends everything back to the old release (0 %) and the new release is removed.

Under nat a step is one weighted rule (``numgen random``: each new connection nginx opens goes to the new
slot with that probability); under reload, nginx's weights and a reload. Clients are not pinned: a client's
requests may meet both releases during a canary. No step is ever recorded as the switch, so a run killed
mid-canary leaves the record naming the old slot, which the next deploy (or ``deploy.repair``) puts back.

With ``--parallel`` covering every host, the hosts take each step together (:mod:`shipflow.deploy.lockstep`):
one that fails sends the others back at their next step.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from shipflow.deploy import baking, commands, traffic

LOCKSTEP_SLACK_S = 600.0
"""How much longer than a boot and two steps a host waits for the others (an image still travelling)."""

if TYPE_CHECKING:
    from shipflow.deploy.commands import Release, Slot
    from shipflow.deploy.context import Deployment
    from shipflow.deploy.runrecord import RunRecord
    from shipflow.deploy.state import SlotState
    from shipflow.deploy.traffic import SwitchState


def run_steps(
    d: Deployment,
    slot: Slot,
    release: Release,
    old: SlotState,
    switch: SwitchState,
    before: baking.Before,
    record: RunRecord,
) -> baking.Before:
    """Each step of ``d.canary_steps``, watched; where the log ended after the last one. On a breach or an
    interruption everything goes back to ``old`` first; :class:`~shipflow.deploy.baking.Reverted` then
    says what breached (the caller removes the new release)."""
    seconds = d.settings.canary.step_seconds
    weigh = _weigher(d, switch, (slot, old.slot))
    old_name = f"{old.slot.name} ({commands.short_sha(old.sha)})"
    record.canary = []
    with baking.marked(d, release, slot, old.slot.name, canary=list(d.canary_steps)):
        try:
            with baking.sigterm_interrupts():
                for percent in d.canary_steps:
                    _together(d)
                    before = _step(d, slot, release, before, (percent, seconds), weigh, record)
                _together(d)  # no host switches fully before every host passed the last step
        except baking.Reverted:
            raise
        except BaseException:
            weigh(0)
            d.reporter.line(f"  interrupted: traffic is back on {old_name}")
            raise
    return before


def _together(d: Deployment) -> None:
    """With ``--parallel``, wait for every host of the rollout to be ready for the next step (another host
    that failed raises here, and this one switches back too)."""
    if d.lockstep is not None and not d.host.rehearses:
        step_seconds = d.settings.canary.step_seconds
        d.lockstep.meet(d.settings.health.deploy_timeout + 2 * step_seconds + LOCKSTEP_SLACK_S)


def _weigher(d: Deployment, switch: SwitchState, slots: tuple[Slot, Slot]) -> traffic.Weigh:
    return lambda percent: traffic.weigh(d.host, d.settings, d.target, switch, slots, percent)


def _step(
    d: Deployment,
    slot: Slot,
    release: Release,
    before: baking.Before,
    step: tuple[int, float],
    weigh: traffic.Weigh,
    record: RunRecord,
) -> baking.Before:
    percent, seconds = step
    label = f"canary {percent}%"
    what = f"{percent}% of new connections to {slot.name} for {seconds:g} s"
    with d.reporter.step("canary", what) as shown:
        weigh(percent)
        baked = baking.watch(d, slot, release, before, seconds, label=label, shared=True)
        record.canary = [*(record.canary or []), {"percent": percent, **baked.audit(seconds)}]
        figures = baking.line(label, baked.seconds, baked.new, baked.old, before, True, baked.verdict)
        shown.detail = "within the limits"
        if baked.verdict.breached:
            weigh(0)
            shown.detail = f"breach: {baked.verdict.reason}"
            d.reporter.line(figures)  # before the step's own line, which says FAILED
            raise baking.Reverted(
                f"canary {percent}%: release {commands.short_sha(release.sha)} breached "
                f"({baked.verdict.reason}); all traffic is back on the old release and the new one is removed"
            )
    d.reporter.line(figures)
    return dataclasses.replace(before, offset=baked.offset)
