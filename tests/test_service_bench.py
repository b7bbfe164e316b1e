"""The service benchmark (benchmarks/service.py) at toy size, so it keeps running: every figure
is produced, and the counts that must be exact are (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "service.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_service", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_benchmark_runs_at_toy_size(bench, tmp_path):
    result = bench.run(
        tmp_path, hibernating=3, wakeups=1, events=40, clients=4, template_seeds=(0,), idle_s=0.5
    )

    memory = result["memory"]
    assert memory["campaigns"] == memory["waiting"] == 3
    assert memory["reconcile_found"] == {"recovered": 0, "decisions": 0, "final_events": 0}
    for home in ("empty_home", "hibernating_home", "after_benchmarks"):
        assert memory[home]["rss_mb"] > 0 and memory[home]["idle_cpu_pct"] >= 0
    rss_kb = memory["hibernating_home"]["rss_kb"] - memory["empty_home"]["rss_kb"]
    assert memory["difference_mb"] == pytest.approx(rss_kb / 1024, abs=0.06)
    assert memory["sweep_ms"] > 0 and memory["reconcile_s"] > 0

    hook = result["webhook"]
    assert hook["statuses"] == {"202 accepted": 40}
    assert hook["stored_rows"] == hook["stored_distinct"] == 40
    assert hook["repeat_statuses"] == {"202 duplicate": 40}
    assert hook["stored_rows_after_repeats"] == 40
    assert hook["events_per_s"] > 0

    wake = result["wake_latency"]
    assert wake["wakeups"] >= 1
    assert sum(s["n"] for s in wake["by_step"].values()) == wake["wakeups"]
    assert 0 < wake["p50_ms"] <= wake["p99_ms"] <= wake["max_ms"]
    assert wake["events_sent"] > wake["wakeups"]  # the baseline and validation reports first
    assert result["service_errors"] == []

    text = bench.table(result)
    assert "wake latency p99" in text and "events/s" in text and "difference" in text


def test_final_result_is_a_real_payload_relabelled(bench):
    template = {
        "final": {
            "result": {
                "metrics": {"val_ne": 0.9},
                "seeds": [0],
                "per_seed": [
                    {
                        "seed": 0,
                        "config": {},
                        "metrics": {"val_ne": 0.9, "val_auc": 0.7},
                        "trainer_seconds": 2.0,
                    }
                ],
                "trainer_seconds": 2.0,
                "config": {},
            }
        }
    }
    spec = bench.JobSpec(
        job_id="j-a1",
        campaign_id="c",
        config={"model": "lr", "lr": 0.01},
        data="synthetic:tiny",
        seeds=[3, 4],
        max_seconds=10,
        output_dir="/tmp/x",
    )
    result = bench.final_result(spec, template, bench.random.Random(0))
    assert result["seeds"] == [3, 4] and [r["seed"] for r in result["per_seed"]] == [3, 4]
    assert result["per_seed"][1]["config"] == {"model": "lr", "lr": 0.01, "seed": 4}
    assert result["trainer_seconds"] == 4.0
    assert all(r["metrics"]["val_auc"] == 0.7 for r in result["per_seed"])  # only NE moves
    ne = [r["metrics"]["val_ne"] for r in result["per_seed"]]
    assert ne[0] != ne[1] and result["metrics"]["val_ne"] == pytest.approx(sum(ne) / 2)
