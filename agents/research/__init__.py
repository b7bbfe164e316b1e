"""The research agent: hypotheses from the research library (technique cards with citations).

    hyps = propose(brain, library, model="deepfm", baseline_config=baseline, dataset=traits,
                   exclude_cards=["lr-3e-4"], k=6)

The LLM policy searches the library with tools and answers a validated `HypothesisSet` (it may
add a few free-form ideas, source "llm"); without an LLM, or when its answer is invalid, the
deterministic policy (offline.py) answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rea.agents.brain import Brain
from rea.agents.llm import decide
from rea.agents.schemas import HypothesisSet

from .llm import propose_llm
from .offline import propose_offline

if TYPE_CHECKING:
    from rea.memory.research import ResearchLibrary

__all__ = ["propose", "propose_llm", "propose_offline"]


def propose(
    brain: Brain,
    library: ResearchLibrary,
    *,
    model: str,
    baseline_config: dict[str, Any],
    dataset: dict[str, Any],
    exclude_cards: Sequence[str] = (),
    k: int = 6,
) -> HypothesisSet:
    """Up to `k` research-backed hypotheses for this campaign, best first."""
    kwargs: dict[str, Any] = {
        "model": model,
        "baseline_config": baseline_config,
        "dataset": dataset,
        "exclude_cards": list(exclude_cards),
        "k": k,
    }
    out, _ = decide(
        brain,
        "research",
        llm=lambda: propose_llm(brain, library, **kwargs),
        offline=lambda: propose_offline(library, **kwargs),
    )
    return out
