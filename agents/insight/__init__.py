"""The insight agent: hypotheses from what earlier campaigns learned (the insight memory).

    hyps = propose(brain, memory, model="dcn_v2", data="synthetic:criteo", dataset=traits,
                   baseline_config=baseline, k=6)

The LLM policy searches the memory with tools and answers a validated `HypothesisSet`; without
an LLM, or when its answer is invalid, the deterministic policy (offline.py) answers. No memory,
or an empty one, gives an empty set without asking anyone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rea.agents.brain import Brain
from rea.agents.llm import decide
from rea.agents.schemas import HypothesisSet

from .llm import propose_llm
from .offline import propose_offline

if TYPE_CHECKING:
    from rea.memory.insights import InsightMemory

__all__ = ["propose", "propose_llm", "propose_offline"]


def propose(
    brain: Brain,
    memory: InsightMemory | None,
    *,
    model: str,
    data: str,
    dataset: dict[str, Any],
    baseline_config: dict[str, Any],
    k: int = 6,
) -> HypothesisSet:
    """Up to `k` insight-backed hypotheses for this campaign, best first."""
    if memory is None or memory.count() == 0:
        return HypothesisSet(summary="No insight memory yet: nothing learned from past campaigns.")
    kwargs: dict[str, Any] = {
        "model": model,
        "data": data,
        "dataset": dataset,
        "baseline_config": baseline_config,
        "k": k,
    }
    out, _ = decide(
        brain,
        "insight",
        llm=lambda: propose_llm(brain, memory, **kwargs),
        offline=lambda: propose_offline(memory, **kwargs),
    )
    return out
