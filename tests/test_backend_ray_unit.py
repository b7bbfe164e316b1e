"""RayBackend's own logic against an in-memory stand-in of Ray's JobSubmissionClient (no ray
needed): idempotent submit, status mapping, events from the job dir or the echoed log, and the
synthesized final events. tests/test_backend_ray.py runs the same backend on a real Ray head."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rea.trainers.backends import JobBackend, RayBackend
from rea.trainers.backends.ray import echoed_events
from rea.trainers.events import ECHO_ENV, ECHO_PREFIX, SPEC_ENV, JobEvent, JobSpec


@dataclass
class Details:
    """What `JobSubmissionClient.get_job_info` returns (the fields RayBackend reads)."""

    submission_id: str
    status: str = "PENDING"
    message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    start_time: int = 0


class FakeClient:
    """Ray's Jobs API in memory: 404 and duplicate errors worded as Ray words them."""

    def __init__(self) -> None:
        self.jobs: dict[str, Details] = {}
        self.submits: list[dict[str, Any]] = []
        self.logs: dict[str, str] = {}
        self.stopped: list[str] = []

    def submit_job(self, **kw: Any) -> str:
        sid = kw["submission_id"]
        self.submits.append(kw)
        if sid in self.jobs:
            raise RuntimeError(
                f"Request failed with status code 400: ValueError: Job with "
                f"submission_id {sid} already exists."
            )
        self.jobs[sid] = Details(sid, metadata=kw["metadata"], start_time=len(self.jobs))
        return sid

    def get_job_info(self, sid: str) -> Details:
        if sid not in self.jobs:
            raise RuntimeError(f"Request failed with status code 404: Job {sid} does not exist.")
        return self.jobs[sid]

    def get_job_logs(self, sid: str) -> str:
        self.get_job_info(sid)
        return self.logs.get(sid, "")

    def stop_job(self, sid: str) -> bool:
        self.stopped.append(sid)
        self.jobs[sid].status = "STOPPED"
        return True

    def list_jobs(self) -> list[Details]:
        return list(self.jobs.values())


def spec(root: Path, job_id: str = "e1-a1", **kw: Any) -> JobSpec:
    base = dict(
        job_id=job_id,
        campaign_id="c1",
        config={"model": "lr"},
        data="synthetic:tiny",
        max_seconds=30,
        output_dir=str(root / job_id),
    )
    return JobSpec.model_validate({**base, **kw})


def event(job_id: str, seq: int, kind: str, **kw: Any) -> JobEvent:
    return JobEvent(job_id=job_id, attempt=1, seq=seq, kind=kind, at="t", **kw)


@pytest.fixture
def ray(tmp_path):
    client = FakeClient()
    return RayBackend("http://ray:8265", tmp_path, env={"REA_WEBHOOK_SECRET": "s"}, client=client)


def test_it_is_a_job_backend(ray):
    assert isinstance(ray, JobBackend)


def test_submit_passes_entrypoint_resources_env_and_is_idempotent(ray, tmp_path):
    s = spec(tmp_path, resources={"cpus": 2, "gpus": 1})
    assert ray.submit(s) == "ray:e1-a1"
    assert ray.submit(s) == "ray:e1-a1"  # a repeat: Ray is asked nothing new
    (call,) = ray.client.submits
    assert call["submission_id"] == "e1-a1"
    assert call["entrypoint"] == f"python -m rea.trainers.job {tmp_path / 'e1-a1' / 'spec.json'}"
    assert (call["entrypoint_num_cpus"], call["entrypoint_num_gpus"]) == (2, 1)
    env = call["runtime_env"]["env_vars"]
    assert env["REA_WEBHOOK_SECRET"] == "s" and env[ECHO_ENV] == "1"
    assert env["OMP_NUM_THREADS"] == "2"  # one intra-op thread per reserved CPU
    inline = json.loads(env[SPEC_ENV])
    assert inline == json.loads((tmp_path / "e1-a1" / "spec.json").read_text())
    assert "REA_WEBHOOK_SECRET" not in env[SPEC_ENV]
    assert call["metadata"]["rea_attempt"] == "1"


