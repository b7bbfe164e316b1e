"""The insight agent's LLM policy: search the memory with tools, answer a validated HypothesisSet."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rea.agents.brain import Brain
from rea.agents.llm import ask
from rea.agents.schemas import HypothesisSet
from rea.tools.insights import make_insight_tools
from rea.tools.trainer import as_config, canonical, make_trainer_tools, screen_delta
from rea.trainers.config import TrainerConfig

from . import prompts

if TYPE_CHECKING:
    from rea.memory.insights import InsightMemory


def propose_llm(
    brain: Brain,
    memory: InsightMemory,
    *,
    model: str,
    data: str,
    dataset: dict[str, Any],
    baseline_config: dict[str, Any],
    k: int = 6,
) -> HypothesisSet:
    """Ask the LLM (raises `InvalidModelOutput` when its answer fails validation)."""
    base = as_config(baseline_config)
    user = prompts.USER.format(
        model=model,
        data=data,
        dataset=json.dumps(dataset, default=str),
        baseline=json.dumps(base.model_dump()),
        k=k,
    )
    return ask(
        brain,
        agent="insight",
        system=prompts.SYSTEM.format(k=k),
        user=user,
        schema=HypothesisSet,
        tools=[*make_insight_tools(memory, model=model), *make_trainer_tools(base)],
        validate=lambda out: validate_insight_set(out, memory, base, k),
    )


def validate_insight_set(
    out: HypothesisSet, memory: InsightMemory, base: TrainerConfig, k: int
) -> HypothesisSet:
    """Every proposal: source "insight", cites insight ids that exist, and a delta that
    validates on the baseline and changes something. Returns the set with effective deltas,
    duplicates dropped, cut to `k`; raises ValueError listing every problem."""
    cited = {i for h in out.hypotheses for i in _ids(h.evidence)}
    known = {ins.id for ins in memory.get(sorted(cited))}
    problems, kept, seen = [], [], set()
    for n, hyp in enumerate(out.hypotheses, 1):
        ids = _ids(hyp.evidence)
        if hyp.source != "insight":
            problems.append(f"hypothesis {n}: source must be 'insight' (got {hyp.source!r})")
        if not ids:
            problems.append(f"hypothesis {n}: evidence.insight_ids must list the insights cited")
        if missing := [i for i in ids if i not in known]:
            problems.append(f"hypothesis {n}: unknown insight ids {missing}")
        delta, problem = screen_delta(base, hyp.config_delta)
        if problem:
            problems.append(f"hypothesis {n}: {problem}")
        elif canonical(delta) not in seen:
            seen.add(canonical(delta))
            kept.append(hyp.model_copy(update={"config_delta": delta}))
    if problems:
        raise ValueError("; ".join(problems))
    return HypothesisSet(hypotheses=kept[:k], summary=out.summary)


def _ids(evidence: dict[str, Any]) -> list[str]:
    ids = evidence.get("insight_ids")
    return [str(i) for i in ids] if isinstance(ids, list) else []
