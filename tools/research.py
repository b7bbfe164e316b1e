"""The research library as the agents see it: search technique cards, read one in full.

    tools = make_research_tools(library, model="deepfm", exclude=["lr-3e-4"])

Searches are limited to cards applicable to the campaign's family and leave out excluded
(already tried) cards, so the model cannot wander off to techniques the trainer cannot run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, StructuredTool

if TYPE_CHECKING:
    from rea.memory.research import ResearchCard, ResearchLibrary


def card_brief(card: ResearchCard, score: float | None = None) -> dict[str, Any]:
    """A card as a small JSON-able dict (what `search_research` returns per card)."""
    out: dict[str, Any] = {
        "card_id": card.id,
        "title": card.title,
        "area": card.area,
        "citation": card.citation.short(),
        "delta": card.delta,
        "helps_when": card.helps_when,
        "expected_direction": card.expected_direction,
        "expected_size": card.expected_size,
        "cost": card.cost,
    }
    if score is not None:
        out["similarity"] = round(score, 3)
    return out


def make_research_tools(
    library: ResearchLibrary, *, model: str, exclude: Sequence[str] = ()
) -> list[BaseTool]:
    """`search_research` and `get_card` over `library`, for family `model`."""
    excluded = list(exclude)

    def search_research(query: str, knobs: list[str] | None = None, k: int = 6) -> list[dict]:
        """Search the research library (technique cards from papers, each with a trainer config
        delta that tries it) by meaning: a symptom, a goal or a technique ("overfits after one
        epoch", "feature crosses for interaction-heavy data", "learning rate schedule").
        knobs: only cards changing one of these trainer config keys. Only cards applicable to
        this campaign's model family and not already tried are returned. Each hit: card_id
        (cite it), title, area, citation, delta, when it helps, expected direction/size of the
        val-NE change, and cost relative to the baseline."""
        hits = library.search(
            query, model=model, knobs=knobs or None, k=max(1, min(int(k), 15)), exclude=excluded
        )
        return [card_brief(h.card, h.score) for h in hits]

    def get_card(card_id: str) -> dict[str, Any]:
        """The full card: mechanism, when it helps and hurts, the paper's evidence, families it
        applies to, its config delta and citation. Read it before proposing a card."""
        card = library.get(card_id)
        if card is None:
            return {"error": f"no card {card_id!r}; use an id returned by search_research"}
        return {**card.model_dump(mode="json"), "citation_short": card.citation.short()}

    return [
        StructuredTool.from_function(search_research),
        StructuredTool.from_function(get_card),
    ]
