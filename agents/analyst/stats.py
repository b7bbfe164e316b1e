"""Is a change better than the baseline beyond seed noise? Pure statistics, no I/O.

`compare` turns two finished runs into a `Comparison`: the relative gain of the variant over the
baseline in % (positive = better: lower NE/logloss, higher AUC) with a 95% confidence interval.

* Paired (preferred): when both runs share >= 2 seeds, the per-seed differences on the shared
  seeds, each divided by the baseline's mean on those seeds, give a t-interval
  (mean ± t95(n-1)·sd/√n). Same seed = same initialisation and data order, so most of the seed
  noise cancels and the interval is much tighter than an unpaired one.
* Welch (otherwise): difference of the means over the baseline mean, standard error
  √(s²_b/n_b + s²_v/n_v), with the conservative df = min(n_b, n_v) − 1 that
  `rea.memory.effects` uses for imported studies.
* n (the replicates behind the CI) = shared seeds when paired, min(n_b, n_v) otherwise. With
  n < 2 the CI is unknown (None), and the change is neither validated nor hurt.

A change is *validated* when the whole CI lies on the good side of zero, *hurt* when it lies on
the bad side.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from rea.agents.schemas import RunRecord
from rea.memory.effects import t95

# metric -> lower is better. Calibration (ideal = 1) has no "higher/lower is better".
LOWER_IS_BETTER: dict[str, bool] = {"ne": True, "logloss": True, "auc": False}
InteractionKind = Literal["additive", "synergistic", "conflicting", "redundant"]


def lower_is_better(metric: str) -> bool:
    """Direction of `metric` (val_ne, test_auc, ...); a metric without one is an error."""
    base = metric.removeprefix("val_").removeprefix("test_")
    if base not in LOWER_IS_BETTER:
        raise ValueError(
            f"cannot compare runs on {metric!r}: use one of val_ne, val_logloss, val_auc "
            "(calibration has no better direction)"
        )
    return LOWER_IS_BETTER[base]


class Comparison(BaseModel):
    """One experiment against the baseline on one metric."""

    experiment_id: str
    hypothesis_id: str | None = None
    phase: str = ""
    config_delta: dict[str, Any] = Field(
        default_factory=dict, description="The variant's config change."
    )
    baseline_id: str = Field("", description="Experiment id of the baseline compared against.")
    metric: str = "val_ne"
    baseline_mean: float = Field(description="Baseline mean over the seeds used.")
    variant_mean: float = Field(description="Variant mean over the seeds used.")
    gain_pct: float = Field(description="Relative gain over the baseline in %, positive = better.")
    ci_lo: float | None = Field(None, description="95% CI low end of gain_pct; None = unknown.")
    ci_hi: float | None = Field(None, description="95% CI high end of gain_pct; None = unknown.")
    n: int = Field(description="Replicates behind the CI: paired seeds, else min of both sides.")
    paired: bool
    validated: bool = Field(description="The CI lies above zero: better beyond seed noise.")
    hurt: bool = Field(description="The CI lies below zero: worse beyond seed noise.")


class Interaction(BaseModel):
    """How a combination's gain relates to the gains of its members alone."""

    kind: InteractionKind
    expected_gain_pct: float = Field(description="Sum of the members' single gains.")
    observed_gain_pct: float = Field(description="The combination's own gain.")
    tolerance_pct: float | None = Field(
        description="Noise allowance used to classify; None = a CI was unknown."
    )
    members: list[str] = Field(description="Hypothesis ids (or experiment ids) of the singles.")
    experiment_id: str = Field("", description="The combination's experiment.")


def _values(run: RunRecord, metric: str) -> dict[int | None, float]:
    """seed -> finite value; a run without per-seed metrics counts as one unseeded value."""
    values = {s: v for s, v in run.values(metric).items() if math.isfinite(v)}
    if not values and math.isfinite(run.metrics.get(metric, math.nan)):
        return {None: run.metrics[metric]}
    if not values:
        raise ValueError(
            f"experiment {run.experiment_id!r} has no finite {metric!r}; "
            "compare only runs whose jobs succeeded"
        )
    return values


def compare(baseline: RunRecord, variant: RunRecord, metric: str = "val_ne") -> Comparison:
    """The variant's gain over the baseline with a 95% CI (see the module docstring).

    Runs of succeeded jobs never change, and every round of a campaign compares its whole
    phase again (~150 runs late in one): the comparison of two runs that both name their job
    is kept, and shared: read it, never change it."""
    if baseline.job_id is None or variant.job_id is None:
        return _compare(baseline, variant, metric)
    key = (baseline.job_id, variant.job_id, metric)
    with _KEPT_LOCK:
        kept = _KEPT.get(key)
        if kept is not None:
            _KEPT.move_to_end(key)
            return kept
    made = _compare(baseline, variant, metric)
    with _KEPT_LOCK:
        _KEPT[key] = made
        while len(_KEPT) > _KEPT_MAX:
            _KEPT.popitem(last=False)
    return made


# Comparisons by (baseline job, variant job, metric), least recently used first.
_KEPT: OrderedDict[tuple[str, str, str], Comparison] = OrderedDict()
_KEPT_MAX = 4096  # as many as `load_runs` keeps runs
_KEPT_LOCK = threading.Lock()


