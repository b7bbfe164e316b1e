"""Injected failures of every kind: the debugger fixes each one (or escalates a data error,
which `--yes` drops), and the campaign still finishes inside its budget."""

from __future__ import annotations

import json

import pytest
from test_campaign_acceptance import DATA_1, WEAK, rea

from rea.graph.nodes.debugging import TRIAL_FAILURES
from rea.memory import ExperimentStore

pytestmark = pytest.mark.slow

# Enough for the six validation experiments the faults name even on a slow machine (the planner
# fits them into 45 % of the budget at their measured cost; at 60 s a 2-core machine whose
# baseline took 4 trainer-s fit five, and validation:5 never ran).
BUDGET = 90.0

FAULTS = {
    "baseline:0:crashed": "retry",
    "validation:0:oom": "fix",
    "validation:1:nan_loss": "fix",
    "validation:2:diverged": "fix",
    "validation:3:config_error": "retry",
    "validation:4:data_error": "escalate",
    "validation:5:timeout": "retry",
    "exploitation:0:killed": "retry",
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    baseline = home / "baseline.json"
    baseline.write_text(json.dumps(WEAK))
    args = ["run", "--model", "dcn_v2", "--data", DATA_1, "--budget", str(BUDGET)]
    args += ["--baseline", str(baseline), "--yes", "--json"]
    for fault in FAULTS:
        args += ["--inject-fault", fault]
    proc = rea(home, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    return summary, ExperimentStore(f"sqlite:///{home}/rea.sqlite")


def _failed(store, cid):
    """The campaign's failed jobs as (the drill's, dropped trials). A one-seed exploitation
    trial that fails on its own config is a search result, dropped and not retried (the
    debugger's TRIAL_FAILURES); a wide trial can do so without an injected fault. The drill's only
    injected exploitation fault is "killed", which is retried, so a dropped trial is never its."""
    drill, dropped = [], []
    for job in store.list_jobs(cid, states=("failed",)):
        trial = (
            job.failure_kind in TRIAL_FAILURES
            and "-xconfirm-" not in job.experiment_id
            and store.get_experiment(job.experiment_id).phase == "exploitation"
        )
        (dropped if trial else drill).append(job)
    return drill, dropped


def test_campaign_finishes_within_budget(outcome):
    summary, store = outcome
    assert summary["status"] == "completed"
    assert summary["budget_used_seconds"] <= BUDGET
    _, dropped = _failed(store, summary["campaign_id"])
    assert summary["failures"] == len(FAULTS) + len(dropped)


def test_every_failure_kind_was_seen(outcome):
    summary, store = outcome
    drill, _ = _failed(store, summary["campaign_id"])
    kinds = sorted(j.failure_kind for j in drill)
    assert kinds == sorted(f.split(":")[2] for f in FAULTS)


def test_fixable_failures_were_relaunched_and_succeeded(outcome):
    summary, store = outcome
    cid = summary["campaign_id"]
    jobs = store.list_jobs(cid)
    drill, dropped = _failed(store, cid)
    for job in dropped:  # never relaunched
        assert not [j for j in jobs if j.experiment_id == job.experiment_id and j.attempt > 1]
    for job in (j for j in drill if j.failure_kind != "data_error"):
        retry = [
            j for j in jobs if j.experiment_id == job.experiment_id and j.attempt == job.attempt + 1
        ]
        assert retry and retry[0].state == "succeeded", (job.job_id, job.failure_kind)


def test_fixes_follow_the_runbook(outcome):
    summary, store = outcome
    cid = summary["campaign_id"]
    by_kind = {j.failure_kind: j for j in _failed(store, cid)[0]}
    oom_exp = store.get_experiment(by_kind["oom"].experiment_id)
    planned = store.get_hypothesis(oom_exp.hypothesis_id).config_delta  # (baseline's batch: 2048)
    assert oom_exp.config["batch_size"] < planned.get("batch_size", 2048)  # the fix halved it
    nan = store.get_experiment(by_kind["nan_loss"].experiment_id).config
    assert nan["grad_clip_norm"] is not None
    diverged = store.get_experiment(by_kind["diverged"].experiment_id).config
    assert diverged["lr_schedule"] == "warmup_cosine" or diverged["warmup_steps"] > 0


def test_data_error_was_escalated_and_dropped(outcome):
    summary, store = outcome
    cid = summary["campaign_id"]
    escalations = store.list_approvals(campaign_id=cid)
    escalations = [a for a in escalations if a.kind == "escalation"]
    assert len(escalations) == 1 and escalations[0].status == "rejected"
    exp = store.get_experiment(escalations[0].request["experiment_id"])
    assert store.get_hypothesis(exp.hypothesis_id).status == "dropped"
