"""ExperimentStore round trips, unique keys and the job state machine, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from test_store_db import BACKENDS, open_store, store_databases  # noqa: F401

from rea.memory.errors import DuplicateKey, IllegalTransition, InvalidValue, NotFound
from rea.memory.tables import Job, JobEventRow
from rea.trainers.errors import ConfigError

BASELINE = {"model": "dcn_v2", "lr": 0.002, "mlp_dims": [64, 32]}


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    yield from open_store(request, tmp_path)


def _campaign_and_experiment(store):
    campaign = store.create_campaign("dcn_v2", "synthetic:tiny", 100, baseline_config=BASELINE)
    experiment = store.create_experiment(campaign.id, "baseline", BASELINE, seeds=[0, 1, 2])
    return campaign, experiment


def _running_job(store, key="key-1"):
    campaign, experiment = _campaign_and_experiment(store)
    job = store.create_job(experiment.id, key, 30.0, seed=1)
    store.reserve(campaign.id, job.job_id, 30.0)
    return store.transition_job(job.job_id, "running")


def test_campaign_round_trip_and_updates(store):
    created = store.create_campaign(
        "dcn_v2",
        "criteo:/data/day0",
        3600,
        baseline_config=BASELINE,
        goal="beat NE",
        thread_id="t-1",
    )
    got = store.get_campaign(created.id)
    assert (got.model, got.data, got.budget_seconds, got.goal) == (
        "dcn_v2",
        "criteo:/data/day0",
        3600,
        "beat NE",
    )
    assert got.baseline_config == BASELINE and got.status == "planning"
    assert got.created_at.tzinfo == UTC
    assert store.get_campaign_by_thread("t-1").id == created.id
    assert store.get_campaign_by_thread("nope") is None

    store.update_campaign(created.id, status="awaiting_jobs", phase="validation")
    assert [c.id for c in store.list_campaigns(status="awaiting_jobs")] == [created.id]
    assert store.list_campaigns(status="running") == []
    assert store.get_campaign(created.id).phase == "validation"
    with pytest.raises(InvalidValue, match="awaiting_approval"):
        store.update_campaign(created.id, status="sleeping")
    with pytest.raises(InvalidValue, match="updatable"):
        store.update_campaign(created.id, budget_seconds=10**6)  # only via an approved increase
    with pytest.raises(DuplicateKey):
        store.create_campaign("fm", "synthetic:tiny", 10, thread_id="t-1")
    with pytest.raises(NotFound, match="campaigns"):
        store.get_campaign("c-missing")


def test_hypothesis_round_trip(store):
    campaign, _ = _campaign_and_experiment(store)
    evidence = {"citation": {"title": "DCN V2", "year": 2021}, "insight_ids": ["i-1"]}
    made = store.create_hypothesis(
        campaign.id,
        "research",
        "Low-rank cross layers",
        config_delta={"cross_rank": 64},
        rationale="cheaper crosses generalise better",
        evidence=evidence,
        expected_effect="-0.2% NE",
        cost_estimate_seconds=120.0,
    )
    store.create_hypothesis(campaign.id, "llm", "More dropout", config_delta={"dropout": 0.2})
    got = store.get_hypothesis(made.id)
    assert (got.evidence, got.config_delta, got.cost_estimate_seconds) == (
        evidence,
        {"cross_rank": 64},
        120.0,
    )
    assert [h.id for h in store.list_hypotheses(campaign.id, source="research")] == [made.id]
    store.update_hypothesis(made.id, status="validated")
    assert [h.id for h in store.list_hypotheses(campaign.id, status="validated")] == [made.id]
    digest = store.hypothesis_digest(campaign.id)  # what each analysis round reads
    assert list(digest) == [h.id for h in store.list_hypotheses(campaign.id)]
    assert digest[made.id] == {
        "status": "validated",
        "title": "Low-rank cross layers",
        "source": "research",
        "config_delta": {"cross_rank": 64},
    }
    assert store.hypothesis_digest("c-other") == {}
    with pytest.raises(InvalidValue, match="hypothesis source"):
        store.create_hypothesis(campaign.id, "hunch", "x")
    with pytest.raises(NotFound, match="campaigns"):
        store.create_hypothesis("c-missing", "llm", "x")


def test_experiment_stores_the_full_validated_config(store):
    campaign, baseline = _campaign_and_experiment(store)
    hypothesis = store.create_hypothesis(
        campaign.id, "insight", "warmup", config_delta={"warmup_steps": 100}
    )
    made = store.create_experiment(
        campaign.id,
        "validation",
        {**BASELINE, "warmup_steps": 100},
        config_delta={"warmup_steps": 100},
        seeds=[0, 1],
        hypothesis_id=hypothesis.id,
    )
    got = store.get_experiment(made.id)
    assert got.config["warmup_steps"] == 100 and got.config["embed_dim"] == 16  # defaults filled in
    assert (got.seeds, got.hypothesis_id, got.phase) == ([0, 1], hypothesis.id, "validation")
    assert [e.id for e in store.list_experiments(campaign.id)] == [baseline.id, made.id]
    assert [e.id for e in store.list_experiments(campaign.id, phase="validation")] == [made.id]
    with pytest.raises(ConfigError, match="lr"):
        store.create_experiment(campaign.id, "validation", {"model": "fm", "lr": -1})
    with pytest.raises(InvalidValue, match="phase"):
        store.create_experiment(campaign.id, "warmup", BASELINE)


def test_experiment_config_can_be_replaced_by_a_fix(store):
    _, baseline = _campaign_and_experiment(store)
    fixed = store.update_experiment(
        baseline.id, config={**BASELINE, "batch_size": 512}, config_delta={"batch_size": 512}
    )
    got = store.get_experiment(baseline.id)
    assert got.config["batch_size"] == fixed.config["batch_size"] == 512
    assert got.config_delta == {"batch_size": 512}
    with pytest.raises(ConfigError, match="batch_size"):
        store.update_experiment(baseline.id, config={**BASELINE, "batch_size": 0}, config_delta={})


def test_job_creation_is_idempotent_on_its_key(store):
    campaign, experiment = _campaign_and_experiment(store)
    first = store.create_job(experiment.id, "thread-1/e-1/1", 30.0, job_id="job-a", backend="ray")
    again = store.create_job(experiment.id, "thread-1/e-1/1", 30.0, job_id="job-b")
    assert again.job_id == "job-a" and again.backend == "ray"
    assert [j.job_id for j in store.list_jobs(campaign.id)] == ["job-a"]
    assert first.state == "queued" and first.campaign_id == campaign.id

    other = store.create_experiment(campaign.id, "validation", BASELINE)
    with pytest.raises(DuplicateKey, match="thread-1/e-1/1"):
        store.create_job(other.id, "thread-1/e-1/1", 30.0)
    with pytest.raises(DuplicateKey):
        store.create_job(experiment.id, "thread-1/e-1/2", 30.0, job_id="job-a")
    # The database itself holds the key unique, whatever the caller does.
    clone = Job(**{**first.model_dump(), "job_id": "job-c"})
    with Session(store.engine) as session, pytest.raises(IntegrityError):
        session.add(clone)
        session.commit()


def test_job_state_machine(store):
    job = _running_job(store)
    assert job.started_at is not None and job.finished_at is None
    assert store.transition_job(job.job_id, "running").state == "running"  # a repeat is a no-op
    with pytest.raises(IllegalTransition, match="'running' to 'queued'"):
        store.transition_job(job.job_id, "queued")
    done = store.transition_job(
        job.job_id, "failed", failure_kind="oom", failure_message="CUDA OOM"
    )
    assert (done.state, done.failure_kind, done.failure_message) == ("failed", "oom", "CUDA OOM")
    assert done.finished_at >= done.started_at
    for target in ("running", "succeeded", "lost"):
        with pytest.raises(IllegalTransition, match="final"):
            store.transition_job(job.job_id, target)
    assert store.get_job(job.job_id).state == "failed"
    with pytest.raises(InvalidValue, match="job state"):
        store.transition_job(job.job_id, "paused")


def test_queued_job_can_be_cancelled_but_not_succeed_without_running(store):
    campaign, experiment = _campaign_and_experiment(store)
    job = store.create_job(experiment.id, "k", 30.0)
    with pytest.raises(IllegalTransition, match="'queued' to 'succeeded'"):
        store.transition_job(job.job_id, "succeeded")
    with pytest.raises(InvalidValue, match="failure kind"):
        store.transition_job(job.job_id, "failed", failure_kind="gremlins")
    assert store.transition_job(job.job_id, "cancelled").state == "cancelled"
    assert store.list_jobs(campaign.id, states=("queued", "running")) == []


def test_a_job_starts_only_with_a_reservation_covering_its_max_seconds(store):
    campaign, experiment = _campaign_and_experiment(store)
    job = store.create_job(experiment.id, "k", 30.0)
    with pytest.raises(IllegalTransition, match="reserve"):
        store.transition_job(job.job_id, "running")
    store.reserve(campaign.id, job.job_id, 30.0)
    store.update_job(job.job_id, external_id="raysubmit_1", output_dir="/runs/k")
    started = store.transition_job(job.job_id, "running")
    assert (started.state, started.external_id, started.output_dir) == (
        "running",
        "raysubmit_1",
        "/runs/k",
    )


def test_events_are_recorded_once_per_job_attempt_seq(store):
    job = _running_job(store)
    assert store.record_event(job.job_id, 1, 0, "started", {"at": "t0"}) is True
    assert store.record_event(job.job_id, 1, 1, "progress", {"metrics": {"val_ne": 0.9}}) is True
    assert store.record_event(job.job_id, 1, 0, "started", {"at": "changed"}) is False
    events = store.list_events(job.job_id)
    assert [(e.seq, e.kind) for e in events] == [(0, "started"), (1, "progress")]
    assert events[0].payload == {"at": "t0"}  # the repeat changed nothing
    with pytest.raises(NotFound):
        store.record_event("no-such-job", 1, 0, "started")
    dup = JobEventRow(
        job_id=job.job_id, attempt=1, seq=1, kind="progress", received_at=events[0].received_at
    )
    with Session(store.engine) as session, pytest.raises(IntegrityError):
        session.add(dup)
        session.commit()


def test_results_round_trip_and_first_write_wins(store):
    job = _running_job(store)
    epochs = [{"epoch": 1, "val_ne": 0.91}, {"epoch": 2, "val_ne": 0.89}]
    final = {"val_ne": 0.89, "val_auc": 0.74, "test_ne": 0.9}
    store.record_result(
        job.job_id, final, metrics_per_epoch=epochs, trainer_seconds=21.5, best_epoch=2
    )
    store.record_result(job.job_id, {"val_ne": 5.0})
    got = store.get_result(job.job_id)
    assert (got.final_metrics, got.metrics_per_epoch, got.trainer_seconds, got.best_epoch) == (
        final,
        epochs,
        21.5,
        2,
    )
    assert [r.job_id for r in store.list_results(job.campaign_id)] == [job.job_id]
    assert store.list_results(job.campaign_id, experiment_id="e-other") == []


def test_approvals_are_decided_once(store):
    campaign, _ = _campaign_and_experiment(store)
    plan = store.create_approval(campaign.id, "plan", {"phases": {"validation": 600}})
    store.create_approval(campaign.id, "launch", {"best": "e-1"})
    assert {a.kind for a in store.list_approvals(status="pending")} == {"plan", "launch"}
    edits = {"phases": {"validation": 400}}
    decided = store.decide_approval(plan.id, "edited", edits)
    assert (decided.status, decided.decision) == (
        "edited",
        edits,
    ) and decided.decided_at is not None
    assert store.decide_approval(plan.id, "edited", edits).decided_at == decided.decided_at
    with pytest.raises(IllegalTransition, match="already decided"):
        store.decide_approval(plan.id, "rejected")
    with pytest.raises(InvalidValue):
        store.decide_approval(plan.id, "pending")
    assert [a.kind for a in store.list_approvals(campaign_id=campaign.id, status="pending")] == [
        "launch"
    ]


def test_insights_round_trip(store):
    campaign, experiment = _campaign_and_experiment(store)
    helped = store.add_insight(
        "Warmup stabilises DCN-v2 at high LR",
        "helped",
        evidence={"ne_gain_pct": 0.4, "seeds": 3},
        campaign_id=campaign.id,
        experiment_id=experiment.id,
        model="dcn_v2",
        config_delta={"warmup_steps": 500},
        insight_id="i-warmup",
    )
    store.add_insight("Dropout hurts FM", "hurt", model="fm", campaign_id="c-from-another-db")
    assert store.get_insight("i-warmup").evidence == {"ne_gain_pct": 0.4, "seeds": 3}
    assert [i.id for i in store.get_insights(["i-nope", "i-warmup"])] == [helped.id]
    assert [i.outcome for i in store.list_insights(model="fm")] == ["hurt"]
    assert [i.id for i in store.list_insights(campaign_id=campaign.id, outcome="helped")] == [
        "i-warmup"
    ]
    with pytest.raises(DuplicateKey):
        store.add_insight("again", "neutral", insight_id="i-warmup")
    with pytest.raises(InvalidValue, match="outcome"):
        store.add_insight("x", "great")


def _final(job, kind="succeeded", seq=3, **fields):
    return {"job_id": job.job_id, "attempt": job.attempt, "seq": seq, "kind": kind, **fields}


def test_finish_job_applies_a_final_event_once_in_one_transaction(store):
    campaign, experiment = _campaign_and_experiment(store)
    job = store.create_job(experiment.id, "key-f", 30.0)
    store.reserve(campaign.id, job.job_id, 30.0)
    # Still queued (its `started` never came): it goes through running to succeeded.
    state = store.finish_job(
        _final(job), final_metrics={"val_ne": 0.9}, trainer_seconds=12.0, used_seconds=12.0
    )
    assert state == "succeeded"
    got = store.get_job(job.job_id)
    assert got.started_at is not None and got.finished_at is not None
    assert store.get_result(job.job_id).final_metrics == {"val_ne": 0.9}
    entry = store.reservation(job.job_id)
    assert (entry.charged, entry.released, entry.settled_at is not None) == (12.0, 18.0, True)
    assert [(e.seq, e.kind) for e in store.list_events(job.job_id)] == [(3, "succeeded")]
    # A repeat (and a later, different final event) changes nothing.
    again = store.finish_job(_final(job), final_metrics={"val_ne": 0.1}, used_seconds=30.0)
    assert again == "succeeded" and store.get_result(job.job_id).final_metrics == {"val_ne": 0.9}
    assert store.reservation(job.job_id).charged == 12.0
    assert store.finish_job(_final(job, "failed", seq=4), failure_kind="crashed") == "succeeded"
    assert store.get_job(job.job_id).failure_kind is None


def test_finish_job_writes_nothing_unless_all_of_it_applies(store, monkeypatch):
    from rea.memory import store_jobs

    job = _running_job(store)

    def broken(*args, **kwargs):
        raise RuntimeError("the ledger write failed")

    monkeypatch.setattr(store_jobs, "_settle_compute", broken)
    with pytest.raises(RuntimeError):
        store.finish_job(_final(job), final_metrics={"val_ne": 0.9}, used_seconds=5.0)
    assert store.get_job(job.job_id).state == "running"
    with pytest.raises(NotFound):
        store.get_result(job.job_id)
    assert store.list_events(job.job_id) == []
    monkeypatch.undo()
    failed = _final(job, "failed", failure={"kind": "oom"})
    assert store.finish_job(failed, used_seconds=5.0, failure_kind="oom") == "failed"
    assert store.get_job(job.job_id).failure_kind == "oom"
    assert store.reservation(job.job_id).charged == 5.0
    with pytest.raises(InvalidValue):
        store.finish_job(_final(job, "progress"))


def test_create_reserved_job_creates_and_reserves_once(store):
    from rea.memory.errors import BudgetExceeded

    campaign, experiment = _campaign_and_experiment(store)  # a 100 s budget
    job = store.create_reserved_job(experiment.id, "key-r", 60.0, job_id="j-r")
    assert (job.job_id, job.state, job.max_seconds) == ("j-r", "queued", 60.0)
    entry = store.reservation("j-r")
    assert (entry.reserved, entry.phase) == (60.0, "baseline")
    # A replay (a launch cut short) finds both: nothing twice.
    again = store.create_reserved_job(experiment.id, "key-r", 60.0, job_id="j-r")
    assert again.job_id == "j-r" and store.budget_status(campaign.id).reserved_seconds == 60.0
    with pytest.raises(DuplicateKey):  # the key belongs to this experiment's job
        other = store.create_experiment(campaign.id, "validation", BASELINE, seeds=[0])
        store.create_reserved_job(other.id, "key-r", 10.0, job_id="j-other")
    # Too big to pay: the job is kept (queued, unreserved) and the refusal raised.
    with pytest.raises(BudgetExceeded):
        store.create_reserved_job(experiment.id, "key-big", 50.0, job_id="j-big")
    assert store.get_job("j-big").state == "queued" and store.reservation("j-big") is None
    store.transition_job("j-big", "cancelled")
    ended = store.create_reserved_job(experiment.id, "key-big", 50.0, job_id="j-big")
    assert ended.state == "cancelled" and store.reservation("j-big") is None


def test_ensure_planned_creates_a_batch_once_in_one_transaction(store):
    campaign, _ = _campaign_and_experiment(store)
    hyp = {"hypothesis_id": "h-x1", "source": "exploit", "title": "TPE 1", "config_delta": {}}
    items = [
        (hyp, {"experiment_id": "e-x1", "phase": "exploitation", "config": BASELINE}),
        (None, {"experiment_id": "e-x2", "phase": "exploitation", "config": BASELINE}),
    ]
    made = store.ensure_planned(campaign.id, items)
    assert [e.id for e in made] == ["e-x1", "e-x2"]
    assert (made[0].hypothesis_id, made[1].hypothesis_id) == ("h-x1", None)
    assert store.get_hypothesis("h-x1").rationale == "" and made[0].config["lr"] == 0.002
    # A replay finds the rows as they were (even when asked with other fields).
    again = store.ensure_planned(campaign.id, [(hyp, {**items[0][1], "seeds": [5]})])
    assert again[0].id == "e-x1" and again[0].seeds == [0]
    # All or nothing: a bad item (an unknown hypothesis) leaves no row of the batch behind.
    bad = [
        (None, {"experiment_id": "e-x3", "phase": "exploitation", "config": BASELINE}),
        (
            None,
            {
                "experiment_id": "e-x4",
                "phase": "exploitation",
                "config": BASELINE,
                "hypothesis_id": "nope",
            },
        ),
    ]
    with pytest.raises(NotFound):
        store.ensure_planned(campaign.id, bad)
    assert "e-x3" not in {e.id for e in store.list_experiments(campaign.id)}
    with pytest.raises(ConfigError):
        store.ensure_planned(campaign.id, [(None, {**bad[0][1], "config": {"model": "nope"}})])


def test_hypothesis_statuses_are_set_together(store):
    campaign, _ = _campaign_and_experiment(store)
    a = store.create_hypothesis(campaign.id, "exploit", "a")
    b = store.create_hypothesis(campaign.id, "exploit", "b")
    store.set_hypothesis_statuses({a.id: "validated", b.id: "refuted"})
    assert (store.get_hypothesis(a.id).status, store.get_hypothesis(b.id).status) == (
        "validated",
        "refuted",
    )
    with pytest.raises(NotFound):  # all or nothing
        store.set_hypothesis_statuses({a.id: "refuted", "nope": "refuted"})
    assert store.get_hypothesis(a.id).status == "validated"
    with pytest.raises(InvalidValue):
        store.set_hypothesis_statuses({a.id: "maybe"})


def test_json_columns_read_back_what_was_written(store):
    """JSON columns are read with orjson where it reads the same as `json`: an integer beyond
    64 bits (orjson would make it a float) comes back exact, and on SQLite so does the NaN
    that `json.dumps` writes (PostgreSQL's json type refuses NaN at the write)."""
    campaign, _ = _campaign_and_experiment(store)
    evidence = {"big": 2**70, "neg": -(2**65), "small": 7, "x": 0.1, "nested": [{"k": [1.5e-7]}]}
    made = store.create_hypothesis(campaign.id, "exploit", "big ints", evidence=evidence)
    back = store.get_hypothesis(made.id).evidence
    assert back == evidence and isinstance(back["big"], int) and isinstance(back["neg"], int)
    if store.engine.dialect.name == "sqlite":
        nan = store.create_hypothesis(campaign.id, "exploit", "nan", evidence={"v": float("nan")})
        value = store.get_hypothesis(nan.id).evidence["v"]
        assert value != value  # NaN


def test_campaign_facts_are_read_once_a_thread_is_set(store):
    campaign = store.create_campaign("dcn_v2", "synthetic:tiny", 100, baseline_config=BASELINE)
    facts = store.campaign_facts(campaign.id)
    assert (facts.model, facts.data, facts.thread_id) == ("dcn_v2", "synthetic:tiny", "")
    store.update_campaign(campaign.id, thread_id="t-1")  # no thread yet: read again, not kept
    assert store.campaign_facts(campaign.id).thread_id == "t-1"
    reads = []
    real = store.get_campaign
    store.get_campaign = lambda cid: reads.append(cid) or real(cid)
    assert store.campaign_facts(campaign.id) == (campaign.id, "dcn_v2", "synthetic:tiny", "t-1")
    assert reads == []  # kept since the thread was set
    store.update_campaign(campaign.id, thread_id="t-2")  # a changed thread is read again
    assert store.campaign_facts(campaign.id).thread_id == "t-2" and reads == [campaign.id]
    with pytest.raises(NotFound):
        store.campaign_facts("c-nope")
