"""The debugger: diagnose a failed job and decide fix, retry or escalate.

    d = diagnose(brain, failure=event.failure, config=experiment.config, attempt=job.attempt,
                 job_dir=Path(job.output_dir))
    if d.action == "fix":
        new_config = apply_fix(experiment.config, d)      # validated; raises ConfigError
    max_seconds = job.max_seconds * d.max_seconds_factor

The LLM policy reads the log and proposes a patch that the guard (guard.py) keeps inside what is
safe for that failure kind; otherwise, or without an LLM, the runbook (offline.py) answers.
Either way the code escalates once `attempt >= max_attempts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rea.agents.brain import Brain
from rea.agents.llm import decide
from rea.trainers.events import Failure

from .guard import check_diagnosis
from .llm import diagnose_llm
from .offline import apply_fix, diagnose_offline, enforce_limits, repair_config
from .outputs import Action, DebugKind, Diagnosis

__all__ = [
    "Action",
    "DebugKind",
    "Diagnosis",
    "apply_fix",
    "check_diagnosis",
    "diagnose",
    "diagnose_llm",
    "diagnose_offline",
    "enforce_limits",
    "repair_config",
]


def diagnose(
    brain: Brain,
    *,
    failure: Failure,
    config: dict[str, Any],
    attempt: int,
    max_attempts: int = 3,
    job_dir: Path | None = None,
    steps_per_epoch: int | None = None,
) -> Diagnosis:
    """The next step for a job that failed with `failure` while running `config`.

    `job_dir` lets the LLM read more of the log; `steps_per_epoch` sizes a warmup.
    """
    runbook = diagnose_offline(
        failure, config, attempt, max_attempts, steps_per_epoch=steps_per_epoch
    )
    out, _ = decide(
        brain,
        "debugger",
        llm=lambda: diagnose_llm(
            brain,
            failure=failure,
            config=config,
            attempt=attempt,
            max_attempts=max_attempts,
            suggestion=runbook,
            job_dir=job_dir,
        ),
        offline=lambda: runbook,
    )
    return enforce_limits(out, attempt, max_attempts)