def _compare(baseline: RunRecord, variant: RunRecord, metric: str) -> Comparison:
    sign = 1.0 if lower_is_better(metric) else -1.0
    base, var = _values(baseline, metric), _values(variant, metric)
    shared = sorted(s for s in set(base) & set(var) if s is not None)
    if len(shared) >= 2:
        b, v = [base[s] for s in shared], [var[s] for s in shared]
        gain, half = _paired(b, v, sign)
    else:
        b, v = list(base.values()), list(var.values())
        gain, half = _welch(b, v, sign)
    lo = None if half is None else gain - half
    hi = None if half is None else gain + half
    return Comparison(
        experiment_id=variant.experiment_id,
        hypothesis_id=variant.hypothesis_id,
        phase=variant.phase,
        config_delta=dict(variant.config_delta),
        baseline_id=baseline.experiment_id,
        metric=metric,
        baseline_mean=statistics.fmean(b),
        variant_mean=statistics.fmean(v),
        gain_pct=gain,
        ci_lo=lo,
        ci_hi=hi,
        n=len(shared) if len(shared) >= 2 else min(len(b), len(v)),
        paired=len(shared) >= 2,
        validated=lo is not None and lo > 0,
        hurt=hi is not None and hi < 0,
    )


def _scale(b: Sequence[float]) -> float:
    return abs(statistics.fmean(b)) or 1.0


def _paired(b: Sequence[float], v: Sequence[float], sign: float) -> tuple[float, float]:
    """(gain %, CI half-width) from per-seed differences over the baseline mean."""
    scale = _scale(b)
    diffs = [100.0 * sign * (bi - vi) / scale for bi, vi in zip(b, v, strict=True)]
    n = len(diffs)
    return statistics.fmean(diffs), t95(n - 1) * statistics.stdev(diffs) / math.sqrt(n)


def _welch(b: Sequence[float], v: Sequence[float], sign: float) -> tuple[float, float | None]:
    """(gain %, CI half-width or None when a side has < 2 values)."""
    scale = _scale(b)
    gain = 100.0 * sign * (statistics.fmean(b) - statistics.fmean(v)) / scale
    if min(len(b), len(v)) < 2:
        return gain, None
    se = math.sqrt(statistics.variance(b) / len(b) + statistics.variance(v) / len(v))
    return gain, t95(min(len(b), len(v)) - 1) * 100.0 * se / scale


def half_width(c: Comparison) -> float:
    """Half the CI width of `c` (inf when unknown)."""
    if c.ci_lo is None or c.ci_hi is None:
        return math.inf
    return (c.ci_hi - c.ci_lo) / 2.0


def metric_interval(c: Comparison) -> tuple[float, float] | None:
    """The metric values (low, high) implied by the gain CI: the variant's value range that the
    comparison supports, on the metric's own scale (for plots). None when the CI is unknown."""
    if c.ci_lo is None or c.ci_hi is None:
        return None
    sign = 1.0 if lower_is_better(c.metric) else -1.0
    ends = [c.baseline_mean * (1.0 - sign * g / 100.0) for g in (c.ci_lo, c.ci_hi)]
    return min(ends), max(ends)


def interaction(baseline: RunRecord, singles: list[Comparison], combo: Comparison) -> Interaction:
    """Classify a combination of >= 2 singles (all compared with `baseline`).

    Gains are relative to the same baseline, so "no interaction" means the combination's gain
    equals the sum of the singles' gains. With h = CI half-widths, the noise allowance is
    tol = √(h_combo² + Σ h_single²) (independent errors), and tol_best = √(h_combo² + h_best²):

    * synergistic:  observed > expected + tol (more than the sum);
    * additive:     |observed − expected| <= tol (also: no evidence of an interaction, which is
                    always the verdict when a CI is unknown, since tol is then infinite);
    * conflicting:  observed < expected − tol and observed < best single − tol_best (stacking
                    the changes loses even the best member's gain);
    * redundant:    observed < expected − tol otherwise (about the best member's gain: the
                    changes overlap, the others add nothing).
    """
    if len(singles) < 2:
        raise ValueError("an interaction needs at least two single changes")
    others = [c.experiment_id for c in [*singles, combo] if c.baseline_id != baseline.experiment_id]
    if others:
        raise ValueError(
            f"comparisons {others} are not against baseline {baseline.experiment_id!r}; "
            "compare every run with the same baseline first"
        )
    expected = sum(c.gain_pct for c in singles)
    observed = combo.gain_pct
    tol = math.sqrt(half_width(combo) ** 2 + sum(half_width(c) ** 2 for c in singles))
    best = max(singles, key=lambda c: c.gain_pct)
    tol_best = math.sqrt(half_width(combo) ** 2 + half_width(best) ** 2)
    if observed > expected + tol:
        kind: InteractionKind = "synergistic"
    elif observed >= expected - tol:
        kind = "additive"
    elif observed < best.gain_pct - tol_best:
        kind = "conflicting"
    else:
        kind = "redundant"
    return Interaction(
        kind=kind,
        expected_gain_pct=expected,
        observed_gain_pct=observed,
        tolerance_pct=tol if math.isfinite(tol) else None,
        members=[c.hypothesis_id or c.experiment_id for c in singles],
        experiment_id=combo.experiment_id,
    )
