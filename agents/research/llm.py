"""The research agent's LLM policy: search the library with tools, answer a validated
HypothesisSet (card-backed proposals, plus at most a few free-form "llm" ideas)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rea.agents.brain import Brain
from rea.agents.llm import ask
from rea.agents.schemas import HypothesisProposal, HypothesisSet
from rea.tools.research import make_research_tools
from rea.tools.trainer import as_config, canonical, make_trainer_tools, screen_delta
from rea.trainers.config import TrainerConfig

from . import prompts

if TYPE_CHECKING:
    from rea.memory.research import ResearchLibrary

LLM_IDEAS_MAX = 2


def propose_llm(
    brain: Brain,
    library: ResearchLibrary,
    *,
    model: str,
    baseline_config: dict[str, Any],
    dataset: dict[str, Any],
    exclude_cards: Sequence[str] = (),
    k: int = 6,
) -> HypothesisSet:
    """Ask the LLM (raises `InvalidModelOutput` when its answer fails validation)."""
    base = as_config(baseline_config)
    user = prompts.USER.format(
        model=model,
        dataset=json.dumps(dataset, default=str),
        baseline=json.dumps(base.model_dump()),
        exclude=", ".join(exclude_cards) or "none",
        k=k,
    )
    tools = [
        *make_research_tools(library, model=model, exclude=exclude_cards),
        *make_trainer_tools(base),
    ]
    return ask(
        brain,
        agent="research",
        system=prompts.SYSTEM.format(k=k, llm_max=LLM_IDEAS_MAX),
        user=user,
        schema=HypothesisSet,
        tools=tools,
        validate=lambda out: validate_research_set(out, library, base, exclude_cards, k),
    )


def validate_research_set(
    out: HypothesisSet,
    library: ResearchLibrary,
    base: TrainerConfig,
    exclude: Sequence[str],
    k: int,
) -> HypothesisSet:
    """research: cites an existing, applicable, not-excluded card; llm: has a rationale (at
    most LLM_IDEAS_MAX of them); every delta validates on the baseline and changes something.
    Returns the set with effective deltas and the cards' own citations, duplicates dropped, cut
    to `k`; raises ValueError listing every problem."""
    problems: list[str] = []
    kept: list[HypothesisProposal] = []
    seen: set[str] = set()
    if sum(h.source == "llm" for h in out.hypotheses) > LLM_IDEAS_MAX:
        problems.append(f"at most {LLM_IDEAS_MAX} free-form (source 'llm') ideas")
    for n, hyp in enumerate(out.hypotheses, 1):
        evidence, why = _check_source(hyp, library, base.model, exclude)
        if why:
            problems.append(f"hypothesis {n}: {why}")
        delta, problem = screen_delta(base, hyp.config_delta)
        if problem:
            problems.append(f"hypothesis {n}: {problem}")
        elif canonical(delta) not in seen:
            seen.add(canonical(delta))
            kept.append(hyp.model_copy(update={"config_delta": delta, "evidence": evidence}))
    if problems:
        raise ValueError("; ".join(problems))
    return HypothesisSet(hypotheses=kept[:k], summary=out.summary)


def _check_source(
    hyp: HypothesisProposal, library: ResearchLibrary, model: str, exclude: Sequence[str]
) -> tuple[dict[str, Any], str]:
    """(normalised evidence, problem or '')."""
    if hyp.source == "llm":
        ok = len(hyp.rationale.strip()) >= 10
        return hyp.evidence, "" if ok else "a free-form idea needs a rationale"
    if hyp.source != "research":
        return hyp.evidence, f"source must be 'research' or 'llm' (got {hyp.source!r})"
    card_id = str(hyp.evidence.get("card_id") or "")
    card = library.get(card_id) if card_id else None
    if card is None:
        return hyp.evidence, f"evidence.card_id {card_id!r} is not a card in the library"
    if card_id in exclude:
        return hyp.evidence, f"card {card_id} was already tried"
    if not card.applies_to(model):
        return hyp.evidence, f"card {card_id} does not apply to family {model}"
    cited = {"card_id": card.id, "citation": card.citation.short(), "area": card.area}
    return {**hyp.evidence, **cited}, ""
