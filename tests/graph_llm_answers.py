"""What a well-behaved (mostly) LLM answers in a whole campaign, for test_graph_llm.py.

One policy, two transports: `stub_responder` speaks the OpenAI wire format (the stub server),
`scripted_reply` speaks LangChain messages (ScriptedToolModel). Both:
- call one real tool when tools are offered and no tool result is in the conversation yet;
- then stop calling tools (plain text);
- answer the structured outputs they know validly: the research agent's HypothesisSet (one
  card-backed hypothesis and one source "llm" idea, titled with `tag`), the planner's PlanDraft
  (every listed hypothesis, in order) and the launcher's LaunchPlan (every requested job);
- answer the analyst's PhaseSummary / ReportNarrative with an invented number (rejected by the
  number check, so the analyst falls back to its offline template), and every other schema
  (CombinationDraft, ExploitSpace, Diagnosis, ...) with something that is not JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from scripted_model import ScriptedToolModel, structured, tool_call

CARD_ID = "lr-3e-3"  # a real library card that applies to dcn_v2
CARD_DELTA = {"lr": 0.003}
IDEA_DELTA = {"embed_dim": 12}
INVENTED = "The change cut NE by 12345.678% on 987 seeds."  # numbers not in any facts
PLAN_RATIONALE = "LLM plan: the card-backed learning rate first, then the model's own idea."
# A tool each agent offers, with arguments that make it succeed (first offered one is called).
TOOL_ARGS: dict[str, dict[str, Any]] = {
    "search_research": {"query": "learning rate far too low for the model", "k": 4},
    "validate_delta": {"config_delta": CARD_DELTA},
    "budget_status": {},
    "read_job_log": {"lines": 20},
}
_HYPOTHESIS_LINE = re.compile(r"^- (\S+): (?:insight|research|llm), ", re.M)


def titles(tag: str) -> tuple[str, str]:
    """(card-backed title, free-form idea title) the research answer uses."""
    return f"{tag}: learning rate 3e-3 ({CARD_ID})", f"{tag}: embeddings of 12"


def research_answer(tag: str) -> dict[str, Any]:
    card_title, idea_title = titles(tag)
    return {
        "hypotheses": [
            {
                "title": card_title,
                "source": "research",
                "rationale": "The baseline learning rate is ten times below the usual one.",
                "config_delta": CARD_DELTA,
                "evidence": {"card_id": CARD_ID},
                "prior_gain_pct": 2.0,
            },
            {
                "title": idea_title,
                "source": "llm",
                "rationale": "Four-dimensional embeddings are too narrow to carry the crosses.",
                "config_delta": IDEA_DELTA,
                "prior_gain_pct": 1.0,
                "relative_cost": 1.3,
            },
        ],
        "summary": f"{tag} research answer",
    }


def answer(schema: str, user: str, tag: str) -> dict[str, Any] | str:
    """The structured answer to `schema` (a dict: valid JSON) or a str (invalid output)."""
    if schema == "HypothesisSet":
        return research_answer(tag)
    if schema == "PlanDraft":
        order = _HYPOTHESIS_LINE.findall(user)
        return {"order": order, "new_ideas": [], "rationale": PLAN_RATIONALE}
    if schema == "LaunchPlan":
        rows = [json.loads(line[2:]) for line in user.splitlines() if line.startswith("- {")]
        items = [{k: r[k] for k in ("experiment_id", "attempt", "max_seconds")} for r in rows]
        return {"items": items, "rationale": "in the order given"}
    if schema == "PhaseSummary":
        return {"summary": INVENTED}
    if schema == "ReportNarrative":
        return {"narrative": INVENTED}
    return "I would rather not answer in JSON."


def _tool_to_call(offered: list[str]) -> str:
    return next((name for name in TOOL_ARGS if name in offered), offered[0])


# --- the OpenAI wire format (stub server) -------------------------------------------------


def stub_responder(tag: str) -> Callable[[dict[str, Any]], Any]:
    from stub_openai import tool_reply

    def respond(body: dict[str, Any]) -> Any:
        messages = body["messages"]
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        fmt = body.get("response_format") or {}
        if fmt:
            out = answer((fmt.get("json_schema") or {}).get("name", ""), user, tag)
            return out if isinstance(out, str) else json.dumps(out)
        if body.get("tools") and not any(m["role"] == "tool" for m in messages):
            name = _tool_to_call([t["function"]["name"] for t in body["tools"]])
            return tool_reply(name, TOOL_ARGS.get(name, {}))
        return "I have what I need."

    return respond


# --- LangChain messages (ScriptedToolModel, function_calling) -----------------------------


def scripted_model(tag: str, calls: int = 2000) -> ScriptedToolModel:
    """A scripted model whose every reply comes from the policy above. The reply reads the
    bound kwargs of its own call (`model.calls[-1]`, recorded before the reply is made): a
    `tool_choice` names the schema of a structured call (function_calling)."""
    model = ScriptedToolModel()

    def reply(messages: list[BaseMessage]) -> AIMessage | str:
        bound = model.calls[-1]
        user = next((str(m.content) for m in messages if m.type == "human"), "")
        schema = bound.get("tool_choice")
        if isinstance(schema, str):
            out = answer(schema, user, tag)
            return out if isinstance(out, str) else structured(schema, out)
        offered = [t["function"]["name"] for t in bound.get("tools") or []]
        if offered and not any(isinstance(m, ToolMessage) for m in messages):
            name = _tool_to_call(offered)
            return tool_call(name, TOOL_ARGS.get(name, {}))
        return "I have what I need."

    model.replies.extend([reply] * calls)
    return model
