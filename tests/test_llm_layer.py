"""The shared LLM layer (rea.agents.brain / rea.agents.llm): the tool loop, structured output,
validation retries, offline fallback and token accounting, on a scripted model and on the real
ChatOpenAI client against a stub OpenAI-compatible server on loopback."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from pydantic import BaseModel, ConfigDict, Field
from scripted_model import ScriptedToolModel, ScriptExhausted, structured, tool_call, tool_calls
from stub_openai import StubOpenAI, error_reply, stub_openai_server, tool_reply

from rea.agents.brain import Brain, make_brain
from rea.agents.llm import FINAL_INSTRUCTION, InvalidModelOutput, ask, decide
from rea.trainers.errors import ConfigError

METHODS = ["function_calling", "json_schema"]


class Answer(BaseModel):
    """A knob to change (the test's structured output)."""

    model_config = ConfigDict(extra="forbid")

    knob: str
    value: float
    notes: dict[str, Any] = Field(default_factory=dict)  # free-form, like config_delta


class Notes(BaseModel):
    items: list[str] = Field(default_factory=list)  # every field defaulted


def lookup_tool(log: list[str]) -> BaseTool:
    @tool
    def lookup(key: str) -> str:
        """Look up the current value of a trainer knob."""
        log.append(key)
        if key == "boom":
            raise RuntimeError("no such knob")
        return f"{key}=0.1"

    return lookup


def below_one(answer: Answer) -> Answer:
    if answer.value >= 1:
        raise ValueError("value must be below 1")
    return answer


class UsageLog(list):
    """A Brain.on_usage sink that keeps every (agent, prompt, completion, model) row."""

    def __call__(self, *row: Any) -> None:
        self.append(row)


def scripted_brain(replies: list[Any], method: str = "function_calling") -> Brain:
    model = ScriptedToolModel(replies)
    return Brain(model=model, model_name="scripted", structured_method=method, on_usage=UsageLog())


def ask_answer(brain: Brain, tools: list[BaseTool] = (), **kw: Any) -> Answer:
    return ask(brain, agent="t", system="You tune trainers.", user="Pick a knob.", schema=Answer,
               tools=tools, **kw)  # fmt: skip


@pytest.mark.parametrize("method", METHODS)
def test_ask_runs_the_tool_loop_then_answers(method):
    log: list[str] = []
    brain = scripted_brain(
        [
            tool_call("lookup", {"key": "lr"}, "c1"),
            "I know enough.",
            structured(Answer, {"knob": "lr", "value": 0.2}),
        ],
        method,
    )
    answer = ask_answer(brain, [lookup_tool(log)])
    model = brain.model
    assert answer == Answer(knob="lr", value=0.2)
    assert log == ["lr"] and model.remaining == 0
    fed_back = model.seen[1][-1]
    assert isinstance(fed_back, ToolMessage)
    assert (fed_back.content, fed_back.tool_call_id) == ("lr=0.1", "c1")
    assert model.calls[0]["tools"][0]["function"]["name"] == "lookup"
    assert model.seen[2][-1].content == FINAL_INSTRUCTION
    final = model.calls[2]
    if method == "function_calling":
        assert final["tool_choice"] == "Answer"
    else:
        assert final["response_format"]["json_schema"]["name"] == "Answer"
    assert brain.on_usage == [("t", 10, 5, "scripted")] * 3


def test_tool_errors_and_unknown_tools_are_shown_to_the_model():
    brain = scripted_brain(
        [
            tool_calls(("lookup", {"key": "boom"}), ("nope", {})),
            "ok",
            structured(Answer, {"knob": "lr", "value": 0.2}),
        ]
    )
    ask_answer(brain, [lookup_tool([])])
    results = [m.content for m in brain.model.seen[1] if isinstance(m, ToolMessage)]
    assert results == [
        "error: RuntimeError: no such knob",
        "error: there is no tool 'nope'; tools: lookup",
    ]


def test_tool_loop_stops_after_max_tool_steps():
    log: list[str] = []
    brain = scripted_brain(
        [
            tool_call("lookup", {"key": "a"}),
            tool_call("lookup", {"key": "b"}),
            structured(Answer, {"knob": "lr", "value": 0.2}),
        ]
    )
    brain.max_tool_steps = 2
    assert ask_answer(brain, [lookup_tool(log)]).knob == "lr"
    assert log == ["a", "b"] and len(brain.model.seen) == 3


def test_rejected_answer_is_retried_with_the_reason():
    brain = scripted_brain(
        [
            structured(Answer, {"knob": "lr", "value": 5}),
            structured(Answer, {"knob": "lr", "value": 0.5}),
        ]
    )
    assert ask_answer(brain, validate=below_one).value == 0.5
    retry = [m.content for m in brain.model.seen[1] if isinstance(m, HumanMessage)]
    assert any("That answer was invalid: value must be below 1" in text for text in retry)


def test_answers_rejected_every_time_raise_invalid_model_output():
    brain = scripted_brain([structured(Answer, {"knob": "lr", "value": 5})] * 3)
    brain.retries = 2
    with pytest.raises(InvalidModelOutput, match="value must be below 1"):
        ask_answer(brain, validate=below_one)
    assert len(brain.model.seen) == 3
    assert brain.on_usage == [("t", 10, 5, "scripted")] * 3


@pytest.mark.parametrize("method", METHODS)
def test_unparseable_answer_is_retried(method):
    brain = scripted_brain(
        [AIMessage("Sure! knob=lr"), structured(Answer, {"knob": "lr", "value": 0.3})], method
    )
    assert ask_answer(brain).value == 0.3
    assert len(brain.model.seen) == 2


def test_truncated_json_is_not_completed_into_an_answer():
    brain = scripted_brain([AIMessage('{"items": ["a"')] * 3, "json_schema")
    with pytest.raises(InvalidModelOutput):
        ask(brain, agent="t", system="s", user="u", schema=Notes)


def test_fenced_json_answer_is_accepted():
    brain = scripted_brain([AIMessage('```json\n{"items": ["a"]}\n```')], "json_schema")
    assert ask(brain, agent="t", system="s", user="u", schema=Notes).items == ["a"]


def test_decide_uses_the_llm_then_falls_back_and_records_why(caplog):
    brain = scripted_brain([structured(Answer, {"knob": "lr", "value": 5})] * 3)
    assert decide(brain, "planner", llm=lambda: "llm plan", offline=lambda: "x") == (
        "llm plan",
        "llm",
    )
    assert brain.fallbacks == []
    llm = lambda: ask_answer(brain, validate=below_one)  # noqa: E731
    assert decide(brain, "planner", llm=llm, offline=lambda: "safe plan") == (
        "safe plan",
        "offline",
    )
    assert len(brain.fallbacks) == 1
    assert brain.fallbacks[0].startswith("planner: InvalidModelOutput:")
    assert "value must be below 1" in brain.fallbacks[0]
    assert "using the offline policy" in caplog.text


def test_offline_brain_never_calls_the_llm_policy():
    def llm() -> str:
        raise AssertionError("the LLM policy ran on an offline brain")

    brain = Brain()
    assert decide(brain, "planner", llm=llm, offline=lambda: "plan") == ("plan", "offline")
    assert brain.fallbacks == []
    with pytest.raises(InvalidModelOutput, match="no LLM configured"):
        ask_answer(brain)


def test_scripted_model_answers_from_the_prompt_copies_and_runs_out():
    model = ScriptedToolModel([lambda msgs: f"you said {msgs[-1].content}", "plain"])
    assert copy.deepcopy(model) is model
    assert pickle.loads(pickle.dumps(ScriptedToolModel(["a"]))).replies == ["a"]
    assert model.invoke("hello").content == "you said hello"
    reply = model.invoke("again")
    assert reply.content == "plain" and reply.usage_metadata["input_tokens"] == 10
    with pytest.raises(ScriptExhausted, match="call #3 has no scripted reply"):
        model.invoke("more")


# --- ChatOpenAI against the stub server --------------------------------------------------


@pytest.fixture
def stub() -> Iterator[StubOpenAI]:
    with stub_openai_server() as server:
        yield server


def stub_brain(stub: StubOpenAI, method: str = "json_schema", streaming: bool = False) -> Brain:
    brain = make_brain(
        "llm", model_name="stub", api_key="sk-test", base_url=stub.base_url,
        structured_method=method,
    )  # fmt: skip
    brain.model.streaming = streaming
    brain.on_usage = UsageLog()
    return brain


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "sse"])
def test_chat_openai_tool_round_trip_and_json_schema_answer(stub, streaming):
    log: list[str] = []
    stub.script(
        tool_reply("lookup", {"key": "lr"}, "call_1"),
        "I know enough.",
        {"knob": "lr", "value": 0.2, "notes": {"why": "warmup"}},
    )
    brain = stub_brain(stub, "json_schema", streaming)
    answer = ask_answer(brain, [lookup_tool(log)])
    assert answer == Answer(knob="lr", value=0.2, notes={"why": "warmup"}) and log == ["lr"]
    first, second, final = stub.requests
    assert first["tools"][0]["function"]["name"] == "lookup" and "tool_choice" not in first
    assert second["messages"][-1] == {"role": "tool", "content": "lr=0.1", "tool_call_id": "call_1"}
    assert final["response_format"]["type"] == "json_schema"
    assert final["response_format"]["json_schema"]["name"] == "Answer"
    assert final["response_format"]["json_schema"]["strict"] is False  # OpenAI: dict fields
    assert "tools" not in final and "tool_choice" not in final
    assert all(r["stream"] is streaming for r in stub.requests)
    assert brain.on_usage == [("t", 12, 8, "stub")] * 3


