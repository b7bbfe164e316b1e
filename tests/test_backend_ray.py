"""RayBackend against a real Ray head on loopback (started here, and only it stopped at the end):
real training jobs through the Ray Jobs API, an idempotent resubmit, a job stopped through Ray,
a node without shared storage, and a whole campaign whose jobs run on Ray and whose first
validation job is stopped through Ray mid-run (the debugger retries it)."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip(
    "ray.job_submission", reason='ray is not installed (pip install -e ".[dev,ray]")'
)

from ray_head import ray_head

from rea.agents.brain import Brain
from rea.app.campaigns import services_from
from rea.app.run_cli import yes_approver
from rea.app.settings import Settings
from rea.graph.builder import build_graph
from rea.graph.checkpoint import open_checkpointer
from rea.graph.runner import CampaignRunner
from rea.trainers.backends import RayBackend
from rea.trainers.events import JobEvent, JobSpec

pytestmark = pytest.mark.slow

TINY = "synthetic:tiny?rows=2000&seed=0"
WEAK = {"model": "dcn_v2", "lr": 0.0003, "embed_dim": 4, "epochs": 2}
CAMPAIGN_DATA = "synthetic:interaction-heavy?rows=20000&seed=0"
# At 25 s the plan sometimes fills the budget so that the retry of the stopped job no longer
# fits (the launch node then drops it, "not launched: … (budget)"); at 40 s it always fits.
BUDGET = 40.0
# Holds the first validation job (attempt 1 only) at its first step, so that it is still
# running when the test stops it through Ray; the stop, not the stall, ends it.
STALL = {"phase": "validation", "index": 0, "fault": {"kind": "timeout", "at_step": 1}}


@pytest.fixture(scope="module")
def head():
    with ray_head(num_cpus=2) as h:
        yield h


@pytest.fixture
def backend(head, tmp_path) -> RayBackend:
    return RayBackend(head.address, tmp_path / "jobs")


def make_spec(backend: RayBackend, job_id: str, **kw) -> JobSpec:
    base = dict(
        job_id=job_id,
        campaign_id="c-ray",
        config={"model": "lr", "epochs": 1},
        data=TINY,
        max_seconds=60,
        output_dir=str(backend.job_dir(job_id)),
        device="cpu",
    )
    return JobSpec.model_validate({**base, **kw})


def wait_final(backend: RayBackend, job_id: str, timeout: float = 120) -> JobEvent:
    deadline = time.monotonic() + timeout
    while (final := backend.final_event(job_id)) is None:
        assert time.monotonic() < deadline, (backend.state(job_id), backend.logs(job_id))
        time.sleep(0.2)
    return final


def wait_started(backend: RayBackend, job_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(e.kind == "started" for e in backend.events(job_id)):
        assert time.monotonic() < deadline, backend.state(job_id)
        time.sleep(0.1)


def ray_status(backend: RayBackend, job_id: str, timeout: float = 30) -> str:
    """Ray's status of the job once it is terminal."""
    deadline = time.monotonic() + timeout
    while not (info := backend.client.get_job_info(job_id)).status.is_terminal():
        assert time.monotonic() < deadline, info.status
        time.sleep(0.2)
    return str(info.status.value)


def test_a_job_runs_on_ray_and_reports_its_final_event(backend):
    assert backend.submit(make_spec(backend, "tiny-a1")) == "ray:tiny-a1"
    final = wait_final(backend, "tiny-a1")
    assert final.kind == "succeeded", final.failure
    assert final.result["metrics"]["val_auc"] > 0.5
    assert [e.kind for e in backend.events("tiny-a1")] == ["started", "progress", "succeeded"]
    assert backend.state("tiny-a1") == "finished"
    assert "training seed 0" in backend.logs("tiny-a1")
    assert [j.job_id for j in backend.list()] == ["tiny-a1"]
    # result.json can be there a moment before the process exits and Ray says so.
    assert ray_status(backend, "tiny-a1") == "SUCCEEDED"
    assert backend.client.get_job_info("tiny-a1").metadata["rea_campaign_id"] == "c-ray"


def test_a_repeat_submit_is_a_no_op(backend):
    spec = make_spec(backend, "again-a1")
    assert backend.submit(spec) == backend.submit(spec) == "ray:again-a1"
    wait_final(backend, "again-a1")
    assert backend.submit(spec) == "ray:again-a1"  # after it finished too
    ids = [j.submission_id for j in backend.client.list_jobs()]
    assert ids.count("again-a1") == 1
    assert [e.kind for e in backend.events("again-a1")].count("started") == 1  # ran once


