"""The planner's structured outputs: the plan the human approves, and what the LLM drafts.

`Plan`, `PlannedExperiment`, `PhaseBudget` and `ExploitSpace` are what the graph stores and
launches; `PlanDraft` and `CombinationDraft` are the LLM's answers, which code turns into those
(checking every delta, the budget and the tried list) before anything runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from rea.agents.schemas import HypothesisProposal


class PlannedExperiment(BaseModel):
    """One experiment to run: a config delta on the baseline, with its seeds and cost estimate."""

    hypothesis_id: str | None = Field(
        None, description="The hypothesis it tests; None for combinations and TPE trials."
    )
    title: str
    config_delta: dict[str, Any] = Field(description="Relative to the baseline; validated.")
    seeds: list[int] = Field(min_length=1)
    est_seconds: float = Field(ge=0.0, description="Trainer-seconds, safety margin included.")
    parents: list[str] = Field(
        default_factory=list, description="Combination: the hypothesis ids it stacks."
    )
    new_hypothesis: HypothesisProposal | None = Field(
        None,
        description="A free-form idea the LLM planner added (source llm): store it as a "
        "hypothesis before launching, and set hypothesis_id to the stored id.",
    )


class PhaseBudget(BaseModel):
    """Trainer-seconds per phase; the four sum to at most what was left when planning."""

    validation: float = Field(ge=0.0)
    combination: float = Field(ge=0.0)
    exploitation: float = Field(ge=0.0)
    reserve: float = Field(ge=0.0, description="Kept back for retries and overruns.")

    @property
    def total(self) -> float:
        return self.validation + self.combination + self.exploitation + self.reserve


class Dropped(TypedDict):
    """A hypothesis the plan does not run, and why (a plain dict: it goes into JSON as is)."""

    hypothesis_id: str | None
    reason: str


class Plan(BaseModel):
    """The three-phase plan: the validation experiments now, budgets for the later phases."""

    validation: list[PlannedExperiment]
    budget: PhaseBudget
    dropped: list[Dropped] = Field(default_factory=list)
    rationale: str = ""


class Knob(BaseModel):
    """One dimension of the exploitation search: a numeric range or a list of choices."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A trainer config key, e.g. 'lr'.")
    low: float | None = Field(None, description="Numeric range: lowest value.")
    high: float | None = Field(None, description="Numeric range: highest value.")
    log: bool = Field(False, description="Sample the range on a log scale (needs low > 0).")
    choices: list[Any] | None = Field(None, description="Categorical: the values to try.")

    @model_validator(mode="after")
    def _range_or_choices(self) -> Knob:
        if self.choices is not None:
            if not self.choices:
                raise ValueError(f"knob {self.name}: choices must not be empty")
        elif self.low is None or self.high is None:
            raise ValueError(f"knob {self.name}: give low and high, or choices")
        return self


class ExploitSpace(BaseModel):
    """The search space of the exploitation phase (Optuna TPE), around the best config."""

    knobs: list[Knob] = Field(min_length=1, max_length=8)


class PlanDraft(BaseModel):
    """The LLM planner's answer: which hypotheses to validate, in what order, and new ideas."""

    order: list[str] = Field(
        description="Hypothesis ids to validate, most promising first. Leave out weak or "
        "redundant ones; everything listed is run if the budget allows."
    )
    new_ideas: list[HypothesisProposal] = Field(
        default_factory=list,
        description="Extra ideas of your own (source 'llm', with a rationale and a config "
        "delta that validates on the baseline), run after the listed hypotheses.",
    )
    rationale: str = Field(description="Why this order, in a few lines.")


class CombinationIdea(BaseModel):
    """One combination experiment: several validated hypotheses stacked."""

    title: str
    hypothesis_ids: list[str] = Field(min_length=2, description="Validated hypothesis ids.")
    config_delta: dict[str, Any] = Field(
        default_factory=dict,
        description="The stacked delta; empty = merge the hypotheses' deltas (on a key "
        "conflict the higher-gain one wins).",
    )
    rationale: str = ""


class CombinationDraft(BaseModel):
    """The LLM's combination experiments, most promising first."""

    experiments: list[CombinationIdea]
    rationale: str = ""
