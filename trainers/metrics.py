"""Ranking metrics on a whole split: NE, AUC, logloss, calibration.

Normalised entropy (He et al. 2014, "Practical Lessons from Predicting Clicks on Ads at Facebook"):
the mean log loss of the predictions divided by the entropy of the background CTR. We take the
background CTR to be the evaluated split's own mean label, so a constant predictor at that rate
scores exactly 1.0 and lower is better. Calibration is mean prediction ÷ observed rate (1.0 = ideal).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_EPS = 1e-7


def logloss_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean binary cross-entropy. logits, labels: [N]."""
    return float(F.binary_cross_entropy_with_logits(logits.double(), labels.double()))


def logloss_from_probs(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean binary cross-entropy of probabilities (clamped away from 0 and 1). [N], [N]."""
    p = probs.double().clamp(_EPS, 1 - _EPS)
    y = labels.double()
    return float(-(y * p.log() + (1 - y) * (1 - p).log()).mean())


def background_entropy(labels: torch.Tensor) -> float:
    """Entropy (nats) of a Bernoulli at the labels' mean rate."""
    ctr = float(labels.double().mean())
    ctr = min(max(ctr, _EPS), 1 - _EPS)
    return -(ctr * math.log(ctr) + (1 - ctr) * math.log(1 - ctr))


def normalized_entropy(logloss: float, labels: torch.Tensor) -> float:
    return logloss / background_entropy(labels)


def auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """ROC AUC via the Mann-Whitney rank statistic, ties given their average rank. [N], [N].

    Returns 0.5 when one class is absent (AUC is undefined there; 0.5 = uninformative).
    """
    y = labels.double()
    n_pos = float(y.sum())
    n_neg = float(y.numel()) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    s = scores.double()
    order = torch.argsort(s)
    s_sorted = s[order]
    # Average ranks over runs of equal scores: rank of a run = mean of its 1-based positions.
    _, inverse, counts = torch.unique_consecutive(s_sorted, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    avg_rank = ends - (counts.double() - 1) / 2
    ranks = torch.empty_like(s)
    ranks[order] = avg_rank[inverse]
    rank_sum_pos = float((ranks * y).sum())
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def calibration(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean predicted CTR ÷ observed CTR."""
    observed = float(labels.double().mean())
    return float(probs.double().mean()) / max(observed, _EPS)


def metrics_from_logits(
    logits: torch.Tensor, labels: torch.Tensor, prefix: str
) -> dict[str, float]:
    """`{prefix}_ne, _auc, _logloss, _calibration` for logits [N] against labels [N]."""
    ll = logloss_from_logits(logits, labels)
    return _named(prefix, ll, logits, torch.sigmoid(logits.double()), labels)


def metrics_from_probs(probs: torch.Tensor, labels: torch.Tensor, prefix: str) -> dict[str, float]:
    """The same metrics for probabilities (e.g. the generator's true CTRs)."""
    return _named(prefix, logloss_from_probs(probs, labels), probs, probs, labels)


def _named(prefix: str, ll: float, scores, probs, labels) -> dict[str, float]:
    return {
        f"{prefix}_ne": normalized_entropy(ll, labels),
        f"{prefix}_auc": auc(scores, labels),
        f"{prefix}_logloss": ll,
        f"{prefix}_calibration": calibration(probs, labels),
    }
