"""What the analyst produces: the LLM's structured answers, the phase analysis it hands to the
graph, and the inputs of the campaign report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from rea.agents.schemas import RunRecord

from .stats import Comparison, Interaction


class PhaseSummary(BaseModel):
    """The LLM's reading of one phase's results (numbers are checked against the facts)."""

    summary: str = Field(
        min_length=20,
        max_length=2500,
        description="One paragraph for the engineer: which changes beat the baseline beyond "
        "seed noise, which did not or hurt, any interaction, and what to try next. Quote only "
        "numbers that appear in the facts (rounded is fine); do not compute new ones.",
    )


class ReportNarrative(BaseModel):
    """The LLM's opening paragraph of the campaign report (numbers checked against the facts)."""

    narrative: str = Field(
        min_length=20,
        max_length=4000,
        description="One or two paragraphs: what was tried, what won and by how much with what "
        "confidence, what it cost, and whether to launch. Quote only numbers from the facts.",
    )


class PhaseAnalysis(BaseModel):
    """One phase's results against the baseline (what the planner reads next)."""

    phase: str
    comparisons: list[Comparison] = Field(default_factory=list)
    validated: list[str] = Field(
        default_factory=list, description="Hypothesis ids that beat baseline noise."
    )
    refuted: list[str] = Field(
        default_factory=list, description="Hypothesis ids tested here that did not."
    )
    interactions: list[Interaction] = Field(default_factory=list)
    best_experiment_id: str | None = Field(
        None, description="The validated experiment with the best mean, if any."
    )
    summary: str = ""
    summary_by: str = Field("offline", description="Who wrote the summary: llm | offline.")


class PhaseCost(BaseModel):
    """Compute of one phase: planned vs used trainer-seconds."""

    name: str
    budget_seconds: float = 0.0
    used_seconds: float = 0.0
    trials: int = 0


class PhaseConcurrency(BaseModel):
    """How many of a phase's jobs ran at once, from its first job's start to its last one's end
    (the times the journal recorded them starting and finishing)."""

    name: str
    seconds_running: dict[int, float] = Field(
        default_factory=dict, description="n jobs running at once -> wall seconds"
    )

    @property
    def wall_seconds(self) -> float:
        return sum(self.seconds_running.values())

    @property
    def mean_running(self) -> float:
        """Job-seconds per wall second: the jobs' mean concurrency."""
        wall = self.wall_seconds
        return sum(n * s for n, s in self.seconds_running.items()) / wall if wall else 0.0


class FailureNote(BaseModel):
    """A failed job and what the debugger did about it."""

    job_id: str
    kind: str
    action: str = Field(description="e.g. 'relaunched with batch_size=1024', 'escalated'.")


class ReportInputs(BaseModel):
    """Everything the campaign report shows (read from the journal by the graph)."""

    campaign_id: str
    model: str
    data: str
    budget_seconds: float
    budget_used_seconds: float
    phases: list[PhaseCost] = Field(default_factory=list)
    baseline: RunRecord
    best: RunRecord
    best_comparison: Comparison | None = None
    comparisons: list[Comparison] = Field(default_factory=list)
    interactions: list[Interaction] = Field(default_factory=list)
    titles: dict[str, str] = Field(default_factory=dict, description="hypothesis id -> title")
    sources: dict[str, str] = Field(default_factory=dict, description="hypothesis id -> source")
    failures: list[FailureNote] = Field(default_factory=list)
    pruned_trials: int = Field(0, description="Trials a pruning bar stopped early.")
    pruned_seconds: float = Field(0.0, description="Trainer-seconds those trials used.")
    concurrency: list[PhaseConcurrency] = Field(default_factory=list)
    launch_proposal: dict[str, Any] = Field(default_factory=dict)
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    llm_model: str | None = None
