"""Pruning inside a whole offline campaign: real jobs in subprocesses, SQLite store and
checkpointer. One-seed exploitation trials carry per-epoch bars once the campaign has runs to
set them from; a trial behind its bar stops early, is stored as the success it is, and is never
relaunched; confirmations (every seed) are never pruned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rea.app.run_cli import yes_approver
from rea.app.settings import Settings
from rea.graph.builder import build_graph
from rea.graph.checkpoint import open_checkpointer
from rea.graph.context import Services
from rea.graph.runner import CampaignRunner
from rea.memory import ExperimentStore
from rea.tools.journal import load_runs
from rea.trainers.backends import LocalBackend

pytestmark = pytest.mark.slow

DATA = "synthetic:tiny?rows=3000&seed=1"
BASELINE = {"model": "dcn_v2", "epochs": 4, "embed_dim": 4, "batch_size": 256}
BUDGET = 45.0


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    settings.home.mkdir(parents=True, exist_ok=True)
    store = ExperimentStore(settings.resolved_database_url)
    store.migrate()
    svc = Services(
        store=store,
        # two slots: the rolling exploitation fills a freed one at once (checked below)
        backend=LocalBackend(settings.jobs_dir, max_parallel=2),
        jobs_root=settings.jobs_dir,
        reports_root=settings.home / "reports",
        # bars from the 4th run on, at a low quantile: this short campaign surely has trials
        # behind them
        prune_quantile=0.2,
        prune_min_runs=3,
    )
    with open_checkpointer(settings.resolved_checkpoint_url) as saver:
        runner = CampaignRunner(build_graph(saver), svc)
        cid = runner.start("dcn_v2", DATA, BUDGET, baseline=BASELINE)
        status = runner.drive(cid, yes_approver, poll_s=0.1)
    assert status == "completed"
    return cid, store, settings.home


def _spec(job) -> dict:
    return json.loads((Path(job.output_dir) / "spec.json").read_text())


def test_trials_carry_bars_once_there_are_runs_to_set_them(campaign):
    cid, store, _ = campaign
    jobs = [
        j
        for j in store.list_jobs(cid)
        if store.get_experiment(j.experiment_id).phase == "exploitation"
    ]
    trials = [j for j in jobs if "-xconfirm-" not in j.experiment_id]
    with_bars = [j for j in trials if _spec(j).get("prune")]
    assert with_bars, "no exploitation trial was given pruning bars"
    first_round = [j for j in trials if j.experiment_id.startswith(f"{cid}-x1-")]
    # round 1 comes after the baseline alone: too few runs for bars
    assert first_round and not any(_spec(j).get("prune") for j in first_round)
    for job in with_bars:
        spec = _spec(job)
        bars = spec["prune"]["val_ne_above"]
        assert len(bars) == spec["config"]["epochs"] - 1  # none on the last epoch
        assert all(0 < b < 2 for b in bars)
    assert not any(_spec(j).get("prune") for j in jobs if "-xconfirm-" in j.experiment_id)


def test_a_pruned_trial_is_a_stored_success_and_never_relaunched(campaign):
    cid, store, home = campaign
    pruned = [
        r for r in load_runs(store, cid) if any(s.pruned_at_epoch is not None for s in r.seeds)
    ]
    assert pruned, "no trial was pruned"
    jobs = store.list_jobs(cid)
    for run in pruned:
        assert run.phase == "exploitation" and len(run.seeds) == 1
        (seed,) = run.seeds
        assert len(seed.curve) == seed.pruned_at_epoch + 1 < run.config["epochs"]
        if run.config["calibration"] == "none":  # (platt recalibrates the best epoch's logits)
            assert seed.metrics["val_ne"] == pytest.approx(min(seed.curve))
        attempts = [j for j in jobs if j.experiment_id == run.experiment_id]
        assert [(j.attempt, j.state) for j in attempts] == [(1, "succeeded")]
    (report,) = (home / "reports").rglob("*.md")
    text = report.read_text()
    assert f"Pruned: {len(pruned)} exploitation trials stopped early" in text
    # Jobs at once: the exploitation row's wall time is its first job's start to its last end.
    spans = [
        (j.started_at.timestamp(), j.finished_at.timestamp())
        for j in jobs
        if store.get_experiment(j.experiment_id).phase == "exploitation"
    ]
    wall = max(b for _, b in spans) - min(a for a, _ in spans)
    assert f"| exploitation | {wall:.1f} | " in text
    status = store.budget_status(cid)
    assert 0 < status.charged_seconds <= BUDGET
    assert status.reserved_seconds == pytest.approx(0.0, abs=1e-6)


def test_exploitation_fills_a_freed_slot_without_waiting_for_its_round(campaign):
    """Rolling exploitation: a round's next trial starts when a slot frees, not when the whole
    round has finished, so some trial of round k+1 starts before round k's last one ends; and
    no trial is proposed twice."""
    cid, store, _ = campaign
    trials: dict[int, list] = {}
    for job in store.list_jobs(cid):
        rnd, _, place = job.experiment_id.removeprefix(f"{cid}-x").partition("-")
        if rnd.isdigit() and job.started_at and job.finished_at:
            trials.setdefault(int(rnd), []).append((job.started_at, job.finished_at, place))
    assert len(trials) >= 3, trials
    overlaps = [
        k
        for k in trials
        if k + 1 in trials and min(s for s, _, _ in trials[k + 1]) < max(f for _, f, _ in trials[k])
    ]
    assert overlaps, trials
    for rnd, rows in trials.items():  # two places a round (Services.exploit_trials_per_round)
        assert {p for _, _, p in rows} <= {"0", "1"}, (rnd, rows)
    configs = [
        json.dumps(e.config, sort_keys=True)
        for e in store.list_experiments(cid, phase="exploitation")
        if "-xconfirm-" not in e.id
    ]
    assert len(configs) == len(set(configs))  # no trial proposed twice
