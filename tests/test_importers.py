"""Importers: an Optuna study, CSV / JSONL files and MLflow-shaped runs -> PastRuns + insights."""

from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace

import optuna
import pytest

from rea.memory.chroma import open_chroma
from rea.memory.effects import Objective, Sample, estimate_effects, t95
from rea.memory.embeddings import MiniLMEmbedder
from rea.memory.importers import (
    import_mlflow,
    import_optuna,
    import_table,
    parse_cell,
    runs_from_mlflow,
)
from rea.memory.insights import InsightMemory
from rea.memory.past_runs import canonical_key, choose_objective, normalise_params
from rea.trainers.errors import ConfigError, DataError

LOSS = Objective("val_logloss", lower_is_better=True)


def by_knob(result, knob):
    return [i for i in result.insights if knob in i.evidence.knobs]


# --- statistics -------------------------------------------------------------------------------
def test_t_quantiles_are_conservative():
    assert t95(1) == pytest.approx(12.706)
    assert t95(11) == t95(10)  # rounded down to the table: a wider interval
    assert t95(500) == 1.96
    assert math.isinf(t95(0))


def test_paired_runs_give_a_paired_estimate():
    # Three configs (dropout 0 / 0.1 / 0.2) each run with and without layer norm: 3 pairs.
    samples = [
        Sample(
            {"dropout": d, "norm": n}, y=0.45 - (0.01 if n == "layer" else 0) + d / 100, seconds=10
        )
        for d in (0.0, 0.1, 0.2)
        for n in ("none", "layer")
    ]
    (eff,) = estimate_effects(samples, "norm", LOSS)
    assert (eff.value, eff.reference) == ("layer", "none")  # reference = TrainerConfig default
    assert eff.method.startswith("paired: 3 pairs")
    assert eff.effect.gain_pct == pytest.approx(100 * 0.01 / 0.446, rel=1e-6)  # over the median run
    assert eff.effect.seeds == 3 and eff.cost_seconds == 60


def test_one_run_per_side_has_no_ci():
    samples = [Sample({"lr": 1e-3}, 0.45, 1), Sample({"lr": 1e-2}, 0.40, 1)]
    (eff,) = estimate_effects(samples, "lr", LOSS)
    assert eff.effect.gain_pct > 10 and eff.effect.ci_lo is None  # big gap, still not certain


# --- normalisation ----------------------------------------------------------------------------
def test_params_are_normalised_and_unknown_ones_kept_aside():
    assert canonical_key("params_learning_rate") == "lr"
    config, params, warnings = normalise_params(
        {"lr": "0.01", "embedding_dim": 8, "dropout": 0.95, "my_flag": "x", "model": "dcn_v2"}, "r1"
    )
    assert config == {"lr": 0.01, "embed_dim": 8, "model": "dcn_v2"}
    assert params == {"dropout": 0.95, "my_flag": "x"}
    assert "dropout=0.95" in warnings[0]


def test_objective_choice():
    assert choose_objective({"val_auc", "val_logloss"}) == Objective("val_logloss", True)
    assert choose_objective({"val_auc"}) == Objective("val_auc", False)
    assert choose_objective({"score"}, "score", "maximize") == Objective("score", False)
    with pytest.raises(ConfigError, match="direction"):
        choose_objective({"score"}, "score")
    with pytest.raises(ConfigError, match="no objective"):
        choose_objective({"score"})


def test_parse_cell():
    assert [parse_cell(x) for x in ("1e-3", "True", "null", "[256, 128]", "adam")] == [
        0.001,
        True,
        None,
        [256, 128],
        "adam",
    ]


