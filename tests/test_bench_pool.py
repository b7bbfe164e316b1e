"""benchmarks/pool_results.py: bench results pooled over runs, per data set, with a ratio to TPE."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location(
    "pool_results", ROOT / "benchmarks" / "pool_results.py"
)
pool_results = importlib.util.module_from_spec(SPEC)  # type: ignore[arg-type]
SPEC.loader.exec_module(pool_results)  # type: ignore[union-attr]

D0, D1 = "synthetic:x?seed=0", "synthetic:x?seed=1"


def bench_json(path: Path, repeats: list[tuple[str, dict[str, float | None]]]) -> Path:
    """A file shaped as `rea bench campaign --json` output (only what pooling reads)."""
    detail = [
        {"repeat": i, "data": data, "arms": {a: {"ne_gain_pct": g} for a, g in gains.items()}}
        for i, (data, gains) in enumerate(repeats)
    ]
    path.write_text(json.dumps({"command": "rea bench campaign", "repeats_detail": detail}))
    return path


def test_pooling_weighs_every_data_set_alike(tmp_path):
    a = bench_json(tmp_path / "a.json", [(D0, {"agent": 12.0, "tpe": 10.0}), (D1, {"agent": 6.0})])
    b = bench_json(tmp_path / "b.json", [(D1, {"tpe": 4.0}), (D1, {"tpe": 2.0, "agent": None})])
    result = pool_results.pool(pool_results.load_gains([a, b]))["arms"]
    assert result["tpe"]["per_data"][D1] == {"n": 2, "mean": 3.0, "gains": [4.0, 2.0]}
    assert result["tpe"]["pooled_gain_pct"] == 6.5  # (10 + 3) / 2, not (10 + 4 + 2) / 3
    assert result["agent"]["per_data"][D1]["n"] == 1  # a repeat without a gain is not pooled
    vs = result["agent"]["vs_tpe"]
    assert (vs["gain_pct"], vs["tpe_gain_pct"], vs["ratio"]) == (9.0, 6.5, round(9.0 / 6.5, 3))
    low, high = vs["ratio_ci95"]
    assert low <= vs["ratio"] <= high and low < high  # resampling D1's two TPE repeats moves it


def test_the_ratio_uses_only_data_sets_both_arms_have(tmp_path):
    f = bench_json(tmp_path / "f.json", [(D0, {"agent": 9.0, "tpe": 6.0}), (D1, {"agent": 1.0})])
    vs = pool_results.pool(pool_results.load_gains([f]))["arms"]["agent"]["vs_tpe"]
    assert vs["data"] == [D0] and vs["ratio"] == 1.5
    assert vs["ratio_ci95"] == [1.5, 1.5]  # one repeat each: nothing to resample


def test_arms_can_be_renamed_or_left_out_per_file(tmp_path):
    old = bench_json(tmp_path / "old.json", [(D0, {"agent": 1.0, "tpe": 8.0})])
    new = bench_json(tmp_path / "new.json", [(D0, {"agent": 12.0, "tpe": 10.0})])
    gains = pool_results.load_gains(
        [old, new], pool_results._rename([f"{old}=agent:-", f"{new}=agent:agent-new"])
    )
    assert gains == {"tpe": {D0: [8.0, 10.0]}, "agent-new": {D0: [12.0]}}
    with pytest.raises(SystemExit, match="FILE=ARM:NAME"):
        pool_results._rename(["no-arm-given"])
    # a renaming that matches nothing is an error, not a silent no-op (a path spelt otherwise)
    for wrong in (f"./{old.name}=agent:-", f"{old}=random:-"):
        with pytest.raises(SystemExit, match="no such arm in that file"):
            pool_results.load_gains([old], pool_results._rename([wrong]))


def test_a_file_that_is_not_a_bench_result_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"arms": {}}')
    with pytest.raises(SystemExit, match=r"bad\.json: not a `rea bench campaign --json` result"):
        pool_results.main([str(bad)])
    good = bench_json(tmp_path / "g.json", [(D0, {"agent": 9.0, "tpe": 6.0})])
    assert pool_results.main([str(good)]) == 0
    out = capsys.readouterr().out
    assert "agent: pooled +9.00 %" in out and "ratio 1.5" in out


def test_a_data_file_is_known_by_its_name_not_its_directory(tmp_path):
    ref = "libfm:{}/ml.libfm?split=0.8,0.1,0.1&split_seed=1"
    a = bench_json(tmp_path / "a.json", [(ref.format("/tmp/b10"), {"tpe": 7.0})])
    b = bench_json(tmp_path / "b.json", [(ref.format("/tmp/ml"), {"tpe": 8.0})])
    gains = pool_results.load_gains([a, b])
    assert gains == {"tpe": {"libfm:ml.libfm?split=0.8,0.1,0.1&split_seed=1": [7.0, 8.0]}}
    assert pool_results.data_key(D0) == D0
