"""The job-backend interface: what the launcher and the campaign runner need from wherever jobs
run (this machine, a Ray cluster, and — documented in docs/backends.md — Slurm or Kubernetes).

Every backend runs the same thing, `python -m rea.trainers.job SPEC.json`, and reads back the
same files the job writes to its output dir (events.jsonl, result.json, train.log); a backend
adds only how the job is started, queued, stopped and found again after an orchestrator restart.
Jobs are addressed by job id (or the external id `submit` returned, `<backend>:<job_id>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from ..events import JobEvent, JobSpec

# unknown (never submitted) | queued (not started yet) | running | finished (final event known)
JobState = Literal["unknown", "queued", "running", "finished"]
LOG_LINES = 200  # logs() default
TAIL_LINES, TAIL_CHARS = 40, 4000  # the log tail of a synthesized failure (it goes in prompts)


@dataclass(frozen=True)
class JobInfo:
    """One job a backend knows about (`JobBackend.list`)."""

    job_id: str
    state: JobState
    external_id: str


@runtime_checkable
class JobBackend(Protocol):
    """Where training jobs run. Implementations: `LocalBackend`, `RayBackend`."""

    name: str  # stored on the job row: "local" | "ray" | ...
    jobs_root: Path  # job dirs live at jobs_root/<job_id> (the spec's output_dir)

    def submit(self, spec: JobSpec) -> str:
        """Queue or start `spec`; idempotent per job id (a repeat is a no-op). The external id."""
        ...

    def poll(self) -> None:
        """Advance the backend's own queue (start jobs while there is room); may do nothing."""
        ...

    def state(self, job: str) -> JobState:
        """Where the job is: unknown | queued | running | finished."""
        ...

    def events(self, job: str) -> list[JobEvent]:
        """Every event the job reported so far, in order (the final one included)."""
        ...

    def final_event(self, job: str) -> JobEvent | None:
        """The final event (`succeeded` or `failed`); a job that died without one gets a
        synthesized `failed` event (`killed` after a cancel, else `crashed`). None while it runs."""
        ...

    def cancel(self, job: str) -> bool:
        """Stop the job (it ends as a `killed` failure); False when it had already finished.
        Raises LookupError for a job this backend never saw."""
        ...

    def logs(self, job: str, lines: int = LOG_LINES) -> str:
        """The last `lines` lines of the job's log ("" when there is none yet)."""
        ...

    def list(self) -> list[JobInfo]:
        """Every job of this backend (this jobs root), oldest first."""
        ...


def tail(text: str, lines: int) -> str:
    """The last `lines` lines of `text`."""
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""
