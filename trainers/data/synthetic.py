"""Synthetic CTR data with a planted, known truth.

A preset (presets.py) plus a seed defines a *world*: Zipf id frequencies per categorical field,
log-normal count-like dense features (some shifted by a categorical field), and a true logit

    z = bias + Σ_f a_f[id_f] + Σ_d b_d·g_d                      first order
          - Σ_f log(1 + rank_f(id_f))                            rare ids click less (tail)
          + Σ_pairs s_ij·<U_i[id_i], U_j[id_j]>                  low-rank pairwise (FwFM-like)
          + Σ_cat×dense c_f[id_f]·g_d                             categorical × dense
          + Σ_triples Σ_r A_i[id_i,r]·B_j[id_j,r]·C_k[id_k,r]     three-way
          + cos(2·Σ_f q_f[id_f] / √n)                             smooth, higher-order

where g_d = standardised log1p(x_d) (0 when missing). Each part is scaled so that its standard
deviation over rows equals the preset's strength, and the bias is solved so the mean click
probability hits the preset's CTR. Labels are Bernoulli(sigmoid(z)) with no hidden noise in z, so
sigmoid(z) is exactly the click probability given the observed features: `true_prob` gives the
Bayes-optimal NE that no model can beat (except by luck on a finite split).

Seeds: the world comes from (preset, seed), rows from the same seed in independent blocks, so the
same preset + rows + seed gives identical arrays, and fewer rows give a prefix of more rows.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .presets import PRESETS, SyntheticPreset
from .raw import RawTable

CALIBRATION_ROWS = 20_000  # rows used to scale the logit's parts and to solve the bias
BLOCK_ROWS = 16_384  # rows drawn per independent random block (prefix-stable generation)
# Three-way latents have this mean (not 0): the product then also has first- and second-order
# parts, as real interactions do, which is what lets SGD find its pure three-way part at all.
TRIPLE_MEAN = 0.7


@dataclass
class _World:
    """Everything drawn once per (preset, seed). Per-id arrays are indexed by raw id 0..K-1."""

    preset: SyntheticPreset
    perms: list[np.ndarray]  # [K_f] rank → id
    rank_of: list[np.ndarray]  # [K_f] id → frequency rank (0 = most frequent)
    first: list[np.ndarray]  # [K_f] first-order effect per id
    dense_mu: np.ndarray  # [D] log-mean
    dense_sigma: np.ndarray  # [D] log-std
    dense_shift: list[np.ndarray | None]  # [K_parent] log-mean shift per parent id
    dense_weight: np.ndarray  # [D]
    latent: list[np.ndarray | None]  # [K_f, r] per field in a planted pair, shared by its pairs
    cat_dense: list[np.ndarray]  # [K_f]
    triples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # 3 × [K, r]
    smooth: list[np.ndarray]  # [K_f] scalar latent per id
    g_centre: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [D]
    g_scale: np.ndarray = field(default_factory=lambda: np.ones(0))  # [D]
    part_scale: np.ndarray = field(default_factory=lambda: np.ones(0))  # [P]
    bias: float = 0.0


def _rng(seed: int, preset: SyntheticPreset, *stream: int) -> np.random.Generator:
    salt = int.from_bytes(hashlib.blake2b(preset.name.encode(), digest_size=4).digest(), "little")
    return np.random.default_rng(np.random.SeedSequence([seed, salt, *stream]))


def _draw_world(p: SyntheticPreset, rng: np.random.Generator) -> _World:
    """Draw every per-id parameter of the world (unscaled: each part gets scaled later)."""
    cards = p.cardinalities
    paired = {f for pair in p.pairs for f in pair[:2]}
    field_w = rng.uniform(0.3, 1.0, len(cards))
    normal = rng.standard_normal
    perms = [rng.permutation(k) for k in cards]
    return _World(
        preset=p,
        perms=perms,
        rank_of=[np.argsort(perm) for perm in perms],
        first=[normal(k) * w for k, w in zip(cards, field_w, strict=True)],
        dense_mu=rng.uniform(0.0, 4.0, p.num_dense),
        dense_sigma=rng.uniform(0.6, 1.6, p.num_dense),
        dense_shift=[None if a < 0 else rng.normal(0.0, 0.8, cards[a]) for a in p.dense_parent],
        dense_weight=normal(p.num_dense),
        latent=[normal((k, p.rank)) if f in paired else None for f, k in enumerate(cards)],
        cat_dense=[normal(cards[f]) for f, _, _ in p.cat_dense],
        triples=[tuple(TRIPLE_MEAN + normal((cards[f], p.rank)) for f in t[:3]) for t in p.triples],
        smooth=[normal(cards[f]) for f in p.smooth_fields],
    )


def zipf_ranks(rng: np.random.Generator, n: int, k: int, s: float) -> np.ndarray:
    """n frequency ranks in 0..k-1, P(rank r) ∝ ∫_{r+1}^{r+2} x^-s dx ≈ (r+1)^-s (Zipf).

    Inverse-CDF sampling of a power law on [1, k+1), floored: O(1) per draw, no table lookups.
    """
    u = rng.random(n)
    if abs(s - 1.0) < 1e-9:
        x = (k + 1.0) ** u
    else:
        a = 1.0 - s
        x = (1.0 + u * ((k + 1.0) ** a - 1.0)) ** (1.0 / a)
    return np.minimum(x.astype(np.int64) - 1, k - 1).clip(min=0)


def _sample_features(w: _World, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw n rows of features. Returns ids [n, F] int64 and dense [n, D] float64 (NaN = missing)."""
    p = w.preset
    ids = np.empty((n, p.num_sparse), dtype=np.int64)
    for f, (k, s) in enumerate(zip(p.cardinalities, p.zipf, strict=True)):
        ids[:, f] = w.perms[f][zipf_ranks(rng, n, k, s)]
    log_x = w.dense_mu + w.dense_sigma * rng.standard_normal((n, w.dense_mu.size))
    for d, (parent, shift) in enumerate(zip(w.preset.dense_parent, w.dense_shift, strict=True)):
        if shift is not None:
            log_x[:, d] += shift[ids[:, parent]]
    dense = np.floor(np.exp(log_x))  # count-like: non-negative integers
    missing = rng.random(dense.shape) < np.asarray(w.preset.dense_missing)
    dense[missing] = np.nan
    return ids, dense