def test_a_submit_that_loses_the_race_is_a_no_op(ray, tmp_path):
    ray.client.jobs["e1-a1"] = Details("e1-a1", metadata={"rea_attempt": "1"})
    info = ray._info
    ray._info = lambda job_id: None  # another orchestrator submitted between check and submit
    assert ray.submit(spec(tmp_path)) == "ray:e1-a1"
    ray._info = info
    with pytest.raises(ValueError, match="already submitted to Ray as attempt 1"):
        ray.submit(spec(tmp_path, attempt=2))


def test_state_follows_ray_and_result_json(ray, tmp_path):
    assert ray.state("e1-a1") == "unknown"
    ray.submit(spec(tmp_path))
    job = ray.client.jobs["e1-a1"]
    for status, state in [("PENDING", "queued"), ("RUNNING", "running"), ("FAILED", "finished")]:
        job.status = status
        assert ray.state("ray:e1-a1") == state


def test_events_from_the_job_dir_when_storage_is_shared(ray, tmp_path):
    ray.submit(spec(tmp_path))
    ray.client.jobs["e1-a1"].status = "SUCCEEDED"
    lines = [event("e1-a1", 0, "started"), event("e1-a1", 1, "succeeded", result={"x": 1})]
    (tmp_path / "e1-a1" / "events.jsonl").write_text(
        "".join(e.model_dump_json() + "\n" for e in lines)
    )
    (tmp_path / "e1-a1" / "result.json").write_text(lines[1].model_dump_json())
    ray.client.logs["e1-a1"] = "nothing echoed"
    assert ray.events("e1-a1") == lines
    assert ray.final_event("e1-a1") == lines[1]


def test_events_from_the_echoed_log_without_shared_storage(ray, tmp_path):
    ray.submit(spec(tmp_path))
    started, done = event("e1-a1", 0, "started"), event("e1-a1", 1, "succeeded", result={"m": 2})
    log = f"INFO hello\n{ECHO_PREFIX}{started.model_dump_json()}\n{ECHO_PREFIX}{done.model_dump_json()}\n"
    ray.client.logs["e1-a1"] = log + f"{ECHO_PREFIX}{{torn"
    assert ray.events("e1-a1") == [started, done]
    ray.client.jobs["e1-a1"].status = "RUNNING"
    assert ray.final_event("e1-a1") is None  # Ray says it still runs
    ray.client.jobs["e1-a1"].status = "SUCCEEDED"
    assert ray.final_event("e1-a1") == done
    assert ray.logs("e1-a1") == "INFO hello"  # the echoed events are not log lines
    assert echoed_events("no events here") == []


@pytest.mark.parametrize(("status", "kind"), [("STOPPED", "killed"), ("FAILED", "crashed")])
def test_a_job_that_ended_without_a_final_event_gets_one(ray, tmp_path, status, kind):
    ray.submit(spec(tmp_path))
    started = event("e1-a1", 0, "started")
    ray.client.logs["e1-a1"] = f"{ECHO_PREFIX}{started.model_dump_json()}\nTraceback: boom"
    ray.client.jobs["e1-a1"].status = status
    ray.client.jobs["e1-a1"].message = "exit code 137"
    final = ray.final_event("e1-a1")
    assert final is not None and final.kind == "failed" and final.seq == 1
    assert final.failure.kind == kind
    assert "exit code 137" in final.failure.message and status in final.failure.message
    assert final.failure.log_tail == "Traceback: boom"
    assert ray.final_event("e1-a1") == final  # cached in result.json: the same event every time
    assert (tmp_path / "e1-a1" / "result.json").exists()


def test_cancel_stops_a_running_job_only(ray, tmp_path):
    with pytest.raises(LookupError, match="no job 'nope'"):
        ray.cancel("nope")
    ray.submit(spec(tmp_path))
    ray.client.jobs["e1-a1"].status = "RUNNING"
    assert ray.cancel("ray:e1-a1") is True and ray.client.stopped == ["e1-a1"]
    assert ray.cancel("e1-a1") is False  # already stopped


def test_list_holds_only_this_jobs_roots_jobs(ray, tmp_path):
    ray.submit(spec(tmp_path, "a-a1"))
    ray.submit(spec(tmp_path, "b-a1"))
    ray.client.jobs["other"] = Details("other", metadata={"rea_jobs_root": "/elsewhere"})
    ray.client.jobs["b-a1"].status = "RUNNING"
    listed = [(j.job_id, j.state, j.external_id) for j in ray.list()]
    assert listed == [("a-a1", "queued", "ray:a-a1"), ("b-a1", "running", "ray:b-a1")]
