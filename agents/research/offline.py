"""The research agent's deterministic policy: library cards ranked by a prior gain per cost.

1. Search the library with a few queries tuned to the family and the data's traits (only cards
   applicable to the family, excluded cards left out).
2. Keep cards whose delta validates on the baseline and changes something.
3. Score = prior gain (expected_direction x expected_size) / cost x (0.5 + similarity), x4 when
   the card moves a knob the baseline has far from the family's usual value back toward it
   (symptoms.py: a learning rate 3x too low, tiny embeddings, too few epochs), and pick
   greedily, discounting each further card from an already chosen area by 0.6 (so three dropout
   rates do not crowd out a schedule).
4. A hypothesis' prior gain is the card's, x4 for a symptom fix as in 3, so the planner (best
   prior gain per cost first, as many as the validation share holds) validates it first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rea.agents.schemas import HypothesisProposal, HypothesisSet
from rea.tools.trainer import as_config, check_delta
from rea.trainers.config import TrainerConfig
from rea.trainers.errors import ConfigError

from .symptoms import bonus, symptom_queries, symptoms

if TYPE_CHECKING:
    from rea.memory.research import ResearchCard, ResearchLibrary

# Prior on relative val-NE gain in %: the direction's weight x the middle of the size's range.
DIRECTION_WEIGHT = {"improve": 1.0, "mixed": 0.35, "neutral": 0.1, "worse": -0.5}
SIZE_PCT = {"tiny": 0.05, "small": 0.3, "medium": 1.0, "large": 3.0}
SIZE_TEXT = {"tiny": "<0.1%", "small": "0.1-0.5%", "medium": "0.5-2%", "large": ">2%"}
AREA_DISCOUNT = 0.6
SEARCH_K = 8

BASE_QUERIES = ("optimizer learning rate schedule", "embedding regularisation overfitting")
FAMILY_QUERIES = {
    "lr": "learn feature interactions that logistic regression cannot",
    "fm": "deep network beside the factorization machine",
    "deepfm": "explicit feature crosses beside the deep tower",
    "dcn_v2": "cross network depth and low-rank cross weights",
    "dlrm": "dot interaction and bottom MLP sizes",
    "finalmlp": "two-stream MLP fusion and feature gating",
}


def card_prior(card: ResearchCard) -> float:
    """Prior relative val-NE gain in % (negative for cards expected to hurt)."""
    return DIRECTION_WEIGHT[card.expected_direction] * SIZE_PCT[card.expected_size]


def card_score(card: ResearchCard, similarity: float) -> float:
    """Prior gain per unit of cost, weighted by how well the card matches the queries."""
    return card_prior(card) / card.cost * (0.5 + max(similarity, 0.0))


def queries(model: str, dataset: dict[str, Any]) -> list[str]:
    """The searches run for this family and these dataset traits."""
    preset = str(dataset.get("preset") or dataset.get("source") or "")
    rows, ctr = dataset.get("rows"), dataset.get("ctr")
    out = [*BASE_QUERIES, FAMILY_QUERIES.get(model, "model architecture")]
    if "interaction" in preset or model in ("lr", "fm"):
        out.append("interaction heavy data feature crosses")
    if "tail" in preset or (isinstance(ctr, int | float) and ctr < 0.05):
        out.append("rare ids long tail high cardinality sparse features")
    if isinstance(rows, int | float) and rows < 200_000:
        out.append("small dataset overfits after the first epoch")
    elif isinstance(rows, int | float) and rows >= 5_000_000:
        out.append("large batch training throughput")
    return out


def candidates(
    library: ResearchLibrary,
    base: TrainerConfig,
    model: str,
    dataset: dict[str, Any],
    exclude: Sequence[str],
) -> list[tuple[ResearchCard, dict[str, Any], float]]:
    """(card, effective delta, best similarity) for every usable card the queries found."""
    best: dict[str, tuple[ResearchCard, float]] = {}
    found = symptoms(base)
    for query in [*queries(model, dataset), *symptom_queries(found)]:
        for hit in library.search(query, model=model, k=SEARCH_K, exclude=list(exclude)):
            if hit.card.id not in best or hit.score > best[hit.card.id][1]:
                best[hit.card.id] = (hit.card, hit.score)
    out = []
    for card, sim in best.values():
        try:
            delta = check_delta(base, card.delta)
        except ConfigError:
            continue
        if delta and card_prior(card) > 0:
            out.append((card, delta, sim * bonus(delta, base, found)))
    return out


def pick(
    found: list[tuple[ResearchCard, dict[str, Any], float]], k: int
) -> list[tuple[ResearchCard, dict[str, Any]]]:
    """Greedy best-first, each further card of an already chosen area discounted."""
    left = sorted(found, key=lambda c: c[0].id)
    chosen: list[tuple[ResearchCard, dict[str, Any]]] = []
    areas: Counter[str] = Counter()
    while left and len(chosen) < k:
        card, delta, sim = max(
            left, key=lambda c: card_score(c[0], c[2]) * AREA_DISCOUNT ** areas[c[0].area]
        )
        left.remove((card, delta, sim))
        chosen.append((card, delta))
        areas[card.area] += 1
    return chosen


def to_proposal(
    card: ResearchCard, delta: dict[str, Any], boost: float = 1.0
) -> HypothesisProposal:
    """The card as a hypothesis; `boost` (the symptom bonus) scales its prior gain, so a fix for
    a knob the baseline has far from its usual value is validated first (the planner runs
    hypotheses in order of prior gain per cost, as many as its validation share holds)."""
    size = f"{card.expected_size} ({SIZE_TEXT[card.expected_size]} NE)"
    why = f"Helps when {card.helps_when[0].lower()}{card.helps_when[1:]}"
    if boost > 1.0:
        why += " The baseline's value of this knob is far from the family's usual one."
    return HypothesisProposal(
        title=card.title[:160],
        source="research",
        rationale=why,
        config_delta=delta,
        evidence={"card_id": card.id, "citation": card.citation.short(), "area": card.area},
        expected_effect=f"{card.expected_direction}, {size}",
        prior_gain_pct=round(card_prior(card) * boost, 4),
        relative_cost=card.cost,
    )


def propose_offline(
    library: ResearchLibrary,
    *,
    model: str,
    baseline_config: dict[str, Any],
    dataset: dict[str, Any],
    exclude_cards: Sequence[str] = (),
    k: int = 6,
) -> HypothesisSet:
    """Up to `k` card-backed hypotheses, best first (see the module docstring)."""
    base = as_config(baseline_config)
    found = candidates(library, base, model, dataset, exclude_cards)
    off = symptoms(base)
    hyps = [to_proposal(card, delta, bonus(delta, base, off)) for card, delta in pick(found, k)]
    areas = ", ".join(sorted({h.evidence["area"] for h in hyps})) or "none"
    summary = (
        f"{len(hyps)} technique(s) from {len(found)} applicable research cards for {model} "
        f"(areas: {areas}), ranked by prior gain per cost."
    )
    return HypothesisSet(hypotheses=hyps, summary=summary)
