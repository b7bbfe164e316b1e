"""How the planner splits the budget between phases, and what an experiment is expected to cost.

The rule (all in trainer-seconds, of what is left when planning):

* reserve      = 5%, kept back for retries and overruns;
* validation   = what the validation experiments that fit in 45% are estimated to cost
                 (experiments are taken best first; one that does not fit is skipped);
* combination  = 20% when at least two experiments are validated (stacking needs two), else 0;
* exploitation = everything else (so unspent validation share goes to exploitation).

An estimate is seconds per seed x relative cost x seeds x 1.3 (the safety margin: epoch times
vary, and a job is killed at its max_seconds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .outputs import PhaseBudget

SAFETY = 1.3
RESERVE_SHARE = 0.05
VALIDATION_SHARE = 0.45
COMBINATION_SHARE = 0.20


def est_seconds(seconds_per_seed: float, relative_cost: float, n_seeds: int) -> float:
    """Expected trainer-seconds of one experiment, safety margin included."""
    return round(seconds_per_seed * relative_cost * n_seeds * SAFETY, 3)


def validation_share(remaining: float) -> float:
    """The most the validation phase may plan for."""
    return max(remaining, 0.0) * VALIDATION_SHARE


def fit(costs: Sequence[float], budget: float) -> list[int]:
    """Indices of the costs taken in order while they fit in `budget` (ones that do not fit are
    skipped, so a cheaper later one can still be taken)."""
    taken, spent = [], 0.0
    for i, cost in enumerate(costs):
        if spent + cost <= budget + 1e-9:
            taken.append(i)
            spent += cost
    return taken


def split_budget(remaining: float, validation_spend: float, n_validation: int) -> PhaseBudget:
    """The phase budgets for `remaining` seconds, given the planned validation spend (see the
    module docstring). The four parts sum to `remaining` (or 0 when nothing is left)."""
    remaining = max(remaining, 0.0)
    reserve = remaining * RESERVE_SHARE
    validation = min(max(validation_spend, 0.0), validation_share(remaining))
    combination = remaining * COMBINATION_SHARE if n_validation >= 2 else 0.0
    exploitation = max(remaining - reserve - validation - combination, 0.0)
    return PhaseBudget(
        validation=_floor(validation),
        combination=_floor(combination),
        exploitation=_floor(exploitation),
        reserve=_floor(reserve),
    )


def _floor(seconds: float) -> float:
    """Rounded down to the millisecond, so the rounded parts never sum past `remaining`."""
    return math.floor(seconds * 1000.0 + 1e-6) / 1000.0
