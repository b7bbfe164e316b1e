"""The debugger's LLM policy: read the log, propose a fix, checked by the guard."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

from rea.agents.brain import Brain
from rea.agents.llm import ask
from rea.tools.jobs import make_log_tool
from rea.tools.trainer import make_trainer_tools
from rea.trainers.errors import ConfigError
from rea.trainers.events import Failure

from . import prompts
from .guard import check_diagnosis
from .outputs import Diagnosis

LOG_TAIL_CHARS = 2500


def diagnose_llm(
    brain: Brain,
    *,
    failure: Failure,
    config: dict[str, Any],
    attempt: int,
    max_attempts: int,
    suggestion: Diagnosis,
    job_dir: Path | None = None,
) -> Diagnosis:
    """Ask the LLM (raises `InvalidModelOutput` when its answer leaves the guard)."""
    user = prompts.USER.format(
        attempt=attempt,
        max_attempts=max_attempts,
        kind=failure.kind,
        message=failure.message[:1000],
        log_tail=failure.log_tail[-LOG_TAIL_CHARS:] or "(empty)",
        config=json.dumps(config, default=str),
        suggestion=suggestion.model_dump_json(exclude={"diagnosis"}),
    )
    return ask(
        brain,
        agent="debugger",
        system=prompts.SYSTEM,
        user=user,
        schema=Diagnosis,
        tools=_tools(failure, config, job_dir),
        validate=lambda d: check_diagnosis(d, failure, config),
    )


def _tools(failure: Failure, config: dict[str, Any], job_dir: Path | None) -> list[BaseTool]:
    tools = [make_log_tool(job_dir, fallback=failure.log_tail)]
    with contextlib.suppress(ConfigError):  # schema + validate_delta need a valid config
        tools += make_trainer_tools(config)
    return tools
