"""Durability: a campaign process killed mid-run is finished by a new process from the SQLite
checkpointer, with every job submitted exactly once; duplicate and stale job events change
nothing; a malformed human decision is refused and its interrupt stays answerable."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from langgraph.types import Command
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from test_campaign_acceptance import DATA_1, WEAK

from rea.agents.brain import Brain
from rea.app.campaigns import services_from
from rea.app.settings import Settings
from rea.graph.builder import build_graph
from rea.graph.checkpoint import open_checkpointer
from rea.graph.context import CampaignContext
from rea.graph.decisions import InvalidDecision
from rea.graph.runner import CampaignRunner, RunnerError
from rea.memory import ExperimentStore

pytestmark = pytest.mark.slow
BUDGET = 40.0


def _cli(home, *args):
    env = {**os.environ, "REA_HOME": str(home), "REA_BRAIN": "offline"}
    return [sys.executable, "-m", "rea.app.cli", *args], env


def _wait_for(predicate, timeout=300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_killed_campaign_process_is_finished_by_a_new_one(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "base.json").write_text(json.dumps(WEAK))
    args = ["run", "--model", "dcn_v2", "--data", DATA_1, "--budget", str(BUDGET)]
    cmd, env = _cli(home, *args, "--baseline", str(tmp_path / "base.json"), "--yes")
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = home / "rea.sqlite"

    def validation_in_flight() -> bool:
        if not db.exists():
            return False
        try:
            jobs = ExperimentStore(f"sqlite:///{db}").list_jobs()
        except OperationalError:  # the file exists but is not migrated yet
            return False
        return any("-v" in j.job_id and j.state in ("queued", "running") for j in jobs)

    try:
        _wait_for(validation_in_flight)
    finally:
        first.send_signal(signal.SIGKILL)  # no clean-up: the checkpoint is all that is left
        first.wait(30)
    store = ExperimentStore(f"sqlite:///{db}")
    (campaign,) = store.list_campaigns()
    # Killed while waiting on jobs, or inside the launch step (jobs submitted, status not yet
    # updated): `rea resume` finishes either.
    assert campaign.status in ("awaiting_jobs", "running")

    cmd, env = _cli(home, "resume", campaign.id, "--yes", "--json")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["status"] == "completed"
    assert summary["budget_used_seconds"] <= BUDGET

    spawns = Counter(line.split()[0] for line in (home / "jobs" / "submissions.log").open())
    jobs = store.list_jobs(campaign.id)
    launched = [j for j in jobs if j.state != "cancelled"]
    assert spawns and max(spawns.values()) == 1  # no job process started twice
    # A kill between a job's claim (launched.json) and its log line leaves a claim with no
    # process: the resumed campaign settles it as crashed ("never recorded") and retries it;
    # at most the one job the kill landed in, never one that started unlogged.
    unlogged = [j for j in launched if j.job_id not in spawns]
    assert len(unlogged) <= 1 and set(spawns) <= {j.job_id for j in launched}
    for j in unlogged:
        assert j.state == "failed" and j.failure_kind == "crashed", j
        assert "never recorded" in (j.failure_message or ""), j
        retry = [
            o for o in launched if (o.experiment_id, o.attempt) == (j.experiment_id, j.attempt + 1)
        ]
        assert retry, f"{j.job_id} was not retried"
    assert all(j.state in ("succeeded", "failed") for j in launched)
    assert len(store.list_results(campaign.id)) == sum(j.state == "succeeded" for j in jobs)


@pytest.fixture
def runner(tmp_path):
    settings = Settings()
    services = services_from(settings, brain=Brain())
    with open_checkpointer(f"sqlite:///{tmp_path}/ck.sqlite") as saver:
        yield CampaignRunner(build_graph(saver), services)


def _until_plan_approval(runner: CampaignRunner, cid: str):
    thread = runner.thread_of(cid)
    while True:
        waiting = runner.pending(thread)
        if waiting and waiting[0].type == "approval":
            return waiting[0]
        if not runner.collect(waiting[0].job_ids):
            time.sleep(0.2)


def test_duplicate_and_stale_events_change_nothing(runner, monkeypatch):
    store = runner.services.store
    cid = runner.start("dcn_v2", DATA_1, BUDGET, baseline=WEAK)
    thread = runner.thread_of(cid)
    (job_id,) = runner.pending(thread)[0].job_ids
    _wait_for(lambda: runner.services.backend.final_event(job_id) is not None)
    final = runner.services.backend.final_event(job_id)
    for event in runner.services.backend.events(job_id)[:-1]:
        runner.deliver(event)
    collecting = []  # whether the garbage collector could run during the wake-up
    invoke = runner.graph.invoke
    monkeypatch.setattr(
        runner.graph,
        "invoke",
        lambda *a, **kw: (collecting.append(gc.isenabled()), invoke(*a, **kw)),
    )
    assert runner.deliver(final) == "resumed"
    assert collecting == [False] and gc.isenabled()
    monkeypatch.undo()
    before = (store.budget_status(cid), store.list_results(cid), runner.state(thread))
    assert runner.deliver(final) == "stale"  # the same final event again
    for event in runner.services.backend.events(job_id):
        assert runner.deliver(event) in ("duplicate", "stale")
    after = (store.budget_status(cid), store.list_results(cid), runner.state(thread))
    assert before == after


def test_a_final_event_brings_in_the_job_s_lost_events(runner):
    """The job's earlier callbacks were lost (the service was down) and the job has ended: no
    start-up sweep reads an ended job's files, so its final event records what it wrote."""
    store = runner.services.store
    cid = runner.start("dcn_v2", DATA_1, BUDGET, baseline=WEAK)
    (job_id,) = runner.pending(runner.thread_of(cid))[0].job_ids
    _wait_for(lambda: runner.services.backend.final_event(job_id) is not None)
    written = runner.services.backend.events(job_id)
    assert written[0].kind == "started" and len(written) >= 3
    assert store.list_events(job_id) == []  # nothing delivered yet
    assert runner.deliver(runner.services.backend.final_event(job_id)) == "resumed"
    keys = [(e.attempt, e.seq) for e in store.list_events(job_id)]
    assert sorted(keys) == sorted({(e.attempt, e.seq) for e in written})  # all, once each
    assert runner.deliver(written[-1]) in ("duplicate", "stale")
    assert len(store.list_events(job_id)) == len(keys)


