"""A scripted chat model for agent and graph tests: no network, every prompt recorded.

    model = ScriptedToolModel([
        tool_call("search_research", {"query": "dropout"}),  # the tool loop calls a tool
        "I have what I need.",                                 # ...then stops calling tools
        structured(HypothesisSet, {"hypotheses": [...]}),      # the structured answer
    ])
    brain = Brain(model=model, model_name="scripted", structured_method="function_calling")
    ... run the agent ...
    model.seen[0]        # the messages of the first call; model.calls[0] its bound kwargs

A reply is an `AIMessage`, a `str` (plain text), or a callable `(messages) -> AIMessage | str`
that answers from the prompt. `structured()` scripts an answer that parses under both
`with_structured_output` methods (the tool call for function_calling, the JSON content for
json_schema / json_mode). Every reply gets `usage_metadata` (`usage`, default 10 in / 5 out per
call) unless it carries its own, so token accounting can be asserted.

State is plain lists (no iterator like GenericFakeChatModel's), so the model pickles; a deep
copy (as langchain/langgraph make of bound runnables) returns the same object, so a copy
consumes the same script and records into the same `seen`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel, Field

Reply = AIMessage | str | Callable[[list[BaseMessage]], AIMessage | str]
_ids = itertools.count(1)


class ScriptExhausted(AssertionError):
    """The code under test called the model more often than the test scripted."""


class ScriptedToolModel(BaseChatModel):
    """Answers each call with the next scripted reply; records what it was asked."""

    replies: list[Any] = Field(default_factory=list)
    seen: list[list[BaseMessage]] = Field(default_factory=list)  # messages, one list per call
    calls: list[dict[str, Any]] = Field(default_factory=list)  # bound kwargs (tools, ...) per call
    usage: tuple[int, int] = (10, 5)  # (input, output) tokens reported per call

    def __init__(self, replies: Sequence[Reply] = (), **kwargs: Any) -> None:
        super().__init__(replies=list(replies), **kwargs)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> ScriptedToolModel:
        return self  # copies share the script and the record (see the module docstring)

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-model"

    @property
    def remaining(self) -> int:
        """Scripted replies not yet used (assert 0 to check the code made every call)."""
        return len(self.replies)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        self.calls.append(dict(kwargs))
        if not self.replies:
            last = messages[-1].content if messages else ""
            raise ScriptExhausted(
                f"ScriptedToolModel: call #{len(self.seen)} has no scripted reply left "
                f"(last message: {str(last)[:200]!r}); add one to the script"
            )
        reply = self.replies.pop(0)
        if callable(reply) and not isinstance(reply, BaseMessage):
            reply = reply(list(messages))
        message = AIMessage(content=reply) if isinstance(reply, str) else reply.model_copy()
        if message.usage_metadata is None:
            n_in, n_out = self.usage
            message.usage_metadata = {
                "input_tokens": n_in,
                "output_tokens": n_out,
                "total_tokens": n_in + n_out,
            }
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable:
        """Bind tools the way ChatOpenAI sends them (OpenAI tool dicts in `calls[i]["tools"]`)."""
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def with_structured_output(
        self,
        schema: Any,
        *,
        method: str = "function_calling",
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable:
        """ChatOpenAI's contract: function_calling reads a tool call named like the schema,
        json_schema / json_mode read the JSON content; include_raw gives raw/parsed/parsing_error."""
        kwargs.pop("strict", None)
        is_model = isinstance(schema, type) and issubclass(schema, BaseModel)
        if method == "function_calling":
            name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools([schema], tool_choice=name, **kwargs)
            parser: Runnable = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)
                if is_model
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        elif method in ("json_schema", "json_mode"):
            llm = self.bind(response_format=_response_format(schema, method), **kwargs)
            parser = (
                PydanticOutputParser(pydantic_object=schema) if is_model else JsonOutputParser()
            )
        else:
            raise ValueError(f"unknown structured output method {method!r}")
        if not include_raw:
            return llm | parser
        parse = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        failed = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parse.with_fallbacks([failed], exception_key="parsing_error")


def _response_format(schema: Any, method: str) -> dict[str, Any]:
    if method == "json_mode":
        return {"type": "json_object"}
    json_schema = schema if isinstance(schema, dict) else convert_to_json_schema(schema)
    name = json_schema.get("title", "output")
    return {"type": "json_schema", "json_schema": {"name": name, "schema": json_schema}}


def tool_call(name: str, args: dict[str, Any], call_id: str | None = None) -> AIMessage:
    """A reply that calls one tool (script several calls with `tool_calls`)."""
    return tool_calls((name, args, call_id))


def tool_calls(
    *calls: tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str | None],
) -> AIMessage:
    """A reply that calls several tools at once: tool_calls(("a", {...}), ("b", {...}))."""
    scripted = []
    for call in calls:
        name, args, call_id = (*call, None)[:3]
        scripted.append({"name": name, "args": args, "id": call_id or f"call_{next(_ids)}"})
    return AIMessage(content="", tool_calls=scripted)


def structured(schema: type[BaseModel] | str, args: BaseModel | dict[str, Any]) -> AIMessage:
    """A structured answer that parses under function_calling (a tool call named like the
    schema) and under json_schema / json_mode (the same arguments as JSON content)."""
    name = schema if isinstance(schema, str) else convert_to_openai_tool(schema)["function"]["name"]
    data = args.model_dump(mode="json") if isinstance(args, BaseModel) else args
    return AIMessage(
        content=json.dumps(data),
        tool_calls=[{"name": name, "args": data, "id": f"call_{next(_ids)}"}],
    )
