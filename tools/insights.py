"""The insight memory as the agents see it: search past findings, compactly.

    tools = make_insight_tools(memory, model="dcn_v2")   # [search_insights]

A hit is trimmed to what a model needs to judge it (statement, outcome, knobs and their
baseline values, the effect with its CI and replicates, evidence strength, contradicting ids);
the full `Insight` stays in Chroma.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from langchain_core.tools import BaseTool, StructuredTool

if TYPE_CHECKING:
    from rea.memory.insights import InsightMemory, ScoredInsight


def insight_brief(hit: ScoredInsight) -> dict[str, Any]:
    """One search hit as a small JSON-able dict (what the tool returns per insight)."""
    ins, ev = hit.insight, hit.insight.evidence
    return {
        "id": ins.id,
        "statement": ins.statement,
        "outcome": ins.outcome,
        "model": ev.model,
        "knobs": ev.knobs,
        "baseline": ev.baseline,
        "gain_pct": round(ev.effect.gain_pct, 4),
        "ci": [ev.effect.ci_lo, ev.effect.ci_hi],
        "seeds": ev.effect.seeds,
        "metric": ev.effect.metric,
        "dataset": ev.dataset,
        "strength": round(hit.strength, 3),
        "score": round(hit.score, 3),
        "contradicted_by": [c.id for c in hit.conflicts],
    }


def make_insight_tools(memory: InsightMemory, *, model: str | None = None) -> list[BaseTool]:
    """`search_insights` over `memory`; `model` is the campaign's family (the default filter)."""

    def search_insights(
        query: str,
        outcome: Literal["helped", "hurt", "neutral", "any"] = "any",
        same_family: bool = True,
        knobs: list[str] | None = None,
        k: int = 8,
    ) -> list[dict[str, Any]]:
        """Search what earlier campaigns learned (insights with measured evidence).

        query: what you look for, in words ("lower learning rate improved val NE").
        outcome: helped / hurt / neutral, or any. Look at 'hurt' too: do not propose what hurt.
        same_family: only insights measured on this campaign's model family.
        knobs: only insights that changed one of these trainer config keys.
        Each hit: id (cite it), statement, outcome, knobs (the delta tried), baseline values,
        gain_pct (relative val-NE gain %, positive = better) with its 95% CI and seeds,
        strength (0..1 evidence strength) and ids of insights that contradict it.
        """
        hits = memory.search(
            query,
            model=model if same_family else None,
            outcome=None if outcome == "any" else outcome,
            knobs=knobs or None,
            k=max(1, min(int(k), 20)),
        )
        return [insight_brief(h) for h in hits]

    return [StructuredTool.from_function(search_insights)]
