"""Run training jobs on a Ray cluster through the Ray Jobs API (`JobSubmissionClient`).

    backend = RayBackend("http://head:8265", home / "jobs", env={"REA_WEBHOOK_SECRET": s})
    backend.submit(spec)        # a Ray job with submission id = spec.job_id (a repeat: no-op)
    backend.final_event(job_id) # result.json, else the job's log, else Ray's status

Each job is `python -m rea.trainers.job <jobs_root>/<job_id>/spec.json` on a node Ray picks with
the CPUs and GPUs of `spec.resources` (`entrypoint_num_cpus` / `entrypoint_num_gpus`). The
spec file is written where the orchestrator keeps its job dirs; the spec also travels inline in
the job's environment (REA_JOB_SPEC), so a node that does not share that storage still runs it.
Events are read from the job dir when the storage is shared (events.jsonl, result.json), else
from the job's Ray log, where the job echoes each event (REA_ECHO_EVENTS); a job that ended
without a final event gets a synthesized `failed` one: `killed` when Ray stopped it, `crashed`
when it failed, with the tail of its Ray log. Callbacks to `spec.callback_url` work either way.

`ray` is imported on first use, so `rea.trainers` imports without it (`pip install "rea[ray]"`).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ..events import ECHO_ENV, ECHO_PREFIX, SPEC_ENV, Failure, JobEvent, JobSpec, now_iso
from .base import LOG_LINES, TAIL_CHARS, TAIL_LINES, JobInfo, JobState, tail
from .files import create_exclusive, read_events, write_atomic

EXTERNAL_PREFIX = "ray:"
RESULT, EVENTS, SPEC = "result.json", "events.jsonl", "spec.json"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
STATES: dict[str, JobState] = {"PENDING": "queued", "RUNNING": "running"}
FINAL_KINDS = ("succeeded", "failed")


class RayUnavailable(RuntimeError):
    """Ray is not installed, or its dashboard (the Jobs API) cannot be reached."""


class RayBackend:
    """Jobs on the Ray cluster whose dashboard is at `address` (e.g. http://127.0.0.1:8265).

    `jobs_root` is where job dirs live (the spec's output_dir is jobs_root/<job_id>); `env` is
    added to every job's environment (e.g. REA_WEBHOOK_SECRET: never in the spec); `python`
    is the interpreter on the workers that has rea installed.
    """

    name = "ray"

    def __init__(
        self,
        address: str,
        jobs_root: str | Path,
        *,
        env: dict[str, str] | None = None,
        python: str = "python",
        client: Any = None,
    ):
        self.address = address
        self.jobs_root = Path(jobs_root)
        self.jobs_root.mkdir(parents=True, exist_ok=True)
        self.env, self.python = dict(env or {}), python
        self._client = client

    @property
    def client(self) -> Any:
        """The `JobSubmissionClient` (connected on first use)."""
        if self._client is None:
            self._client = connect(self.address)
        return self._client

    def job_dir(self, job: str | Path) -> Path:
        if isinstance(job, Path):
            return job
        return self.jobs_root / job.removeprefix(EXTERNAL_PREFIX)

    # --- submit / poll ----------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> str:
        """Submit `spec` as the Ray job `spec.job_id`; a repeat submit is a no-op."""
        external_id = EXTERNAL_PREFIX + spec.job_id
        info = self._info(spec.job_id)
        if info is not None:
            _same_attempt(info, spec)
            return external_id
        if spec.num_threads is None:  # as many intra-op threads as the CPUs reserved
            spec = spec.model_copy(update={"num_threads": max(1, int(spec.resources.cpus))})
        spec_path = self.job_dir(spec.job_id) / SPEC
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(spec_path, spec.model_dump_json(indent=2))
        try:
            self.client.submit_job(
                entrypoint=f"{shlex.quote(self.python)} -m rea.trainers.job "
                f"{shlex.quote(str(spec_path))}",
                submission_id=spec.job_id,
                runtime_env={"env_vars": self._env(spec)},
                metadata=self._metadata(spec),
                entrypoint_num_cpus=spec.resources.cpus,
                entrypoint_num_gpus=spec.resources.gpus or None,
            )
        except RuntimeError as err:
            if "already exists" not in str(err):  # else: a concurrent submit won the race
                raise
        return external_id

    def poll(self) -> None:
        """Nothing to do: Ray queues the jobs until their CPUs / GPUs are free."""

    def state(self, job: str | Path) -> JobState:
        if (self.job_dir(job) / RESULT).exists():
            return "finished"
        info = self._info(self.job_dir(job).name)
        if info is None:
            return "unknown"
        return STATES.get(_status(info), "finished")

    # --- events -----------------------------------------------------------------------------
    def events(self, job: str | Path) -> list[JobEvent]:
        """The job's events: its events.jsonl when the storage is shared, else its Ray log."""
        d = self.job_dir(job)
        if (d / EVENTS).exists():
            return read_events(d / EVENTS)
        if self._info(d.name) is None:
            return []
        return echoed_events(self._raw_logs(d.name))

    def final_event(self, job: str | Path) -> JobEvent | None:
        """result.json; else, once Ray says the job ended, its final event from the log or a
        synthesized `failed` one (cached in the job dir's result.json)."""
        d = self.job_dir(job)
        if (d / RESULT).exists():
            return JobEvent.model_validate_json((d / RESULT).read_text())
        info = self._info(d.name)
        if info is None or _status(info) not in TERMINAL:
            return None
        if (d / RESULT).exists():  # written by the job just before it ended
            return JobEvent.model_validate_json((d / RESULT).read_text())
        events = self.events(d.name)
        final = next((e for e in reversed(events) if e.kind in FINAL_KINDS), None)
        final = final or self._synthesize(d.name, info, events)
        d.mkdir(parents=True, exist_ok=True)
        create_exclusive(d / RESULT, final.model_dump(exclude_none=True))
        return JobEvent.model_validate_json((d / RESULT).read_text())

    def cancel(self, job: str | Path) -> bool:
        """`stop_job`: Ray sends the job SIGTERM (it reports `killed`), SIGKILL after a grace."""
        job_id = self.job_dir(job).name
        info = self._info(job_id)
        if info is None:
            raise LookupError(f"Ray at {self.address} has no job {job_id!r}")
        if _status(info) in TERMINAL:
            return False
        return bool(self.client.stop_job(job_id))

    def logs(self, job: str | Path, lines: int = LOG_LINES) -> str:
        """The tail of the job's Ray log (its stdout and stderr), without the echoed events."""
        job_id = self.job_dir(job).name
        if self._info(job_id) is None:
            raise LookupError(f"Ray at {self.address} has no job {job_id!r}")
        return tail(_without_events(self._raw_logs(job_id)), lines)

    def list(self) -> list[JobInfo]:
        """The cluster's jobs submitted by a RayBackend over this jobs root, oldest first."""
        mine = [
            info
            for info in self.client.list_jobs()
            if (info.metadata or {}).get("rea_jobs_root") == str(self.jobs_root)
        ]
        mine.sort(key=lambda info: (info.start_time or 0, info.submission_id or ""))
        return [
            JobInfo(
                job_id=info.submission_id,
                state=self.state(info.submission_id),
                external_id=EXTERNAL_PREFIX + info.submission_id,
            )
            for info in mine
        ]

    # --- internals --------------------------------------------------------------------------
    def _env(self, spec: JobSpec) -> dict[str, str]:
        return {
            "OMP_NUM_THREADS": str(spec.num_threads or 1),
            SPEC_ENV: spec.model_dump_json(),
            ECHO_ENV: "1",
            **self.env,
        }

    def _metadata(self, spec: JobSpec) -> dict[str, str]:
        return {
            "rea_job_id": spec.job_id,
            "rea_attempt": str(spec.attempt),
            "rea_campaign_id": spec.campaign_id,
            "rea_jobs_root": str(self.jobs_root),
        }

    def _info(self, job_id: str) -> Any:
        """Ray's `JobDetails` of the job, or None when Ray has no such job."""
        try:
            return self.client.get_job_info(job_id)
        except RuntimeError as err:
            if "status code 404" in str(err) or "does not exist" in str(err):
                return None
            raise
        except OSError as err:  # requests' ConnectionError and timeouts
            raise RayUnavailable(
                f"the Ray Jobs API at {self.address} did not answer ({err}); is the cluster up?"
            ) from None

    def _raw_logs(self, job_id: str) -> str:
        try:
            return self.client.get_job_logs(job_id) or ""
        except RuntimeError:  # not started yet, or its logs are gone with its node
            return ""

    def _synthesize(self, job_id: str, info: Any, events: list[JobEvent]) -> JobEvent:
        status = _status(info)
        kind = "killed" if status == "STOPPED" else "crashed"
        message = f"Ray job {job_id} ended {status} without a final event"
        if info.message:
            message += f": {info.message}"
        log_tail = tail(_without_events(self._raw_logs(job_id)), TAIL_LINES)[-TAIL_CHARS:]
        return JobEvent(
            job_id=job_id,
            attempt=int((info.metadata or {}).get("rea_attempt", 1)),
            seq=events[-1].seq + 1 if events else 0,
            kind="failed",
            at=now_iso(),
            failure=Failure(kind=kind, message=message[:2000], log_tail=log_tail),
        )


def connect(address: str) -> Any:
    """A `JobSubmissionClient` for the dashboard at `address`; `RayUnavailable` saying what to
    do when ray is not installed or the dashboard does not answer."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as err:
        raise RayUnavailable(f'REA_BACKEND=ray needs ray: pip install "rea[ray]" ({err})') from None
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayUnavailable(
            f"cannot reach the Ray Jobs API at {address!r} ({str(err).rstrip('.')}). Start the "
            "cluster (its "
            "dashboard serves the API) and set REA_RAY_ADDRESS to it, e.g. http://HEAD:8265"
        ) from None


def echoed_events(log: str) -> list[JobEvent]:
    """The events a job echoed into its log (REA_ECHO_EVENTS), in order; a torn line is skipped."""
    events = []
    for line in log.splitlines():
        if line.startswith(ECHO_PREFIX):
            try:
                events.append(JobEvent.model_validate_json(line[len(ECHO_PREFIX) :]))
            except ValueError:
                continue
    return events


def _without_events(log: str) -> str:
    return "\n".join(line for line in log.splitlines() if not line.startswith(ECHO_PREFIX))


def _status(info: Any) -> str:
    return str(getattr(info.status, "value", info.status))


def _same_attempt(info: Any, spec: JobSpec) -> None:
    attempt = (info.metadata or {}).get("rea_attempt")
    if attempt is not None and attempt != str(spec.attempt):
        raise ValueError(
            f"job id {spec.job_id!r} was already submitted to Ray as attempt {attempt}; "
            "each attempt needs its own job id"
        )
