"""The planner: the three-phase plan (Validation -> Combination -> Exploitation) and its budget.

    plan = make_plan(brain, hypotheses=[(hyp_id, proposal), ...], tried=tried_deltas(...),
                     baseline_config=baseline, seconds_per_seed=12.0, remaining_seconds=3600,
                     seeds=[0, 1, 2])
    combos = plan_combination(brain, baseline_config=baseline, validated=[(id, delta, gain)],
                              budget_seconds=plan.budget.combination, seconds_per_seed=12.0,
                              seeds=[0, 1, 2])
    trials, space = plan_exploitation(brain, runs=load_runs(store, cid), baseline_config=...,
                                      best_config=..., n_trials=4, seed=0, seconds_per_seed=12.0)

Every delta in the output is relative to the baseline and validated. With an LLM brain the
model drafts (order, combinations, search space) and code checks and budgets; an invalid draft
falls back to the deterministic policy. Exploitation sampling is always Optuna TPE.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rea.agents.brain import Brain
from rea.agents.llm import decide
from rea.agents.schemas import HypothesisProposal, RunRecord
from rea.trainers.errors import ConfigError

from .budget import split_budget
from .exploit import check_space, default_space, plan_exploitation_offline, wide_space
from .llm import combination_llm, plan_llm, space_llm
from .offline import make_plan_offline, plan_combination_offline
from .outputs import Dropped, ExploitSpace, Knob, PhaseBudget, Plan, PlannedExperiment

log = logging.getLogger("rea.agents")

__all__ = [
    "Dropped",
    "ExploitSpace",
    "Knob",
    "PhaseBudget",
    "Plan",
    "PlannedExperiment",
    "make_plan",
    "plan_combination",
    "plan_exploitation",
    "split_budget",
]


def make_plan(
    brain: Brain,
    *,
    hypotheses: Sequence[tuple[str, HypothesisProposal]],
    tried: Sequence[dict[str, Any]],
    baseline_config: dict[str, Any],
    seconds_per_seed: float,
    remaining_seconds: float,
    seeds: Sequence[int],
) -> Plan:
    """The validation experiments (best first, fitted to the budget) and the phase budgets."""
    _need_seeds(seeds)
    kwargs: dict[str, Any] = {
        "hypotheses": list(hypotheses),
        "tried": list(tried),
        "baseline_config": baseline_config,
        "seconds_per_seed": seconds_per_seed,
        "remaining_seconds": remaining_seconds,
        "seeds": list(seeds),
    }
    plan, _ = decide(
        brain,
        "planner",
        llm=lambda: plan_llm(brain, **kwargs),
        offline=lambda: make_plan_offline(**kwargs),
    )
    return plan


def plan_combination(
    brain: Brain,
    *,
    baseline_config: dict[str, Any],
    validated: Sequence[tuple[str, dict[str, Any], float]],
    budget_seconds: float,
    seconds_per_seed: float,
    seeds: Sequence[int],
) -> list[PlannedExperiment]:
    """Stacks of the validated changes within `budget_seconds`; [] with fewer than two."""
    _need_seeds(seeds)
    if len(validated) < 2:
        return []
    kwargs: dict[str, Any] = {
        "baseline_config": baseline_config,
        "validated": list(validated),
        "budget_seconds": budget_seconds,
        "seconds_per_seed": seconds_per_seed,
        "seeds": list(seeds),
    }
    out, _ = decide(
        brain,
        "planner",
        llm=lambda: combination_llm(brain, **kwargs),
        offline=lambda: plan_combination_offline(**kwargs),
    )
    return out


def plan_exploitation(
    brain: Brain,
    *,
    runs: Sequence[RunRecord],
    baseline_config: dict[str, Any],
    best_config: dict[str, Any],
    n_trials: int,
    seed: int,
    seconds_per_seed: float,
    space: ExploitSpace | None = None,
    seeds: Sequence[int] | None = None,
    wide: bool = False,
    avoid: Sequence[dict[str, Any]] = (),
    startup: int | None = None,
) -> tuple[list[PlannedExperiment], ExploitSpace]:
    """`n_trials` TPE proposals around `best_config`, warm-started with every run, and the
    search space used (pass it back next time to keep the space; None = choose one: the LLM's
    when there is one, else `default_space`). `wide`: search `wide_space` instead (the whole
    schema space; exploitation widens to it when its local search stalls). Each trial runs
    `seeds` (default: [seed]). `avoid`: configs of trials still running (not in `runs` yet),
    which are not proposed again. `startup`: random proposals until this many runs fit the
    space (default: the planner's STARTUP_TRIALS)."""
    if wide:
        space = wide_space(best_config)
    elif space is not None:
        space = _checked_or_default(brain, space, best_config)
    else:
        space, _ = decide(
            brain,
            "planner",
            llm=lambda: space_llm(brain, runs=runs, best_config=best_config),
            offline=lambda: default_space(best_config),
        )
    experiments = plan_exploitation_offline(
        runs=runs,
        baseline_config=baseline_config,
        best_config=best_config,
        n_trials=n_trials,
        seed=seed,
        seconds_per_seed=seconds_per_seed,
        space=space,
        seeds=list(seeds) if seeds else [seed],
        avoid=avoid,
        **({} if startup is None else {"startup": startup}),
    )
    return experiments, space


def _need_seeds(seeds: Sequence[int]) -> None:
    if not seeds:
        raise ConfigError("the planner needs at least one seed per experiment (got none)")


def _checked_or_default(
    brain: Brain, space: ExploitSpace, best_config: dict[str, Any]
) -> ExploitSpace:
    """A given space that no longer validates on the best config (say, the best switched
    family) is replaced by the default one; the fallback is logged like an LLM's."""
    try:
        return check_space(space, best_config)
    except ConfigError as err:
        why = f"planner: exploitation space rejected: {err}"[:500]
        log.warning("%s; using the default space", why)
        brain.fallbacks.append(why)
        return default_space(best_config)
