"""The research agent answers with the shared `HypothesisSet` (rea.agents.schemas).

A card-backed proposal has source "research" and evidence {"card_id", "citation", "area"}; the
LLM may add free-form ideas with source "llm". `llm.validate_research_set` enforces both.
"""

from rea.agents.schemas import HypothesisProposal, HypothesisSet

__all__ = ["HypothesisProposal", "HypothesisSet"]
