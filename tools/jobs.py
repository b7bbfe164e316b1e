"""Tools over training jobs: a job's log, the campaign's budget and its job history.

    tools = [make_log_tool(job_dir, fallback=failure.log_tail)]       # the debugger
    tools = make_ledger_tools(store, campaign_id)                      # the launcher

Logs are read from the job's output dir and trimmed before they reach a prompt.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from rea.memory import ExperimentStore, NotFound
from rea.trainers.backends import read_tail

MAX_LOG_LINES, MAX_LOG_CHARS = 200, 6000
HISTORY_LIMIT = 30


def job_log(job_dir: Path | None, *, lines: int = 80, contains: str | None = None) -> str:
    """The last `lines` of the job's train.log (or stdout.log), optionally only those that
    contain `contains` (case-insensitive); "" when there is no log."""
    if job_dir is None:
        return ""
    lines = max(1, min(lines, MAX_LOG_LINES))
    text = read_tail(job_dir, lines=10_000, chars=10**7)
    kept = text.splitlines()
    if contains:
        kept = [line for line in kept if contains.lower() in line.lower()]
    return "\n".join(kept[-lines:])[-MAX_LOG_CHARS:]


def make_log_tool(job_dir: Path | None, *, fallback: str = "") -> BaseTool:
    """`read_job_log` over one job's output dir (`fallback`, e.g. the failure's log tail,
    when the dir is unknown or holds no log)."""

    def read_job_log(lines: int = 80, contains: str | None = None) -> str:
        """The end of the failed job's training log. `lines`: how many of the last lines
        (max 200). `contains`: keep only lines containing this text, case-insensitive (e.g.
        "nan", "error", "epoch", "memory"). Epoch lines carry the validation metrics."""
        text = job_log(job_dir, lines=lines, contains=contains)
        if text or (job_dir is not None and contains):
            return text or f"no log line contains {contains!r}"
        return fallback or "no log available for this job"

    return StructuredTool.from_function(read_job_log)


def make_ledger_tools(store: ExperimentStore, campaign_id: str) -> list[BaseTool]:
    """`budget_status` and `job_history` of one campaign."""

    def budget_status() -> dict[str, Any]:
        """The campaign's compute budget in trainer-seconds: approved, charged (by finished
        jobs), reserved (by unfinished jobs) and remaining, also per phase. A job can only
        start if its max_seconds fits in what remains."""
        return store.budget_status(campaign_id).model_dump()

    def job_history() -> list[dict[str, Any]]:
        """The campaign's most recent jobs (up to 30): state, max_seconds reserved, the
        trainer-seconds a succeeded job really used, the failure of a failed one. Use it to
        judge how long similar jobs take."""
        jobs = store.list_jobs(campaign_id)[-HISTORY_LIMIT:]
        return [_job_summary(store, job) for job in jobs]

    return [
        StructuredTool.from_function(budget_status),
        StructuredTool.from_function(job_history),
    ]


def _job_summary(store: ExperimentStore, job: Any) -> dict[str, Any]:
    out = {
        "job_id": job.job_id,
        "experiment_id": job.experiment_id,
        "attempt": job.attempt,
        "state": job.state,
        "max_seconds": job.max_seconds,
    }
    if job.state == "succeeded":
        with contextlib.suppress(NotFound):  # a result not recorded yet
            out["trainer_seconds"] = store.get_result(job.job_id).trainer_seconds
    if job.failure_kind or job.failure_message:
        out["failure"] = f"{job.failure_kind or ''}: {(job.failure_message or '')[:200]}"
    return out
