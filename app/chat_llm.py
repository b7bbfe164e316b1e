"""The chat with an LLM: a tool-calling loop whose tools are the chat agent's commands.

Each tool validates its arguments (a Pydantic schema the model sees) and runs the same command
the offline grammar would (`ChatAgent.run`), so a refused request comes back to the model as a
tool result that says what to do. A bad call (unknown tool, invalid arguments) is answered with
an error message the model can correct. The loop stops at the first reply without tool calls
(the answer) or after `MAX_STEPS` rounds; anything unusable raises `ChatLLMError`, and the chat
agent falls back to the command grammar.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from rea.trainers.config import MODEL_FAMILIES
from rea.trainers.errors import ReaError

from .chat_grammar import Command

if TYPE_CHECKING:
    from .chat import ChatAgent, Turn

log = logging.getLogger("rea.app.chat")
MAX_STEPS = 8
HISTORY_MESSAGES = 12
TOOL_RESULT_CHARS = 6000

SYSTEM_PROMPT = """\
You are REA, a ranking-engineer agent. You run ML-experimentation campaigns on CTR ranking models
(baseline → hypotheses → a plan the human approves → validation, combination and exploitation
training jobs → a report and a launch proposal), within a compute budget in trainer-seconds.
You talk with a ranking engineer about their campaigns.

Rules:
- Get every fact from the tools; never invent numbers, ids or results. Quote NE and AUC with 4
  decimals; lower NE is better; gains are relative validation-NE gains in %.
- Act only when the user asks for it: start, approve/reject/edit, steer, add budget or cancel.
  When several approvals are pending and the user did not say which, ask.
- Answer briefly in plain text (a few lines, markdown lists are fine), with the numbers that matter.

Model families: {families}. Data references: synthetic:<preset>[?rows=N&seed=S], criteo:PATH,
libfm:TRAIN[,VALID[,TEST]], csv:PATH.
This thread is about: {current}."""

CampaignId = Field(None, description="The campaign; omit for this thread's current campaign.")


class CampaignArgs(BaseModel):
    campaign_id: str | None = CampaignId


class NoArgs(BaseModel):
    pass


class StartArgs(BaseModel):
    model: Literal["lr", "fm", "deepfm", "dcn_v2", "dlrm", "finalmlp"] = Field(
        description="Model family."
    )
    data: str = Field(description="Data reference, e.g. synthetic:interaction-heavy?rows=60000.")
    budget_seconds: float = Field(gt=0, description="Compute budget in trainer-seconds.")
    goal: str | None = Field(None, description="What the engineer wants, in their words.")


class UseArgs(BaseModel):
    campaign_id: str = Field(description="The campaign this thread talks about from now on.")


class JobArgs(BaseModel):
    job: int | str | None = Field(
        None,
        description="N (the campaign's N-th job, 1-based, as list_jobs numbers them), a job id, "
        "or omitted for the latest failed job.",
    )
    campaign_id: str | None = CampaignId


class DecideArgs(BaseModel):
    decision: Literal["approve", "reject", "edit"]
    approval_id: str | None = Field(
        None, description="Omit when the campaign has exactly one pending approval."
    )
    message: str | None = Field(None, description="Why (for a rejection).")
    edits: dict[str, Any] | None = Field(
        None,
        description="For edit: the changed action arguments, e.g. {'extra_seconds': 60} for a "
        "budget request or {'experiments': [...a subset of the plan's...]} for a plan.",
    )
    campaign_id: str | None = CampaignId


class SteerArgs(BaseModel):
    skip_phases: list[Literal["combination", "exploitation"]] = Field(
        default_factory=list, description="Phases the campaign should not run."
    )
    wrap_up: bool = Field(False, description="Start no new phase or round; report what exists.")
    campaign_id: str | None = CampaignId


class BudgetArgs(BaseModel):
    seconds: float = Field(gt=0, description="Trainer-seconds to add to the approved budget.")
    why: str = Field("asked in chat", description="The reason, as the user gave it.")
    campaign_id: str | None = CampaignId


class ChatLLMError(ReaError):
    """The LLM failed or gave nothing usable; the chat answers with the command grammar."""

    kind = "chat_llm_error"


def llm_answer(agent: ChatAgent, turn: Turn, text: str, history: list[Any]) -> str:
    """The model's answer to `text`, after the tool calls it makes (see the module docstring)."""
    tools = chat_tools(agent, turn)
    by_name = {t.name: t for t in tools}
    messages: list[BaseMessage] = [
        SystemMessage(_system(agent, turn)),
        *_history(history),
        HumanMessage(text),
    ]
    try:
        bound = agent.brain.model.bind_tools(tools)
    except Exception as err:  # a model without tool calling
        raise ChatLLMError(f"{type(err).__name__}: {err}") from err
    for _ in range(MAX_STEPS):
        try:
            reply = bound.invoke(messages)
        except Exception as err:  # network, HTTP error, bad response: fall back
            raise ChatLLMError(f"{type(err).__name__}: {err}"[:300]) from err
        _meter(agent, turn, reply)
        calls = getattr(reply, "tool_calls", None) or []
        if not calls:
            answer = reply.text.strip() if isinstance(reply, AIMessage) else ""
            if not answer:
                raise ChatLLMError("the model answered with no text")
            return answer
        messages.append(reply)
        for call in calls:
            messages.append(ToolMessage(_run_tool(by_name, call), tool_call_id=call["id"]))
    raise ChatLLMError(f"no answer after {MAX_STEPS} rounds of tool calls")


