"""Gates: checks a deployed environment must pass before its image goes further.

- ``gate.integration``: the project's ``integration`` test group against the environment's public URL;
- ``gate.load``: Locust against that URL, its figures held to thresholds.

Each gate returns a :class:`~shipflow.gates.outcome.GateOutcome` (what was asked, what was measured,
whether it passed, when), so its result can be recorded beside the release it ran against.
"""
