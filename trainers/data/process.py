"""Turn three raw splits into the tensors models train on.

Everything fitted here (categorical vocabularies, dense means and deviations) is fitted on the
TRAIN split only and then applied to all three, so validation and test stay unseen.

Categorical ids (per field, local to the field, 0 reserved):
- vocabulary (default): codes seen at least `min_count` times in train get ids 1..V in sorted code
  order; everything else (rare in train, or never seen there) is the OOV id 0.
- `hash_buckets=B`: each token is hashed with blake2b (stable across runs and machines, unlike
  Python's salted `hash()`) into 1..B. With `min_count > 1`, tokens seen fewer than `min_count`
  times in train (unseen ones included) still go to 0; with `min_count = 1` every token is hashed.

Dense features (per column, statistics over the train split's non-missing values):
- "log": log1p(max(x, 0)), then standardised; "standard": standardised; "none": raw values.
Missing values become 0 after the transform (the train mean for "log" and "standard").
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from .raw import RawTable
from .types import CtrData, Schema, Split

DENSE_TRANSFORMS = ("log", "standard", "none")


def check_params(min_count: int, hash_buckets: int | None, dense_transform: str) -> dict[str, Any]:
    """Validate the data keys (the TrainerConfig's `data_params`); return them as a dict."""
    problems = []
    if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
        problems.append(f"min_count must be an integer >= 1 (got {min_count!r})")
    if hash_buckets is not None and (not isinstance(hash_buckets, int) or hash_buckets < 2):
        problems.append(f"hash_buckets must be null or an integer >= 2 (got {hash_buckets!r})")
    if dense_transform not in DENSE_TRANSFORMS:
        problems.append(
            f"dense_transform must be one of {DENSE_TRANSFORMS} (got {dense_transform!r})"
        )
    if problems:
        raise ConfigError("invalid data parameters: " + "; ".join(problems))
    return {
        "min_count": min_count,
        "hash_buckets": hash_buckets,
        "dense_transform": dense_transform,
    }


def _vocab_ids(train_codes: np.ndarray, min_count: int, cols: list[np.ndarray]):
    """Map codes to 1..V (the V codes with >= min_count train rows, sorted), others to 0.

    cols: per split [N] codes (non-negative). Returns per split [N] int64 ids, and V + 1.
    Codes in a compact range (text-token codes, synthetic ids) use counting and a lookup table;
    sparse huge ranges (libFM global indices) fall back to sorting and binary search.
    """
    top = max((int(c.max(initial=0)) for c in cols), default=0)
    if top <= 4 * sum(c.size for c in cols) + 1_000_000:
        counts = np.bincount(train_codes, minlength=top + 1)
        keep = counts >= max(min_count, 1)
        lut = np.where(keep, np.cumsum(keep), 0)
        return [lut[c] for c in cols], int(keep.sum()) + 1
    uniq, counts = np.unique(train_codes, return_counts=True)
    kept = uniq[counts >= min_count]
    if kept.size == 0:
        return [np.zeros(c.shape, dtype=np.int64) for c in cols], 1
    out = []
    for codes in cols:
        pos = np.minimum(np.searchsorted(kept, codes), kept.size - 1)
        out.append(np.where(kept[pos] == codes, pos + 1, 0).astype(np.int64))
    return out, int(kept.size) + 1


def stable_bucket(token: str, buckets: int) -> int:
    """The hash bucket (1..buckets) of one token: blake2b, so identical on every machine."""
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % buckets + 1


def _hashed_ids(codes: np.ndarray, tokens: list[str] | None, buckets: int) -> np.ndarray:
    """Hash each distinct code's token once, then broadcast. [N] → [N] in 1..buckets."""
    uniq, inverse = np.unique(codes, return_inverse=True)
    texts = [str(c) for c in uniq.tolist()] if tokens is None else [tokens[c] for c in uniq]
    table = np.fromiter((stable_bucket(t, buckets) for t in texts), np.int64, len(texts))
    return table[inverse.reshape(-1)]


def _encode_sparse(
    splits: list[RawTable], min_count: int, hash_buckets: int | None
) -> tuple[list[np.ndarray], list[int]]:
    """Per split an [N, F] id matrix, plus each field's cardinality (OOV id 0 included)."""
    out = [np.zeros(s.sparse.shape, dtype=np.int64) for s in splits]
    cards = []
    for f in range(splits[0].sparse.shape[1]):
        cols = [s.sparse[:, f] for s in splits]
        ids, card = _vocab_ids(cols[0], min_count, cols)
        if hash_buckets is not None:
            tokens = None if splits[0].tokens is None else splits[0].tokens[f]
            hashed = [_hashed_ids(c, tokens, hash_buckets) for c in cols]
            if min_count > 1:  # tokens rarer than min_count in train (or unseen) still go to 0
                hashed = [np.where(v > 0, h, 0) for v, h in zip(ids, hashed, strict=True)]
            ids = hashed
            card = hash_buckets + 1
        for dest, v in zip(out, ids, strict=True):
            dest[:, f] = v
        cards.append(card)
    return out, cards


def _fit_dense(train: np.ndarray, transform: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-column centre and scale ([D], [D]) from the train split's non-missing values."""
    x = _pre_transform(train, transform)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(x)
        n = finite.sum(axis=0)
        mean = np.where(n > 0, np.nansum(x, axis=0) / np.maximum(n, 1), 0.0)
        var = np.where(n > 0, np.nansum((x - mean) ** 2, axis=0) / np.maximum(n, 1), 1.0)
    std = np.sqrt(var)
    if transform == "none":
        return np.zeros_like(mean), np.ones_like(std)
    return mean, np.where(std > 1e-12, std, 1.0)


def _pre_transform(x: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        with np.errstate(invalid="ignore"):
            return np.log1p(np.maximum(x, 0.0))  # NaN stays NaN
    return x


def _apply_dense(
    x: np.ndarray, transform: str, centre: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """[N, D] raw → [N, D] float32 transformed, missing → 0."""
    y = (_pre_transform(x, transform) - centre) / scale
    return np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def _split_facts(splits: list[Split]) -> dict[str, dict[str, float]]:
    """rows, ctr and oov_rate (share of categorical cells that are id 0) per split."""
    names = ("train", "valid", "test")
    facts: dict[str, dict[str, float]] = {"rows": {}, "ctr": {}, "oov_rate": {}}
    for name, s in zip(names, splits, strict=True):
        facts["rows"][name] = len(s)
        facts["ctr"][name] = float(s.label.double().mean()) if len(s) else 0.0
        facts["oov_rate"][name] = (
            float((s.sparse == 0).double().mean()) if s.sparse.numel() else 0.0
        )
    return facts


def build_ctr_data(
    splits: tuple[RawTable, RawTable, RawTable], params: dict[str, Any], info: dict[str, Any]
) -> CtrData:
    """Fit vocabularies and dense statistics on splits[0] (train) and tensorise all three.

    info gains `rows`, `ctr` and `oov_rate` (share of categorical cells mapped to id 0) per split.
    """
    ids, cards = _encode_sparse(list(splits), params["min_count"], params["hash_buckets"])
    centre, scale = _fit_dense(splits[0].dense, params["dense_transform"])
    tensors = []
    for raw, sparse in zip(splits, ids, strict=True):
        dense = _apply_dense(raw.dense, params["dense_transform"], centre, scale)
        prob = None if raw.true_prob is None else torch.from_numpy(raw.true_prob.astype(np.float32))
        tensors.append(
            Split(
                sparse=torch.from_numpy(sparse),
                dense=torch.from_numpy(dense),
                label=torch.from_numpy(raw.label.astype(np.float32)),
                true_prob=prob,
            )
        )
    info = {**info, "data_params": dict(params), **_split_facts(tensors)}
    schema = Schema(splits[0].sparse_names, splits[0].dense_names, tuple(cards))
    return CtrData(tensors[0], tensors[1], tensors[2], schema, info)
