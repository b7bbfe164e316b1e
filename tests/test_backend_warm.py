"""Warm starts: local jobs forked from a process that has imported the trainers once.

Real job processes throughout; the starter is the real `python -m rea.trainers.backends.warm`."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from test_backend_local import make_spec, wait_final, wait_for

from rea.trainers.backends import LocalBackend
from rea.trainers.backends import warm as warm_mod
from rea.trainers.events import SIGNATURE_HEADER, verify

STALL = {"kind": "timeout", "at_step": 0}  # stalls before its first step, until its deadline


def launched(root: Path, job_id: str) -> dict:
    return json.loads((root / job_id / "launched.json").read_text())


def ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.fixture
def starter():
    """A starter of its own (not the process-wide one the other tests share)."""
    s = warm_mod.WarmStarter()
    yield s
    s.close()


def test_a_forked_job_is_the_job_process_it_replaces(
    tmp_path, starter, monkeypatch, callback_server
):
    monkeypatch.setattr(warm_mod, "starter_for", lambda python: starter)
    backend = LocalBackend(tmp_path, env={"REA_WEBHOOK_SECRET": "s3cret"})
    assert backend.warm
    backend.submit(make_spec(tmp_path, "stall", fault=STALL))
    backend.submit(make_spec(tmp_path, "plain", callback_url=callback_server.url))
    backend.poll()
    wait_for(lambda: len(backend.events("stall")) >= 1)
    pid = launched(tmp_path, "stall")["pid"]
    assert launched(tmp_path, "stall")["warm"] is True
    assert ppid(pid) == starter._proc.pid  # forked by the starter, not started by us
    assert os.getpgid(pid) == pid and os.getsid(pid) == pid  # its own session and group
    assert os.readlink(f"/proc/{pid}/cwd") == os.getcwd()
    # cancel's SIGTERM reaches it through its group, and the job reports `killed` itself.
    assert backend.cancel("stall")
    finals = wait_final(backend, ["stall", "plain"])["finals"]
    assert finals["stall"].failure.kind == "killed"
    assert "received SIGTERM" in finals["stall"].failure.message
    assert finals["plain"].kind == "succeeded" and finals["plain"].result["metrics"]["val_ne"] > 0
    assert "training seed 0" in backend.logs("plain")  # its stdout/stderr went to stdout.log
    # It ran with the environment the backend gave it: its events are signed with the secret.
    assert [e["kind"] for e in callback_server.events()][-1] == "succeeded"
    for headers, body in callback_server.requests:
        verify("s3cret", headers[SIGNATURE_HEADER.lower()], body)
    wait_for(
        lambda: warm_mod.exit_code(tmp_path / "plain", launched(tmp_path, "plain")["pid"]) == 0
    )


def test_a_starter_that_died_is_replaced(tmp_path, starter, monkeypatch):
    monkeypatch.setattr(warm_mod, "starter_for", lambda python: starter)
    backend = LocalBackend(tmp_path, max_parallel=1)
    backend.submit(make_spec(tmp_path, "first"))
    wait_final(backend, ["first"])
    first = starter._proc.pid
    os.kill(first, signal.SIGKILL)
    starter._proc.wait()
    backend.submit(make_spec(tmp_path, "second"))
    finals = wait_final(backend, ["second"])["finals"]
    assert finals["second"].kind == "succeeded"
    assert launched(tmp_path, "second")["warm"] is True and starter._proc.pid != first


def test_a_job_is_started_cold_when_the_starter_cannot_start(tmp_path, monkeypatch):
    broken = warm_mod.WarmStarter(python="/nonexistent/python")
    monkeypatch.setattr(warm_mod, "starter_for", lambda python: broken)
    backend = LocalBackend(tmp_path)
    backend.submit(make_spec(tmp_path, "j"))
    finals = wait_final(backend, ["j"])["finals"]
    assert finals["j"].kind == "succeeded"
    assert "warm" not in launched(tmp_path, "j")
    assert "started without the warm starter" in (tmp_path / "j" / "stdout.log").read_text()


def test_the_starter_ends_after_its_orchestrator_and_its_jobs(tmp_path, starter, monkeypatch):
    monkeypatch.setattr(warm_mod, "starter_for", lambda python: starter)
    backend = LocalBackend(tmp_path)
    backend.submit(make_spec(tmp_path, "long", fault=STALL, max_seconds=6))
    backend.poll()
    wait_for(lambda: len(backend.events("long")) >= 1)
    proc = starter._proc
    starter.close()  # EOF on its stdin, as when the orchestrator is killed
    assert proc.poll() is None  # still reaping the job it forked
    job = launched(tmp_path, "long")["pid"]
    os.kill(job, 0)  # the job goes on
    proc.wait(timeout=60)  # the job times out (its own deadline), then the starter exits
    final = wait_final(backend, ["long"])["finals"]["long"]
    assert final.kind == "failed" and final.failure.kind == "timeout", final
    assert warm_mod.exit_code(tmp_path / "long", job) == 1


@pytest.mark.parametrize(
    ("setting", "python", "expected"),
    [
        (None, None, True),
        ("0", None, False),
        ("off", None, False),
        (None, "/usr/bin/python3", False),
    ],
)
def test_when_jobs_start_warm(tmp_path, monkeypatch, setting, python, expected):
    if setting is None:
        monkeypatch.delenv(warm_mod.ENV_SWITCH, raising=False)
    else:
        monkeypatch.setenv(warm_mod.ENV_SWITCH, setting)
    kwargs = {} if python is None else {"python": python}
    assert LocalBackend(tmp_path, **kwargs).warm is expected


def test_cold_when_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv(warm_mod.ENV_SWITCH, "0")
    backend = LocalBackend(tmp_path)
    backend.submit(make_spec(tmp_path, "stall", fault=STALL))
    backend.poll()
    wait_for(lambda: len(backend.events("stall")) >= 1)
    pid = launched(tmp_path, "stall")["pid"]
    assert "warm" not in launched(tmp_path, "stall") and ppid(pid) == os.getpid()
    backend.cancel("stall")
    assert wait_final(backend, ["stall"])["finals"]["stall"].failure.kind == "killed"


def test_the_starter_is_up_before_a_job_is_claimed(tmp_path, monkeypatch):
    """An orchestrator killed while its starter imports must not leave a claim without a pid
    (the job would wait LAUNCH_GRACE_S to be settled): the claim comes after the wait."""
    claimed_while_waiting = []

    def ready(self):
        claimed_while_waiting.append((tmp_path / "j" / "launched.json").exists())
        return False  # and then the job starts cold

    monkeypatch.setattr(warm_mod.WarmStarter, "ready", ready)
    monkeypatch.setattr(warm_mod.WarmStarter, "start_soon", lambda self: None)
    backend = LocalBackend(tmp_path)
    backend.submit(make_spec(tmp_path, "j"))
    assert wait_final(backend, ["j"])["finals"]["j"].kind == "succeeded"
    assert claimed_while_waiting == [False]
    assert "the warm job starter is not up" in (tmp_path / "j" / "stdout.log").read_text()
