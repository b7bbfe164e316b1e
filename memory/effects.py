"""Effects of config knobs estimated from a set of past runs (what the importers turn into insights).

The runs of an imported study were not designed as controlled experiments, so each estimate
says how it was made and carries a 95% confidence interval that widens with fewer runs; an
interval that contains zero makes the insight `neutral`. Rules (docs/memory.md has the details):

* Levels of a knob. Categorical knobs (strings, booleans, lists, null) and numeric knobs with at
  most `MAX_GRID_LEVELS` distinct values: every value is a level, compared with a *reference*
  value (the TrainerConfig default when runs used it, else the most common value). Numeric knobs
  with more values (a continuous search): two levels, runs at or below the median vs above it.
* Paired estimate (preferred). Runs whose configs differ only in this knob (seed aside) form
  pairs; the gain of each pair is a replicate; CI = mean ± t·sd/√n over >= 2 pairs.
* Marginal estimate (otherwise). All runs at the level vs all runs at the reference, a Welch
  difference of means with conservative df = min(n1, n2) − 1. Other knobs vary too, so this is
  confounded; random search averages them out, a guided search (TPE) less so.
* Gains are relative to the median objective of all runs, in %, positive = better.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rea.trainers.config import TrainerConfig

from .insights import Effect

MAX_GRID_LEVELS = 5
# Two-sided 95% Student-t quantiles; df beyond the table use the normal 1.96.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021,
        60: 2.000, 120: 1.980}  # fmt: skip


def t95(df: int) -> float:
    """Two-sided 95% t quantile for `df` degrees of freedom (rounded down to the table: wider)."""
    if df < 1:
        return math.inf
    if df > 120:
        return 1.96
    return _T95[max(d for d in _T95 if d <= df)]


@dataclass(frozen=True)
class Objective:
    """The metric compared across runs and whether lower is better."""

    name: str
    lower_is_better: bool


@dataclass(frozen=True)
class Sample:
    """One usable run reduced to what the analysis needs."""

    values: dict[str, Any]  # knob -> value (config and other params, seed excluded)
    y: float  # objective value
    seconds: float


@dataclass(frozen=True)
class KnobEffect:
    """The effect of setting `knob` to `value` instead of `reference`."""

    knob: str
    value: Any
    reference: Any
    effect: Effect
    method: str
    cost_seconds: float


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _reference(knob: str, values: list[Any]) -> Any:
    """The TrainerConfig default when present among the values, else the most common value."""
    field = TrainerConfig.model_fields.get(knob)
    if field is not None and not field.is_required():
        default = field.get_default(call_default_factory=True)
        if any(_key(v) == _key(default) for v in values):
            return default
    counts: dict[str, int] = defaultdict(int)
    for v in values:
        counts[_key(v)] += 1
    ordered = sorted(values, key=lambda v: (-counts[_key(v)], _key(v)))
    return ordered[0]


def levels_of(knob: str, values: list[Any]) -> tuple[Any, dict[str, Any]] | None:
    """(reference, {level key: representative value}) or None when the knob did not vary.

    Each run's value maps to a level key via `level_key`; continuous knobs use "low"/"high".
    """
    distinct = {_key(v): v for v in values}
    if len(distinct) < 2:
        return None
    if all(_is_number(v) for v in values) and len(distinct) > MAX_GRID_LEVELS:
        med = statistics.median(values)
        low = [v for v in values if v <= med]
        high = [v for v in values if v > med]
        return statistics.median(low), {
            "low": statistics.median(low),
            "high": statistics.median(high),
        }
    ref = _reference(knob, values)
    return ref, {k: v for k, v in distinct.items() if k != _key(ref)} | {_key(ref): ref}


def level_key(value: Any, split: float | None) -> str:
    """Which level a run's value falls in (split = the median for continuous knobs)."""
    if split is not None:
        return "low" if value <= split else "high"
    return _key(value)


def estimate_effects(
    samples: Sequence[Sample], knob: str, objective: Objective
) -> list[KnobEffect]:
    """Effects of every non-reference level of `knob` (runs lacking the knob are left out)."""
    usable = [s for s in samples if knob in s.values]
    values = [s.values[knob] for s in usable]
    found = levels_of(knob, values)
    if found is None:
        return []
    reference, levels = found
    continuous = set(levels) == {"low", "high"}
    split = statistics.median(values) if continuous else None
    ref_key = "low" if continuous else _key(reference)
    scale = abs(statistics.median(s.y for s in samples)) or 1.0
    by_level: dict[str, list[Sample]] = defaultdict(list)
    for s in usable:
        by_level[level_key(s.values[knob], split)].append(s)
    out = []
    for lk, value in levels.items():
        if lk == ref_key:
            continue
        effect, method = _compare(by_level[ref_key], by_level[lk], knob, objective, scale)
        cost = sum(s.seconds for s in by_level[ref_key] + by_level[lk])
        out.append(KnobEffect(knob, value, reference, effect, method, cost))
    return out


def _gain(ref_y: float, new_y: float, objective: Objective, scale: float) -> float:
    diff = ref_y - new_y if objective.lower_is_better else new_y - ref_y
    return 100.0 * diff / scale


def _compare(
    ref: list[Sample], new: list[Sample], knob: str, objective: Objective, scale: float
) -> tuple[Effect, str]:
    pairs = _paired_gains(ref, new, knob, objective, scale)
    if len(pairs) >= 2:
        mean, sd, n = statistics.fmean(pairs), statistics.stdev(pairs), len(pairs)
        half = t95(n - 1) * sd / math.sqrt(n)
        effect = Effect(
            metric=objective.name, gain_pct=mean, ci_lo=mean - half, ci_hi=mean + half, seeds=n
        )
        return effect, f"paired: {n} pairs of runs differing only in {knob}"
    return _welch(ref, new, objective, scale), (
        f"marginal: {len(new)} runs vs {len(ref)} reference runs; other knobs may vary too"
    )


def _paired_gains(
    ref: list[Sample], new: list[Sample], knob: str, objective: Objective, scale: float
) -> list[float]:
    """One gain per group of runs identical except for `knob` (means over their seeds)."""

    def rest(s: Sample) -> str:
        return _key({k: v for k, v in s.values.items() if k != knob})

    ref_by, new_by = defaultdict(list), defaultdict(list)
    for s in ref:
        ref_by[rest(s)].append(s.y)
    for s in new:
        new_by[rest(s)].append(s.y)
    shared = sorted(set(ref_by) & set(new_by))
    return [
        _gain(statistics.fmean(ref_by[r]), statistics.fmean(new_by[r]), objective, scale)
        for r in shared
    ]


def _welch(ref: list[Sample], new: list[Sample], objective: Objective, scale: float) -> Effect:
    """Difference of means; CI only when both sides have >= 2 runs (else unknown: neutral)."""
    ry, ny = [s.y for s in ref], [s.y for s in new]
    gain = _gain(statistics.fmean(ry), statistics.fmean(ny), objective, scale)
    n = len(ry) + len(ny)
    if min(len(ry), len(ny)) < 2:
        return Effect(metric=objective.name, gain_pct=gain, seeds=n)
    se = math.sqrt(statistics.variance(ry) / len(ry) + statistics.variance(ny) / len(ny))
    half = t95(min(len(ry), len(ny)) - 1) * 100.0 * se / scale
    return Effect(
        metric=objective.name, gain_pct=gain, ci_lo=gain - half, ci_hi=gain + half, seeds=n
    )
