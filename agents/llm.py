"""One LLM turn for an agent: tool calls, then a structured answer, validated.

    answer = ask(brain, agent="research", system=PROMPT, user=task, schema=ResearchOutput,
                 tools=[search_research], validate=check_deltas)

The model may call `tools` (up to `brain.max_tool_steps` rounds); then it is asked for the
structured output (`brain.structured_method`: json_schema for OpenAI/vLLM, function_calling
elsewhere), retried `brain.retries` times, and `validate` (e.g. config deltas against the trainer
schema) runs on it. Anything wrong raises `InvalidModelOutput`; `decide()` turns that into a
logged fallback to the offline policy, so a campaign never stops because a model misbehaved.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

from rea.trainers.errors import ReaError

from .brain import Brain

log = logging.getLogger("rea.agents")
T = TypeVar("T", bound=BaseModel)

FINAL_INSTRUCTION = (
    "Now give your final answer as the structured output described by the schema. "
    "Use only facts from the conversation and tool results above."
)
TOOL_RESULT_CHARS = 6000


class InvalidModelOutput(ReaError):
    """The LLM's answer did not parse or did not pass validation; the offline policy is used."""

    kind = "invalid_model_output"


def ask(
    brain: Brain,
    *,
    agent: str,
    system: str,
    user: str,
    schema: type[T],
    tools: Sequence[BaseTool] = (),
    validate: Callable[[T], T] | None = None,
) -> T:
    """Run one agent turn on the LLM and return its validated structured output."""
    if not brain.is_llm:
        raise InvalidModelOutput(f"{agent}: no LLM configured")
    messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(user)]
    if tools:
        messages = _tool_loop(brain, agent, messages, tools)
    last_error: Exception | None = None
    for _ in range(brain.retries + 1):
        try:
            return _structured(brain, agent, messages, schema, validate)
        except (InvalidModelOutput, ValidationError, ValueError) as err:
            last_error = err
            messages = [*messages, HumanMessage(f"That answer was invalid: {err}. Try again.")]
    raise InvalidModelOutput(f"{agent}: {last_error}")


def decide(
    brain: Brain, agent: str, llm: Callable[[], T], offline: Callable[[], T]
) -> tuple[T, str]:
    """The LLM policy's output when the brain is an LLM and it answers validly, else the
    offline policy's. Returns (output, "llm" | "offline"); every fallback is logged."""
    if not brain.is_llm:
        return offline(), "offline"
    try:
        return llm(), "llm"
    except Exception as err:  # any LLM failure falls back
        why = f"{agent}: {type(err).__name__}: {err}"[:500]
        log.warning("LLM output rejected, using the offline policy (%s)", why)
        brain.fallbacks.append(why)
        return offline(), "offline"


def _tool_loop(
    brain: Brain, agent: str, messages: list[BaseMessage], tools: Sequence[BaseTool]
) -> list[BaseMessage]:
    by_name = {t.name: t for t in tools}
    bound = brain.model.bind_tools(list(tools))
    for _ in range(brain.max_tool_steps):
        reply = bound.invoke(messages)
        _record(brain, agent, reply)
        messages = [*messages, reply]
        calls = getattr(reply, "tool_calls", None) or []
        if not calls:
            break
        for call in calls:
            messages.append(ToolMessage(_run_tool(by_name, call), tool_call_id=call["id"]))
    return messages


def _run_tool(by_name: dict[str, BaseTool], call: dict[str, Any]) -> str:
    tool = by_name.get(call["name"])
    if tool is None:
        return f"error: there is no tool {call['name']!r}; tools: {', '.join(by_name)}"
    try:
        out = tool.invoke(call.get("args") or {})
    except Exception as err:  # the model sees the error, can correct itself
        return f"error: {type(err).__name__}: {err}"
    text = out if isinstance(out, str) else json.dumps(out, default=str)
    return text[:TOOL_RESULT_CHARS]


def _structured(
    brain: Brain,
    agent: str,
    messages: list[BaseMessage],
    schema: type[T],
    validate: Callable[[T], T] | None,
) -> T:
    runnable = brain.model.with_structured_output(
        _output_schema(brain, schema), method=brain.structured_method, include_raw=True
    )
    out = runnable.invoke([*messages, HumanMessage(FINAL_INSTRUCTION)])
    raw = out.get("raw")
    _record(brain, agent, raw)
    if out.get("parsing_error") is not None or out.get("parsed") is None:
        raise InvalidModelOutput(f"unparseable output: {out.get('parsing_error')}")
    parsed = _json_content(raw) if brain.structured_method != "function_calling" else out["parsed"]
    answer = parsed if isinstance(parsed, schema) else schema.model_validate(parsed)
    return validate(answer) if validate else answer


def _output_schema(brain: Brain, schema: type[T]) -> type[T] | dict[str, Any]:
    """json_schema gets the plain JSON Schema, which ChatOpenAI sends with strict=false:
    OpenAI's strict mode rejects free-form objects (`dict[str, Any]` fields such as
    config_delta), and a bad answer then comes back with its raw message (usage recorded)
    instead of raising inside the client. The Pydantic model validates the answer here."""
    return schema.model_json_schema() if brain.structured_method == "json_schema" else schema


def _json_content(raw: Any) -> Any:
    """The JSON answer in the raw message, parsed strictly (langchain's JSON parser accepts
    truncated text, which could validate as an all-defaults answer); a ```json fence is ok."""
    text = raw.text if isinstance(raw, AIMessage) else ""
    text = text.strip()
    if text.startswith("```"):
        text = text.removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    return json.loads(text)  # a JSONDecodeError is a ValueError: ask() retries


def _record(brain: Brain, agent: str, message: Any) -> None:
    usage = getattr(message, "usage_metadata", None) if isinstance(message, AIMessage) else None
    if usage:
        brain.record_usage(agent, usage.get("input_tokens", 0), usage.get("output_tokens", 0))
