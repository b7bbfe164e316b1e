"""After a batch: the analyst compares with the baseline (seed noise), updates hypotheses and
writes insights; then the phase logic picks the next batch."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from rea.agents import analyst
from rea.agents.schemas import RunRecord
from rea.tools.journal import load_runs

from ..context import CampaignContext, Services, services_of
from .common import baseline_id, dataset_traits, note


def analyse(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Analyse the phase that just finished (idempotent: statuses and insight ids are fixed)."""
    svc = services_of(runtime)
    cid, phase = state["campaign_id"], state["phase"]
    runs = {r.experiment_id: r for r in load_runs(svc.store, cid)}
    base = runs.get(baseline_id(cid))
    if base is None:
        svc.store.update_campaign(cid, status="failed")
        return {"status": "failed", "notes": note(state, "the baseline never ran: campaign failed")}
    if phase == "baseline":
        line = f"baseline val NE {base.metrics['val_ne']:.4f} over {len(base.seeds)} seeds"
        return {"notes": note(state, line)}
    batch = [r for r in runs.values() if r.phase == phase]
    result = analyse_runs(svc, cid, phase, base, batch, runs)
    best = result.best_experiment_id or state.get("best_experiment_id")
    won = sum(c.validated for c in result.comparisons)
    line = f"{phase}: {won} of {len(result.comparisons)} experiments beat the baseline beyond noise"
    return {
        "best_experiment_id": _better(runs, state.get("best_experiment_id"), best),
        "notes": note(state, line),
    }


def analyse_runs(
    svc: Services,
    cid: str,
    phase: str,
    base: RunRecord,
    batch: list[RunRecord],
    runs: dict[str, RunRecord],
) -> Any:
    campaign = svc.store.get_campaign(cid)
    hyps = {
        h.id: {"title": h.title, "source": h.source, "config_delta": h.config_delta}
        for h in svc.store.list_hypotheses(cid)
    }
    singles = None
    if phase == "combination":
        validation = [r for r in runs.values() if r.phase == "validation"]
        singles = {
            c.hypothesis_id: c
            for c in (analyst.compare(base, r) for r in validation)
            if c.hypothesis_id
        }
    result = analyst.analyse_phase(
        svc.brain, phase=phase, baseline=base, runs=batch, hypotheses=hyps, singles=singles
    )
    for hyp_id in result.validated:
        svc.store.update_hypothesis(hyp_id, status="validated")
    for hyp_id in result.refuted:
        svc.store.update_hypothesis(hyp_id, status="refuted")
    with_noise = [c for c in result.comparisons if c.n >= 2]
    analyst.write_insights(
        svc.store,
        svc.insights,
        campaign_id=cid,
        model=campaign.model,
        dataset=dataset_traits(campaign.data),
        baseline=base,
        comparisons=with_noise,
        runs_by_id=runs,
        titles={k: v["title"] for k, v in hyps.items()},
    )
    return result


def _better(runs: dict[str, RunRecord], current: str | None, candidate: str | None) -> str | None:
    """The better of two validated experiments by mean val NE (lower is better)."""
    if candidate is None or candidate not in runs:
        return current
    if current is None or current not in runs:
        return candidate
    return (
        candidate
        if runs[candidate].metrics["val_ne"] < runs[current].metrics["val_ne"]
        else current
    )


def after_analyse(state: dict[str, Any]) -> str:
    if state.get("status") == "failed":
        return "report"
    return "insights" if state.get("phase") == "baseline" else "advance"
