"""Structured values the agents exchange: hypotheses and the journal of finished runs.

Each agent's own outputs live beside it (`rea.agents.<agent>.outputs`); these two are shared by
several agents (insight + research produce hypotheses, the planner merges them; the planner and
the analyst read runs).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TEST_METRICS = ("test_ne", "test_auc", "test_logloss", "test_calibration")


class HypothesisProposal(BaseModel):
    """One idea to test: a trainer config change, why, and what backs it."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=160, description="Short name of the change.")
    source: Literal["insight", "research", "llm"] = Field(
        description="insight: from past campaigns; research: a library card; llm: the model's own."
    )
    rationale: str = Field(description="Why it should help this model on this data (1-3 lines).")
    config_delta: dict[str, Any] = Field(
        min_length=1,
        description="Trainer config keys to set (keys of the trainer schema; 'model' switches "
        "the family; never 'seed'). Must validate when applied to the baseline.",
    )
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="insight: {'insight_ids': [...], 'statements': [...]}; research: "
        "{'card_id': ..., 'citation': 'Author (year), venue'}.",
    )
    expected_effect: str = Field("", description="Expected effect on validation NE, in words.")
    prior_gain_pct: float = Field(
        0.0, description="Expected relative val-NE gain in % (positive = better), for ranking."
    )
    relative_cost: float = Field(
        1.0, gt=0, le=20, description="Training cost relative to the baseline (1.0 = same)."
    )


class HypothesisSet(BaseModel):
    """What the insight or research agent proposes, best first."""

    hypotheses: list[HypothesisProposal] = Field(default_factory=list)
    summary: str = Field("", description="One paragraph: what was found and why these.")


class SeedMetrics(BaseModel):
    """One seed's final metrics (the best epoch's val_* and the test_* of its weights)."""

    seed: int
    metrics: dict[str, float]
    curve: list[float] = Field(default_factory=list, description="val NE after each epoch.")
    pruned_at_epoch: int | None = Field(
        None, description="The epoch after which a pruning bar stopped the run (None: not pruned)."
    )


class RunRecord(BaseModel):
    """A finished experiment (its last succeeded job): config, per-seed and mean metrics."""

    experiment_id: str
    hypothesis_id: str | None = None
    phase: str
    config_delta: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any]
    seeds: list[SeedMetrics]
    metrics: dict[str, float] = Field(description="Means over the seeds.")
    trainer_seconds: float = 0.0
    job_id: str | None = None

    def values(self, metric: str = "val_ne") -> dict[int, float]:
        """seed -> value of `metric`."""
        return {s.seed: s.metrics[metric] for s in self.seeds if metric in s.metrics}
