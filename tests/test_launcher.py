"""The launcher: real SQLite store + real LocalBackend; idempotent replays; the budget cap."""

from __future__ import annotations

import json
import time

import pytest
from scripted_model import ScriptedToolModel, structured

from rea.agents.brain import Brain
from rea.agents.launcher import (
    LaunchPlan,
    LaunchRequest,
    apply_plan,
    launch,
    plan_offline,
    prompts,
)
from rea.memory import ExperimentStore
from rea.trainers.backends import LocalBackend

DATA = "synthetic:tiny?rows=2000&seed=0"
CONFIG = {"model": "lr", "epochs": 1}


@pytest.fixture
def store(tmp_path):
    s = ExperimentStore(f"sqlite:///{tmp_path}/s.db")
    s.migrate()
    yield s
    s.close()


def campaign(store: ExperimentStore, budget: float, n: int = 2) -> tuple[str, list[str]]:
    c = store.create_campaign("lr", DATA, budget, thread_id="t-1")
    ids = []
    for i in range(n):
        exp = store.create_experiment(
            c.id, "validation", {**CONFIG, "lr": 0.001 * (i + 1)}, seeds=[0]
        )
        ids.append(exp.id)
    return c.id, ids


def run_launch(store, backend, brain, campaign_id, requests, jobs_root):
    return launch(
        store,
        backend,
        brain,
        campaign_id=campaign_id,
        thread_id="t-1",
        data=DATA,
        requests=requests,
        jobs_root=jobs_root,
    )


def spawned(jobs_root) -> list[str]:
    path = jobs_root / "submissions.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def test_launch_runs_jobs_and_a_replay_changes_nothing(store, tmp_path):
    root = tmp_path / "jobs"
    cid, exps = campaign(store, budget=100)
    requests = [LaunchRequest(experiment_id=e, attempt=1, max_seconds=30) for e in exps]
    report = run_launch(store, LocalBackend(root), Brain(), cid, requests, root)
    job_ids = [f"{e}-a1" for e in exps]
    assert report.launched == job_ids and report.skipped == [] and report.policy == "offline"
    job = store.get_job(job_ids[0])
    assert job.external_id == f"local:{job_ids[0]}" and job.output_dir == str(root / job_ids[0])
    assert job.idempotency_key == f"t-1:{exps[0]}:1" and job.max_seconds == 30
    assert store.budget_status(cid).reserved_seconds == 60
    spec = json.loads((root / job_ids[0] / "submitted.json").read_text())["spec"]
    assert spec["max_seconds"] == 28.5 and spec["config"]["lr"] == 0.001 and spec["seeds"] == [0]

    backend = LocalBackend(root)
    deadline = time.monotonic() + 90
    while not all(backend.final_event(j) for j in job_ids) and time.monotonic() < deadline:
        backend.poll()
        time.sleep(0.2)
    assert [backend.final_event(j).kind for j in job_ids] == ["succeeded", "succeeded"]

    # A crash replay (new backend object, same requests): nothing new anywhere.
    entries = len(store.ledger_entries(cid))
    again = run_launch(store, LocalBackend(root), Brain(), cid, requests, root)
    LocalBackend(root).poll()
    assert again.launched == job_ids
    assert spawned(root) == job_ids
    assert len(store.list_jobs(cid)) == 2 and len(store.ledger_entries(cid)) == entries


def test_a_job_the_budget_cannot_pay_is_cancelled_and_never_submitted(store, tmp_path):
    root = tmp_path / "jobs"
    cid, exps = campaign(store, budget=50)
    requests = [LaunchRequest(experiment_id=e, attempt=1, max_seconds=30) for e in exps]
    report = run_launch(store, LocalBackend(root), Brain(), cid, requests, root)
    assert report.launched == [f"{exps[0]}-a1"]
    assert report.skipped == [{"experiment_id": exps[1], "attempt": 1, "reason": "budget"}]
    refused = store.get_job(f"{exps[1]}-a1")
    assert refused.state == "cancelled" and refused.failure_message.startswith("budget: ")
    assert store.reservation(refused.job_id) is None
    assert not (root / refused.job_id).exists()
    # Replayed: still skipped for the budget, still one reservation.
    again = run_launch(store, LocalBackend(root), Brain(), cid, requests, root)
    assert again.skipped == report.skipped and len(store.ledger_entries(cid)) == 1


def test_a_finished_job_is_skipped(store, tmp_path):
    root = tmp_path / "jobs"
    cid, exps = campaign(store, budget=100, n=1)
    requests = [LaunchRequest(experiment_id=exps[0], attempt=1, max_seconds=30)]
    run_launch(store, LocalBackend(root), Brain(), cid, requests, root)
    store.transition_job(f"{exps[0]}-a1", "running")
    store.transition_job(f"{exps[0]}-a1", "succeeded")
    report = run_launch(store, LocalBackend(root), Brain(), cid, requests, root)
    assert report.launched == []
    assert report.skipped == [
        {"experiment_id": exps[0], "attempt": 1, "reason": "already finished"}
    ]


