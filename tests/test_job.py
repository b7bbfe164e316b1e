"""`rea train SPEC.json`: events, signatures, result.json, and every failure kind for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rea.trainers.events import SIGNATURE_HEADER, EventEmitter, JobSpec, verify
from rea.trainers.job import main, run_job

SECRET = "test-webhook-secret"
DATA = "synthetic:tiny?rows=3000&seed=1"


def make_spec(tmp_path: Path, **overrides) -> JobSpec:
    base = dict(
        job_id="job-1",
        attempt=1,
        campaign_id="c-1",
        config={"model": "fm", "epochs": 2, "batch_size": 256, "embed_dim": 4},
        data=DATA,
        seed=0,
        max_seconds=120,
        output_dir=str(tmp_path / "job"),
        device="cpu",
    )
    return JobSpec.model_validate({**base, **overrides})


def read_events(spec: JobSpec) -> list[dict]:
    lines = (Path(spec.output_dir) / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def read_result(spec: JobSpec) -> dict:
    return json.loads((Path(spec.output_dir) / "result.json").read_text())


def run_process(spec: JobSpec, tmp_path: Path, **popen) -> subprocess.Popen:
    path = tmp_path / "spec.json"
    path.write_text(spec.model_dump_json())
    env = {**os.environ, "REA_WEBHOOK_SECRET": SECRET}
    return subprocess.Popen([sys.executable, "-m", "rea.trainers.job", str(path)], env=env, **popen)


def test_job_process_posts_signed_events_and_result_matches_final(tmp_path, callback_server):
    spec = make_spec(tmp_path, callback_url=callback_server.url)
    proc = run_process(spec, tmp_path)
    assert proc.wait(timeout=120) == 0
    written = read_events(spec)
    assert [e["kind"] for e in written] == ["started", "progress", "progress", "succeeded"]
    assert [e["seq"] for e in written] == [0, 1, 2, 3]
    # Every event reached the callback, signed with the secret over the exact body.
    assert callback_server.events() == written
    for headers, body in callback_server.requests:
        verify(SECRET, headers[SIGNATURE_HEADER.lower()], body)
    assert read_result(spec) == written[-1]
    metrics = written[-1]["result"]["metrics"]
    assert {"val_ne", "val_auc", "val_logloss", "val_calibration", "test_ne", "test_auc"} <= set(
        metrics
    )
    assert written[1]["metrics"]["metrics"]["val_ne"] > 0
    assert (Path(spec.output_dir) / "train.log").read_text().count("epoch") >= 2


def test_several_seeds_in_one_job(tmp_path):
    spec = make_spec(tmp_path, seeds=[0, 1], config={"model": "lr", "epochs": 1})
    assert run_job(spec) == 0
    result = read_result(spec)["result"]
    assert result["seeds"] == [0, 1]
    per_seed = [r["metrics"]["val_ne"] for r in result["per_seed"]]
    assert per_seed[0] != per_seed[1]
    assert result["metrics"]["val_ne"] == pytest.approx(sum(per_seed) / 2)


def test_a_pruned_job_succeeds_and_says_where_it_stopped(tmp_path):
    config = {"model": "fm", "epochs": 4, "batch_size": 256, "early_stopping_patience": 0}
    spec = make_spec(tmp_path, config=config, prune={"val_ne_above": [None, 0.01]})
    proc = run_process(spec, tmp_path)
    assert proc.wait(timeout=120) == 0
    final = read_result(spec)
    assert final["kind"] == "succeeded"
    (run,) = final["result"]["per_seed"]
    assert run["pruned_at_epoch"] == 1 and len(run["epochs"]) == 2
    assert [e["kind"] for e in read_events(spec)] == [
        "started",
        "progress",
        "progress",
        "succeeded",
    ]


def test_a_spec_with_a_bad_pruning_bar_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="must be a positive finite NE"):
        make_spec(tmp_path, prune={"val_ne_above": [-0.5]})


FAULTS = [
    ("oom", {"kind": "oom", "at_step": 2}, "can't allocate memory"),
    ("nan_loss", {"kind": "nan_loss", "at_step": 2}, "loss became nan"),
    ("diverged", {"kind": "diverged", "at_step": 3}, "constant predictor"),
    ("timeout", {"kind": "timeout", "at_step": 1}, "max_seconds"),
    ("killed", {"kind": "killed", "at_step": 2}, "SIGTERM"),
    ("crashed", {"kind": "crashed", "at_step": 2}, "injected crash"),
    ("config_error", {"kind": "config_error"}, "unknown key 'injected_unknown_key'"),
    ("data_error", {"kind": "data_error"}, "injected-data-error"),
]


@pytest.mark.parametrize(("kind", "fault", "message"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_failure_kind_is_produced_and_classified(tmp_path, kind, fault, message):
    spec = make_spec(tmp_path, fault=fault, max_seconds=3 if kind == "timeout" else 120)
    assert run_job(spec) == 1
    final = read_result(spec)
    assert final["kind"] == "failed"
    assert final["failure"]["kind"] == kind
    assert message in final["failure"]["message"]
    assert final["failure"]["log_tail"]  # the log tail travels with the failure
    assert read_events(spec)[-1] == final


def test_fault_only_on_listed_attempts_and_conditions(tmp_path):
    fault = {"kind": "oom", "at_step": 1, "when": {"batch_size": {"gte": 256}}}
    assert run_job(make_spec(tmp_path / "a", fault=fault)) == 1
    smaller = {"model": "fm", "epochs": 1, "batch_size": 128, "embed_dim": 4}
    assert run_job(make_spec(tmp_path / "b", fault=fault, config=smaller)) == 0
    assert run_job(make_spec(tmp_path / "c", fault={"kind": "crashed"}, attempt=2)) == 0
    # Input corruptions obey `attempts` too: the retry after a config error is clean.
    assert run_job(make_spec(tmp_path / "d", fault={"kind": "config_error"}, attempt=2)) == 0
    assert run_job(make_spec(tmp_path / "e", fault={"kind": "data_error"}, attempt=2)) == 0


def test_external_sigterm_is_reported_as_killed(tmp_path):
    spec = make_spec(
        tmp_path,
        data="synthetic:tiny?rows=200000&seed=2",
        config={"model": "deepfm", "epochs": 50, "batch_size": 64},
    )
    proc = run_process(spec, tmp_path)
    events = Path(spec.output_dir) / "events.jsonl"
    deadline = time.monotonic() + 60
    while not (events.exists() and events.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # let it get into the training loop
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 1
    assert read_result(spec)["failure"]["kind"] == "killed"


def test_unreachable_callback_does_not_fail_the_job(tmp_path, monkeypatch):
    monkeypatch.setenv("REA_WEBHOOK_SECRET", SECRET)
    monkeypatch.setattr(EventEmitter, "__init__", _fast_emitter_init)
    spec = make_spec(
        tmp_path, callback_url="http://127.0.0.1:9/nowhere", config={"model": "lr", "epochs": 1}
    )
    assert run_job(spec) == 0
    assert read_result(spec)["kind"] == "succeeded"


_orig_init = EventEmitter.__init__


def _fast_emitter_init(self, spec, secret, *, retries=3):
    _orig_init(self, spec, secret, retries=1)


def test_callback_without_secret_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("REA_WEBHOOK_SECRET", raising=False)
    spec = make_spec(tmp_path, callback_url="http://127.0.0.1:9/x")
    monkeypatch.setattr(EventEmitter, "_post", lambda self, body, attempts: None)
    assert run_job(spec) == 1
    assert "REA_WEBHOOK_SECRET" in read_result(spec)["failure"]["message"]


def test_events_say_which_device_the_job_trains_on(tmp_path):
    spec = make_spec(tmp_path, device="auto", config={"model": "lr", "epochs": 1})
    assert run_job(spec) == 0
    started, result = read_events(spec)[0], read_result(spec)["result"]
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert started["metrics"]["device_requested"] == "auto"
    assert started["metrics"]["device"] == result["device"] == expected
    assert ("device_name" in started["metrics"]) == (expected == "cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_asking_for_cuda_without_a_gpu_is_a_config_error(tmp_path):
    spec = make_spec(tmp_path, device="cuda")
    assert run_job(spec) == 1
    failure = read_result(spec)["failure"]
    assert failure["kind"] == "config_error" and "no CUDA device" in failure["message"]


def test_unreadable_spec_exits_2_with_a_clear_message(tmp_path, capsys):
    assert main([str(tmp_path / "missing.json")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"job_id": "x"}))
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "invalid job spec" in err and "max_seconds" in err


def _stop_inside_a_guard(*_args, **_kwargs):
    """What torch's lazy imports do: probe something under `except Exception`."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except Exception:
        raise AssertionError("a library's `except Exception` swallowed the stop") from None


def _stop_swallowed_then_broken(*_args, **_kwargs):
    """Code that swallows even BaseException, then fails on the half-done state it left."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except BaseException:
        pass
    raise AttributeError("module 'half_imported' has no attribute 'op'")


@pytest.mark.parametrize("body", [_stop_inside_a_guard, _stop_swallowed_then_broken])
def test_a_stop_inside_library_guards_is_still_killed(tmp_path, monkeypatch, body):
    # Seen in CI: a SIGTERM that landed inside a torch lazy import was swallowed by torch's
    # `except Exception`, and the job then reported `crashed` on the broken module.
    monkeypatch.setattr("rea.trainers.job.train", body)
    spec = make_spec(tmp_path)
    assert run_job(spec) == 1
    failure = read_result(spec)["failure"]
    assert failure["kind"] == "killed", failure
    assert "SIGTERM" in failure["message"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is removed again
