"""What every node receives at run time (not persisted: pass it again on every invoke/resume)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rea.agents.brain import Brain
from rea.memory import ExperimentStore
from rea.trainers.backends import JobBackend

BASELINE_SEEDS = (0, 1, 2)


@dataclass
class Services:
    """The side-effecting parts a campaign talks to, passed in (tests give tmp-dir ones)."""

    store: ExperimentStore
    backend: JobBackend  # LocalBackend, RayBackend (rea.trainers.backends)
    jobs_root: Path
    reports_root: Path
    brain: Brain = field(default_factory=Brain)
    insights: Any = None  # rea.memory.InsightMemory | None (None: no historical memory)
    research: Any = None  # rea.memory.ResearchLibrary | None (indexed)
    callback_url: str | None = None  # where jobs post their events (the service's webhook)
    seeds: tuple[int, ...] = BASELINE_SEEDS
    max_attempts: int = 3
    exploit_trials_per_round: int = 2
    max_exploit_rounds: int = 10


@dataclass
class CampaignContext:
    """LangGraph's runtime context (`context_schema`)."""

    services: Services | None = None


def services_of(runtime: Any) -> Services:
    ctx = getattr(runtime, "context", None)
    if ctx is None or ctx.services is None:
        raise RuntimeError(
            "the campaign graph needs context=CampaignContext(services=...) on every invoke "
            "and resume (LangGraph does not persist context)"
        )
    return ctx.services
