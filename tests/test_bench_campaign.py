"""`rea bench campaign`: the pure parts (curves, budget-to-target, paired CI, search space, repeat
data) and one real, tiny run of the agent and TPE arms through the CLI (real jobs, a real
campaign; the random arm is the TPE arm's code with another Optuna sampler)."""

from __future__ import annotations

import json
import math

import optuna
import pytest
from typer.testing import CliRunner

from rea.agents.planner.pruning import MIN_RUNS
from rea.app import bench_stats as stats
from rea.app.bench_campaign import (
    ArmRun,
    BenchSpec,
    _targets,
    check_spec,
    rea_home,
    repeat_data,
    retrain_picks,
)
from rea.app.bench_search import SearchArm, Trial
from rea.app.cli import app
from rea.memory import ExperimentStore
from rea.tools.search_space import config_from, params_of, search_space
from rea.tools.trainer import family_knobs
from rea.trainers.config import MODEL_FAMILIES, config_delta, default_config, parse_config
from rea.trainers.errors import ConfigError, DataError

TINY = "synthetic:tiny?rows=1000"
SMALL = {"embed_dim": 4, "mlp_dims": [16], "cross_layers": 1, "epochs": 2}


# --- curves, budget-to-target, paired CI ------------------------------------------------------
def test_best_so_far_keeps_improvements_within_the_budget():
    points = [(2.0, 0.9), (3.0, None), (5.0, 0.95), (6.0, 0.85), (8.0, math.nan), (11.0, 0.5)]
    assert stats.best_so_far(points, budget=10.0) == [(2.0, 0.9), (6.0, 0.85)]


def test_budget_to_target_is_the_first_budget_at_or_below_the_target():
    curve = [(2.0, 0.9), (6.0, 0.85), (9.0, 0.80)]
    assert stats.budget_to_target(curve, 0.85) == 6.0  # reaching it exactly counts
    assert stats.budget_to_target(curve, 0.86) == 6.0
    assert stats.budget_to_target(curve, 0.95) == 2.0
    assert stats.budget_to_target(curve, 0.79) is None
    assert stats.budget_to_target(curve, None) is None


def test_paired_ci_is_a_t_interval_over_the_pairs():
    out = stats.paired([1.0, 2.0, 3.0, None])  # sd 1, n 3, t95(2) = 4.303
    half = 4.303 / math.sqrt(3)
    assert out["n"] == 3 and out["mean_diff"] == pytest.approx(2.0)
    assert out["ci95"] == pytest.approx([2.0 - half, 2.0 + half], abs=1e-9)
    assert stats.paired([1.5]) == {"mean_diff": 1.5, "ci95": None, "n": 1}
    assert stats.gain_pct(0.8, 0.76) == pytest.approx(5.0)


# --- the search space ------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODEL_FAMILIES)
def test_space_is_every_family_knob_and_holds_the_defaults(model):
    space = search_space(model)
    assert [k.name for k in space] == family_knobs(model)
    base = default_config(model)
    params, _ = params_of(base.model_dump(mode="json"), space)
    again = parse_config(config_from(optuna.trial.FixedTrial(params), space, base))
    off = {k: 1e-8 for k in ("weight_decay", "emb_l2") if k in params}  # 0 = the log floor
    assert config_delta(base, again) == off


def test_space_ranges_come_from_the_schema_unless_narrowed():
    knobs = {k.name: k for k in search_space("dcn_v2")}
    assert (knobs["dropout"].low, knobs["dropout"].high) == (0.0, 0.9)  # schema ge/le
    assert (knobs["cross_layers"].low, knobs["cross_layers"].high) == (0, 10)
    assert knobs["weight_decay"].log and knobs["weight_decay"].high == 1.0
    assert knobs["epochs"].high == 20 and "200" in knobs["epochs"].describe()["narrowed"]
    assert knobs["cross_rank"].kind == "nullable" and knobs["mlp_dims"].kind == "widths"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):  # every sampled dcn_v2 config is a valid trainer config
        parse_config(config_from(study.ask(), list(knobs.values()), default_config("dcn_v2")))


