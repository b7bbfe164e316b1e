"""The report's three plots, drawn with matplotlib's Agg canvas (no display, no pyplot state,
safe in a server thread).

* experiments.png: each experiment's val NE; its bar is the 95% CI of its gain over the baseline
  drawn on the NE scale, so a bar clear of the baseline line is a validated change. The band is
  the spread (min to max) of the baseline's seeds: the raw seed noise, which a paired comparison
  largely cancels, so a validated bar may well sit inside it.
* budget.png: trainer-seconds planned vs used per phase.
* trajectory.png: every trial's val NE in order with the best-so-far line.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rea.agents.schemas import RunRecord

from .outputs import PhaseCost
from .stats import Comparison, lower_is_better, metric_interval

PHASE_COLORS = {"validation": "tab:blue", "combination": "tab:orange", "exploitation": "tab:green"}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def baseline_band(baseline: RunRecord, metric: str = "val_ne") -> tuple[float, float, float]:
    """(mean, min, max) of the baseline's seeds (the run's mean when it has no per-seed values)."""
    values = [v for v in baseline.values(metric).values() if math.isfinite(v)]
    if not values:
        mean = baseline.metrics[metric]
        return mean, mean, mean
    return statistics.fmean(values), min(values), max(values)


def plot_experiments(
    path: Path, baseline: RunRecord, comparisons: list[Comparison], labels: list[str]
) -> Path:
    """Each experiment's metric with its CI bar against the baseline line and noise band."""
    metric = comparisons[0].metric if comparisons else "val_ne"
    mean, lo, hi = baseline_band(baseline, metric)
    fig = Figure(figsize=(max(6.0, 0.5 * len(comparisons) + 3), 4.2))
    ax = fig.add_subplot()
    ax.axhspan(lo, hi, color="grey", alpha=0.25, label="baseline seeds (min to max)")
    ax.axhline(mean, color="black", lw=1, label=f"baseline {mean:.5f}")
    for x, c in enumerate(comparisons):
        color = "tab:green" if c.validated else "tab:red" if c.hurt else "tab:grey"
        interval = metric_interval(c)
        if interval is not None:
            # max(0, …): with identical per-seed differences the interval collapses onto the
            # mean and rounding can put it a hair on the wrong side (matplotlib refuses that).
            err = [
                [max(0.0, c.variant_mean - interval[0])],
                [max(0.0, interval[1] - c.variant_mean)],
            ]
            ax.errorbar(x, c.variant_mean, yerr=err, fmt="o", color=color, capsize=3)
        else:
            ax.plot(x, c.variant_mean, "x", color=color)
    ax.set_xticks(range(len(comparisons)), labels, rotation=45, ha="right", fontsize=8)
    better = "lower" if lower_is_better(metric) else "higher"
    ax.set_ylabel(f"{metric} ({better} is better)")
    ax.set_title("Experiments vs baseline (bars: 95% CI of the gain)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_budget(path: Path, phases: list[PhaseCost]) -> Path:
    """Planned vs used trainer-seconds per phase."""
    fig = Figure(figsize=(6.0, 3.6))
    ax = fig.add_subplot()
    xs = range(len(phases))
    ax.bar([x - 0.2 for x in xs], [p.budget_seconds for p in phases], 0.4, label="planned")
    ax.bar([x + 0.2 for x in xs], [p.used_seconds for p in phases], 0.4, label="used")
    ax.set_xticks(list(xs), [p.name for p in phases])
    ax.set_ylabel("trainer-seconds")
    ax.set_title("Budget per phase")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_trajectory(path: Path, baseline: RunRecord, comparisons: list[Comparison]) -> Path:
    """Every trial in campaign order, coloured by phase, with the best-so-far line."""
    metric = comparisons[0].metric if comparisons else "val_ne"
    sign = 1.0 if lower_is_better(metric) else -1.0
    mean = baseline_band(baseline, metric)[0]
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.add_subplot()
    best, trail = mean, []
    for x, c in enumerate(comparisons, start=1):
        ax.plot(x, c.variant_mean, "o", ms=4, color=PHASE_COLORS.get(c.phase, "tab:grey"))
        best = min(best, c.variant_mean, key=lambda v: sign * v)
        trail.append(best)
    if trail:
        ax.step(range(1, len(trail) + 1), trail, where="post", color="black", label="best so far")
    ax.axhline(mean, color="grey", ls="--", lw=1, label="baseline")
    for phase, color in PHASE_COLORS.items():
        if any(c.phase == phase for c in comparisons):
            ax.plot([], [], "o", color=color, label=phase)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("Best-so-far by trial")
    ax.legend(fontsize=8)
    return _save(fig, path)
