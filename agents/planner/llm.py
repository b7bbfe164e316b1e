"""The planner's LLM policies. The LLM only drafts (an order, combinations, a search space);
code checks every id and delta and does the budgeting, with the same functions as offline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rea.agents.brain import Brain
from rea.agents.llm import ask
from rea.agents.schemas import HypothesisProposal, RunRecord
from rea.tools.trainer import as_config, canonical, check_delta, make_trainer_tools, screen_delta
from rea.trainers.config import TrainerConfig
from rea.trainers.errors import ConfigError

from . import prompts
from .budget import fit
from .exploit import check_space
from .offline import (
    NEW_PREFIX,
    Candidate,
    assemble,
    combination_experiment,
    screen,
    stack,
    tried_keys,
)
from .outputs import CombinationDraft, Dropped, ExploitSpace, Plan, PlanDraft, PlannedExperiment

MAX_RUNS_SHOWN = 30


def plan_llm(
    brain: Brain,
    *,
    hypotheses: Sequence[tuple[str, HypothesisProposal]],
    tried: Sequence[dict[str, Any]],
    baseline_config: dict[str, Any],
    seconds_per_seed: float,
    remaining_seconds: float,
    seeds: Sequence[int],
) -> Plan:
    """The LLM orders/trims the hypotheses and may add ideas; code screens and budgets."""
    base = as_config(baseline_config)
    known, done = dict(hypotheses), tried_keys(tried, base)
    user = prompts.PLAN_USER.format(
        baseline=json.dumps(base.model_dump()),
        remaining=remaining_seconds,
        per_seed=seconds_per_seed,
        n_seeds=len(seeds),
        tried=json.dumps(list(tried)) if tried else "nothing",
        hypotheses="\n".join(_hypothesis_line(h, p) for h, p in hypotheses) or "none",
    )
    draft = ask(
        brain,
        agent="planner",
        system=prompts.PLAN_SYSTEM,
        user=user,
        schema=PlanDraft,
        tools=make_trainer_tools(base),
        validate=lambda d: check_draft(d, known, base, done),
    )
    cands, dropped = screen_draft(draft, known, tried, base)
    return assemble(
        cands,
        dropped,
        seeds=seeds,
        seconds_per_seed=seconds_per_seed,
        remaining_seconds=remaining_seconds,
        rationale=draft.rationale,
    )


def screen_draft(
    draft: PlanDraft,
    known: dict[str, HypothesisProposal],
    tried: Sequence[dict[str, Any]],
    base: TrainerConfig,
) -> tuple[list[Candidate], list[Dropped]]:
    """The draft's hypotheses then its new ideas, screened like the offline plan's, in the
    draft's order; hypotheses it left out are dropped with that reason."""
    chosen = [(hid, known[hid]) for hid in draft.order]
    chosen += [(f"{NEW_PREFIX}{i}", idea) for i, idea in enumerate(draft.new_ideas, 1)]
    cands, dropped = screen(chosen, tried, base)
    position = {hid: i for i, (hid, _) in enumerate(chosen)}
    cands.sort(key=lambda c: position[c.hid])
    dropped = [_named(d, dict(chosen)) for d in dropped]
    left_out = [h for h in known if h not in draft.order]
    dropped += [Dropped(hypothesis_id=h, reason="left out by the planner") for h in left_out]
    return cands, dropped


def _hypothesis_line(hid: str, p: HypothesisProposal) -> str:
    delta = json.dumps(p.config_delta)
    return (
        f"- {hid}: {p.source}, {p.title}, {delta}, {p.prior_gain_pct:+.2f}%, "
        f"x{p.relative_cost:.2f}, {json.dumps(p.evidence, default=str)[:300]}"
    )


def _named(d: Dropped, chosen: dict[str, HypothesisProposal]) -> Dropped:
    """New ideas have no hypothesis id yet: name them by their titles instead."""
    hid, reason = d["hypothesis_id"], d["reason"]
    for new_id, idea in chosen.items():
        if new_id.startswith(NEW_PREFIX):
            reason = reason.replace(
                f"duplicate of {new_id}", f"duplicate of the idea {idea.title!r}"
            )
    if hid is None or not hid.startswith(NEW_PREFIX):
        return Dropped(hypothesis_id=hid, reason=reason)
    return Dropped(hypothesis_id=None, reason=f"{chosen[hid].title}: {reason}")


def check_draft(
    draft: PlanDraft, known: dict[str, HypothesisProposal], base: TrainerConfig, done: set[str]
) -> PlanDraft:
    """Ids exist and do not repeat; nothing tried is re-run; new ideas are source "llm" with
    a rationale and a valid, effective delta; the plan runs something. Raises ValueError."""
    problems = [f"unknown hypothesis id {h!r}" for h in draft.order if h not in known]
    if len(set(draft.order)) != len(draft.order):
        problems.append("order lists a hypothesis twice")
    for hid in (h for h in draft.order if h in known):
        if _key(base, known[hid].config_delta) in done:
            problems.append(f"{hid} repeats a delta already tried")
    for n, idea in enumerate(draft.new_ideas, 1):
        problems.extend(f"new idea {n}: {p}" for p in _idea_problems(idea, base, done))
    if known and not draft.order and not draft.new_ideas:
        problems.append("the plan validates nothing; list the hypotheses worth testing")
    if problems:
        raise ValueError("; ".join(problems))
    return draft