# --- repeats and input checks -----------------------------------------------------------------
def test_repeat_data_varies_the_synthetic_seed_or_the_split_seed(tmp_path):
    assert repeat_data("synthetic:tiny?rows=300", 2) == "synthetic:tiny?rows=300&seed=2"
    assert repeat_data("synthetic:tiny?seed=5&rows=300", 1) == "synthetic:tiny?rows=300&seed=6"
    one = tmp_path / "a.libfm"
    one.write_text("1 0:1 5:1\n0 1:1 6:1\n")
    assert repeat_data(f"libfm:{one}", 3) == f"libfm:{one}?split_seed=3"
    assert repeat_data(f"libfm:{one}?split=time", 3) == f"libfm:{one}?split=time"
    three = f"libfm:{one},{one},{one}"
    assert repeat_data(three, 1) == three


def test_bad_specs_fail_with_one_clear_line():
    def spec(**kw):
        return BenchSpec(**{"model": "dcn_v2", "data": TINY, "budget": 10.0, **kw})

    with pytest.raises(ConfigError, match="unknown arm"):
        check_spec(spec(arms=("agent", "xgboost")))
    with pytest.raises(ConfigError, match="needs --transfer-from"):
        check_spec(spec(arms=("agent-transfer",)))
    with pytest.raises(ConfigError, match="budget must be > 0"):
        check_spec(spec(budget=0.0))
    with pytest.raises(ConfigError, match="'fm' config but --model is 'dcn_v2'"):
        check_spec(spec(baseline={"model": "fm"}))
    with pytest.raises(DataError, match="nope"):
        check_spec(spec(data="synthetic:nope"))
    added = check_spec(spec(arms=("agent", "tpe"), transfer_from="synthetic:tiny?seed=9"))
    assert added.arms == ("agent", "tpe", "agent-transfer")


def test_cli_reports_a_bad_arm_without_a_traceback():
    args = ["bench", "campaign", "--model", "dcn_v2", "--data", TINY, "--budget", "5"]
    result = CliRunner().invoke(app, [*args, "--arms", "agent,xgboost"])
    assert result.exit_code == 2
    assert "unknown arm" in result.output and "Traceback" not in result.output


# --- one real run -----------------------------------------------------------------------------
BUDGET = 24.0


def _bench_cli(out, budget, *args):
    """`rea bench campaign --json` on TINY from the SMALL baseline, offline: (its JSON, its --out)."""
    (out / "base.json").write_text(json.dumps({"model": "dcn_v2", **SMALL}))
    cli = ["bench", "campaign", "--model", "dcn_v2", "--data", TINY, "--budget", str(budget)]
    cli += ["--baseline", str(out / "base.json"), "--out", str(out / "run"), "--json", *args]
    result = CliRunner().invoke(app, cli, env={"REA_BRAIN": "offline"})
    assert result.exit_code == 0, result.output[-3000:]
    return json.loads(result.stdout), out / "run"


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return _bench_cli(out, BUDGET, "--arms", "agent,tpe", "--eval-seeds", "7,8")


@pytest.mark.slow
def test_no_arm_spends_more_than_its_budget(bench):
    result, _ = bench
    for arm, row in result["repeats_detail"][0]["arms"].items():
        charged = [job["charged"] for job in row["jobs"]]
        assert row["trials"] == len(row["jobs"]) >= 1, arm
        assert sum(charged) == pytest.approx(row["used_seconds"], abs=0.01)
        assert row["used_seconds"] <= BUDGET, arm
        at = [job["at_seconds"] for job in row["jobs"]]  # cumulative, in the order paid
        assert at == pytest.approx(list(_cumsum(charged)), abs=0.01)
    agent = result["repeats_detail"][0]["arms"]["agent"]
    assert agent["used_seconds"] == pytest.approx(agent["extra"]["budget_used_seconds"], abs=0.01)
    assert agent["extra"]["brain"] == "offline"
    assert agent["extra"]["wide_stream"] == "shared" and agent["extra"]["rolling_exploitation"]


@pytest.mark.slow
def test_json_has_each_arms_gain_trials_and_budget_to_target(bench):
    result, _ = bench
    assert set(result["arms"]) == {"agent", "tpe"}
    for row in result["arms"].values():
        for key in ("ne_gain_pct", "best_val_ne", "test_auc", "trials", "budget_to_target"):
            assert set(row[key]) >= {"mean", "per_repeat"} and len(row[key]["per_repeat"]) == 1
    comparison = result["comparisons"]["agent_vs_tpe"]
    assert comparison["test_ne_per_seed_pct"]["n"] == 2  # two eval seeds, one repeat
    assert set(result["targets"]["agent"]) == {"gain_ratio", "gain_target_met", "half_budget_met"}
    assert result["command"].startswith("rea bench campaign")


