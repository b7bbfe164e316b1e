"""Warm starts for local jobs: a process that has imported the job's code once forks each job.

A job process spends ~2.5 s of CPU importing torch and the trainers before its first step
(measured on the 2-core development machine; `python -X importtime -c "import
rea.trainers.job"`). A campaign of small exploitation trials pays that for every trial, on the
same cores its other trials train on. `LocalBackend` therefore asks one *warm starter* per
orchestrator process to start its jobs:

    orchestrator --(stdin: one JSON request per line)--> warm starter (torch imported)
                 <--(stdout: {"pid": N} per request)----      |  os.fork()
                                                              v
                                         job process: own session, stdout.log on fds 1 and 2,
                                         the job's environment and cwd, then
                                         `rea.trainers.job.main([spec.json])`, then os._exit

A forked job is what `python -m rea.trainers.job SPEC.json` would be: the same code, its own
process group (cancel's SIGTERM reaches it, and it outlives the orchestrator), its own
environment (OMP_NUM_THREADS, REA_WEBHOOK_SECRET: `run_job` also sets torch's thread count
itself, since OpenMP may have read the variable before the fork). The starter reaps its jobs:
before reaping one it writes the exit status to `<job dir>/exit.json` (`{"pid", "code"}`,
negative = killed by that signal), so `LocalBackend` can still say how a job that died without
a final event ended.

The starter stops taking requests when the orchestrator goes away (EOF on its stdin) and exits
once the jobs it forked have ended. If it stops answering, the backend spawns that job the cold
way (`subprocess.Popen`) and starts a new starter for the next one; if one cannot be started,
jobs start cold for RETRY_AFTER_S before the next try.
`REA_WARM_JOBS=0` (or `LocalBackend(..., warm=False)`) turns warm starts off.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

ENV_SWITCH = "REA_WARM_JOBS"
EXIT_FILE = "exit.json"
READY_TIMEOUT_S = 120.0  # the starter's imports (torch) on a loaded machine
ANSWER_TIMEOUT_S = 30.0  # one fork
RETRY_AFTER_S = 60.0  # a starter that failed to come up is not tried again before this


def enabled_by_env() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


class WarmStarter:
    """The orchestrator's side: starts the starter process on first use and asks it for forks.

    Thread-safe (one request at a time). `spawn` raises `OSError` when the starter cannot
    start a job; the caller then starts it cold."""

    def __init__(self, python: str = sys.executable):
        self.python = python
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._retry_at = 0.0  # after a failed start, jobs start cold until then

    def spawn(self, spec_path: Path, log_path: Path, env: dict[str, str], cwd: str) -> int:
        request = {"spec": str(spec_path), "log": str(log_path), "env": env, "cwd": cwd}
        with self._lock:
            proc = self._proc
            try:
                if proc is None or proc.poll() is not None:
                    raise OSError("it is not up")  # `ready()` brings it up, before a claim
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.flush()
                answer = _read_line(proc.stdout, ANSWER_TIMEOUT_S)
                return int(answer["pid"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                self._stop()
                raise OSError(f"the warm job starter did not start the job: {err}") from err

    def ready(self) -> bool:
        """Start the starter if it is not up (waiting for its imports); whether it is up.

        `LocalBackend` calls this *before* it claims a job (launched.json without a pid), so
        the claim is held only for a fork: an orchestrator killed while a starter comes up
        leaves no job in "being started" for LAUNCH_GRACE_S."""
        with self._lock:
            if time.monotonic() < self._retry_at:
                return False
            try:
                self._ensure()
            except OSError as err:
                self._retry_at = time.monotonic() + RETRY_AFTER_S
                print(f"rea: warm job starts off for {RETRY_AFTER_S:.0f} s: {err}", file=sys.stderr)
                return False
            return True

    def start_soon(self) -> None:
        """Bring the starter up in the background (its imports take seconds), so that the
        first `spawn` does not wait for all of them; a no-op once it is up or coming up."""
        if self._proc is not None or self._lock.locked():
            return
        threading.Thread(target=self.ready, name="rea-warm-start", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stop()
        proc = subprocess.Popen(
            [self.python, "-c", "from rea.trainers.backends.warm import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a signal to the orchestrator's group leaves it be
        )
        try:
            assert proc.stdout is not None
            if _read_line(proc.stdout, READY_TIMEOUT_S).get("ready") is not True:
                raise ValueError("no ready line")
        except (OSError, ValueError) as err:
            proc.kill()
            proc.wait()
            raise OSError(f"the warm job starter did not come up: {err}") from err
        self._proc = proc
        return proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # EOF: it takes no more requests, and ends after its jobs
        with contextlib.suppress(OSError):
            assert proc.stdout is not None
            proc.stdout.close()


def _read_line(stream: IO[bytes], timeout: float) -> dict[str, Any]:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise OSError(f"no answer in {timeout:.0f} s")
    line = stream.readline()
    if not line:
        raise OSError("the starter exited")
    answer = json.loads(line)
    if not isinstance(answer, dict):
        raise ValueError(f"unexpected answer {line!r}")
    return answer


_STARTERS: dict[str, WarmStarter] = {}
_STARTERS_LOCK = threading.Lock()


def starter_for(python: str) -> WarmStarter:
    """The one starter of this process for `python` (every LocalBackend in it shares it)."""
    with _STARTERS_LOCK:
        if python not in _STARTERS:
            _STARTERS[python] = WarmStarter(python)
        return _STARTERS[python]


def exit_code(job_dir: Path, pid: int) -> int | None:
    """The exit status the starter recorded for `pid` in `job_dir`, if it did."""
    try:
        record = json.loads((job_dir / EXIT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("pid") != pid:
        return None
    code = record.get("code")
    return code if isinstance(code, int) else None


# --- the starter process ------------------------------------------------------------------
def serve() -> None:
    """The starter's loop: fork a job per request line, reap jobs, exit after EOF and them."""
    import rea.trainers.job  # noqa: F401  (the point: imported once, before any fork)

    requests, answers = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to stderr, not into the answers
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select (through the wakeup fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is for the orchestrator
    gc.collect()
    gc.freeze()  # the imported heap stays shared with the forked jobs (no copy-on-write)
    jobs: dict[int, Path] = {}
    answers.write(b'{"ready": true}\n')
    answers.flush()
    reading = True
    while reading or jobs:
        waiting = [wake_r, requests] if reading else [wake_r]
        ready, _, _ = select.select(waiting, [], [], 1.0)
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        _reap(jobs)
        if requests in ready:
            line = requests.readline()
            if not line:
                reading = False  # the orchestrator is gone: finish with the running jobs
                continue
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _run_child(request, answers.fileno(), (wake_r, wake_w))
            jobs[pid] = Path(request["spec"]).parent
            answers.write(json.dumps({"pid": pid}).encode() + b"\n")
            answers.flush()


def _reap(jobs: dict[int, Path]) -> None:
    """Record and reap every ended job (the status is written before the pid is freed)."""
    while jobs:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            jobs.clear()
            return
        if info is None:
            return
        pid = info.si_pid
        code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        job_dir = jobs.pop(pid, None)
        if job_dir is not None:
            _write_exit(job_dir, pid, code)
        os.waitpid(pid, 0)


def _write_exit(job_dir: Path, pid: int, code: int) -> None:
    tmp = job_dir / f".{EXIT_FILE}.{pid}"
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps({"pid": pid, "code": code}))
        os.replace(tmp, job_dir / EXIT_FILE)


def _run_child(request: dict[str, Any], answers_fd: int, wake: tuple[int, int]) -> None:
    """In the forked job process: become `python -m rea.trainers.job SPEC` and exit."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        for fd in (answers_fd, *wake):
            os.close(fd)
        os.setsid()
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [sys.argv[0], request["spec"]]
        from rea.trainers.job import main

        code = main([request["spec"]])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # the job's own errors are already its final event; this is ours
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve()
