import math

import pytest
import torch

from rea.trainers.metrics import (
    auc,
    background_entropy,
    calibration,
    metrics_from_logits,
    metrics_from_probs,
)


def test_constant_predictor_at_base_rate_has_ne_one():
    labels = torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    probs = torch.full((10,), 0.2)
    m = metrics_from_probs(probs, labels, "val")
    assert m["val_ne"] == pytest.approx(1.0, abs=1e-6)
    assert m["val_calibration"] == pytest.approx(1.0)
    assert m["val_auc"] == pytest.approx(0.5)


def test_background_entropy_matches_formula():
    labels = torch.tensor([1.0, 0, 0, 0])
    p = 0.25
    assert background_entropy(labels) == pytest.approx(
        -(p * math.log(p) + (1 - p) * math.log(1 - p))
    )


def test_auc_against_pairwise_definition_with_ties():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (200,), generator=gen).float()  # many ties
    labels = (torch.rand(200, generator=gen) < 0.3).float()
    pos, neg = scores[labels == 1], scores[labels == 0]
    diff = pos[:, None] - neg[None, :]
    expected = float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean())
    assert auc(scores, labels) == pytest.approx(expected, abs=1e-12)


def test_auc_perfect_and_reversed():
    labels = torch.tensor([0.0, 0, 1, 1])
    assert auc(torch.tensor([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert auc(torch.tensor([0.9, 0.8, 0.2, 0.1]), labels) == 0.0


def test_logits_and_probs_agree():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(500, generator=gen)
    labels = (torch.rand(500, generator=gen) < torch.sigmoid(logits)).float()
    a = metrics_from_logits(logits, labels, "test")
    b = metrics_from_probs(torch.sigmoid(logits), labels, "test")
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-5)
    assert a["test_ne"] < 1.0  # informative predictions beat the constant predictor


def test_calibration_is_ratio_of_means():
    assert calibration(torch.tensor([0.2, 0.4]), torch.tensor([0.0, 1.0])) == pytest.approx(0.6)
