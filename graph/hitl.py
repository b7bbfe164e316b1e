"""Human approvals in the langchain HITL request shape, so LangGraph Studio and Agent Chat UI
render them: a request with `action_requests` and `review_configs`, answered by
`{"decisions": [{"type": "approve"} | {"type": "edit", "edited_action": {...}} |
{"type": "reject", "message": ...}]}`. `HITLResponse` is the interrupt's `response_schema`, so a
malformed answer is refused and the interrupt stays pending.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DECISIONS = ("approve", "edit", "reject")


class Action(BaseModel):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class ApproveDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["approve"]


class EditDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["edit"]
    edited_action: Action


class RejectDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["reject"]
    message: str | None = None


Decision = Annotated[ApproveDecision | EditDecision | RejectDecision, Field(discriminator="type")]


class HITLResponse(BaseModel):
    """The human's answer to one approval request: exactly one decision."""

    decisions: list[Decision] = Field(min_length=1, max_length=1)

    @property
    def decision(self) -> ApproveDecision | EditDecision | RejectDecision:
        return self.decisions[0]


def request(
    kind: str, approval_id: str, action: str, args: dict[str, Any], description: str
) -> dict[str, Any]:
    """An approval interrupt payload (HITLRequest shape plus our own `type` and ids)."""
    return {
        "type": "approval",
        "kind": kind,
        "approval_id": approval_id,
        "action_requests": [{"name": action, "args": args, "description": description}],
        "review_configs": [{"action_name": action, "allowed_decisions": list(DECISIONS)}],
    }


def status_of(decision: ApproveDecision | EditDecision | RejectDecision) -> str:
    """The store's approval status for a decision."""
    return {"approve": "approved", "edit": "edited", "reject": "rejected"}[decision.type]
