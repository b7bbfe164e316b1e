"""The JobBackend interface: LocalBackend's logs/list and default concurrency, the backend the
settings choose, and a job that runs from its inline spec and echoes its events (what the Ray
backend relies on when the workers share no storage)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from rea.app.campaigns import backend_from
from rea.app.settings import Settings
from rea.trainers.backends import JobBackend, JobInfo, LocalBackend
from rea.trainers.backends.ray import echoed_events
from rea.trainers.errors import ConfigError
from rea.trainers.events import ECHO_ENV, SPEC_ENV, JobSpec

DATA = "synthetic:tiny?rows=2000&seed=0"


def make_spec(root, job_id: str, **kw) -> JobSpec:
    base = dict(
        job_id=job_id,
        campaign_id="c-1",
        config={"model": "lr", "epochs": 1},
        data=DATA,
        max_seconds=60,
        output_dir=str(root / job_id),
        device="cpu",
    )
    return JobSpec.model_validate({**base, **kw})


def test_local_backend_is_a_job_backend_with_one_job_per_core(tmp_path):
    backend = LocalBackend(tmp_path)
    assert isinstance(backend, JobBackend)
    assert backend.max_parallel == (os.cpu_count() or 1)
    assert LocalBackend(tmp_path, max_parallel=5).max_parallel == 5


def test_local_logs_and_list(tmp_path):
    backend = LocalBackend(tmp_path, max_parallel=1)
    backend.submit(make_spec(tmp_path, "job-a"))
    backend.submit(make_spec(tmp_path, "job-b", config={"model": "lr", "epochs": 1, "bad": 1}))
    assert backend.list() == [
        JobInfo("job-a", "queued", "local:job-a"),
        JobInfo("job-b", "queued", "local:job-b"),
    ]
    assert backend.logs("job-a") == ""  # not started yet
    deadline = time.monotonic() + 90
    while not all(backend.final_event(j) for j in ("job-a", "job-b")):
        assert time.monotonic() < deadline, backend.list()
        backend.poll()
        time.sleep(0.2)
    assert [(j.job_id, j.state) for j in backend.list()] == [
        ("job-a", "finished"),
        ("job-b", "finished"),
    ]
    assert "succeeded" in backend.logs("local:job-a")
    assert "bad" in backend.logs("job-b")  # the config error, as the job logged it
    assert len(backend.logs("job-a", lines=3).splitlines()) == 3
    with pytest.raises(LookupError, match="never submitted"):
        backend.logs("nope")


def test_settings_choose_the_backend(monkeypatch, tmp_path):
    monkeypatch.setenv("REA_HOME", str(tmp_path))
    local = backend_from(Settings())
    assert isinstance(local, LocalBackend) and local.max_parallel == (os.cpu_count() or 1)
    monkeypatch.setenv("REA_MAX_PARALLEL_JOBS", "3")
    assert backend_from(Settings()).max_parallel == 3
    monkeypatch.setenv("REA_BACKEND", "ray")
    with pytest.raises(ConfigError, match="REA_BACKEND=ray needs REA_RAY_ADDRESS"):
        backend_from(Settings())
    monkeypatch.setenv("REA_RAY_ADDRESS", "http://127.0.0.1:9")  # nothing listens there
    pytest.importorskip("ray.job_submission", reason="ray is not installed (the `ray` extra)")
    with pytest.raises(
        ConfigError, match=re.escape("cannot reach the Ray Jobs API at 'http://127.0.0.1:9'")
    ):
        backend_from(Settings())


def test_ray_backend_without_ray_installed_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("REA_HOME", str(tmp_path))
    monkeypatch.setenv("REA_BACKEND", "ray")
    monkeypatch.setenv("REA_RAY_ADDRESS", "http://127.0.0.1:9")
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)  # import fails as if absent
    with pytest.raises(ConfigError, match=r'pip install "rea\[ray\]"'):
        backend_from(Settings())


def test_a_job_runs_from_its_inline_spec_and_echoes_its_events(tmp_path):
    spec = make_spec(tmp_path, "inline-1")
    env = {**os.environ, SPEC_ENV: spec.model_dump_json(), ECHO_ENV: "1", "OMP_NUM_THREADS": "1"}
    missing = tmp_path / "not-on-this-node" / "spec.json"
    done = subprocess.run(
        [sys.executable, "-m", "rea.trainers.job", str(missing)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    events = echoed_events(done.stdout)
    assert [e.kind for e in events] == ["started", "progress", "succeeded"]
    assert events[-1].result["metrics"]["val_auc"] > 0
    assert (tmp_path / "inline-1" / "result.json").exists()
    env.pop(SPEC_ENV)
    bad = subprocess.run(
        [sys.executable, "-m", "rea.trainers.job", str(missing)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and f"{SPEC_ENV} is unset" in bad.stderr