def test_concurrent_deliveries_of_one_event_resume_once(runner):
    cid = runner.start("dcn_v2", DATA_1, BUDGET, baseline=WEAK)
    (job_id,) = runner.pending(runner.thread_of(cid))[0].job_ids
    _wait_for(lambda: runner.services.backend.final_event(job_id) is not None)
    final = runner.services.backend.final_event(job_id)
    barrier = threading.Barrier(2)

    def deliver():
        barrier.wait()
        return runner.deliver(final)

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: deliver(), range(2)))
    assert outcomes == ["resumed", "stale"]
    assert len(runner.services.store.list_results(cid)) == 1


def test_bad_decision_is_refused_and_the_interrupt_stays(runner):
    cid = runner.start("dcn_v2", DATA_1, BUDGET, baseline=WEAK)
    approval = _until_plan_approval(runner, cid)
    thread = runner.thread_of(cid)
    with pytest.raises(RunnerError, match="invalid decision"):
        runner.decide(approval.approval_id, {"decisions": [{"type": "maybe"}]})
    with pytest.raises(InvalidDecision, match="only keep or drop"):
        bad_edit = {"name": "approve_plan", "args": {"experiments": [{"hypothesis_id": "nope"}]}}
        runner.decide(
            approval.approval_id, {"decisions": [{"type": "edit", "edited_action": bad_edit}]}
        )
    # The graph's own check: a resume value that does not match the response schema.
    config = {"configurable": {"thread_id": thread}}
    with pytest.raises(ValidationError):
        runner.graph.invoke(
            Command(resume={approval.interrupt_id: {"decisions": "yes"}}),
            config,
            context=CampaignContext(services=runner.services),
            durability="sync",
        )
    assert [p.approval_id for p in runner.pending(thread)] == [approval.approval_id]
    runner.decide(approval.approval_id, {"decisions": [{"type": "reject", "message": "not now"}]})
    assert runner.pending(thread) == []
    assert runner.services.store.get_campaign(cid).status == "cancelled"
    with pytest.raises(RunnerError, match="not pending"):
        runner.decide(approval.approval_id, {"decisions": [{"type": "approve"}]})
