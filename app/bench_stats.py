"""Curves, budget-to-target, paired comparisons and the plot of `rea bench campaign`. Pure
functions over numbers (the plot writes one PNG), unit-tested without training anything.

* A curve is the arm's best-so-far validation NE against its charged trainer-seconds: one point
  (x, best) per finished job that improved the best, x = the arm's charged seconds once that job
  was paid (model selection on validation only; test never steers anything).
* budget-to-target: the first x at which a curve reaches the target (the reference arm's final
  best validation NE), None when it never does.
* A paired comparison: per-pair differences d_i (same repeat: same data, split and budget), mean
  ± t95(n-1)·sd/√n (the t table of `rea.memory.effects`); the CI is None with fewer than 2 pairs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rea.memory.effects import t95

Point = tuple[float, float]


def best_so_far(points: Sequence[tuple[float, float | None]], budget: float) -> list[Point]:
    """(x, best val NE) each time the best improves, from (x, val NE or None) in finish order;
    results that land past the budget do not count."""
    curve: list[Point] = []
    for x, value in points:
        if value is None or not math.isfinite(value) or x > budget + 1e-9:
            continue
        if not curve or value < curve[-1][1]:
            curve.append((x, value))
    return curve


def budget_to_target(curve: Sequence[Point], target: float | None) -> float | None:
    """The first x at which the curve's best is at or below `target` (None: never, or no target)."""
    if target is None:
        return None
    for x, best in curve:
        if best <= target + 1e-12:
            return x
    return None


def gain_pct(baseline: float | None, value: float | None) -> float | None:
    """Relative NE gain in %, positive = better (lower NE)."""
    if baseline is None or value is None or baseline == 0:
        return None
    return 100.0 * (baseline - value) / baseline


def paired(diffs: Sequence[float | None]) -> dict[str, Any]:
    """Mean of the paired differences with its 95% t-interval (None below 2 pairs)."""
    values = [d for d in diffs if d is not None and math.isfinite(d)]
    n = len(values)
    if n == 0:
        return {"mean_diff": None, "ci95": None, "n": 0}
    mean = statistics.fmean(values)
    if n < 2:
        return {"mean_diff": mean, "ci95": None, "n": n}
    half = t95(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return {"mean_diff": mean, "ci95": [mean - half, mean + half], "n": n}


def summary(values: Sequence[float | None]) -> dict[str, Any]:
    """{mean over the known values, n (how many are known), per_repeat (None where unknown)}."""
    known = [v for v in values if v is not None]
    return {
        "mean": statistics.fmean(known) if known else None,
        "n": len(known),
        "per_repeat": list(values),
    }


def plot_curves(
    path: Path,
    repeats: list[dict[str, list[Point]]],
    budget: float,
    targets: list[float | None],
    target_label: str = "tpe final",
) -> Path:
    """One panel per repeat: each arm's best-so-far val NE (steps) against trainer-seconds, the
    reference arm's final best (dashed) and the budget."""
    fig = Figure(figsize=(5.2 * len(repeats), 4.0))
    for r, curves in enumerate(repeats):
        ax = fig.add_subplot(1, len(repeats), r + 1)
        for arm, curve in curves.items():
            if curve:
                xs = [x for x, _ in curve] + [budget]
                ys = [y for _, y in curve] + [curve[-1][1]]
                ax.step(xs, ys, where="post", label=arm, lw=1.6)
        if targets[r] is not None:
            ax.axhline(targets[r], color="grey", ls="--", lw=1, label=target_label)
        ax.axvline(budget, color="black", lw=0.8)
        ax.set(title=f"repeat {r}", xlabel="trainer-seconds", ylabel="best val NE so far")
        ax.set_xlim(0, budget * 1.02)
        ax.legend(fontsize=8)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
