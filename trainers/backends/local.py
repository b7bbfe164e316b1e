"""Run training jobs as subprocesses of this machine, a few at a time, queued in files.

    backend = LocalBackend(home / "jobs", env={"REA_WEBHOOK_SECRET": secret})
    backend.submit(spec)          # spec.output_dir must be backend.job_dir(spec.job_id)
    backend.poll()                # starts queued jobs while fewer than max_parallel run
    backend.final_event(job_id)   # result.json, or a synthesized `failed` event if it died
    backend.logs(job_id)          # the tail of its stdout.log; backend.list(): every job

It implements `JobBackend` (base.py). Jobs are detached (each its own session and process
group), so they outlive the orchestrator; max_parallel defaults to the number of cores.

Every piece of state is a file under `jobs_root/<job_id>/`, so a new `LocalBackend` on the same
root (a restarted orchestrator) continues the queue and sees the running jobs:

    submitted.json  the spec and submission time; created exclusively (a repeat submit is a no-op)
    launched.json   created exclusively *before* the process is spawned, then given its pid: a
                    job is spawned at most once, whatever crashes or how many pollers race
    spec.json, stdout.log, and what the job writes (train.log, events.jsonl, result.json)

Each spawn appends `<job_id> <attempt> <ns>` to `jobs_root/submissions.log` just before the
process is started (the pid is in launched.json), so every started job is there. A job whose
process died without a final event gets a synthesized `failed` one (kind `crashed`, or `killed`
after `cancel`) written to its result.json, so nothing waits forever on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..events import PID_FILE_ENV, Failure, JobEvent, JobSpec, now_iso
from . import warm
from .base import LOG_LINES, JobInfo, JobState, tail
from .files import (
    create_exclusive,
    proc_start,
    read_events,
    read_json,
    read_tail,
    write_atomic,
)

SUBMITTED, LAUNCHED = "submitted.json", "launched.json"
JOB_PID = "job_pid.json"  # the job's own record of its pid (PID_FILE_ENV)
RESULT, EVENTS = "result.json", "events.jsonl"
CANCEL_REQUESTED = "cancel_requested"
SUBMISSIONS_LOG = "submissions.log"
EXTERNAL_PREFIX = "local:"
# launched.json without a pid this long after its creation: the launcher died mid-spawn.
LAUNCH_GRACE_S = 60.0

# The processes this Python process spawned, by job dir, shared by every LocalBackend in it:
# whichever instance polls reaps them (no zombies) and still learns their exit codes.
_CHILDREN: dict[str, subprocess.Popen[bytes]] = {}


class LocalBackend:
    """Subprocess jobs on this machine; at most `max_parallel` of this root's jobs run at once
    (default: the number of cores, `os.cpu_count()`).

    `env` is added to each job's environment (e.g. REA_WEBHOOK_SECRET, which must never go in
    the spec file); OMP_NUM_THREADS is the spec's `num_threads`, 1 unless the spec says
    otherwise, so that two jobs fit two cores.

    `warm` (default: on unless REA_WARM_JOBS=0, and only for this interpreter's `python`):
    jobs are forked from a process that has imported torch and the trainers once (warm.py)
    instead of each starting a new interpreter.
    """

    name = "local"

    def __init__(
        self,
        jobs_root: str | Path,
        *,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        max_parallel: int | None = None,
        warm: bool | None = None,
    ):
        if max_parallel is None:
            max_parallel = default_parallel()
        if max_parallel < 1:
            raise ValueError(f"max_parallel must be >= 1 (got {max_parallel})")
        self.jobs_root = Path(jobs_root)
        self.jobs_root.mkdir(parents=True, exist_ok=True)
        self.python, self.env, self.max_parallel = python, dict(env or {}), max_parallel
        if warm is None:
            warm = warm_default(python)
        self.warm = warm
        self._submitted_ns: dict[str, int] = {}  # job dir name -> its submission time
        self._finished: set[str] = set()  # job dirs with a result.json (it is never removed)
        self._root = str(self.jobs_root)

    def job_dir(self, job: str | Path) -> Path:
        """The output dir of a job id, an external id (`local:<job_id>`), or a dir itself."""
        if isinstance(job, Path):
            return job
        return self.jobs_root / job.removeprefix(EXTERNAL_PREFIX)

    # --- submit / poll ----------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> str:
        """Queue `spec` (idempotent per job id + attempt); return its external id.

        The job starts on a later `poll()` once a slot is free.
        """
        out = self.job_dir(spec.job_id)
        if Path(spec.output_dir).resolve() != out.resolve():
            raise ValueError(
                f"job {spec.job_id!r}: output_dir must be {out} (backend.job_dir(job_id)), "
                f"got {spec.output_dir}; the local backend finds its queue by job id"
            )
        if spec.num_threads is None:
            spec = spec.model_copy(update={"num_threads": 1})
        external_id = EXTERNAL_PREFIX + spec.job_id
        out.mkdir(parents=True, exist_ok=True)
        marker = {"external_id": external_id, "submitted_ns": time.time_ns(), "spec": spec}
        if not create_exclusive(out / SUBMITTED, marker):
            _same_attempt(read_json(out / SUBMITTED), spec)
        elif self.warm:
            warm.starter_for(self.python).start_soon()  # a poll will want it
        return external_id

    def poll(self) -> None:
        """Start queued jobs, oldest submission first, while fewer than max_parallel run.

        Also writes the synthesized final event of every job whose process died without one.
        """
        with self._lock():
            names = self._submitted_names()
            states = {name: self._quick_state(name) for name in names}
            running = sum(1 for s in states.values() if s == "running")
            for name in names:
                if running >= self.max_parallel:
                    break
                if states[name] == "queued" and self._start(self.jobs_root / name):
                    running += 1

    def state(self, job: str | Path) -> JobState:
        """unknown (never submitted) | queued | running | finished (result.json is there)."""
        d = self.job_dir(job)
        return self._settle(d) if (d / SUBMITTED).exists() else "unknown"

    # --- events -----------------------------------------------------------------------------
    def events(self, job: str | Path) -> list[JobEvent]:
        """Every event the job wrote to events.jsonl (a torn last line is skipped)."""
        return read_events(self.job_dir(job) / EVENTS)

    def final_event(self, job: str | Path) -> JobEvent | None:
        """The job's final event: result.json, or a synthesized `failed` event when its process
        is gone without writing one; None while it is queued or running (or unknown)."""
        d = self.job_dir(job)
        if not (d / SUBMITTED).exists() or self._settle(d) != "finished":
            return None
        return JobEvent.model_validate_json((d / RESULT).read_text())

    def cancel(self, job: str | Path) -> bool:
        """Stop a job: a queued one never starts (its result.json becomes a `killed` failure);
        a running one gets SIGTERM on its process group (it reports `killed` itself). Returns
        False when there was nothing to stop (already finished)."""
        d = self.job_dir(job)
        if not (d / SUBMITTED).exists():
            raise LookupError(f"job {d.name!r} was never submitted to {self.jobs_root}")
        if (d / RESULT).exists():
            return False
        (d / CANCEL_REQUESTED).touch()
        if create_exclusive(d / LAUNCHED, {"cancelled": True, "launched_ns": time.time_ns()}):
            self._finish(d, "killed", "cancelled before it started")
            return True
        launch = _launch_record(d)
        pid = launch.get("pid")
        if pid is None or not _alive(d, launch)[0]:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        return True

    def logs(self, job: str | Path, lines: int = LOG_LINES) -> str:
        """The last `lines` lines of what the job process printed (stdout.log: its log, plus
        anything before logging started, e.g. an import error), else of its train.log."""
        d = self.job_dir(job)
        if not (d / SUBMITTED).exists():
            raise LookupError(f"job {d.name!r} was never submitted to {self.jobs_root}")
        for name in ("stdout.log", "train.log"):
            try:
                text = (d / name).read_text(errors="replace")
            except OSError:
                continue
            if text.strip():
                return tail(text, lines)
        return ""

    def list(self) -> list[JobInfo]:
        """Every job submitted to this jobs root, in submission order."""
        return [
            JobInfo(job_id=d.name, state=self._settle(d), external_id=EXTERNAL_PREFIX + d.name)
            for d in self._submitted_dirs()
        ]

    # --- internals --------------------------------------------------------------------------
    def _submitted_dirs(self) -> list[Path]:
        return [self.jobs_root / name for name in self._submitted_names()]

    def _submitted_names(self) -> list[str]:
        """Job dir names in submission order (submission time, then job id).

        A job's submission time never changes (submitted.json is created once, complete), so
        each is read once per backend object: a poll over 1,000 queued jobs lists the root
        instead of parsing 1,000 specs."""
        found = []
        with os.scandir(self.jobs_root) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
                submitted = self._submitted_ns.get(entry.name)
                if submitted is None:
                    submitted = self._read_submitted(Path(entry.path))
                if submitted is not None:
                    found.append((submitted, entry.name))
        return [name for _, name in sorted(found)]

    def _read_submitted(self, d: Path) -> int | None:
        """The job's submission time from its submitted.json (kept), None if not submitted."""
        marker = read_json(d / SUBMITTED)
        if not marker:
            return 0 if (d / SUBMITTED).exists() else None  # unreadable: first in line
        self._submitted_ns[d.name] = submitted = int(marker.get("submitted_ns", 0))
        return submitted

    def _quick_state(self, name: str) -> JobState:
        """`_settle` of a job dir by name, with a job found finished remembered (its
        result.json stays) and the common queued case told by two stats on plain strings (a
        poll over 1,000 queued jobs is mostly this)."""
        if name in self._finished:
            return "finished"
        base = f"{self._root}/{name}/"
        if not os.path.exists(base + RESULT) and not os.path.exists(base + LAUNCHED):
            return "queued"
        state = self._settle(self.jobs_root / name)
        if state == "finished":
            self._finished.add(name)
        return state

    def _settle(self, d: Path) -> JobState:
        """The job's state; a launched job found dead without result.json gets one now."""
        if (d / RESULT).exists():
            return "finished"
        if not (d / LAUNCHED).exists():
            return "queued"
        launch = _launch_record(d)
        alive, code = _alive(d, launch)
        if alive:
            return "running"
        if launch.get("cancelled"):
            message = "cancelled before it started"
        elif launch.get("pid") is None:
            message = (
                "the backend stopped while starting the job; its process id was never recorded"
            )
        else:
            code_text = "unknown" if code is None else str(code)
            message = (
                f"job process {launch['pid']} exited without a final event (exit code {code_text})"
            )
        kind = "killed" if (d / CANCEL_REQUESTED).exists() else "crashed"
        self._finish(d, kind, message)
        return "finished"

    def _finish(self, d: Path, kind: str, message: str) -> None:
        """Write a synthesized final `failed` event, unless the job wrote its own first."""
        spec = JobSpec.model_validate(read_json(d / SUBMITTED)["spec"])
        events = self.events(d)
        event = JobEvent(
            job_id=spec.job_id,
            attempt=spec.attempt,
            seq=events[-1].seq + 1 if events else 0,
            kind="failed",
            at=now_iso(),
            failure=Failure(kind=kind, message=message, log_tail=read_tail(d)),
        )
        create_exclusive(d / RESULT, event.model_dump(exclude_none=True))

    def _start(self, d: Path) -> bool:
        """Spawn the job's process, exactly once (launched.json is the claim)."""
        # The warm starter is brought up first (its imports take seconds), so the claim below
        # is held without a pid only for a fork or an exec.
        warm_ready = self.warm and warm.starter_for(self.python).ready()
        if not create_exclusive(d / LAUNCHED, {"pid": None, "launched_ns": time.time_ns()}):
            return False
        spec = JobSpec.model_validate(read_json(d / SUBMITTED)["spec"])
        write_atomic(d / "spec.json", spec.model_dump_json(indent=2))
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(spec.num_threads or 1),
            **self.env,
            PID_FILE_ENV: str(d / JOB_PID),
        }
        cmd = [self.python, "-m", "rea.trainers.job", str(d / "spec.json")]
        # Logged before the spawn: a kill between the two leaves a line for a process that
        # never started (its claim is settled as crashed), never a started job missing here.
        with (self.jobs_root / SUBMISSIONS_LOG).open("a") as f:
            f.write(f"{spec.job_id} {spec.attempt} {time.time_ns()}\n")
        pid = self._spawn_warm(d, env, warm_ready)
        forked = pid is not None
        if pid is None:
            try:
                with (d / "stdout.log").open("ab") as log:
                    proc = subprocess.Popen(
                        cmd, start_new_session=True, stdout=log, stderr=subprocess.STDOUT, env=env
                    )
            except OSError as err:
                self._finish(d, "crashed", f"could not start the job process {cmd}: {err}")
                return False
            _CHILDREN[str(d.resolve())] = proc
            pid = proc.pid
        launch = {
            "pid": pid,
            "pid_start": proc_start(pid),
            "launched_ns": time.time_ns(),
            **({"warm": True} if forked else {}),
        }
        write_atomic(d / LAUNCHED, json.dumps(launch))
        if (d / CANCEL_REQUESTED).exists():  # cancelled while we were spawning it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        return True

    def _spawn_warm(self, d: Path, env: dict[str, str], ready: bool) -> int | None:
        """The pid of the job forked by this process's warm starter; None: start it cold."""
        if not self.warm:
            return None
        try:
            if not ready:
                raise OSError("the warm job starter is not up (see the orchestrator's stderr)")
            return warm.starter_for(self.python).spawn(
                d / "spec.json", d / "stdout.log", env, os.getcwd()
            )
        except OSError as err:
            with (d / "stdout.log").open("a") as log:
                log.write(f"note: started without the warm starter ({err})\n")
            return None

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One poller at a time per jobs root (so max_parallel holds across processes)."""
        with (self.jobs_root / ".poll.lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def warm_default(python: str) -> bool:
    """Warm starts unless REA_WARM_JOBS turns them off; only for this interpreter (a starter
    for another `python` could not import this process's code the same way)."""
    return warm.enabled_by_env() and os.path.realpath(python) == os.path.realpath(sys.executable)


def default_parallel() -> int:
    """How many local jobs run at once by default: one per core."""
    return os.cpu_count() or 1


def _same_attempt(marker: dict[str, Any], spec: JobSpec) -> None:
    attempt = marker.get("spec", {}).get("attempt")
    if attempt != spec.attempt:
        raise ValueError(
            f"job id {spec.job_id!r} was already submitted as attempt {attempt}; "
            "each attempt needs its own job id"
        )


def _launch_record(d: Path) -> dict[str, Any]:
    """launched.json; while it holds no pid (its spawner died between the spawn and recording
    it, or is between the two right now), the pid the job recorded itself (JOB_PID)."""
    launch = read_json(d / LAUNCHED)
    if launch.get("pid") is None and not launch.get("cancelled"):
        own = read_json(d / JOB_PID)
        if isinstance(own.get("pid"), int):
            launch = {**launch, "pid": own["pid"], "pid_start": own.get("pid_start")}
    return launch


def _alive(d: Path, launch: dict[str, Any]) -> tuple[bool, int | None]:
    """(is the job's process running, its exit code when this process reaped it)."""
    if launch.get("cancelled"):
        return False, None
    pid = launch.get("pid")
    if pid is None:  # being spawned right now, or the spawner died in between
        return time.time_ns() - launch.get("launched_ns", 0) < LAUNCH_GRACE_S * 1e9, None
    proc = _CHILDREN.get(str(d.resolve()))
    if proc is not None and proc.pid == pid:
        code = proc.poll()
        return code is None, code
    try:  # our child from an earlier backend object that we no longer hold: reap it
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return False, os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, warm.exit_code(d, pid)  # recorded when the warm starter forked it
    except PermissionError:
        pass  # alive, owned by someone else: only the start time can tell pid reuse
    start = proc_start(pid)
    if start == "zombie" and launch.get("warm"):
        return True, None  # its starter records the exit status, then reaps it (warm.py)
    return start is None or launch.get("pid_start") in (None, start), None
