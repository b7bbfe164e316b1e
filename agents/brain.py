"""Which policy the agents use: the LLM (any OpenAI-compatible server) or the offline one.

`REA_BRAIN=offline` always uses the deterministic policies; `llm` requires a configured model;
`auto` (the default) uses the LLM when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set. Tests
build a `Brain` around a scripted chat model directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rea.trainers.errors import ConfigError

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]
# (agent, prompt_tokens, completion_tokens, model name) -> None: records LLM spend.
UsageSink = Callable[[str, int, int, str], None]


@dataclass
class Brain:
    """The chat model the agents share (None = offline) and how to talk to it."""

    model: Any = None  # a langchain BaseChatModel that supports bind_tools
    model_name: str = "offline"
    structured_method: StructuredMethod = "json_schema"
    max_tool_steps: int = 6
    retries: int = 2
    on_usage: UsageSink | None = None
    fallbacks: list[str] = field(default_factory=list)  # "agent: why" for each fallback taken

    @property
    def is_llm(self) -> bool:
        return self.model is not None

    def record_usage(self, agent: str, prompt_tokens: int, completion_tokens: int) -> None:
        if self.on_usage is not None and (prompt_tokens or completion_tokens):
            self.on_usage(agent, prompt_tokens, completion_tokens, self.model_name)


def make_brain(
    brain: str,
    *,
    model_name: str,
    api_key: str | None,
    base_url: str | None,
    structured_method: StructuredMethod = "json_schema",
    timeout_s: float = 120.0,
) -> Brain:
    """The brain `REA_BRAIN` asks for (see the module docstring)."""
    if brain not in ("auto", "llm", "offline"):
        raise ConfigError(f"REA_BRAIN must be auto, llm or offline, not {brain!r}")
    configured = bool(api_key or base_url)
    if brain == "offline" or (brain == "auto" and not configured):
        return Brain()
    if brain == "llm" and not configured:
        raise ConfigError(
            "REA_BRAIN=llm but no LLM is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for "
            "a local server such as vLLM, Ollama or llama.cpp), or use REA_BRAIN=offline"
        )
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        model=model_name,
        api_key=api_key or "not-needed",
        base_url=base_url,
        use_responses_api=False,
        max_retries=2,
        timeout=timeout_s,
        temperature=0.2,
        stream_usage=True,  # token spend is recorded even when a graph streams the model
    )
    return Brain(model=model, model_name=model_name, structured_method=structured_method)
