"""The debugger's structured output: what went wrong and what to do about it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rea.trainers.events import FailureKind

# The job failure kinds (DESIGN.md §3) plus "lost": the backend lost the job's process.
DebugKind = FailureKind | Literal["lost"]
Action = Literal["fix", "retry", "escalate"]


class Diagnosis(BaseModel):
    """A failed job's diagnosis and the next step: relaunch with a fix, relaunch unchanged, or
    hand it to the human."""

    model_config = ConfigDict(extra="forbid")

    failure_kind: DebugKind = Field(
        description="The failure kind; keep the job's own unless it is 'crashed' and the log "
        "shows the real cause (e.g. an out-of-memory error is 'oom')."
    )
    diagnosis: str = Field(description="What went wrong, 1-2 sentences, citing the log.")
    action: Action = Field(
        description="fix: relaunch with config_patch; retry: relaunch unchanged (infra "
        "failures, timeouts); escalate: a human must decide (data problems, nothing safe left)."
    )
    config_patch: dict[str, Any] = Field(
        default_factory=dict,
        description="Trainer config keys to set for the relaunch (action fix), e.g. "
        '{"batch_size": 1024, "lr": 0.0005}. Empty for retry. Never "model" or "seed".',
    )
    drop_keys: list[str] = Field(
        default_factory=list,
        description="Unknown config keys to remove (config_error only).",
    )
    max_seconds_factor: float = Field(
        1.0,
        ge=0.5,
        le=3.0,
        description="Multiply the job's max_seconds by this on relaunch (timeouts: 1.5).",
    )
    rationale: str = Field("", description="Why this fix should work, 1-3 lines.")
