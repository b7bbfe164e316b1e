"""Vocabulary (min_count / OOV), hashing, parameter checks and the processed-data cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rea.trainers.data import load_data
from rea.trainers.data import loader as loader_mod
from rea.trainers.data.process import build_ctr_data, check_params, stable_bucket
from rea.trainers.data.raw import RawTable
from rea.trainers.errors import ConfigError

FIX = Path(__file__).parent / "fixtures" / "data"
PARAMS = {"min_count": 1, "hash_buckets": None, "dense_transform": "none"}


def _table(codes: list[int], tokens: list[str] | None = None) -> RawTable:
    n = len(codes)
    return RawTable(
        sparse_names=("c",),
        dense_names=(),
        sparse=np.asarray(codes, dtype=np.int64).reshape(n, 1),
        dense=np.zeros((n, 0)),
        label=np.zeros(n, dtype=np.float32),
        tokens=None if tokens is None else (tokens,),
    )


def _ids(params: dict, train: list[int], other: list[int], tokens=None):
    data = build_ctr_data(
        (_table(train, tokens), _table(other, tokens), _table(other, tokens)), params, {}
    )
    return (
        data.train.sparse[:, 0].tolist(),
        data.valid.sparse[:, 0].tolist(),
        data.schema.cardinalities[0],
    )


def test_vocabulary_is_fitted_on_train_only():
    train, valid, card = _ids(PARAMS, [5, 5, 7, 9, 9, 9], [5, 7, 9, 11])
    assert train == [1, 1, 2, 3, 3, 3] and card == 4
    assert valid == [1, 2, 3, 0]  # 11 never appears in train → OOV id 0


def test_min_count_sends_rare_ids_to_oov():
    train, valid, card = _ids({**PARAMS, "min_count": 2}, [5, 5, 7, 9, 9, 9], [5, 7, 9])
    assert train == [1, 1, 0, 2, 2, 2] and valid == [1, 0, 2] and card == 3


def test_huge_sparse_codes_use_the_sorting_path():
    big = [10**12, 10**12, 3, 3, 7]
    train, valid, card = _ids({**PARAMS, "min_count": 2}, big, [3, 10**12, 7, 8])
    assert train == [2, 2, 1, 1, 0] and valid == [1, 2, 0, 0] and card == 3


def test_hashing_is_stable_and_reserves_zero():
    # Golden values: blake2b gives the same buckets on every machine and in every process
    # (Python's hash() would not); changing them silently re-buckets every cached dataset.
    assert [stable_bucket(t, 1000) for t in ("", "68fd1e64", "42")] == [757, 210, 984]
    tokens = ["a", "b", "c", "d"]
    params = {**PARAMS, "hash_buckets": 16}
    train, valid, card = _ids(params, [0, 1, 1, 2], [3, 0], tokens)
    assert card == 17 and all(1 <= i <= 16 for i in train + valid)
    assert valid == [stable_bucket("d", 16), stable_bucket("a", 16)]  # unseen tokens still hash
    assert train[0] == valid[1]


def test_hashing_with_min_count_keeps_rare_tokens_in_oov():
    params = {**PARAMS, "hash_buckets": 16, "min_count": 2}
    train, valid, _ = _ids(params, [0, 1, 1, 2], [3, 1], ["a", "b", "c", "d"])
    assert train[0] == 0 and train[3] == 0 and train[1] == stable_bucket("b", 16)
    assert valid == [0, stable_bucket("b", 16)]


def test_hashing_a_real_file_hashes_tokens_not_codes():
    data = load_data(
        f"criteo:{FIX}/criteo_small.tsv?split=time", hash_buckets=1000, use_cache=False
    )
    first_c1 = (FIX / "criteo_small.tsv").read_text().splitlines()[1].split("\t")[14]
    assert first_c1 and data.train.sparse[1, 0] == stable_bucket(first_c1, 1000)
    assert data.schema.cardinalities == (1001,) * 26


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"min_count": 0}, "min_count must be an integer >= 1"),
        ({"hash_buckets": 1}, "hash_buckets must be null or an integer >= 2"),
        ({"dense_transform": "sqrt"}, "dense_transform must be one of"),
    ],
)
def test_bad_data_params_are_config_errors(kwargs, expected):
    with pytest.raises(ConfigError, match=expected):
        load_data("synthetic:tiny?rows=200", use_cache=False, **kwargs)
    assert check_params(1, None, "log") == {
        "min_count": 1,
        "hash_buckets": None,
        "dense_transform": "log",
    }


def test_trainer_config_data_params_are_accepted():
    from rea.trainers.config import parse_config

    cfg = parse_config(
        {"model": "lr", "min_count": 2, "hash_buckets": 64, "dense_transform": "standard"}
    )
    data = load_data("synthetic:tiny?rows=500", use_cache=False, **cfg.data_params)
    assert data.info["data_params"] == cfg.data_params and data.schema.cardinalities == (65,) * 4


class _CountingReader:
    """Wraps the loader's raw reader to count how often files are actually parsed."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = loader_mod._read_splits

        def counted(ref):
            self.calls += 1
            return real(ref)

        monkeypatch.setattr(loader_mod, "_read_splits", counted)


