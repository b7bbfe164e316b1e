"""`rea insights …` / `rea research …` against a real REA_HOME (SQLite + embedded Chroma)."""

from __future__ import annotations

import json

import optuna
from typer.testing import CliRunner

from rea.app.cli import app

runner = CliRunner()


def _study(tmp_path) -> str:
    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        return 0.45 + 0.05 * (lr > 0.01) + trial.suggest_float("dropout", 0.0, 0.5) * 0.0

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(
        study_name="team-study", storage=storage, sampler=optuna.samplers.RandomSampler(seed=1)
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=30)
    return storage


def test_import_an_optuna_study_then_search_it(tmp_path):
    storage = _study(tmp_path)
    args = [
        "insights",
        "import",
        "--optuna-storage",
        storage,
        "--study",
        "team-study",
        "--model",
        "fm",
    ]
    imported = runner.invoke(app, args)
    assert imported.exit_code == 0, imported.output
    assert "imported 30 runs" in imported.output
    found = runner.invoke(app, ["insights", "search", "higher learning rate", "--json"])
    assert found.exit_code == 0, found.output
    hits = json.loads(found.output)
    assert hits and hits[0]["insight"]["source"] == "import:optuna"
    assert "lr" in hits[0]["insight"]["evidence"]["knobs"]


def test_import_needs_exactly_one_source():
    result = runner.invoke(app, ["insights", "import"])
    assert result.exit_code != 0 and "--optuna-storage" in result.output


def test_research_list_and_search():
    listed = json.loads(
        runner.invoke(app, ["research", "list", "--model", "dcn_v2", "--json"]).output
    )
    assert len(listed) >= 20 and all("delta" in c for c in listed)
    found = runner.invoke(app, ["research", "search", "reduce learning rate on plateau", "--json"])
    assert found.exit_code == 0, found.output
    assert any(h["card"]["delta"].get("lr_schedule") == "plateau" for h in json.loads(found.output))
