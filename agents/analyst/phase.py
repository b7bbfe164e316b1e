"""Analyse one phase's finished runs against the baseline (called by the graph after each phase).

What counts is decided here, the same for both brains: each run is compared with the baseline
(`stats.compare`); a hypothesis is validated when one of its runs beat seed noise, refuted when it
was tested and none did; in the combination phase, a run whose config delta is exactly the union
of >= 2 validated singles' deltas is classified as an interaction. Only the summary's prose comes
from the LLM (number-checked) or the offline template.
"""

from __future__ import annotations

from typing import Any

from rea.agents.brain import Brain
from rea.agents.llm import decide
from rea.agents.schemas import RunRecord

from . import llm, offline
from .outputs import PhaseAnalysis
from .stats import Comparison, Interaction, compare, interaction, lower_is_better


def analyse_phase(
    brain: Brain,
    *,
    phase: str,
    baseline: RunRecord,
    runs: list[RunRecord],
    hypotheses: dict[str, dict[str, Any]],
    singles: dict[str, Comparison] | None = None,
    metric: str = "val_ne",
    campaign_id: str = "",
) -> PhaseAnalysis:
    """Compare every run of the phase with the baseline; validated/refuted hypotheses,
    interactions (given the validation phase's `singles`: hypothesis id -> Comparison), the best
    validated experiment and a summary. `hypotheses`: id -> {"title", "source", "config_delta"}."""
    comparisons = [
        compare(baseline, run, metric)
        for run in runs
        if run.experiment_id != baseline.experiment_id
    ]
    validated = _ids(c for c in comparisons if c.validated)
    best = best_validated(comparisons)
    analysis = PhaseAnalysis(
        phase=phase,
        comparisons=comparisons,
        validated=validated,
        refuted=[h for h in _ids(comparisons) if h not in validated],
        interactions=find_interactions(baseline, runs, comparisons, hypotheses, singles or {}),
        best_experiment_id=best.experiment_id if best else None,
    )
    analysis.summary, analysis.summary_by = _summary(brain, analysis, hypotheses, campaign_id)
    return analysis


def _summary(
    brain: Brain, a: PhaseAnalysis, hypotheses: dict[str, dict[str, Any]], campaign_id: str
) -> tuple[str, str]:
    """(text, "llm" | "offline"): the LLM's number-checked paragraph, else the template."""
    titles = {h: str(v.get("title", "")) for h, v in hypotheses.items()}
    sources = {h: str(v.get("source", "")) for h, v in hypotheses.items()}
    facts = llm.phase_facts(
        a.comparisons,
        validated=a.validated,
        refuted=a.refuted,
        interactions=a.interactions,
        titles=titles,
        sources=sources,
    )
    return decide(
        brain,
        llm.AGENT,
        llm=lambda: llm.phase_summary(brain, phase=a.phase, campaign_id=campaign_id, facts=facts),
        offline=lambda: offline.phase_summary(
            a.phase, a.comparisons, a.interactions, titles, a.best_experiment_id
        ),
    )


def _ids(comparisons: Any) -> list[str]:
    """Hypothesis ids in first-seen order, without duplicates."""
    return list(dict.fromkeys(c.hypothesis_id for c in comparisons if c.hypothesis_id))


def best_validated(comparisons: list[Comparison]) -> Comparison | None:
    """The validated comparison with the best variant mean (None when none is validated)."""
    good = [c for c in comparisons if c.validated]
    if not good:
        return None
    sign = 1.0 if lower_is_better(good[0].metric) else -1.0
    return min(good, key=lambda c: sign * c.variant_mean)


def find_interactions(
    baseline: RunRecord,
    runs: list[RunRecord],
    comparisons: list[Comparison],
    hypotheses: dict[str, dict[str, Any]],
    singles: dict[str, Comparison],
) -> list[Interaction]:
    """An interaction per run whose delta is the union of >= 2 validated singles' deltas."""
    deltas = {
        h: dict(c.config_delta or hypotheses.get(h, {}).get("config_delta") or {})
        for h, c in singles.items()
        if c.validated
    }
    by_id = {c.experiment_id: c for c in comparisons}
    out = []
    for run in runs:
        members = [h for h, d in deltas.items() if d and _within(d, run.config_delta)]
        union: dict[str, Any] = {}
        for h in members:
            union.update(deltas[h])
        if len(members) >= 2 and union == run.config_delta and run.experiment_id in by_id:
            combo = by_id[run.experiment_id]
            out.append(interaction(baseline, [singles[h] for h in members], combo))
    return out


def _within(part: dict[str, Any], whole: dict[str, Any]) -> bool:
    return all(k in whole and whole[k] == v for k, v in part.items())