def _key(base: TrainerConfig, delta: dict[str, Any]) -> str | None:
    try:
        return canonical(check_delta(base, delta))
    except ConfigError:
        return None


def _idea_problems(idea: HypothesisProposal, base: TrainerConfig, done: set[str]) -> list[str]:
    out = []
    if idea.source != "llm":
        out.append(f"source must be 'llm' (got {idea.source!r})")
    if len(idea.rationale.strip()) < 10:
        out.append("needs a rationale")
    delta, problem = screen_delta(base, idea.config_delta)
    if problem:
        out.append(problem)
    elif canonical(delta) in done:
        out.append("config_delta was already tried")
    return out


def combination_llm(
    brain: Brain,
    *,
    baseline_config: dict[str, Any],
    validated: Sequence[tuple[str, dict[str, Any], float]],
    budget_seconds: float,
    seconds_per_seed: float,
    seeds: Sequence[int],
) -> list[PlannedExperiment]:
    """The LLM proposes stacks of validated ids; code merges/validates and fits the budget."""
    base = as_config(baseline_config)
    gains = {hid: (delta, gain) for hid, delta, gain in validated}
    user = prompts.COMBINATION_USER.format(
        baseline=json.dumps(base.model_dump()),
        budget=budget_seconds,
        per_seed=seconds_per_seed,
        n_seeds=len(seeds),
        validated="\n".join(f"- {h}: {json.dumps(d)}, {g:+.2f}%" for h, d, g in validated),
    )
    draft = ask(
        brain,
        agent="planner",
        system=prompts.COMBINATION_SYSTEM,
        user=user,
        schema=CombinationDraft,
        tools=make_trainer_tools(base),
        validate=lambda d: check_combination(d, gains, base),
    )
    planned = [
        combination_experiment(
            e.hypothesis_ids, e.config_delta, base, seeds, seconds_per_seed, e.title
        )
        for e in draft.experiments
    ]
    return [planned[i] for i in fit([p.est_seconds for p in planned], budget_seconds)]


def check_combination(
    draft: CombinationDraft,
    gains: dict[str, tuple[dict[str, Any], float]],
    base: TrainerConfig,
) -> CombinationDraft:
    """Ids are validated ones (2+ distinct per experiment); deltas validate (an empty one is
    the merge of its ids' deltas); repeats are dropped. Raises ValueError listing problems."""
    problems, kept, seen = [], [], set()
    for n, idea in enumerate(draft.experiments, 1):
        ids = list(dict.fromkeys(idea.hypothesis_ids))
        if unknown := [h for h in ids if h not in gains]:
            problems.append(f"experiment {n}: not validated: {unknown}")
            continue
        if len(ids) < 2:
            problems.append(f"experiment {n}: a combination needs two different hypotheses")
            continue
        delta, why = _stacked(idea.config_delta, ids, gains, base)
        if why:
            problems.append(f"experiment {n}: {why}")
        elif canonical(delta) not in seen:
            seen.add(canonical(delta))
            kept.append(idea.model_copy(update={"hypothesis_ids": ids, "config_delta": delta}))
    if problems:
        raise ValueError("; ".join(problems))
    return CombinationDraft(experiments=kept, rationale=draft.rationale)


def _stacked(
    delta: dict[str, Any],
    ids: list[str],
    gains: dict[str, tuple[dict[str, Any], float]],
    base: TrainerConfig,
) -> tuple[dict[str, Any], str]:
    """(effective delta, problem or '')."""
    if not delta:
        used, merged = stack([(h, *gains[h]) for h in ids], base)
        return merged, "" if len(used) == len(ids) else "these deltas cannot be stacked"
    try:
        effective = check_delta(base, delta)
    except ConfigError as err:
        return {}, f"invalid config_delta: {err}"
    return effective, "" if effective else "config_delta changes nothing on the baseline"


def space_llm(
    brain: Brain, *, runs: Sequence[RunRecord], best_config: dict[str, Any]
) -> ExploitSpace:
    """The LLM picks the exploitation knobs and ranges; `check_space` validates them."""
    best = as_config(best_config)
    ranked = sorted(runs, key=lambda r: r.metrics.get("val_ne", float("inf")))[:MAX_RUNS_SHOWN]
    lines = [f"- {json.dumps(r.config_delta)} -> {r.metrics.get('val_ne')}" for r in ranked]
    return ask(
        brain,
        agent="planner",
        system=prompts.SPACE_SYSTEM,
        user=prompts.SPACE_USER.format(
            best=json.dumps(best.model_dump()), runs="\n".join(lines) or "none"
        ),
        schema=ExploitSpace,
        tools=make_trainer_tools(best),
        validate=lambda s: check_space(s, best),
    )