def test_chat_openai_function_calling_answer(stub):
    stub.script(
        tool_reply("lookup", {"key": "lr"}),
        "I know enough.",
        tool_reply("Answer", {"knob": "dropout", "value": 0.1}),
    )
    brain = stub_brain(stub, "function_calling")
    assert ask_answer(brain, [lookup_tool([])]) == Answer(knob="dropout", value=0.1)
    final = stub.requests[2]
    assert final["tool_choice"] == {"type": "function", "function": {"name": "Answer"}}
    assert [t["function"]["name"] for t in final["tools"]] == ["Answer"]
    assert "response_format" not in final


def test_malformed_json_falls_back_and_still_counts_tokens(stub):
    stub.script("{not json", '{"knob": "lr"', "Here it is: knob lr")
    brain = stub_brain(stub, "json_schema")
    llm = lambda: ask_answer(brain)  # noqa: E731
    assert decide(brain, "research", llm=llm, offline=lambda: "offline") == (
        "offline",
        "offline",
    )
    assert len(stub.requests) == brain.retries + 1 == 3
    assert brain.fallbacks[0].startswith("research: InvalidModelOutput:")
    assert brain.on_usage == [("t", 12, 8, "stub")] * 3


def test_server_error_falls_back_without_retrying(stub):
    stub.script(error_reply(400, "model 'stub' is not loaded"))
    brain = stub_brain(stub)
    out = decide(brain, "insight", llm=lambda: ask_answer(brain), offline=lambda: "offline")
    assert out == ("offline", "offline") and len(stub.requests) == 1
    assert "model 'stub' is not loaded" in brain.fallbacks[0]