@pytest.mark.slow
def test_budget_to_target_is_where_each_curve_reaches_tpes_final(bench):
    result, _ = bench
    rep = result["repeats_detail"][0]
    target = rep["target_val_ne"]
    tpe = rep["arms"]["tpe"]
    assert target == tpe["best_val_ne"] == tpe["curve"][-1][1]
    assert tpe["budget_to_target"] == tpe["pick"]["found_at_seconds"] == tpe["curve"][-1][0]
    for row in rep["arms"].values():
        reached = [x for x, best in row["curve"] if best <= target]
        assert row["budget_to_target"] == (reached[0] if reached else None)


@pytest.mark.slow
def test_writes_the_curve_png_and_bench_json(bench):
    result, out = bench
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "bench.json").read_text())["arms"] == result["arms"]


# --- memory-transfer mode: one real run of the agent-transfer arm ------------------------------
RELATED = "synthetic:tiny?rows=1000&seed=9"
# More than BUDGET: the first campaign must reach its validation runs however loaded the machine
# is (the budget is measured seconds), or there is nothing to transfer.
TRANSFER_BUDGET = 40.0


@pytest.fixture(scope="module")
def transfer(tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer")
    args = ["--arms", "agent-transfer", "--transfer-from", RELATED, "--eval-seeds", "7"]
    return _bench_cli(out, TRANSFER_BUDGET, *args)


@pytest.mark.slow
def test_transfer_arm_is_charged_only_for_the_measured_campaign(transfer):
    result, _ = transfer
    row = result["repeats_detail"][0]["arms"]["agent-transfer"]
    pre, measured = row["extra"]["transfer"], row["extra"]["campaign_id"]
    assert pre["campaign_id"] != measured and pre["data"] == RELATED
    assert pre["budget_used_seconds"] > 0 and row["used_seconds"] <= TRANSFER_BUDGET
    # every charged job is one of the measured campaign's experiments, none of the first's
    assert row["jobs"] and all(f" {measured}-" in job["label"] for job in row["jobs"])
    assert row["used_seconds"] == pytest.approx(row["extra"]["budget_used_seconds"], abs=0.01)


@pytest.mark.slow
def test_transfer_arm_proposes_what_the_first_campaign_learned(transfer):
    """The measured campaign's insight agent reads the first campaign's insights from the same
    home (SQL rows + Chroma): its insight hypotheses cite them and carry their changes."""
    result, out = transfer
    row = result["repeats_detail"][0]["arms"]["agent-transfer"]
    pre, measured = row["extra"]["transfer"]["campaign_id"], row["extra"]["campaign_id"]
    assert row["extra"]["transfer"]["validated"], "the first campaign learned nothing to transfer"
    with rea_home(out / "repeat-0" / "agent-transfer") as settings:  # the arm's own store
        store = ExperimentStore(settings.resolved_database_url)
    try:
        learned = {i.id: i for i in store.list_insights(campaign_id=pre)}
        hyps = store.list_hypotheses(measured, source="insight")
        assert learned and hyps, (row["extra"], learned, hyps)
        for hyp in hyps:
            cited = [learned[i] for i in hyp.evidence["insight_ids"]]  # KeyError: not the first's
            assert cited and all(i.outcome == "helped" for i in cited)
            assert all(i.config_delta == hyp.config_delta for i in cited)
    finally:
        store.close()


def _cumsum(values):
    total = 0.0
    for v in values:
        total += v
        yield total


# --- tpe-median: TPE with the agent's median-pruning bars -------------------------------------
@pytest.mark.slow
def test_tpe_median_trials_carry_bars_from_the_arms_own_runs(tmp_path):
    search = SearchArm(
        optuna.samplers.TPESampler(seed=0, constant_liar=True),
        search_space("fm"),
        baseline=parse_config({"model": "fm", "epochs": 3, "embed_dim": 4}),
        data=TINY,
        budget=40.0,
        jobs_root=tmp_path / "jobs",
        seed=0,
        parallel=2,
        prune_quantile=0.5,
    )
    trials = search.run()
    specs = sorted(
        (json.loads(p.read_text()) for p in (tmp_path / "jobs").glob("*/spec.json")),
        key=lambda s: int(s["job_id"].rsplit("-", 1)[1]),  # submission order
    )
    assert len(specs) == len(trials) > MIN_RUNS + 2
    assert specs[0]["job_id"].startswith("baseline") and specs[0]["prune"] is None
    # No bars before MIN_RUNS runs had finished (so none on the first MIN_RUNS submitted).
    assert all(s["prune"] is None for s in specs[:MIN_RUNS])
    barred = [s for s in specs if s["prune"]]
    assert barred, "no trial got bars"
    for spec in barred:
        assert len(spec["prune"]["val_ne_above"]) == spec["config"]["epochs"] - 1
    results = [json.loads(p.read_text()) for p in (tmp_path / "jobs").glob("*/result.json")]
    stopped = [
        r
        for r in results
        if r["kind"] == "succeeded" and r["result"]["per_seed"][0]["pruned_at_epoch"] is not None
    ]
    assert search.pruned == len(stopped)
    assert sum(t.charged for t in trials) <= 40.0


# --- the final evaluation: a pick that fails to retrain ------------------------------------------
def _trial(label: str, config: dict, val_ne: float, at: float) -> Trial:
    return Trial(label, config, charged=1.0, at_seconds=at, metrics={"val_ne": val_ne})


def test_a_pick_that_fails_to_retrain_gives_way_to_the_arms_next_best(tmp_path):
    base = {"model": "dcn_v2", **SMALL}
    # SGD at lr 100 on batches of 64 blows the loss up within a few steps: a real failure.
    blowup = {**base, "lr": 100.0, "optimizer": "sgd", "batch_size": 64}
    steady = {**base, "lr": 3e-3}
    runs = {
        "tpe": ArmRun(
            "tpe",
            budget=10.0,
            trials=[
                _trial("baseline-0", base, 0.99, 1.0),
                _trial("trial-1", blowup, 0.50, 2.0),  # the lucky one-seed minimum
                _trial("trial-2", {**blowup, "seed": 5}, 0.51, 3.0),  # same config, other seed
                _trial("trial-3", steady, 0.90, 4.0),
                _trial("trial-4", {**base, "lr": 0.5}, 0.40, 11.0),  # past the budget
            ],
        ),
        "agent": ArmRun("agent", budget=10.0, trials=[_trial("v-1", steady, 0.80, 2.0)]),
    }
    assert [t.label for t in runs["tpe"].ranked()] == ["trial-1", "trial-3", "baseline-0"]
    lines: list[str] = []
    out = retrain_picks(runs, base, 1.0, TINY, (7,), tmp_path, 2, lines.append)

    assert out.picks["tpe"].label == "trial-3"
    assert out.evals["tpe"]["test_ne"] == pytest.approx(out.evals["agent"]["test_ne"])  # = steady
    [rejected] = out.rejected["tpe"]
    assert rejected["label"] == "trial-1" and rejected["val_ne"] == 0.50
    assert rejected["failure"].split(":")[0] in {"nan_loss", "diverged"}
    assert out.rejected["agent"] == [] and out.picks["agent"].label == "v-1"
    assert math.isfinite(out.evals["baseline"]["test_ne"])
    assert len(lines) == 1 and "trial-1 failed to retrain" in lines[0]
    # The second round ran in its own home, on the repeat's shared data cache.
    assert (tmp_path / "eval-retry-1" / "cache").resolve() == (tmp_path / "cache").resolve()


def test_gain_target_is_undecided_while_a_repeat_lacks_a_test_gain():
    def arm(gains, reached):
        return {
            "ne_gain_pct": stats.summary(gains),
            "budget_to_target": stats.summary(reached),
        }

    spec = BenchSpec("dcn_v2", TINY, 100.0, arms=("agent", "tpe"), repeats=2)
    full = _targets(spec, {"agent": arm([9.0, 9.0], [40, 30]), "tpe": arm([4.0, 6.0], [90, 80])})
    assert full["agent"] == {"gain_ratio": 1.8, "gain_target_met": True, "half_budget_met": True}
    # TPE's pick failed to retrain in repeat 1: its mean (4.0) is over one repeat only.
    part = _targets(spec, {"agent": arm([9.0, 9.0], [40, 30]), "tpe": arm([4.0, None], [90, 80])})
    assert stats.summary([4.0, None]) == {"mean": 4.0, "n": 1, "per_repeat": [4.0, None]}
    assert part["agent"]["gain_target_met"] is None
    assert part["agent"]["gain_ratio"] == pytest.approx(2.25)