def test_the_llm_may_reorder_and_lower_budgets_and_a_replay_does_not_ask_again(store, tmp_path):
    root = tmp_path / "jobs"
    cid, exps = campaign(store, budget=100)
    requests = [LaunchRequest(experiment_id=e, attempt=1, max_seconds=30) for e in exps]
    plan = {
        "items": [
            {"experiment_id": exps[1], "attempt": 1, "max_seconds": 20},
            {"experiment_id": exps[0], "attempt": 1, "max_seconds": 30},
        ],
        "rationale": "the second one unblocks more",
    }
    model = ScriptedToolModel(["no tools needed", structured(LaunchPlan, plan)])
    brain = Brain(model=model, model_name="scripted", structured_method="function_calling")
    report = run_launch(store, LocalBackend(root), brain, cid, requests, root)
    assert report.policy == "llm" and report.launched == [f"{exps[1]}-a1", f"{exps[0]}-a1"]
    assert store.get_job(f"{exps[1]}-a1").max_seconds == 20
    assert store.budget_status(cid).reserved_seconds == 50
    calls = len(model.seen)
    run_launch(store, LocalBackend(root), brain, cid, requests, root)
    assert len(model.seen) == calls and brain.fallbacks == []


def test_an_llm_plan_that_raises_a_budget_falls_back_to_the_requested_order(store, tmp_path):
    root = tmp_path / "jobs"
    cid, exps = campaign(store, budget=100)
    requests = [LaunchRequest(experiment_id=e, attempt=1, max_seconds=30) for e in exps]
    greedy = {"items": [{"experiment_id": e, "attempt": 1, "max_seconds": 45} for e in exps]}
    bad = structured(LaunchPlan, greedy)
    model = ScriptedToolModel(["ok", bad, bad, bad])
    brain = Brain(model=model, model_name="scripted", structured_method="function_calling")
    report = run_launch(store, LocalBackend(root), brain, cid, requests, root)
    assert report.policy == "offline" and report.launched == [f"{e}-a1" for e in exps]
    assert store.budget_status(cid).reserved_seconds == 60
    assert "may only be lowered" in brain.fallbacks[0]


def test_apply_plan_rejects_dropped_repeated_and_unknown_jobs():
    reqs = [LaunchRequest(experiment_id=e, max_seconds=10) for e in ("e-1", "e-2")]
    assert apply_plan(reqs, plan_offline(reqs)) == reqs
    one = LaunchPlan(items=plan_offline(reqs).items[:1] * 2)
    with pytest.raises(ValueError, match=r"appears twice.*missing requested jobs"):
        apply_plan(reqs, one)
    other = LaunchPlan(items=[{"experiment_id": "e-9", "attempt": 1, "max_seconds": 5}])
    with pytest.raises(ValueError, match="was not requested"):
        apply_plan(reqs, other)


def test_prompts_format():
    assert "LOWER" in prompts.SYSTEM
    assert "c-1" in prompts.USER.format(campaign_id="c-1", data=DATA, requests="- {}")


def test_ledger_tools_show_the_budget_and_the_job_history(store, tmp_path):
    from rea.tools.jobs import make_ledger_tools

    root = tmp_path / "jobs"
    cid, exps = campaign(store, budget=100, n=1)
    requests = [LaunchRequest(experiment_id=exps[0], attempt=1, max_seconds=30)]
    run_launch(store, LocalBackend(root), Brain(), cid, requests, root)
    job_id = f"{exps[0]}-a1"
    store.transition_job(job_id, "running")
    store.transition_job(job_id, "succeeded")
    store.record_result(job_id, {"val_ne": 0.9}, trainer_seconds=4.5)
    tools = {t.name: t for t in make_ledger_tools(store, cid)}
    assert tools["budget_status"].invoke({})["remaining_seconds"] == 70
    history = tools["job_history"].invoke({})
    assert history == [
        {
            "job_id": job_id,
            "experiment_id": exps[0],
            "attempt": 1,
            "state": "succeeded",
            "max_seconds": 30.0,
            "trainer_seconds": 4.5,
        }
    ]


def test_the_callers_lookup_of_existing_jobs_is_not_asked_again(store, tmp_path, monkeypatch):
    root = tmp_path / "jobs"
    cid, exps = campaign(store, budget=100)
    requests = [LaunchRequest(experiment_id=e, attempt=1, max_seconds=30) for e in exps]
    asked: list[list[str]] = []
    real = store.existing_job_ids
    monkeypatch.setattr(store, "existing_job_ids", lambda ids: asked.append(ids) or real(ids))
    backend = LocalBackend(root, max_parallel=1)
    monkeypatch.setattr(backend, "poll", lambda: None)  # nothing starts: submitted is enough
    report = launch(
        store,
        backend,
        Brain(),
        campaign_id=cid,
        thread_id="t",
        data="synthetic:tiny",
        requests=requests,
        jobs_root=root,
        existing=set(),
    )
    assert report.launched == [f"{e}-a1" for e in exps] and asked == []
