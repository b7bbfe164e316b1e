"""What every node receives at run time (not persisted: pass it again on every invoke/resume)."""

from __future__ import annotations

import threading
from collections.abc import Callable
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
    # Of a round's trials, this many search the trainer schema's whole space (the rest search
    # around the best config); all of them do after `exploit_patience` quiet rounds. 1: with
    # failing trials dropped rather than debugged, one wide trial a round took the agent from
    # +7.9 % to +10.8 % test-NE gain at 800 trainer-s, against a control run of 0 on the same data
    # (docs/benchmark-campaign.md, 2026-12-04).
    wide_trials_per_round: int = 1
    # What the wide trials' TPE is fit to: "shared", every run of the campaign (so its good
    # trials are mostly the ones around the best config); "independent", only the baseline and
    # the earlier wide trials, over the baseline's family's whole space with 10 random start-up
    # trials: a TPE search of its own beside the search around the best. Independent ended
    # lower in both repeats of 2 variants against shared (docs/benchmark-campaign.md, 2026-12-05).
    wide_stream: str = "shared"
    # While the best config is of another model family than the baseline's, the last place of
    # every round searches around the best run of the baseline's family (instead of the wide
    # space): a family switch must beat the incumbent family tuned, not just its untuned
    # baseline (`phases._incumbent`). False: every place follows the best's family.
    keep_incumbent_family: bool = True
    # Exploitation runs round after round while the budget lasts: the best one-seed trial is
    # confirmed with every seed every `confirm_every` rounds (a validated confirmation becomes
    # the config later rounds search around). After `exploit_patience` rounds in a row that
    # found nothing better than the best so far every trial searches the schema's whole space;
    # the phase ends when the budget cannot pay a round, or after `max_exploit_rounds`.
    max_exploit_rounds: int = 100
    # A freed job slot takes the next trial at once (a round no longer waits for its slowest
    # trial, nor a confirmation's other slots for it); False: round after round, each waiting
    # for all its jobs.
    rolling_exploitation: bool = True
    # One-seed exploitation trials stop (not fail) once their best val NE after an epoch is
    # worse than this quantile of the campaign's runs at that epoch (`planner.pruning`);
    # None: every trial trains to its end.
    prune_quantile: float | None = 0.75
    prune_min_runs: int = 8  # runs with curves before any bar is set
    confirm_every: int = 5
    exploit_patience: int = 10


@dataclass
class CampaignContext:
    """LangGraph's runtime context (`context_schema`)."""

    services: Services | None = None


def services_of(runtime: Any) -> Services:
    """The run's services: from its context, else the process default (`set_default_services`;
    the LangGraph server passes context as JSON, so it cannot carry them)."""
    ctx = getattr(runtime, "context", None)
    services = getattr(ctx, "services", None)
    if services is not None:
        return services
    services = default_services()
    if services is None:
        raise RuntimeError(
            "the campaign graph needs context=CampaignContext(services=...) on every invoke "
            "and resume (LangGraph does not persist context)"
        )
    return services


# --- the process default (LangGraph server mode) ------------------------------------------
_default_lock = threading.Lock()
_default: dict[str, Any] = {"factory": None, "services": None}


def set_default_services(factory: Callable[[], Services] | None) -> None:
    """Register what `services_of` falls back to when a run's context has no services: the
    factory runs once, on first need, and its Services are kept for the process. Registering
    again replaces the factory and forgets Services the previous one made; None unregisters
    (our own runner then gets the error above, as before)."""
    with _default_lock:
        _default["factory"], _default["services"] = factory, None


def default_services() -> Services | None:
    """The process default Services (created now if need be); None when none is registered."""
    with _default_lock:
        if _default["services"] is None and _default["factory"] is not None:
            _default["services"] = _default["factory"]()
        return _default["services"]
