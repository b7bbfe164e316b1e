"""The campaign graph's state: ids, small summaries and chat `messages` — never logs, configs,
metrics or tensors (those live in SQL and files; see DESIGN.md §5).

Every key but `messages` is replaced by a node's update (no reducer), so a node that returns a
list returns the whole list.
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

PHASE_ORDER = ("baseline", "validation", "combination", "exploitation", "report", "done")


class CampaignInput(TypedDict, total=False):
    """What starts a campaign thread: the campaign row (created by the runner) and, for
    reliability tests and drills, failures to inject into chosen jobs."""

    campaign_id: str
    faults: list[dict[str, Any]]  # [{"phase": "validation", "index": 0, "fault": {...Fault}}]
    messages: Annotated[list[AnyMessage], add_messages]


class CampaignState(CampaignInput, total=False):
    phase: str  # one of PHASE_ORDER
    status: str  # running | completed | failed | cancelled (the SQL row has the finer status)
    launch: list[dict[str, Any]]  # LaunchRequest dicts the launch node submits next
    pending: list[str]  # job ids the campaign waits on
    event: dict[str, Any] | None  # the final job event the last wake delivered (compact)
    failed: list[str]  # failed job ids the debugger has not handled yet
    escalation: dict[str, Any] | None  # the debugger's diagnosis the human must rule on
    plan: dict[str, Any] | None  # the approved plan: approval id, budget split per phase
    round: int  # exploitation round (0 = not started)
    slots: int | None  # rolling exploitation: trials at once (a freed one is refilled)
    best_experiment_id: str | None
    budget_request: dict[str, Any] | None  # {approval_id, extra_seconds, phase, ...} while asking
    budget_denied: bool  # the human declined more budget: no further asks, wrap up
    report_path: str | None
    notes: list[str]  # short progress lines (also shown in the report)
    insights_pending: list[str]  # insight ids in SQL, not yet in Chroma (memorise writes them)