def test_second_load_hits_the_cache_and_does_not_parse(tmp_path, monkeypatch):
    reader = _CountingReader(monkeypatch)
    ref = f"criteo:{FIX}/criteo_small.tsv"
    first = load_data(ref, cache_dir=tmp_path)
    second = load_data(ref, cache_dir=tmp_path)
    assert reader.calls == 1
    assert (first.info["cache_hit"], second.info["cache_hit"]) == (False, True)
    for name in ("train", "valid", "test"):
        a, b = getattr(first, name), getattr(second, name)
        assert torch.equal(a.sparse, b.sparse) and torch.equal(a.dense, b.dense)
        assert torch.equal(a.label, b.label)
    assert first.schema == second.schema
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, nothing left behind


def test_cache_key_covers_params_options_and_content(tmp_path, monkeypatch):
    reader = _CountingReader(monkeypatch)
    path = tmp_path / "copy.tsv"
    shutil.copy(FIX / "criteo_small.tsv", path)
    load_data(f"criteo:{path}", cache_dir=tmp_path)
    load_data(f"criteo:{path}", cache_dir=tmp_path, min_count=2)  # other params
    load_data(f"criteo:{path}?split_seed=4", cache_dir=tmp_path)  # other options
    assert reader.calls == 3
    renamed = tmp_path / "renamed.tsv"  # same bytes under another name: still a hit
    shutil.copy(path, renamed)
    assert load_data(f"criteo:{renamed}", cache_dir=tmp_path).info["cache_hit"]
    with path.open("a") as fh:
        fh.write(path.read_text().splitlines()[0] + "\n")  # one more row: new content
    again = load_data(f"criteo:{path}", cache_dir=tmp_path)
    assert not again.info["cache_hit"] and reader.calls == 4
    assert (
        load_data(f"criteo:{path}", cache_dir=tmp_path, use_cache=False).info["cache_hit"] is False
    )
    assert reader.calls == 5


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    ref = "synthetic:tiny?rows=300"
    load_data(ref, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("synthetic-*.pt")
    entry.write_bytes(b"not a torch file")
    data = load_data(ref, cache_dir=tmp_path)
    assert not data.info["cache_hit"] and len(data.train) == 240
    assert load_data(ref, cache_dir=tmp_path).info["cache_hit"]


def test_default_cache_dir_follows_rea_home(tmp_path, monkeypatch):
    monkeypatch.setenv("REA_HOME", str(tmp_path / "home"))
    load_data("synthetic:tiny?rows=200")
    assert list((tmp_path / "home" / "cache" / "data").glob("synthetic-*.pt"))
