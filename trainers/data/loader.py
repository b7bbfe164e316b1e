"""`load_data(ref, ...) -> CtrData`: reference → raw splits → processed tensors, with a cache.

Split rules (DESIGN.md §3 references):
- synthetic: rows are i.i.d., so the first 80% are train, the next 10% valid, the last 10% test.
- one file (criteo:, csv:, libfm:TRAIN): shuffled with `split_seed` (default 0) and cut by `split`
  (default 0.8,0.1,0.1); `split=time` keeps file order (first 80% / next 10% / last 10%).
- libfm:TRAIN,VALID: the VALID file is halved at random (split_seed) into valid and test.
- libfm:TRAIN,VALID,TEST: the files are the splits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from .cache import cache_key, default_cache_dir, file_digest, load_cached, save_cached
from .criteo import read_criteo
from .csvfile import read_csv
from .libfm import read_libfm
from .presets import PRESETS
from .process import build_ctr_data, check_params
from .raw import RawTable, halve_table, split_table
from .refs import DataRef, parse_ref
from .synthetic import bayes_metrics, generate_synthetic
from .types import CtrData

Splits = tuple[RawTable, RawTable, RawTable]


def _content_hash(ref: DataRef) -> str:
    """sha256 of the input files' bytes, or of the synthetic world's full definition."""
    if ref.scheme != "synthetic":
        return file_digest(ref.paths)
    preset = PRESETS[ref.preset or ""]
    doc = {"preset": asdict(preset), "rows": ref.rows or preset.default_rows, "seed": ref.seed}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _read_splits(ref: DataRef) -> tuple[Splits, dict[str, Any]]:
    """Read and split the raw rows of a reference (no statistics fitted yet)."""
    source = f"data reference {ref.text!r}"
    if ref.scheme == "synthetic":
        preset = PRESETS[ref.preset or ""]
        table = generate_synthetic(preset, ref.rows or preset.default_rows, ref.seed)
        info = {"format": "synthetic", "preset": preset.name, "seed": ref.seed}
        return split_table(table, "time", 0, source), info
    if ref.scheme == "libfm":
        tables, info = read_libfm(
            ref.paths, max_rows=ref.max_rows, skip_bad_lines=ref.skip_bad_lines
        )
        if len(tables) == 3:
            return (tables[0], tables[1], tables[2]), info
        if len(tables) == 2:
            return (tables[0], *halve_table(tables[1], ref.split_seed, source)), info
        table = tables[0]
    elif ref.scheme == "criteo":
        table, info = read_criteo(
            ref.paths[0], max_rows=ref.max_rows, skip_bad_lines=ref.skip_bad_lines
        )
    else:
        table, info = read_csv(ref)
    return split_table(table, ref.split, ref.split_seed, source), info


def _bayes(splits: Splits) -> dict[str, Any]:
    """Bayes-optimal NE and AUC per split: the metrics of the generator's true probabilities."""
    out: dict[str, dict[str, float]] = {"bayes_ne": {}, "bayes_auc": {}}
    for name, split in zip(("train", "valid", "test"), splits, strict=True):
        ne, auc = bayes_metrics(split.true_prob, split.label)
        out["bayes_ne"][name], out["bayes_auc"][name] = ne, auc
    return out


def load_data(
    ref: str,
    *,
    min_count: int = 1,
    hash_buckets: int | None = None,
    dense_transform: str = "log",
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> CtrData:
    """Load a dataset by reference, processed with the given data params (the TrainerConfig's
    `data_params`). Raises DataError (bad reference or file) or ConfigError (bad params).

    The result's info holds `ref`, `content_hash`, `format`, `rows`/`ctr`/`oov_rate` per split,
    `skipped_lines` (files), `preset`/`seed`/`bayes_ne`/`bayes_auc` (synthetic), `cache_hit`.
    """
    dref = parse_ref(ref)
    params = check_params(min_count, hash_buckets, dense_transform)
    content = _content_hash(dref)
    path = (
        Path(cache_dir or default_cache_dir())
        / f"{dref.scheme}-{cache_key(content, dref.options(), params)}.pt"
    )
    if use_cache and (hit := load_cached(path)) is not None:
        return replace(hit, info={**hit.info, "ref": ref, "cache_hit": True})
    splits, info = _read_splits(dref)
    if dref.scheme == "synthetic":
        info |= _bayes(splits)
    data = build_ctr_data(splits, params, {"ref": ref, "content_hash": content, **info})
    if use_cache:
        save_cached(path, data)
    return replace(data, info={**data.info, "cache_hit": False})
