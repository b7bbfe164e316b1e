"""The synthetic generator: determinism, planted truth, Bayes NE, presets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rea.trainers.data import PRESETS, SyntheticPreset, generate_synthetic, load_data
from rea.trainers.data.synthetic import (
    _parts,
    _strengths,
    bayes_metrics,
    build_world,
    sigmoid,
    true_logit,
    zipf_ranks,
)
from rea.trainers.errors import DataError


def test_same_preset_rows_seed_gives_identical_arrays():
    a = generate_synthetic("criteo-like", 3000, 5)
    b = generate_synthetic(PRESETS["criteo-like"], 3000, 5)
    for name in ("sparse", "dense", "label", "true_prob"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = generate_synthetic("criteo-like", 3000, 6)
    assert not np.array_equal(a.sparse, c.sparse)


def test_fewer_rows_are_a_prefix_of_more_rows():
    small, big = generate_synthetic("tiny", 20_000, 1), generate_synthetic("tiny", 40_000, 1)
    np.testing.assert_array_equal(small.sparse, big.sparse[:20_000])
    np.testing.assert_array_equal(small.true_prob, big.true_prob[:20_000])


def test_load_data_is_deterministic_and_reports_the_truth():
    a = load_data("synthetic:tiny?rows=2000&seed=3", use_cache=False)
    b = load_data("synthetic:tiny?rows=2000&seed=3", use_cache=False)
    assert a.train.sparse.equal(b.train.sparse) and a.test.true_prob.equal(b.test.true_prob)
    assert a.info["preset"] == "tiny" and a.info["seed"] == 3
    assert a.info["rows"] == {"train": 1600, "valid": 200, "test": 200}
    assert set(a.info["bayes_ne"]) == {"train", "valid", "test"}
    assert a.train.true_prob is not None and a.train.true_prob.shape == a.train.label.shape
    assert (
        len(load_data("synthetic:tiny", use_cache=False).train)
        == 0.8 * PRESETS["tiny"].default_rows
    )


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_hit_their_ctr_and_beat_the_constant_predictor(name):
    table = generate_synthetic(name, 20_000, 0)
    target = PRESETS[name].target_ctr
    assert abs(table.true_prob.mean() - target) < 0.15 * target + 0.01
    # Labels are Bernoulli(true_prob): the label rate matches the mean probability.
    se = np.sqrt(target * (1 - target) / len(table))
    assert abs(table.label.mean() - table.true_prob.mean()) < 5 * se
    ne, auc = bayes_metrics(table.true_prob, table.label)
    assert 0.3 < ne < 0.95 and auc > 0.6
    constant = np.full(len(table), table.label.mean())
    assert bayes_metrics(constant, table.label)[0] == pytest.approx(1.0)


def test_true_prob_is_exactly_the_sigmoid_of_the_planted_logit():
    table = generate_synthetic("interaction-heavy", 5000, 2)
    world = build_world(PRESETS["interaction-heavy"], 2)
    np.testing.assert_allclose(
        table.true_prob, sigmoid(true_logit(world, table.sparse, table.dense))
    )


def test_true_prob_is_calibrated():
    table = generate_synthetic("tiny", 60_000, 4)
    edges = np.quantile(table.true_prob, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, table.true_prob, side="right") - 1, 0, 9)
    for b in range(10):
        sel = bins == b
        assert abs(table.label[sel].mean() - table.true_prob[sel].mean()) < 0.03


def test_each_planted_part_has_its_preset_strength():
    preset = PRESETS["interaction-heavy"]
    world = build_world(preset, 0)
    table = generate_synthetic(preset, 40_000, 0)
    std = (_parts(world, table.sparse, table.dense) * world.part_scale).std(axis=0)
    np.testing.assert_allclose(std, np.abs(_strengths(preset)), rtol=0.12)
    # Interactions dominate: first-order parts carry a small share of the logit's variance.
    first = std[0] ** 2 + std[1] ** 2
    assert first / (std**2).sum() < 0.2


def test_zipf_ranks_follow_the_power_law():
    rng = np.random.default_rng(0)
    counts = np.bincount(zipf_ranks(rng, 400_000, 10, 1.2), minlength=10)
    x = np.arange(1, 12, dtype=np.float64)
    mass = (x[:-1] ** -0.2 - x[1:] ** -0.2) / (1 - 11**-0.2)  # ∫ x^-1.2 over [r+1, r+2)
    np.testing.assert_allclose(counts / counts.sum(), mass, rtol=0.03, atol=0.002)
    assert zipf_ranks(rng, 1000, 1, 1.0).max() == 0


def test_sparse_long_tail_has_many_rare_ids_and_min_count_matters():
    data = load_data("synthetic:sparse-long-tail?rows=20000", use_cache=False)
    pruned = load_data("synthetic:sparse-long-tail?rows=20000", min_count=3, use_cache=False)
    assert data.info["ctr"]["train"] < 0.06
    assert data.info["oov_rate"]["valid"] > 0.1  # many validation ids never seen in train
    assert sum(pruned.schema.cardinalities) < 0.5 * sum(data.schema.cardinalities)
    assert pruned.info["oov_rate"]["train"] > 0.1 and data.info["oov_rate"]["train"] == 0.0


def test_custom_presets_are_validated():
    base = PRESETS["tiny"]
    with pytest.raises(DataError, match=r"a field index is outside 0\.\.3"):
        dataclasses.replace(base, pairs=((0, 9, 1.0),))
    with pytest.raises(DataError, match="zipf has 1 entries for 4 fields"):
        dataclasses.replace(base, zipf=(1.0,))
    with pytest.raises(DataError, match="target_ctr"):
        dataclasses.replace(base, target_ctr=1.5)
    custom = SyntheticPreset(
        name="custom",
        description="one field",
        cardinalities=(5,),
        zipf=(1.0,),
        dense_missing=(),
        dense_parent=(),
        target_ctr=0.1,
        first_order=1.0,
        dense_first_order=0.0,
    )
    assert generate_synthetic(custom, 500, 0).dense.shape == (500, 0)


def test_bad_generator_arguments():
    with pytest.raises(DataError, match="unknown synthetic preset 'nope'"):
        generate_synthetic("nope", 10, 0)
    with pytest.raises(DataError, match="rows >= 1 and seed >= 0"):
        generate_synthetic("tiny", 0, 0)