def test_a_job_stopped_through_ray_ends_killed(backend):
    stall = {"kind": "timeout", "at_step": 1}
    backend.submit(make_spec(backend, "stop-a1", fault=stall, max_seconds=120))
    wait_started(backend, "stop-a1")
    assert backend.state("stop-a1") == "running"
    assert backend.cancel("ray:stop-a1") is True
    final = wait_final(backend, "stop-a1", timeout=60)
    assert final.kind == "failed" and final.failure.kind == "killed"
    assert "SIGTERM" in final.failure.message  # the job saw Ray's signal and said so itself
    assert ray_status(backend, "stop-a1") == "STOPPED"
    assert backend.cancel("stop-a1") is False


def test_without_shared_storage_events_come_from_the_ray_log(backend, tmp_path):
    # The job writes to a dir the backend does not read (another node's disk).
    spec = make_spec(backend, "far-a1", output_dir=str(tmp_path / "worker-disk" / "far-a1"))
    backend.submit(spec)
    final = wait_final(backend, "far-a1")
    assert final.kind == "succeeded" and final.result["metrics"]["val_auc"] > 0.5
    assert not (backend.job_dir("far-a1") / "events.jsonl").exists()
    assert [e.kind for e in backend.events("far-a1")] == ["started", "progress", "succeeded"]


def test_a_job_whose_entrypoint_fails_gets_a_crashed_event(head, tmp_path):
    backend = RayBackend(head.address, tmp_path / "jobs", python="/nonexistent/python")
    backend.submit(make_spec(backend, "broken-a1"))
    final = wait_final(backend, "broken-a1")
    assert final.kind == "failed" and final.failure.kind == "crashed"
    assert "FAILED" in final.failure.message
    assert "/nonexistent/python" in final.failure.log_tail


def stop_stalled_job(backend: RayBackend, job_ids: list[str]) -> str | None:
    """Stop (through Ray) the job carrying the stall fault once it has started."""
    for job_id in job_ids:
        spec = json.loads((backend.job_dir(job_id) / "spec.json").read_text())
        faulted = spec.get("fault") and spec["attempt"] == 1
        if faulted and any(e.kind == "started" for e in backend.events(job_id)):
            assert backend.cancel(job_id)
            return job_id
    return None


def drive(runner: CampaignRunner, cid: str, timeout: float = 400) -> str | None:
    """`runner.drive` with --yes answers, stopping the stalled job through Ray mid-run."""
    thread, stopped = runner.thread_of(cid), None
    deadline = time.monotonic() + timeout
    while waiting := runner.pending(thread):
        assert time.monotonic() < deadline, runner.state(thread).get("notes")
        first = waiting[0]
        if first.type == "approval":
            runner.decide(first.approval_id or "", yes_approver(first))
            continue
        stopped = stopped or stop_stalled_job(runner.services.backend, first.job_ids)
        if not runner.collect(first.job_ids):
            time.sleep(0.2)
    return stopped


def test_a_campaign_on_ray_retries_the_job_ray_stopped(head, tmp_path, monkeypatch):
    monkeypatch.setenv("REA_BACKEND", "ray")
    monkeypatch.setenv("REA_RAY_ADDRESS", head.address)
    monkeypatch.setenv("REA_BRAIN", "offline")
    svc = services_from(Settings(), brain=Brain())
    assert isinstance(svc.backend, RayBackend)
    store = svc.store
    with open_checkpointer(f"sqlite:///{tmp_path}/ck.sqlite") as saver:
        runner = CampaignRunner(build_graph(saver), svc)
        cid = runner.start("dcn_v2", CAMPAIGN_DATA, BUDGET, baseline=WEAK, faults=[STALL])
        stopped = drive(runner, cid)
        notes = runner.state(runner.thread_of(cid)).get("notes")
    jobs = store.list_jobs(cid)
    seen = ([(j.job_id, j.state, j.failure_kind) for j in jobs], notes)
    assert store.get_campaign(cid).status == "completed"
    assert stopped is not None and stopped.endswith("-a1")
    killed = store.get_job(stopped)
    assert (killed.state, killed.failure_kind) == ("failed", "killed")
    retry = [j for j in jobs if j.job_id == stopped.removesuffix("-a1") + "-a2"]
    assert retry and retry[0].state == "succeeded", seen
    assert ray_status(svc.backend, stopped) == "STOPPED"
    assert jobs and all(
        j.backend == "ray" and j.external_id == f"ray:{j.job_id}"
        for j in jobs
        if j.state != "cancelled"
    )
    assert store.budget_status(cid).charged_seconds <= BUDGET
