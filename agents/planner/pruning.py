"""Pruning bars for one-seed exploitation trials: how good a trial must be after each epoch to
go on training, from the campaign's runs so far (quantile pruning, like Optuna's MedianPruner
at a higher quantile, in the multi-fidelity spirit of successive halving: much of a budget spent on
trials goes to configs that end up among the worst, and most of those are already behind after an
epoch or two).

For every finished run with a curve on the trials' seed, its best val NE by epoch `e` is the
lowest of its first `e + 1` epochs, or its final best when it ran fewer (a run that ended,
pruned or not, stays at what it reached). The bar at epoch `e` is the `quantile` of those over
all runs; a trial whose own best by epoch `e` is above it stops there (`rea.trainers.pruning`).
No bars until `min_runs` runs have curves, none before epoch `warmup_epochs` (0: a trial is
judged from its first epoch on), and never on a trial's last epoch. Confirmations (every seed) are never pruned: they are evidence, not search.
"""

from __future__ import annotations

from collections.abc import Sequence

from rea.agents.schemas import RunRecord

# Replayed on the trials of two 800 trainer-s campaigns (docs/benchmark-campaign.md): the
# median (Optuna's MedianPruner) would have stopped 5-6 of one campaign's 10 best trials, slow
# starters with more epochs; the 0.75 quantile stopped 2 of them, the best of neither, and gave
# back 18 % and 30 % of the trials' trainer-seconds.
QUANTILE = 0.75
MIN_RUNS = 8
WARMUP_EPOCHS = 0


def best_by_epoch(curve: Sequence[float], epoch: int) -> float:
    """The lowest val NE among the first `epoch + 1` epochs (all of them when fewer)."""
    return min(curve[: epoch + 1])


def quantile_of(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default) of a non-empty list."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def prune_bars(
    runs: Sequence[RunRecord],
    seed: int,
    epochs: int,
    *,
    quantile: float = QUANTILE,
    min_runs: int = MIN_RUNS,
    warmup_epochs: int = WARMUP_EPOCHS,
) -> list[float | None] | None:
    """The `val_ne_above` bars for a trial of `epochs` epochs on `seed` (None: no pruning, too
    few runs with curves, or a trial too short to be judged before its last epoch)."""
    curves = [s.curve for run in runs for s in run.seeds if s.seed == seed and s.curve]
    return bars_from_curves(
        curves, epochs, quantile=quantile, min_runs=min_runs, warmup_epochs=warmup_epochs
    )


def bars_from_curves(
    curves: Sequence[Sequence[float]],
    epochs: int,
    *,
    quantile: float = QUANTILE,
    min_runs: int = MIN_RUNS,
    warmup_epochs: int = WARMUP_EPOCHS,
) -> list[float | None] | None:
    """`prune_bars` over bare curves (val NE per epoch, one per finished run)."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    curves = [c for c in curves if c]
    if len(curves) < min_runs or epochs - 1 <= warmup_epochs:
        return None
    bars: list[float | None] = [None] * warmup_epochs
    for epoch in range(warmup_epochs, epochs - 1):
        bars.append(quantile_of([best_by_epoch(c, epoch) for c in curves], quantile))
    return bars
