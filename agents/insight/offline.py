"""The insight agent's deterministic policy: retrieval-ranked hypotheses from past insights.

1. Search the memory with a few queries (family, data traits, "improved val NE") for insights
   that helped: the campaign's family first, then any family at half weight.
2. Turn each into its effective delta on this baseline (skip invalid or no-op deltas) and merge
   insights that tried the same delta.
3. Weigh each delta's support (strength x family weight x dataset-trait match) against the
   insights that say the same change hurt; a delta with as much evidence against as for is
   avoided and named in the summary.
4. Rank by support x (1 + expected gain) and keep the best `k`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rea.agents.schemas import HypothesisProposal, HypothesisSet
from rea.memory.insights import Insight, ScoredInsight, evidence_strength
from rea.tools.trainer import as_config, canonical, check_delta, relative_cost
from rea.trainers.config import TrainerConfig
from rea.trainers.errors import ConfigError

if TYPE_CHECKING:
    from rea.memory.insights import InsightMemory

MIN_STRENGTH = 0.15  # weaker 'helped' evidence is not worth a validation run
OTHER_FAMILY_WEIGHT = 0.5
ANY_FAMILY_WEIGHT = 0.75  # insights measured without a family (e.g. imported, mixed studies)
SEARCH_K = 20
MAX_PRIOR_PCT = 5.0  # one past measurement does not promise more than this


@dataclass
class Candidate:
    """One effective delta and the insights for and against it."""

    delta: dict[str, Any]
    support: list[tuple[Insight, float]] = field(default_factory=list)  # (insight, weight)
    against: dict[str, tuple[Insight, float]] = field(default_factory=dict)

    @property
    def weight_for(self) -> float:
        return sum(w for _, w in self.support)

    @property
    def weight_against(self) -> float:
        return sum(w for _, w in self.against.values())

    @property
    def prior_gain_pct(self) -> float:
        total = self.weight_for or 1.0
        mean = sum(i.evidence.effect.gain_pct * w for i, w in self.support) / total
        return max(-MAX_PRIOR_PCT, min(MAX_PRIOR_PCT, mean))

    @property
    def rank(self) -> float:
        return self.weight_for * (1.0 + max(self.prior_gain_pct, 0.0))


def queries(model: str, dataset: dict[str, Any]) -> list[str]:
    """The searches run: family, family + data traits, and the generic goal."""
    traits = traits_phrase(dataset)
    out = [f"{model} improved val NE", "improved val NE"]
    if traits:
        out.insert(1, f"{model} on {traits} improved val NE")
    return out


def traits_phrase(dataset: dict[str, Any]) -> str:
    """'criteo data, 39 fields, 1000000 rows, ctr 0.25' from whatever traits are known."""
    parts = []
    if dataset.get("preset") or dataset.get("source"):
        parts.append(f"{dataset.get('preset') or dataset.get('source')} data")
    for key in ("fields", "rows", "ctr"):
        if dataset.get(key) is not None:
            parts.append(f"{dataset[key]} {key}" if key != "ctr" else f"ctr {dataset[key]}")
    return ", ".join(parts)


def trait_match(theirs: dict[str, Any], ours: dict[str, Any]) -> float:
    """0..1: share of the traits both know that agree (strings equal, numbers within 2x);
    0.5 when nothing can be compared."""
    shared = [k for k in ours if k in theirs and ours[k] is not None and theirs[k] is not None]
    if not shared:
        return 0.5
    return sum(_same_trait(theirs[k], ours[k]) for k in shared) / len(shared)


def _same_trait(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and a > 0 and b > 0:
        return max(a, b) / min(a, b) <= 2.0
    return a == b


def family_weight(insight: Insight, model: str) -> float:
    fam = insight.evidence.model
    if fam == model:
        return 1.0
    return ANY_FAMILY_WEIGHT if fam is None else OTHER_FAMILY_WEIGHT


def evidence_weight(insight: Insight, model: str, dataset: dict[str, Any]) -> float:
    """How much one insight counts: strength x family weight x (0.75 + 0.25 trait match)."""
    strength = evidence_strength(insight.evidence.effect)
    match = trait_match(insight.evidence.dataset, dataset)
    return strength * family_weight(insight, model) * (0.75 + 0.25 * match)


def effective(base: TrainerConfig, insight: Insight) -> dict[str, Any] | None:
    """The insight's delta as it applies to this baseline; None when invalid or a no-op."""
    knobs = {k: v for k, v in insight.evidence.knobs.items() if k != "seed"}
    try:
        delta = check_delta(base, knobs)
    except ConfigError:
        return None
    return delta or None