def _scaled_dense(w: _World, dense: np.ndarray) -> np.ndarray:
    """g_d: log1p(x) standardised with the world's statistics, 0 where missing. [n, D] → [n, D]."""
    return np.nan_to_num((np.log1p(dense) - w.g_centre) / w.g_scale, nan=0.0)


def _parts(w: _World, ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """The logit's parts before scaling, one column each. Returns [n, P]."""
    p, g = w.preset, _scaled_dense(w, dense)
    cols = [sum(a[ids[:, f]] for f, a in enumerate(w.first)), g @ w.dense_weight]
    cols.append(-sum(np.log1p(r[ids[:, f]]) for f, r in enumerate(w.rank_of)))  # rare: lower
    for i, j, _ in p.pairs:
        cols.append(np.einsum("nr,nr->n", w.latent[i][ids[:, i]], w.latent[j][ids[:, j]]))
    for (f, d, _), c in zip(p.cat_dense, w.cat_dense, strict=True):
        cols.append(c[ids[:, f]] * g[:, d])
    for t, (a, b, c) in zip(p.triples, w.triples, strict=True):
        cols.append(np.einsum("nr,nr,nr->n", a[ids[:, t[0]]], b[ids[:, t[1]]], c[ids[:, t[2]]]))
    if p.smooth_fields:
        h = sum(q[ids[:, f]] for f, q in zip(p.smooth_fields, w.smooth, strict=True))
        cols.append(np.cos(2.0 * h / math.sqrt(len(p.smooth_fields))))
    return np.stack(cols, axis=1)


def _strengths(p: SyntheticPreset) -> np.ndarray:
    """Target standard deviation of each part, in `_parts` column order. [P]."""
    s = [p.first_order, p.dense_first_order, p.tail_effect, *(x[-1] for x in p.pairs)]
    s += [x[-1] for x in p.cat_dense] + [x[-1] for x in p.triples]
    s += [p.smooth] if p.smooth_fields else []
    return np.asarray(s, dtype=np.float64)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return np.exp(-np.logaddexp(0.0, -z))


def bayes_metrics(prob: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """NE and AUC of the true probabilities on one split's labels ([N], [N]).

    NE = mean log loss / entropy of the split's own mean label (He et al. 2014), as in
    rea.trainers.metrics; AUC = Mann-Whitney statistic with ties at their average rank.
    """
    p, y = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7), label.astype(np.float64)
    ctr = min(max(float(y.mean()), 1e-7), 1 - 1e-7)
    entropy = -(ctr * math.log(ctr) + (1 - ctr) * math.log(1 - ctr))
    ne = float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).mean()) / entropy
    n_pos = float(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return ne, 0.5
    _, inverse, counts = np.unique(prob, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse.reshape(-1)]
    return ne, float((ranks @ y - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _solve_bias(z: np.ndarray, ctr: float) -> float:
    """The b with mean(sigmoid(z + b)) = ctr (bisection; the mean is increasing in b)."""
    lo, hi = -40.0, 40.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigmoid(z + mid).mean() < ctr else (lo, mid)
    return (lo + hi) / 2


@functools.lru_cache(maxsize=4)
def build_world(preset: SyntheticPreset, seed: int) -> _World:
    """Draw the world, then fit its scales and bias on a calibration sample of its own."""
    w = _draw_world(preset, _rng(seed, preset, 0))
    ids, dense = _sample_features(w, _rng(seed, preset, 1), CALIBRATION_ROWS)
    log_x = np.log1p(dense)
    w.g_centre = np.nan_to_num(np.nanmean(log_x, axis=0))
    std = np.nan_to_num(np.nanstd(log_x, axis=0), nan=1.0)
    w.g_scale = np.where(std > 1e-9, std, 1.0)
    parts = _parts(w, ids, dense)
    std = parts.std(axis=0)
    w.part_scale = np.where(std > 1e-12, _strengths(preset) / np.maximum(std, 1e-12), 0.0)
    w.bias = _solve_bias(parts @ w.part_scale, preset.target_ctr)
    return w


def true_logit(w: _World, ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """The world's true logit for rows of raw features. ids [n, F], dense [n, D] → [n]."""
    return w.bias + _parts(w, ids, dense) @ w.part_scale


def resolve_preset(preset: str | SyntheticPreset) -> SyntheticPreset:
    """A preset by name (or the preset itself); DataError listing the names if unknown."""
    if isinstance(preset, SyntheticPreset):
        return preset
    if preset not in PRESETS:
        raise DataError(f"unknown synthetic preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[preset]


def generate_synthetic(preset: str | SyntheticPreset, rows: int, seed: int) -> RawTable:
    """Draw `rows` rows of a preset's world (raw ids, raw dense counts, labels, true_prob).

    Deterministic in (preset, rows, seed). Returns a RawTable: sparse [rows, F] raw ids,
    dense [rows, D] counts with NaN for missing, label [rows], true_prob [rows].
    """
    p = resolve_preset(preset)
    if not isinstance(rows, int) or rows < 1 or not isinstance(seed, int) or seed < 0:
        raise DataError(
            f"synthetic data needs rows >= 1 and seed >= 0 (got rows={rows}, seed={seed})"
        )
    w = build_world(p, seed)
    blocks = []
    for b, start in enumerate(range(0, rows, BLOCK_ROWS)):
        # Every block draws a full BLOCK_ROWS (the last is cut), so rows never shift draws.
        rng, keep = _rng(seed, p, 2, b), min(BLOCK_ROWS, rows - start)
        ids, dense = _sample_features(w, rng, BLOCK_ROWS)
        prob = sigmoid(true_logit(w, ids, dense))
        label = (rng.random(prob.size) < prob).astype(np.float32)
        blocks.append((ids[:keep], dense[:keep], label[:keep], prob[:keep]))
    return RawTable(
        sparse_names=tuple(f"C{i + 1}" for i in range(p.num_sparse)),
        dense_names=tuple(f"I{i + 1}" for i in range(p.num_dense)),
        sparse=np.concatenate([b[0] for b in blocks]),
        dense=np.concatenate([b[1] for b in blocks]),
        label=np.concatenate([b[2] for b in blocks]),
        true_prob=np.concatenate([b[3] for b in blocks]),
    )
