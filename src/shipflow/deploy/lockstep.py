"""Hosts of a ``--parallel`` rollout that go through their canary steps together: every host starts a step
only once all of them are ready for it, and none switches fully before all have passed the last one.

A host that fails (a breach, a failed health check, anything) breaks the lockstep, so the others switch
back at their next step instead of going on alone; a host that ends without canary steps (it already
served the release) leaves it, so no one waits for it.
"""

from __future__ import annotations

import threading

from shipflow.deploy.context import DeployFailed


class AnotherHostFailed(DeployFailed):
    """Another host of the rollout failed (or never arrived) during the canary: this one switches back."""


class Lockstep:
    """A reusable meeting point for the hosts of one rollout, one phase per canary step."""

    def __init__(self, hosts: int) -> None:
        self._condition = threading.Condition()
        self._parties = hosts
        self._arrived = 0
        self._phase = 0
        self._broken = False

    def meet(self, timeout: float) -> None:
        """Wait until every host still in the rollout has arrived; :class:`AnotherHostFailed` when one
        failed, or when they did not all arrive within ``timeout`` seconds (that breaks it for all)."""
        with self._condition:
            if self._broken:
                raise AnotherHostFailed("another host of this rollout failed during its canary steps")
            phase = self._phase
            self._arrived += 1
            if self._arrived >= self._parties:
                self._advance()
                return
            arrived = self._condition.wait_for(lambda: self._phase != phase or self._broken, timeout)
            if self._phase != phase:
                return
            if not arrived:
                self._broken = True
                self._condition.notify_all()
                raise AnotherHostFailed(f"the other hosts did not reach the canary step within {timeout:g} s")
            raise AnotherHostFailed("another host of this rollout failed during its canary steps")

    def leave(self) -> None:
        """This host is done (it ended without waiting here again): the others no longer wait for it."""
        with self._condition:
            self._parties -= 1
            if self._arrived and self._arrived >= self._parties:
                self._advance()

    def fail(self) -> None:
        """This host failed: every host waiting, and every one arriving later, switches back."""
        with self._condition:
            self._broken = True
            self._condition.notify_all()

    def _advance(self) -> None:
        self._phase += 1
        self._arrived = 0
        self._condition.notify_all()