def _search(memory: InsightMemory, qs: list[str], model: str, outcome: str) -> list[Insight]:
    """Unique insights with `outcome` over all queries, same family first then any family."""
    seen: dict[str, Insight] = {}
    for query in qs:
        for family in (model, None):
            hits: list[ScoredInsight] = memory.search(
                query, model=family, outcome=outcome, k=SEARCH_K, with_conflicts=True
            )
            for hit in hits:
                seen.setdefault(hit.insight.id, hit.insight)
                if outcome == "helped":
                    for c in hit.conflicts:
                        seen.setdefault(c.id, c)
    return list(seen.values())


def collect(
    memory: InsightMemory, base: TrainerConfig, model: str, dataset: dict[str, Any]
) -> dict[str, Candidate]:
    """Candidates keyed by canonical effective delta, with their supporting and opposing insights."""
    qs = queries(model, dataset)
    found = _search(memory, qs, model, "helped") + _search(memory, qs, model, "hurt")
    cands: dict[str, Candidate] = {}
    for ins in found:
        delta = effective(base, ins)
        if delta is None or ins.outcome == "neutral":
            continue
        cand = cands.setdefault(canonical(delta), Candidate(delta))
        weight = evidence_weight(ins, model, dataset)
        if ins.outcome == "helped" and evidence_strength(ins.evidence.effect) >= MIN_STRENGTH:
            if all(i.id != ins.id for i, _ in cand.support):
                cand.support.append((ins, weight))
        elif ins.outcome == "hurt" and ins.evidence.model in (model, None):
            cand.against[ins.id] = (ins, weight)
    return cands


def to_proposal(cand: Candidate, base: TrainerConfig) -> HypothesisProposal:
    support = sorted(cand.support, key=lambda s: -s[1])
    best = support[0][0]
    effect = best.evidence.effect
    ci = f", 95% CI [{effect.ci_lo:+.2f}, {effect.ci_hi:+.2f}]" if effect.significant else ""
    rationale = f"{best.statement} (strength {evidence_strength(effect):.2f}"
    rationale += f", {len(support)} insight(s) agree" if len(support) > 1 else ""
    rationale += f"; {len(cand.against)} weaker one(s) disagree)" if cand.against else ")"
    return HypothesisProposal(
        title=delta_title(cand.delta, base),
        source="insight",
        rationale=rationale,
        config_delta=cand.delta,
        evidence={
            "insight_ids": [i.id for i, _ in support],
            "statements": [i.statement for i, _ in support],
        },
        expected_effect=f"{cand.prior_gain_pct:+.2f}% val NE as measured before{ci}",
        prior_gain_pct=round(cand.prior_gain_pct, 4),
        relative_cost=relative_cost(base, cand.delta),
    )


def delta_title(delta: dict[str, Any], base: TrainerConfig) -> str:
    """'lr 0.001 -> 0.0003, lr_schedule constant -> plateau' (at most 160 characters)."""
    old = base.model_dump()
    parts = [f"{k} {_short(old.get(k))} -> {_short(v)}" for k, v in sorted(delta.items())]
    title = ", ".join(parts)
    return title if len(title) <= 160 else title[:157] + "..."


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def propose_offline(
    memory: InsightMemory | None,
    *,
    model: str,
    data: str,
    dataset: dict[str, Any],
    baseline_config: dict[str, Any],
    k: int = 6,
) -> HypothesisSet:
    """Up to `k` hypotheses from past insights, best first (see the module docstring)."""
    if memory is None or memory.count() == 0:
        return HypothesisSet(summary="No insight memory yet: nothing learned from past campaigns.")
    base = as_config(baseline_config)
    cands = collect(memory, base, model, dataset)
    kept = [c for c in cands.values() if c.support and c.weight_for > c.weight_against]
    avoided = [c for c in cands.values() if c.against and c not in kept]
    kept.sort(key=lambda c: (-c.rank, canonical(c.delta)))
    hypotheses = [to_proposal(c, base) for c in kept[:k]]
    return HypothesisSet(hypotheses=hypotheses, summary=_summary(hypotheses, avoided, data, base))


def _summary(
    hyps: list[HypothesisProposal], avoided: list[Candidate], data: str, base: TrainerConfig
) -> str:
    text = f"{len(hyps)} hypothesis(es) from past insights for {base.model} on {data}."
    if avoided:
        names = "; ".join(delta_title(c.delta, base) for c in avoided[:8])
        text += f" Avoided because past insights say they hurt: {names}."
    return text
