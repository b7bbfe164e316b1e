"""Pruning bars from a campaign's runs (`rea.agents.planner.pruning`)."""

from __future__ import annotations

import pytest

from rea.agents.planner.pruning import prune_bars
from rea.agents.schemas import RunRecord, SeedMetrics


def run(i: int, curve: list[float], seed: int = 0) -> RunRecord:
    return RunRecord(
        experiment_id=f"x{i}",
        phase="exploitation",
        config={},
        seeds=[SeedMetrics(seed=seed, metrics={"val_ne": min(curve)}, curve=curve)],
        metrics={"val_ne": min(curve)},
    )


def test_the_bar_at_each_epoch_is_the_median_of_every_runs_best_by_then():
    # Four 3-epoch runs and four that ended after one epoch (they stay at what they reached).
    runs = [run(i, [0.9 + i / 100, 0.8 + i / 100, 0.85]) for i in range(4)]
    runs += [run(4 + i, [0.7 + i / 100]) for i in range(4)]
    bars = prune_bars(runs, seed=0, epochs=4, quantile=0.5, warmup_epochs=1)
    # epoch 0 is the warm-up; epochs 1 and 2: bests {0.80..0.83, 0.70..0.73}; no bar on epoch 3
    assert bars is not None and len(bars) == 3 and bars[0] is None
    assert bars[1] == pytest.approx((0.73 + 0.80) / 2)
    assert bars[2] == pytest.approx((0.73 + 0.80) / 2)
    low = prune_bars(runs, seed=0, epochs=4, quantile=0.25, warmup_epochs=0)
    assert low is not None and low[0] < bars[1]


def test_no_bars_before_enough_runs_for_too_short_a_trial_or_on_another_seed():
    runs = [run(i, [0.9, 0.8, 0.7]) for i in range(8)]
    assert prune_bars(runs[:7], seed=0, epochs=5) is None
    assert prune_bars(runs, seed=1, epochs=5) is None
    assert prune_bars(runs, seed=0, epochs=1) is None  # its only epoch is its last
    assert prune_bars(runs, seed=0, epochs=2, warmup_epochs=1) is None  # warm-up, then last
    # the default: judged from the first epoch on, at the 0.75 quantile, never on the last
    assert prune_bars(runs, seed=0, epochs=3) == [pytest.approx(0.9), pytest.approx(0.8)]
    no_curves = [r.model_copy(update={"seeds": [SeedMetrics(seed=0, metrics={})]}) for r in runs]
    assert prune_bars(no_curves, seed=0, epochs=5) is None  # runs from before curves were kept


@pytest.mark.parametrize("q", [0.0, 1.0, -0.1, 1.5])
def test_the_quantile_must_be_inside_zero_and_one(q):
    with pytest.raises(ValueError, match="quantile must be in"):
        prune_bars([run(i, [0.9]) for i in range(8)], seed=0, epochs=5, quantile=q)
