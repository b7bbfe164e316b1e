"""The insight agent answers with the shared `HypothesisSet` (rea.agents.schemas).

Every proposal has source "insight" and evidence {"insight_ids": [...], "statements": [...]};
`llm.validate_insight_set` enforces it on the LLM's answer.
"""

from rea.agents.schemas import HypothesisProposal, HypothesisSet

__all__ = ["HypothesisProposal", "HypothesisSet"]
