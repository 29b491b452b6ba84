"""Order statistics for the figures shipflow reports (deploy step timings, load latencies)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The ``percent`` percentile by nearest rank: the smallest value at or above ``percent`` % of the
    values, i.e. the ceil(percent / 100 * n)-th smallest. It is always one of the values; with fewer than
    20 values the 95th percentile is the maximum. ``values`` is not empty."""
    ordered = sorted(values)
    rank = min(max(1, math.ceil(percent / 100 * len(ordered))), len(ordered))
    return ordered[rank - 1]