def test_responder_answers_from_the_request(stub):
    def responder(body: dict[str, Any]) -> Any:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        return {"knob": user.split()[-1], "value": 0.5}

    stub.responder = responder
    answer = ask(stub_brain(stub), agent="t", system="s", user="tune momentum", schema=Answer)
    assert answer.knob == "momentum"


def test_empty_script_answers_a_clear_error(stub):
    brain = stub_brain(stub)
    decide(brain, "t", llm=lambda: ask_answer(brain), offline=lambda: None)
    assert "no scripted reply left for request #1" in brain.fallbacks[0]


# --- make_brain ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, key, url, is_llm",
    [
        ("auto", None, None, False),
        ("offline", "sk-test", None, False),
        ("auto", None, "http://127.0.0.1:9/v1", True),
        ("llm", "sk-test", None, True),
    ],
)
def test_make_brain_picks_the_policy(kind, key, url, is_llm):
    brain = make_brain(kind, model_name="m", api_key=key, base_url=url)
    assert brain.is_llm is is_llm
    assert brain.model_name == ("m" if is_llm else "offline")


def test_make_brain_llm_without_a_key_says_what_to_set():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY") as err:
        make_brain("llm", model_name="m", api_key=None, base_url=None)
    assert "REA_BRAIN=offline" in str(err.value)
    with pytest.raises(ConfigError, match="auto, llm or offline"):
        make_brain("LLM", model_name="m", api_key="sk-test", base_url=None)
