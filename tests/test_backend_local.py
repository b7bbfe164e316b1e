"""LocalBackend: real job subprocesses, queued in files, spawned exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rea.trainers.backends import LocalBackend
from rea.trainers.backends import local as local_mod
from rea.trainers.backends import warm as warm_mod
from rea.trainers.events import PID_FILE_ENV, JobEvent, JobSpec

DATA = "synthetic:tiny?rows=2000&seed=0"


def make_spec(root: Path, job_id: str, **overrides) -> JobSpec:
    base = dict(
        job_id=job_id,
        attempt=1,
        campaign_id="c-1",
        config={"model": "lr", "epochs": 1},
        data=DATA,
        max_seconds=60,
        output_dir=str(root / job_id),
        device="cpu",
    )
    return JobSpec.model_validate({**base, **overrides})


def spawns(root: Path) -> list[str]:
    path = root / "submissions.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def wait_final(backend: LocalBackend, job_ids: list[str], timeout: float = 90) -> dict:
    """Poll until every job has a final event; also record the most that ran at once."""
    end, finals, most = time.monotonic() + timeout, {}, 0
    while time.monotonic() < end:
        backend.poll()
        most = max(most, sum(backend.state(j) == "running" for j in job_ids))
        finals = {j: backend.final_event(j) for j in job_ids}
        if all(finals.values()):
            return {"finals": finals, "most_running": most}
        time.sleep(0.2)
    raise AssertionError(f"jobs not finished in {timeout} s: {finals}")


def wait_for(predicate, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_three_jobs_run_two_at_a_time_in_submission_order(tmp_path):
    backend = LocalBackend(tmp_path, max_parallel=2)
    ids = ["job-a", "job-b", "job-c"]
    assert [backend.submit(make_spec(tmp_path, j)) for j in ids] == [f"local:{j}" for j in ids]
    assert backend.state("job-a") == "queued" and spawns(tmp_path) == []  # submit starts nothing
    backend.poll()
    assert [backend.state(j) for j in ids] == ["running", "running", "queued"]
    out = wait_final(backend, ids)
    assert out["most_running"] <= 2
    assert all(e.kind == "succeeded" for e in out["finals"].values())
    assert spawns(tmp_path) == ids
    events = backend.events("job-a")
    assert [e.kind for e in events] == ["started", "progress", "succeeded"]
    assert events[-1] == out["finals"]["job-a"]
    # The job ran on one thread by default.
    assert json.loads((tmp_path / "job-a" / "spec.json").read_text())["num_threads"] == 1


def test_each_job_is_spawned_exactly_once_across_backends(tmp_path):
    first, second = LocalBackend(tmp_path), LocalBackend(tmp_path)
    ids = ["once-a", "once-b"]
    for j in ids:
        assert first.submit(make_spec(tmp_path, j)) == f"local:{j}"
        assert first.submit(make_spec(tmp_path, j)) == f"local:{j}"  # a repeat does nothing
        assert second.submit(make_spec(tmp_path, j)) == f"local:{j}"

    def hammer(backend: LocalBackend) -> None:
        for _ in range(20):
            backend.poll()

    threads = [threading.Thread(target=hammer, args=(b,)) for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A new backend object (a restarted orchestrator) sees the jobs the others started.
    third = LocalBackend(tmp_path)
    assert {third.state(j) for j in ids} <= {"running", "finished"}
    wait_final(third, ids)
    assert sorted(spawns(tmp_path)) == ids


def test_a_killed_process_gets_a_synthesized_crashed_event(tmp_path):
    backend = LocalBackend(tmp_path)
    # The timeout fault stalls the job until its deadline: it is surely running when killed.
    backend.submit(make_spec(tmp_path, "doomed", fault={"kind": "timeout", "at_step": 1}))
    backend.poll()
    wait_for(lambda: len(backend.events("doomed")) >= 1)
    pid = json.loads((tmp_path / "doomed" / "launched.json").read_text())["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: backend.final_event("doomed") is not None)
    final = backend.final_event("doomed")
    assert final.kind == "failed" and final.failure.kind == "crashed"
    assert final.failure.message == (
        f"job process {pid} exited without a final event (exit code -9)"
    )
    assert final.seq == backend.events("doomed")[-1].seq + 1
    assert "training seed 0" in final.failure.log_tail
    # Written to result.json, so every later look (any backend object) sees the same event.
    assert LocalBackend(tmp_path).final_event("doomed") == final


def test_cancel_a_queued_job_means_it_never_starts(tmp_path):
    backend = LocalBackend(tmp_path)
    backend.submit(make_spec(tmp_path, "queued-1"))
    assert backend.cancel("queued-1") is True
    final = backend.final_event("queued-1")
    assert final.kind == "failed" and final.failure.kind == "killed"
    assert "cancelled before it started" in final.failure.message
    backend.poll()
    assert spawns(tmp_path) == [] and backend.state("queued-1") == "finished"
    assert backend.cancel("queued-1") is False  # nothing left to stop


def test_cancel_a_running_job_reports_killed(tmp_path):
    backend = LocalBackend(tmp_path)
    backend.submit(make_spec(tmp_path, "long", fault={"kind": "timeout", "at_step": 1}))
    backend.poll()
    wait_for(lambda: len(backend.events("long")) >= 1)  # its SIGTERM handler is installed
    assert backend.cancel("long") is True
    wait_for(lambda: backend.final_event("long") is not None, timeout=30)
    assert backend.final_event("long").failure.kind == "killed"


def test_a_launch_interrupted_before_the_pid_was_recorded_is_crashed(tmp_path, monkeypatch):
    backend = LocalBackend(tmp_path)
    backend.submit(make_spec(tmp_path, "orphan"))
    # What a spawner that died between claiming the launch and recording the pid leaves.
    (tmp_path / "orphan" / "launched.json").write_text(json.dumps({"pid": None, "launched_ns": 1}))
    assert backend.state("orphan") == "finished"
    final = backend.final_event("orphan")
    assert final.failure.kind == "crashed" and "never recorded" in final.failure.message
    backend.poll()
    assert spawns(tmp_path) == []


def test_a_job_started_just_before_its_spawner_died_is_running_not_crashed(tmp_path):
    """The spawner died after starting the job's process but before recording its pid. The job
    recorded its own pid first thing, so the backend sees it running (not crashed, which would
    retry it beside itself), can cancel it, and its own final event is its result."""
    backend = LocalBackend(tmp_path)
    spec = make_spec(tmp_path, "early", fault={"kind": "timeout", "at_step": 1})
    backend.submit(spec)
    d = tmp_path / "early"
    (d / "launched.json").write_text(json.dumps({"pid": None, "launched_ns": 1}))  # long ago
    (d / "spec.json").write_text(spec.model_dump_json())
    env = {**os.environ, PID_FILE_ENV: str(d / local_mod.JOB_PID)}
    cmd = [sys.executable, "-m", "rea.trainers.job", str(d / "spec.json")]
    with (d / "stdout.log").open("ab") as log:
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=log, stderr=log, env=env)
    try:
        wait_for(lambda: len(backend.events("early")) >= 1)  # started, SIGTERM handler in
        assert backend.state("early") == "running"
        backend.poll()
        assert backend.state("early") == "running" and spawns(tmp_path) == []
        assert backend.cancel("early") is True  # the pid the job recorded gets the SIGTERM
        assert proc.wait(timeout=30) is not None
        final = backend.final_event("early")
        assert final.failure.kind == "killed" and "never recorded" not in final.failure.message
    finally:
        if proc.poll() is None:
            proc.kill()


def test_submit_refuses_a_foreign_output_dir_and_a_reused_job_id(tmp_path):
    backend = LocalBackend(tmp_path / "jobs")
    with pytest.raises(ValueError, match="output_dir must be"):
        backend.submit(make_spec(tmp_path, "x"))
    backend.submit(make_spec(tmp_path / "jobs", "x"))
    with pytest.raises(ValueError, match="already submitted as attempt 1"):
        backend.submit(make_spec(tmp_path / "jobs", "x", attempt=2))
    with pytest.raises(LookupError):
        backend.cancel("never-submitted")
    assert backend.final_event("never-submitted") is None


def test_events_skip_a_torn_last_line(tmp_path):
    backend = LocalBackend(tmp_path)
    event = JobEvent(job_id="t", attempt=1, seq=0, kind="started", at="2026-01-01T00:00:00Z")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "events.jsonl").write_text(event.model_dump_json() + '\n{"job_id": "t", "at')
    assert backend.events("t") == [event]
    (tmp_path / "t" / "events.jsonl").write_text("garbage\n" + event.model_dump_json() + "\n")
    with pytest.raises(ValueError, match=r"events\.jsonl:1"):
        backend.events("t")


def test_liveness_treats_a_reused_pid_as_dead(tmp_path):
    launch = {"pid": os.getpid(), "pid_start": "not-my-start-time", "launched_ns": 1}
    alive, _ = local_mod._alive(tmp_path, launch)
    assert alive is (local_mod.proc_start(os.getpid()) is None)


def test_poll_reads_each_submission_once_and_keeps_the_order(tmp_path, monkeypatch):
    root = tmp_path / "jobs"
    backend = LocalBackend(root, max_parallel=1)
    for job_id in ("b", "a", "c"):
        backend.submit(make_spec(root, job_id))
    started: list[str] = []
    monkeypatch.setattr(backend, "_start", lambda d: started.append(d.name) or False)
    reads: list[str] = []
    real_read = local_mod.read_json

    def read_json(path: Path) -> dict:
        reads.append(path.parent.name)
        return real_read(path)

    monkeypatch.setattr(local_mod, "read_json", read_json)
    backend.poll()
    assert sorted(reads) == ["a", "b", "c"] and started == ["b", "a", "c"]
    reads.clear()
    backend.submit(make_spec(root, "d"))
    backend.poll()
    assert reads == ["d"]  # only the new submission is read
    assert started[3:] == ["b", "a", "c", "d"]
    assert [j.job_id for j in LocalBackend(root).list()] == ["b", "a", "c", "d"]


@pytest.mark.parametrize("warm", [False, True])
def test_a_spawn_is_logged_before_the_process_starts(tmp_path, monkeypatch, warm):
    root = tmp_path / "jobs"
    backend = LocalBackend(root, max_parallel=1, warm=warm)
    backend.submit(make_spec(root, "j1"))
    seen: list[list[str]] = []

    def killed_at_spawn(*args, **kwargs):  # the orchestrator dies as the process starts
        seen.append(spawns(root))
        raise OSError("killed")

    monkeypatch.setattr(local_mod.subprocess, "Popen", killed_at_spawn)
    monkeypatch.setattr(warm_mod.WarmStarter, "spawn", killed_at_spawn)
    backend.poll()
    # Warm: the fork is tried first, then the cold start; the line was there before each.
    assert seen == [["j1"]] * (2 if warm else 1)


def test_poll_settles_a_finished_job_once(tmp_path, monkeypatch):
    root = tmp_path / "jobs"
    backend = LocalBackend(root, max_parallel=1)
    backend.submit(make_spec(root, "done"))
    backend.cancel("done")  # a queued job cancelled: its result.json is written, it never runs
    settled: list[str] = []
    real_settle = backend._settle
    monkeypatch.setattr(backend, "_settle", lambda d: settled.append(d.name) or real_settle(d))
    backend.poll()
    backend.poll()
    assert settled == ["done"] and backend.final_event("done").failure.kind == "killed"
    assert spawns(root) == []
