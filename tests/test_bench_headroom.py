"""benchmarks/headroom.py: the best runs of finished searches retrained against a baseline, which
may come from another arm home (another family's search measured against the bench's baseline)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rea.trainers.config import default_config

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("headroom", ROOT / "benchmarks" / "headroom.py")
headroom = importlib.util.module_from_spec(SPEC)  # type: ignore[arg-type]
SPEC.loader.exec_module(headroom)  # type: ignore[union-attr]

DATA = "synthetic:tiny?rows=1500&seed=0"


def finished_job(home: Path, job_id: str, config: dict, val_ne: float) -> None:
    """A succeeded job as an arm home holds it (only what headroom.py reads)."""
    job = home / "jobs" / job_id
    job.mkdir(parents=True)
    (job / "spec.json").write_text(json.dumps({"job_id": job_id, "config": config, "seeds": [0]}))
    result = {"metrics": {"val_ne": val_ne}, "trainer_seconds": 1.0}
    (job / "result.json").write_text(json.dumps({"kind": "succeeded", "result": result}))


def config(model: str, **changes: object) -> dict:
    return default_config(model).model_dump(mode="json") | {"epochs": 1} | changes


def test_the_baseline_comes_from_the_home_named(tmp_path: Path) -> None:
    dcn, fm = tmp_path / "dcn_v2", tmp_path / "fm"
    finished_job(dcn, "baseline-0", config("dcn_v2"), 0.95)
    finished_job(fm, "baseline-0", config("fm"), 0.99)
    finished_job(fm, "trial 1", config("fm", lr=0.01), 0.90)
    finished_job(fm, "trial 2", config("fm", lr=0.02), 0.97)
    report = tmp_path / "headroom.json"
    argv = [str(fm), "--baseline-from", str(dcn), "--data", DATA, "--top", "1"]
    argv += ["--eval-seeds", "0", "--parallel", "1", "--out", str(tmp_path / "eval")]
    assert headroom.main([*argv, "--json", str(report)]) == 0

    out = json.loads(report.read_text())
    assert out["baseline_from"] == str(dcn)
    assert out["baseline"]["config"]["model"] == "dcn_v2"
    [top] = out["top"]
    assert top["label"] == "trial 1" and top["config"]["lr"] == 0.01
    base_ne, ne = out["baseline"]["test_ne"], top["test_ne"]
    assert top["test_gain_pct"] == pytest.approx(100 * (base_ne - ne) / base_ne)

    # without --baseline-from, the first home's baseline is the baseline (fm's here), or the
    # next home's where the first has none
    assert headroom.main([*argv[:1], *argv[3:], "--json", str(report)]) == 0
    assert json.loads(report.read_text())["baseline"]["config"]["model"] == "fm"
    search = tmp_path / "search"
    finished_job(search, "trial 9", config("fm", lr=0.03), 0.91)
    assert headroom.main([str(search), str(dcn), *argv[3:], "--json", str(report)]) == 0
    out = json.loads(report.read_text())
    assert out["baseline_from"] == str(dcn) and out["baseline"]["config"]["model"] == "dcn_v2"


def test_a_baseline_home_without_a_baseline_job_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_job(tmp_path / "fm", "trial 1", config("fm"), 0.9)
    (tmp_path / "empty" / "jobs").mkdir(parents=True)
    argv = [str(tmp_path / "fm"), "--baseline-from", str(tmp_path / "empty"), "--data", DATA]
    assert headroom.main(argv) == 2
    assert f"no finished baseline-* job under {tmp_path / 'empty'}/jobs" in capsys.readouterr().err
    assert headroom.main([str(tmp_path / "fm"), "--data", DATA]) == 2
    assert f"under {tmp_path / 'fm'}/jobs" in capsys.readouterr().err