def chat_tools(agent: ChatAgent, turn: Turn) -> list[BaseTool]:
    """The commands as tools for this turn (they act on `turn`'s thread and campaign)."""

    def tool(name: str, command: str, schema: type[BaseModel], doc: str, **rename: str) -> Any:
        def run(**kwargs: Any) -> str:
            args = {rename.get(k, k): v for k, v in kwargs.items() if v is not None}
            return agent.run(turn, Command(command, args))

        return StructuredTool.from_function(
            func=run, name=name, description=doc, args_schema=schema, infer_schema=False
        )

    return [
        tool(
            "start_campaign",
            "start",
            StartArgs,
            "Start a new campaign (baseline first, then a plan to approve).",
            budget_seconds="budget",
        ),
        tool("list_campaigns", "campaigns", NoArgs, "All campaigns with status and budget use."),
        tool("use_campaign", "use", UseArgs, "Make another campaign this thread's current one."),
        tool(
            "campaign_status",
            "status",
            CampaignArgs,
            "Status, phase, budget, baseline vs best, running jobs, what it waits on.",
        ),
        tool(
            "best_so_far",
            "best",
            CampaignArgs,
            "The best configuration so far vs the baseline (val/test NE, AUC, gain %).",
        ),
        tool(
            "list_jobs",
            "jobs",
            CampaignArgs,
            "Every training job, numbered 1.. in creation order, with state and val NE.",
        ),
        tool(
            "explain_job",
            "job",
            JobArgs,
            "Why a job failed: failure, what the debugger did, the next attempt, the log tail.",
            job="ref",
        ),
        tool(
            "list_approvals",
            "approvals",
            CampaignArgs,
            "Pending approvals summarised (a plan: hypotheses with source and cost, budget split).",
        ),
        tool(
            "decide",
            "decide",
            DecideArgs,
            "Answer an approval: approve, reject (with a message) or edit.",
        ),
        tool(
            "steer",
            "steer",
            SteerArgs,
            "Skip phases (combination, exploitation) or wrap up after the current phase.",
        ),
        tool(
            "add_budget",
            "add_budget",
            BudgetArgs,
            "Add trainer-seconds to the campaign's approved budget.",
        ),
        tool(
            "cancel",
            "cancel",
            CampaignArgs,
            "Cancel the campaign and its running jobs (only when the user asks).",
        ),
        tool(
            "report", "report", CampaignArgs, "The finished campaign's report (markdown) and plots."
        ),
    ]


# --- internals ----------------------------------------------------------------------------
def _run_tool(by_name: dict[str, BaseTool], call: dict[str, Any]) -> str:
    tool = by_name.get(call["name"])
    if tool is None:
        return f"error: there is no tool {call['name']!r}; tools: {', '.join(by_name)}"
    try:
        out = tool.invoke(call.get("args") or {})
    except Exception as err:  # invalid arguments: the model sees why and can correct itself
        return f"error: {type(err).__name__}: {str(err)[:800]}"
    text = out if isinstance(out, str) else json.dumps(out, default=str)
    return text[:TOOL_RESULT_CHARS]


def _system(agent: ChatAgent, turn: Turn) -> str:
    current = "no campaign yet"
    if turn.campaign_id:
        c = agent.ops.store.get_campaign(turn.campaign_id)
        current = f"campaign {c.id} ({c.model} on {c.data}, {c.status}, phase {c.phase})"
    return SYSTEM_PROMPT.format(families=", ".join(MODEL_FAMILIES), current=current)


def _history(rows: list[Any]) -> list[BaseMessage]:
    """The thread's last user and agent messages (progress lines are left out)."""
    make: dict[str, Callable[[str], BaseMessage]] = {"user": HumanMessage, "agent": AIMessage}
    said = [r for r in rows if r.role in make][-HISTORY_MESSAGES:]
    return [make[r.role](r.content) for r in said]


def _meter(agent: ChatAgent, turn: Turn, reply: Any) -> None:
    """Token spend is recorded against the thread's campaign (none yet: not recorded)."""
    usage = getattr(reply, "usage_metadata", None)
    if not usage or not turn.campaign_id:
        return
    agent.ops.store.record_llm_tokens(
        turn.campaign_id,
        int(usage.get("input_tokens", 0)),
        int(usage.get("output_tokens", 0)),
        agent.brain.model_name,
    )
