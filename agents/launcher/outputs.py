"""What the launcher takes and answers: launch requests, the policy's plan, the report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict


class LaunchRequest(BaseModel):
    """Run attempt `attempt` of an experiment within `max_seconds` of the budget."""

    model_config = ConfigDict(extra="forbid")

    experiment_id: str
    attempt: int = Field(1, ge=1)
    max_seconds: float = Field(gt=0, description="Budget seconds to reserve for the job.")
    fault: dict[str, Any] | None = Field(None, description="A fault to inject (tests, drills).")
    num_threads: int = Field(1, ge=1, le=256)
    prune: dict[str, Any] | None = Field(
        None,
        description="Per-epoch val NE bars the job stops behind (`rea.trainers.pruning.Prune`).",
    )

    @property
    def job_id(self) -> str:
        """Deterministic per experiment and attempt, so a replay finds the same job."""
        return f"{self.experiment_id}-a{self.attempt}"


class LaunchItem(BaseModel):
    """One job of the launch plan, in launch order."""

    experiment_id: str = Field(description="An experiment_id of the requests.")
    attempt: int = Field(description="Its attempt, as in the requests.")
    max_seconds: float = Field(
        gt=0, description="Seconds to reserve: at most the requested max_seconds, never more."
    )


class LaunchPlan(BaseModel):
    """The order to launch the requested jobs in, and each one's (possibly lowered) budget."""

    items: list[LaunchItem] = Field(
        description="Every requested job exactly once, the one to start first first."
    )
    rationale: str = Field("", description="Why this order and these budgets, in 1-3 lines.")


class Skipped(TypedDict):
    """A request that was not launched: reason "budget" or "already finished"."""

    experiment_id: str
    attempt: int
    reason: str


class LaunchReport(BaseModel):
    """Jobs submitted (or already in flight from an earlier call) and requests skipped."""

    launched: list[str] = Field(default_factory=list, description="Job ids, in launch order.")
    skipped: list[Skipped] = Field(default_factory=list)
    policy: str = Field("offline", description="Which policy ordered the jobs: llm | offline.")
