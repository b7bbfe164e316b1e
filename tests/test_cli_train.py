"""`rea train`: ad hoc runs, the schema, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rea.app.cli import app

runner = CliRunner()


def test_schema_is_printed():
    result = runner.invoke(app, ["train", "--schema"])
    assert result.exit_code == 0
    assert "cross_rank" in json.loads(result.output)["properties"]


def test_ad_hoc_training_writes_a_job_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REA_HOME", str(tmp_path))
    args = ["train", "--model", "fm", "--data", "synthetic:tiny?rows=2000", "--set", "epochs=1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Bayes-optimal" in result.output
    (job,) = (tmp_path / "jobs").iterdir()
    final = json.loads((job / "result.json").read_text())
    assert final["kind"] == "succeeded" and final["result"]["config"]["epochs"] == 1


def test_bad_config_is_one_clear_line():
    result = runner.invoke(app, ["train", "--model", "fm", "--set", "dropuot=0.1"])
    assert result.exit_code == 2
    assert "unknown key 'dropuot'" in result.output and "Traceback" not in result.output


def test_failed_job_from_a_spec_exits_1(tmp_path):
    spec = {
        "job_id": "j1",
        "campaign_id": "c",
        "config": {"model": "fm", "lr": -1},
        "data": "synthetic:tiny?rows=500",
        "max_seconds": 60,
        "output_dir": str(tmp_path / "j"),
    }
    path = Path(tmp_path / "spec.json")
    path.write_text(json.dumps(spec))
    result = runner.invoke(app, ["train", str(path)])
    assert result.exit_code == 1
    assert (
        json.loads((tmp_path / "j" / "result.json").read_text())["failure"]["kind"]
        == "config_error"
    )
