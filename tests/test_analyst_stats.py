"""Analyst statistics: paired vs Welch CIs with known answers, direction, interactions."""

from __future__ import annotations

import math

import pytest

from rea.agents.analyst.stats import Comparison, compare, interaction, metric_interval
from rea.agents.schemas import RunRecord, SeedMetrics

BASE_NE = {0: 0.80, 1: 0.81, 2: 0.79}
VARIANT_NE = [0.790, 0.798, 0.782]  # per-seed improvements 0.010, 0.012, 0.008


def run(eid: str, values: dict[int, float], metric: str = "val_ne", **kw) -> RunRecord:
    seeds = [SeedMetrics(seed=s, metrics={metric: v}) for s, v in values.items()]
    mean = sum(values.values()) / len(values)
    return RunRecord(
        experiment_id=eid,
        phase=kw.pop("phase", "validation"),
        config={"model": "fm"},
        seeds=seeds,
        metrics={metric: mean},
        **kw,
    )


def test_paired_seeds_give_the_t_interval_of_per_seed_differences():
    base = run("base", BASE_NE)
    var = run("v", dict(zip(BASE_NE, VARIANT_NE, strict=True)), hypothesis_id="h1")
    c = compare(base, var)
    # diffs 1.25% ± sd 0.25% over 3 seeds; t95(2) = 4.303
    half = 4.303 * 0.25 / math.sqrt(3)
    assert c.paired and c.n == 3 and c.hypothesis_id == "h1" and c.baseline_id == "base"
    assert c.gain_pct == pytest.approx(1.25)
    assert (c.ci_lo, c.ci_hi) == (pytest.approx(1.25 - half), pytest.approx(1.25 + half))
    assert c.baseline_mean == pytest.approx(0.80) and c.variant_mean == pytest.approx(0.79)
    assert c.validated and not c.hurt


def test_same_numbers_without_shared_seeds_use_welch_and_are_not_validated():
    base = run("base", BASE_NE)
    var = run("v", dict(zip((10, 11, 12), VARIANT_NE, strict=True)))
    c = compare(base, var)
    se = math.sqrt(0.01**2 / 3 + 0.008**2 / 3)
    half = 4.303 * 100 * se / 0.80  # conservative df = min(3, 3) - 1
    assert not c.paired and c.n == 3
    assert c.gain_pct == pytest.approx(1.25)
    assert c.ci_hi - c.ci_lo == pytest.approx(2 * half)
    assert not c.validated and not c.hurt  # the same gain is within unpaired seed noise


def test_one_seed_has_no_ci_and_is_never_validated():
    c = compare(run("base", BASE_NE), run("v", {0: 0.70}))  # a large gain, one seed
    assert c.gain_pct > 10 and c.n == 1 and not c.paired
    assert (c.ci_lo, c.ci_hi) == (None, None)
    assert not c.validated and not c.hurt
    assert metric_interval(c) is None


def test_only_shared_seeds_are_paired():
    base = run("base", {0: 0.80, 1: 0.81, 2: 0.79})
    c = compare(base, run("v", {0: 0.79, 1: 0.80}))
    assert c.paired and c.n == 2
    assert c.baseline_mean == pytest.approx(0.805)  # the baseline on seeds 0 and 1 only
    assert c.gain_pct == pytest.approx(100 * 0.01 / 0.805)


def test_auc_higher_is_better_and_a_worse_variant_is_hurt():
    base = run("base", {0: 0.750, 1: 0.760, 2: 0.740}, metric="val_auc")
    better = compare(base, run("v", {0: 0.761, 1: 0.770, 2: 0.749}, metric="val_auc"), "val_auc")
    worse = compare(base, run("w", {0: 0.741, 1: 0.749, 2: 0.732}, metric="val_auc"), "val_auc")
    assert better.gain_pct == pytest.approx(100 * (0.76 - 0.75) / 0.75) and better.validated
    assert worse.gain_pct < 0 and worse.hurt and not worse.validated
    lo, hi = metric_interval(better)
    assert lo < better.variant_mean < hi and lo > 0.75  # clear of the baseline: validated


def test_ne_worse_variant_is_hurt():
    c = compare(run("base", BASE_NE), run("v", {0: 0.812, 1: 0.820, 2: 0.801}))
    assert c.gain_pct < 0 and c.hurt and not c.validated


def test_metrics_without_a_direction_or_values_are_errors():
    base = run("base", BASE_NE)
    with pytest.raises(ValueError, match="calibration"):
        compare(base, base, "val_calibration")
    with pytest.raises(ValueError, match="no finite 'val_auc'"):
        compare(base, run("v", BASE_NE), "val_auc")


def comp(eid: str, gain: float, half: float | None, hid: str | None = None) -> Comparison:
    return Comparison(
        experiment_id=eid,
        hypothesis_id=hid,
        baseline_id="base",
        baseline_mean=0.8,
        variant_mean=0.8 * (1 - gain / 100),
        gain_pct=gain,
        ci_lo=None if half is None else gain - half,
        ci_hi=None if half is None else gain + half,
        n=3,
        paired=True,
        validated=half is not None and gain - half > 0,
        hurt=False,
    )


@pytest.mark.parametrize(
    ("observed", "kind"),
    [(1.5, "additive"), (1.8, "additive"), (2.2, "synergistic"), (1.05, "redundant"),
     (0.3, "conflicting")],
)  # fmt: skip
def test_interactions_are_classified_against_the_sum_with_a_ci_tolerance(observed, kind):
    base = run("base", BASE_NE)
    singles = [comp("e1", 1.0, 0.2, "h1"), comp("e2", 0.5, 0.2, "h2")]
    got = interaction(base, singles, comp("c", observed, 0.2))
    # tol = sqrt(3 x 0.2²) = 0.346 around the sum 1.5; tol_best = 0.283 under the best (1.0)
    assert got.kind == kind
    assert got.expected_gain_pct == pytest.approx(1.5)
    assert got.tolerance_pct == pytest.approx(math.sqrt(3 * 0.04))
    assert (got.members, got.experiment_id) == (["h1", "h2"], "c")


def test_interaction_with_an_unknown_ci_is_additive_and_checks_its_inputs():
    base = run("base", BASE_NE)
    singles = [comp("e1", 1.0, 0.2, "h1"), comp("e2", 0.5, 0.2, "h2")]
    got = interaction(base, singles, comp("c", 0.3, None))
    assert got.kind == "additive" and got.tolerance_pct is None
    with pytest.raises(ValueError, match="at least two"):
        interaction(base, singles[:1], comp("c", 0.3, 0.2))
    with pytest.raises(ValueError, match="not against baseline 'other'"):
        interaction(run("other", BASE_NE), singles, comp("c", 1.5, 0.2))


def test_comparisons_of_runs_that_name_their_jobs_are_kept():
    """A round compares its whole phase again: two runs that name their (succeeded, so
    unchanging) jobs are compared once; runs without a job are compared every time."""
    base = run("base", {0: 0.80, 1: 0.81, 2: 0.79}, job_id="job-base")
    var = run("e1", {0: 0.78, 1: 0.80, 2: 0.77}, job_id="job-e1")
    first = compare(base, var)
    assert compare(base, var) is first and first.validated
    other = run("e1", {0: 0.90, 1: 0.91, 2: 0.92}, job_id="job-e1-retry")
    assert compare(base, other).hurt  # another job, another comparison
    loose = run("e1", {0: 0.78, 1: 0.80, 2: 0.77})
    assert compare(base, loose) is not compare(base, loose)
    assert compare(base, loose) == first