# --- Optuna -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def optuna_study(tmp_path_factory):
    """40 random-search trials where only lr matters: higher lr -> clearly higher logloss.

    Run in memory, then copied into SQLite storage in one go (SQLite per-trial commits are slow
    on a busy disk); the importer reads the SQLite study like any user's.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    noise = random.Random(0)

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_float("dropout", 0.0, 0.5)
        trial.suggest_categorical("my_team_flag", ["a", "b"])
        trial.set_user_attr("val_auc", 0.78)
        return 0.44 + 0.01 * (math.log10(lr) + 4) + noise.gauss(0, 0.002)

    scratch = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    scratch.optimize(objective, n_trials=40)
    storage = f"sqlite:///{tmp_path_factory.mktemp('optuna') / 'study.db'}"
    optuna.create_study(study_name="ctr-tuning", storage=storage, direction="minimize").add_trials(
        scratch.trials
    )
    return storage


def test_optuna_study_imports_into_insights(optuna_study):
    result = import_optuna(optuna_study, "ctr-tuning", model="dcn_v2", dataset={"source": "criteo"})
    assert len(result.runs) == 40 and result.objective == "value" and result.lower_is_better
    assert result.runs[0].config.keys() == {"lr", "dropout"}
    assert result.runs[0].params.keys() == {"my_team_flag"}
    assert result.runs[0].metrics["val_auc"] == 0.78

    (lr,) = by_knob(result, "lr")
    assert lr.outcome == "hurt" and lr.evidence.knobs["lr"] > lr.evidence.baseline["lr"]
    assert lr.evidence.effect.ci_hi < 0 and lr.evidence.effect.seeds == 40
    assert lr.statement.startswith("Raising lr from")
    assert set(lr.evidence.other_params["my_team_flag"]) == {"a", "b"}  # context, not a knob
    (dropout,) = by_knob(result, "dropout")
    assert dropout.outcome == "neutral"  # it had no effect: the CI must straddle 0
    assert not any("my_team_flag" in i.evidence.knobs for i in result.insights)

    again = import_optuna(optuna_study, "ctr-tuning", model="dcn_v2")
    assert [i.id for i in again.insights] == [i.id for i in result.insights]  # stable ids


def test_imported_optuna_insights_are_searchable(optuna_study, tmp_path):
    result = import_optuna(optuna_study, "ctr-tuning", model="dcn_v2")
    mem = InsightMemory(open_chroma(tmp_path / "chroma"), MiniLMEmbedder())
    mem.add(result.insights)
    hits = mem.search("effect of a higher learning rate", model="dcn_v2", outcome="hurt")
    assert [h.insight.id for h in hits] == [by_knob(result, "lr")[0].id]
    assert {h.insight.source for h in mem.search("dropout")} == {"import:optuna"}


def test_optuna_errors(optuna_study, tmp_path):
    with pytest.raises(ConfigError, match="ctr-tuning"):
        import_optuna(optuna_study, "no-such-study")
    with pytest.raises(DataError, match="no Optuna database"):
        import_optuna(f"sqlite:///{tmp_path / 'missing.db'}", "x")


# --- CSV / JSONL ------------------------------------------------------------------------------
GRID_CSV = """run_id,model,learning_rate,norm,seed,val_logloss,val_auc,seconds,state,notes
{rows}"""


def grid_rows() -> list[str]:
    rows, i = [], 0
    for lr in (0.001, 0.01):
        for norm in ("none", "layer"):
            for seed in (0, 1, 2):
                loss = 0.45 + (0.004 if lr == 0.01 else 0) + seed * 0.0005
                rows.append(f"r{i},deepfm,{lr},{norm},{seed},{loss},0.79,12.5,COMPLETE,run {i}")
                i += 1
    rows.append(f"r{i},deepfm,0.1,none,0,,,3,FAIL,diverged")
    return rows


def test_csv_grid_import(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(GRID_CSV.format(rows="\n".join(grid_rows())))
    result = import_table(path, dataset={"source": "avazu"})
    assert result.objective == "val_logloss" and result.model == "deepfm"
    assert len(result.runs) == 13 and result.runs[-1].status == "fail"
    assert result.runs[0].config == {"model": "deepfm", "lr": 0.001, "norm": "none", "seed": 0}
    assert "notes" not in result.runs[0].params  # bookkeeping columns are ignored

    (lr,) = by_knob(result, "lr")
    assert lr.outcome == "hurt" and lr.evidence.method.startswith("paired: 2 pairs")
    assert lr.evidence.effect.gain_pct == pytest.approx(-100 * 0.004 / 0.4525, rel=1e-2)
    (norm,) = by_knob(result, "norm")
    assert norm.outcome == "neutral" and norm.evidence.effect.gain_pct == pytest.approx(0, abs=1e-9)
    assert norm.evidence.dataset == {"source": "avazu"} and norm.source == "import:csv"


def test_jsonl_with_nested_objects_and_few_runs(tmp_path):
    path = tmp_path / "runs.jsonl"
    lines = [
        {"id": "a", "config": {"model": "fm", "embed_dim": 16}, "metrics": {"val_ne": 0.80}},
        {"id": "b", "config": {"model": "fm", "embed_dim": 64}, "metrics": {"val_ne": 0.78}},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    result = import_table(path)
    (ins,) = result.insights
    assert ins.evidence.knobs == {"embed_dim": 64} and ins.evidence.baseline == {"embed_dim": 16}
    assert ins.outcome == "neutral" and ins.evidence.effect.ci_lo is None  # two runs prove nothing
    assert "too few runs" in ins.statement


def test_table_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        import_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"val_ne": 1}\nnot json\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        import_table(bad)
    no_metric = tmp_path / "m.csv"
    no_metric.write_text("lr,score\n0.1,3\n")
    with pytest.raises(ConfigError, match="Pass metric=NAME"):
        import_table(no_metric)


# --- MLflow -----------------------------------------------------------------------------------
def test_mlflow_needs_the_package():
    try:
        import mlflow  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="pip install mlflow"):
            import_mlflow(["exp"])
    else:
        pytest.skip("mlflow is installed here; the missing-package message cannot be checked")


def test_mlflow_runs_convert():
    def run(rid, lr, loss, status="FINISHED"):
        info = SimpleNamespace(run_id=rid, status=status, start_time=1_000, end_time=61_000)
        data = SimpleNamespace(
            params={"lr": str(lr), "optimizer": "adam"}, metrics={"val_logloss": loss}
        )
        return SimpleNamespace(info=info, data=data)

    runs, warnings = runs_from_mlflow([run("x", 0.001, 0.45), run("y", 0.01, 0.46, "FAILED")])
    assert runs[0].config == {"lr": 0.001, "optimizer": "adam"} and runs[0].seconds == 60.0
    assert runs[1].status == "failed" and warnings == []
