"""The analyst's LLM policy: prose around numbers that code computed.

The model gets the facts as JSON (rounded) and writes a paragraph. It may not invent numbers:
`check_numbers` finds every number in its text and rejects the answer (ValueError, so `ask`
retries and then `decide` falls back to the offline template) unless each one is, within the
rounding it was written with, a number from the facts (sign aside: "worsened NE by 0.4%" quotes
a gain of -0.4). Numbers inside identifiers (h3, dcn_v2, exp-12) are not numbers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from rea.agents.brain import Brain
from rea.agents.llm import ask
from rea.agents.schemas import RunRecord

from .outputs import PhaseSummary, ReportInputs, ReportNarrative
from .prompts import PHASE_TASK, REPORT_TASK, SYSTEM
from .stats import Comparison, Interaction

AGENT = "analyst"
# A number not glued to a word, dot or hyphen before it, nor to a word after it.
_NUMBER = re.compile(r"(?<![\w.\-])[-+]?(\d+(?:\.(\d+))?)(?:[eE]([-+]?\d+))?(?!\w)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
ALWAYS_ALLOWED = (95.0,)  # "95% CI"


def numbers_in(text: str) -> Iterator[tuple[str, float, float]]:
    """(as written, value, rounding tolerance) of each number in `text`."""
    for match in _NUMBER.finditer(_THOUSANDS.sub("", text)):
        decimals = len(match.group(2) or "")
        exponent = int(match.group(3) or 0)
        yield match.group(0), float(match.group(0)), 0.5 * 10.0 ** (exponent - decimals)


def fact_numbers(facts: Any) -> list[float]:
    """Every finite number in `facts` (nested dicts/lists), including numbers inside strings."""
    if isinstance(facts, bool) or facts is None:
        return []
    if isinstance(facts, int | float):
        return [abs(float(facts))] if math.isfinite(facts) else []
    if isinstance(facts, str):
        return [abs(value) for _, value, _ in numbers_in(facts)]
    items = facts.values() if isinstance(facts, dict) else facts
    return [x for item in items for x in fact_numbers(item)]


def check_numbers(text: str, facts: Any) -> None:
    """Raise ValueError naming the first number in `text` that is not a (rounded) fact."""
    allowed = [*fact_numbers(facts), *ALWAYS_ALLOWED]
    for written, value, tol in numbers_in(text):
        if not any(abs(abs(value) - a) <= tol * (1 + 1e-9) + 1e-12 for a in allowed):
            raise ValueError(
                f"the number {written} is not in the facts; quote only the numbers given "
                "(rounded is fine) and describe everything else in words"
            )


def phase_summary(brain: Brain, *, phase: str, campaign_id: str, facts: dict[str, Any]) -> str:
    """The LLM's paragraph on one phase, number-checked."""

    def validate(out: PhaseSummary) -> PhaseSummary:
        check_numbers(out.summary, facts)
        return out

    user = PHASE_TASK.format(phase=phase, campaign_id=campaign_id, facts=_dump(facts))
    out = ask(brain, agent=AGENT, system=SYSTEM, user=user, schema=PhaseSummary, validate=validate)
    return out.summary


def report_narrative(brain: Brain, *, campaign_id: str, facts: dict[str, Any]) -> str:
    """The LLM's opening paragraphs of the report, number-checked."""

    def validate(out: ReportNarrative) -> ReportNarrative:
        check_numbers(out.narrative, facts)
        return out

    user = REPORT_TASK.format(campaign_id=campaign_id, facts=_dump(facts))
    out = ask(
        brain, agent=AGENT, system=SYSTEM, user=user, schema=ReportNarrative, validate=validate
    )
    return out.narrative


def comparison_facts(c: Comparison, titles: dict[str, str], sources: dict[str, str]) -> dict:
    """One experiment as the model sees it (rounded like the report prints it)."""
    hid = c.hypothesis_id or ""
    verdict = "validated" if c.validated else "hurt" if c.hurt else "not distinguishable from noise"
    return {
        "experiment_id": c.experiment_id,
        "hypothesis_id": c.hypothesis_id,
        "title": titles.get(hid, ""),
        "source": sources.get(hid, ""),
        "phase": c.phase,
        "config_delta": c.config_delta,
        c.metric: round(c.variant_mean, 5),
        "gain_pct": round(c.gain_pct, 3),
        "ci95_gain_pct": None if c.ci_lo is None else [round(c.ci_lo, 3), round(c.ci_hi or 0, 3)],
        "seeds": c.n,
        "paired_by_seed": c.paired,
        "verdict": verdict,
    }


def interaction_facts(i: Interaction) -> dict:
    return {
        "kind": i.kind,
        "members": i.members,
        "experiment_id": i.experiment_id,
        "sum_of_single_gains_pct": round(i.expected_gain_pct, 3),
        "combined_gain_pct": round(i.observed_gain_pct, 3),
    }


def phase_facts(
    comparisons: list[Comparison],
    *,
    validated: list[str],
    refuted: list[str],
    interactions: list[Interaction],
    titles: dict[str, str],
    sources: dict[str, str],
) -> dict[str, Any]:
    """The facts of one phase for the prompt (and the numbers the answer may quote)."""
    first = comparisons[0] if comparisons else None
    return {
        "metric": f"{first.metric if first else 'val_ne'} (gains in %, positive = better)",
        "baseline": None
        if first is None
        else {"experiment_id": first.baseline_id, first.metric: round(first.baseline_mean, 5)},
        "experiments": [comparison_facts(c, titles, sources) for c in comparisons],
        "validated": validated,
        "refuted": refuted,
        "interactions": [interaction_facts(i) for i in interactions],
        "counts": {"experiments": len(comparisons), "validated": len(validated)},
    }


def report_facts(inputs: ReportInputs) -> dict[str, Any]:
    """The facts of the whole campaign for the report's opening paragraphs."""
    used_pct = (
        100.0 * inputs.budget_used_seconds / inputs.budget_seconds if inputs.budget_seconds else 0.0
    )
    best = inputs.best_comparison
    return {
        "model": inputs.model,
        "data": inputs.data,
        "budget_seconds": round(inputs.budget_seconds, 1),
        "budget_used_seconds": round(inputs.budget_used_seconds, 1),
        "budget_used_pct": round(used_pct, 1),
        "phases": [p.model_dump() for p in inputs.phases],
        "baseline": _run_facts(inputs.baseline),
        "best": _run_facts(inputs.best),
        "best_vs_baseline": None
        if best is None
        else comparison_facts(best, inputs.titles, inputs.sources),
        "experiments": [
            comparison_facts(c, inputs.titles, inputs.sources) for c in inputs.comparisons
        ],
        "interactions": [interaction_facts(i) for i in inputs.interactions],
        "failures": [f.model_dump() for f in inputs.failures],
        "launch_proposal": {k: v for k, v in inputs.launch_proposal.items() if k != "config"},
        "counts": {
            "experiments": len(inputs.comparisons),
            "validated": sum(c.validated for c in inputs.comparisons),
            "failures": len(inputs.failures),
        },
    }


def _run_facts(run: RunRecord) -> dict[str, Any]:
    keep = ("val_ne", "val_auc", "test_ne", "test_auc", "test_logloss")
    metrics = {k: round(v, 5) for k, v in run.metrics.items() if k in keep}
    return {"experiment_id": run.experiment_id, "config_delta": run.config_delta, **metrics}


def _dump(facts: dict[str, Any]) -> str:
    return json.dumps(facts, indent=1, sort_keys=False, default=str)
