"""The planner's deterministic policy: screen, rank and budget the validation phase; stack
validated changes for the combination phase.

Validation: every hypothesis's delta is reduced to its effective delta on the baseline; invalid,
no-op and already-tried ones are dropped; of several with the same effective delta the
better-evidenced one stays. The rest run best first by prior gain per cost, as many as fit in
the validation share (budget.py gives the split rule).

Combination: all validated deltas stacked (on a key conflict the higher-gain value wins), then
the best pairs, while the combination budget allows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from rea.agents.schemas import HypothesisProposal
from rea.tools.trainer import as_config, canonical, check_delta, relative_cost
from rea.trainers.config import TrainerConfig
from rea.trainers.errors import ConfigError

from .budget import est_seconds, fit, split_budget, validation_share
from .outputs import Dropped, Plan, PlannedExperiment

SOURCE_WEIGHT = {"insight": 2.0, "research": 1.0, "llm": 0.0}  # measured > literature > guess
PAIRS_FROM_TOP = 4  # pairs are formed among the best few validated changes
NEW_PREFIX = "new:"  # ids given to the LLM planner's own ideas while screening


@dataclass
class Candidate:
    """A hypothesis that passed screening, with its effective delta."""

    hid: str
    proposal: HypothesisProposal
    delta: dict[str, Any]

    @property
    def value(self) -> float:
        """Prior gain per unit of cost: the validation order."""
        return self.proposal.prior_gain_pct / self.proposal.relative_cost


def evidence_rank(p: HypothesisProposal) -> tuple[float, float]:
    """Which of two proposals with the same delta is better evidenced (higher wins)."""
    cites = len(p.evidence.get("insight_ids") or []) + (1 if p.evidence.get("card_id") else 0)
    return SOURCE_WEIGHT[p.source] + 0.1 * cites, p.prior_gain_pct


def tried_keys(tried: Sequence[dict[str, Any]], base: TrainerConfig) -> set[str]:
    """Canonical keys of tried deltas, as written and as effective on this baseline."""
    keys = set()
    for delta in tried:
        keys.add(canonical(delta))
        with contextlib.suppress(ConfigError):
            keys.add(canonical(check_delta(base, delta)))
    return keys


def screen(
    hypotheses: Sequence[tuple[str, HypothesisProposal]],
    tried: Sequence[dict[str, Any]],
    base: TrainerConfig,
) -> tuple[list[Candidate], list[Dropped]]:
    """Candidates (in input order) and what was dropped: invalid, no-op, tried, duplicate."""
    done, dropped, best = tried_keys(tried, base), [], {}
    for hid, proposal in hypotheses:
        try:
            delta = check_delta(base, proposal.config_delta)
        except ConfigError as err:
            dropped.append(Dropped(hypothesis_id=hid, reason=f"invalid config delta: {err}"))
            continue
        key = canonical(delta)
        if not delta:
            dropped.append(Dropped(hypothesis_id=hid, reason="changes nothing on the baseline"))
        elif key in done:
            dropped.append(Dropped(hypothesis_id=hid, reason="already tried on this model+data"))
        elif key in best and evidence_rank(best[key].proposal) >= evidence_rank(proposal):
            dropped.append(Dropped(hypothesis_id=hid, reason=f"duplicate of {best[key].hid}"))
        else:
            if key in best:
                loser = best[key].hid
                dropped.append(Dropped(hypothesis_id=loser, reason=f"duplicate of {hid}"))
            best[key] = Candidate(hid, proposal, delta)
    return list(best.values()), dropped


def rank(cands: Sequence[Candidate]) -> list[Candidate]:
    """Best first by prior gain per cost (ties: input order)."""
    return sorted(cands, key=lambda c: -c.value)


def experiment(c: Candidate, seeds: Sequence[int], seconds_per_seed: float) -> PlannedExperiment:
    new = c.proposal if c.hid.startswith(NEW_PREFIX) else None
    return PlannedExperiment(
        hypothesis_id=None if new else c.hid,
        title=c.proposal.title,
        config_delta=c.delta,
        seeds=list(seeds),
        est_seconds=est_seconds(seconds_per_seed, c.proposal.relative_cost, len(seeds)),
        new_hypothesis=new,
    )


def assemble(
    ordered: Sequence[Candidate],
    dropped: list[Dropped],
    *,
    seeds: Sequence[int],
    seconds_per_seed: float,
    remaining_seconds: float,
    rationale: str,
) -> Plan:
    """Fit the ordered candidates into the validation share and split the budget."""
    planned = [experiment(c, seeds, seconds_per_seed) for c in ordered]
    share = validation_share(remaining_seconds)
    keep = set(fit([p.est_seconds for p in planned], share))
    for i, (c, p) in enumerate(zip(ordered, planned, strict=True)):
        if i not in keep:
            why = f"over budget: needs {p.est_seconds:.0f} s, validation share is {share:.0f} s"
            dropped.append(Dropped(hypothesis_id=None if p.new_hypothesis else c.hid, reason=why))
    validation = [p for i, p in enumerate(planned) if i in keep]
    spend = sum(p.est_seconds for p in validation)
    budget = split_budget(remaining_seconds, spend, len(validation))
    return Plan(validation=validation, budget=budget, dropped=dropped, rationale=rationale)


def make_plan_offline(
    *,
    hypotheses: Sequence[tuple[str, HypothesisProposal]],
    tried: Sequence[dict[str, Any]],
    baseline_config: dict[str, Any],
    seconds_per_seed: float,
    remaining_seconds: float,
    seeds: Sequence[int],
) -> Plan:
    """The validation plan and phase budgets (see the module docstring)."""
    cands, dropped = screen(hypotheses, tried, as_config(baseline_config))
    ordered = rank(cands)
    plan = assemble(
        ordered,
        dropped,
        seeds=seeds,
        seconds_per_seed=seconds_per_seed,
        remaining_seconds=remaining_seconds,
        rationale="",
    )
    plan.rationale = (
        f"{len(plan.validation)} of {len(hypotheses)} hypotheses validated best first by prior "
        f"gain per cost, {len(seeds)} seeds each; {len(plan.dropped)} dropped. Budget: reserve "
        f"5%, validation what fits in 45%, combination 20% (if >= 2 to validate), "
        f"exploitation the rest."
    )
    return plan


# --- combination --------------------------------------------------------------------------------
def stack(
    validated: Sequence[tuple[str, dict[str, Any], float]], base: TrainerConfig
) -> tuple[list[str], dict[str, Any]]:
    """All validated deltas merged, higher gain first (its values win on a conflict); a delta
    that would make the stack invalid is left out. Returns (ids stacked, effective delta)."""
    ids: list[str] = []
    merged: dict[str, Any] = {}
    for hid, delta, _ in sorted(validated, key=lambda v: -v[2]):
        try:
            candidate = check_delta(base, {**delta, **merged})
        except ConfigError:
            continue
        ids.append(hid)
        merged = candidate
    return ids, merged


def combination_candidates(
    validated: Sequence[tuple[str, dict[str, Any], float]], base: TrainerConfig
) -> list[tuple[list[str], dict[str, Any]]]:
    """The full stack, then pairs of the top changes by summed gain; no repeats, and nothing
    equal to a single validated delta."""
    singles = set()
    for _, delta, _ in validated:
        try:
            singles.add(canonical(check_delta(base, delta)))
        except ConfigError:
            continue
    out, seen = [], set(singles)
    top = sorted(validated, key=lambda v: -v[2])[:PAIRS_FROM_TOP]
    pairs = sorted(combinations(top, 2), key=lambda p: -(p[0][2] + p[1][2]))
    for group in [validated, *pairs]:
        ids, delta = stack(group, base)
        if len(ids) >= 2 and canonical(delta) not in seen:
            seen.add(canonical(delta))
            out.append((ids, delta))
    return out


def plan_combination_offline(
    *,
    baseline_config: dict[str, Any],
    validated: Sequence[tuple[str, dict[str, Any], float]],
    budget_seconds: float,
    seconds_per_seed: float,
    seeds: Sequence[int],
) -> list[PlannedExperiment]:
    """The stack of everything validated, then the best pairs, within `budget_seconds`;
    nothing when fewer than two changes were validated."""
    if len(validated) < 2:
        return []
    base = as_config(baseline_config)
    planned = [
        combination_experiment(ids, delta, base, seeds, seconds_per_seed)
        for ids, delta in combination_candidates(validated, base)
    ]
    return [planned[i] for i in fit([p.est_seconds for p in planned], budget_seconds)]


def combination_experiment(
    ids: Sequence[str],
    delta: dict[str, Any],
    base: TrainerConfig,
    seeds: Sequence[int],
    seconds_per_seed: float,
    title: str = "",
) -> PlannedExperiment:
    cost = relative_cost(base, delta)
    return PlannedExperiment(
        title=(title or f"Stack {' + '.join(ids)}")[:160],
        config_delta=delta,
        seeds=list(seeds),
        est_seconds=est_seconds(seconds_per_seed, cost, len(seeds)),
        parents=list(ids),
    )
