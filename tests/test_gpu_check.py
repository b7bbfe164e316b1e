"""The GPU check script, and the trainer on CUDA where a GPU is present.

On a machine without CUDA (CI) the script runs with `--device cpu`: every family and both jobs go
through the same code the GPU run takes, against the CPU. The CUDA tests run on a GPU machine
(`pytest tests/test_gpu_check.py` there) and are skipped elsewhere.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from rea.trainers.data import load_data
from rea.trainers.train import train

ROOT = Path(__file__).resolve().parent.parent
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _script():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_the_check_runs_every_family_and_both_jobs(tmp_path):
    out = tmp_path / "check.json"
    argv = ["--device", "cpu", "--rows", "3000", "--epochs", "1", "--json-out", str(out)]
    assert _script().main(argv) == 0
    report = json.loads(out.read_text())
    families = {row["model"] for row in report["parity"]}
    assert families == {"lr", "fm", "deepfm", "dcn_v2", "dlrm", "finalmlp"}
    assert {row["precision"] for row in report["parity"]} == {"fp32", "bf16"}
    assert report["jobs"]["plain"]["kinds"][-1] == "succeeded"
    assert report["jobs"]["plain"]["result_device"] == "cpu"
    assert report["jobs"]["plain"]["started_device"] == "cpu"
    assert report["jobs"]["oom"]["failure"]["kind"] == "oom"


def test_the_check_fails_when_the_runs_disagree(tmp_path):
    out = tmp_path / "check.json"
    argv = ["--device", "cpu", "--rows", "3000", "--epochs", "1", "--json-out", str(out)]
    # A negative tolerance no difference can meet: the check must report failure, not pass.
    assert _script().main([*argv, "--tolerance", "-1"]) == 1
    assert json.loads(out.read_text())["ok"] is False


@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_training_matches_the_cpu(precision):
    """Also the regression test of the host-split input check against a model on the GPU, which
    failed every CUDA run before its first step (found on the first lent GPU, 2026-12-04)."""
    data = load_data("synthetic:interaction-heavy?rows=20000&seed=0")
    config = {"model": "dcn_v2", "epochs": 1, "batch_size": 512, "precision": precision}
    on_cpu = train(config, data, seed=0, device="cpu")
    on_gpu = train(config, data, seed=0, device="cuda")
    assert on_gpu.device.startswith("cuda")
    assert on_gpu.peak_memory_mb > 0
    assert abs(on_gpu.metrics["val_ne"] - on_cpu.metrics["val_ne"]) < 0.01
