"""After a batch: the analyst compares with the baseline (seed noise), updates hypotheses and
writes insights; then the phase logic picks the next batch (`phases.plan_next`, the `advance`
node's work, in the same step)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from rea.agents import analyst
from rea.agents.brain import Brain
from rea.agents.schemas import RunRecord
from rea.tools.journal import load_runs

from ..context import CampaignContext, Services, services_of
from . import phases
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
    # A rolling exploitation analyses after every trial, with others still running: the
    # phase summary (the LLM's, when there is one) waits until they have all settled.
    quick = bool(state.get("pending"))
    result, insight_ids = analyse_runs(svc, cid, phase, base, batch, runs, offline_summary=quick)
    best = result.best_experiment_id or state.get("best_experiment_id")
    won = sum(c.validated for c in result.comparisons)
    line = f"{phase}: {won} of {len(result.comparisons)} experiments beat the baseline beyond noise"
    pending = list(state.get("insights_pending") or [])
    pending += [i for i in insight_ids if i not in pending]
    update = {
        "best_experiment_id": _better(runs, state.get("best_experiment_id"), best),
        "notes": note(state, line),
        "insights_pending": pending,
    }
    # The next batch is planned in this step (`advance`, as its own node after a budget
    # answer): one checkpoint fewer on every wake-up. A replay re-runs both, and both are
    # idempotent (fixed verdicts and insight ids; planned rows by their ids).
    # The runs are what `advance` would load: nothing in between finishes a job.
    return {**update, **phases.plan_next(svc, {**state, **update}, list(runs.values()))}


def analyse_runs(
    svc: Services,
    cid: str,
    phase: str,
    base: RunRecord,
    batch: list[RunRecord],
    runs: dict[str, RunRecord],
    *,
    offline_summary: bool = False,
) -> tuple[Any, list[str]]:
    """The phase's analysis; its insights are stored in SQL only (their ids are returned):
    `memorise` puts them into the Chroma memory once the next jobs are on their way.
    `offline_summary`: the template writes the summary, whatever the brain."""
    campaign = svc.store.campaign_facts(cid)
    digest = svc.store.hypothesis_digest(cid)
    status = {h: d.pop("status") for h, d in digest.items()}
    hyps = digest  # id -> {"title", "source", "config_delta"}
    singles = None
    if phase == "combination":
        validation = [r for r in runs.values() if r.phase == "validation"]
        singles = {
            c.hypothesis_id: c
            for c in (analyst.compare(base, r) for r in validation)
            if c.hypothesis_id
        }
    brain = Brain() if offline_summary else svc.brain
    result = analyst.analyse_phase(
        brain, phase=phase, baseline=base, runs=batch, hypotheses=hyps, singles=singles
    )
    # Each round re-analyses the whole phase: only verdicts that changed are written (at once).
    changed = {
        hyp_id: verdict
        for verdict, ids in (("validated", result.validated), ("refuted", result.refuted))
        for hyp_id in ids
        if status.get(hyp_id) != verdict
    }
    svc.store.set_hypothesis_statuses(changed)
    with_noise = [c for c in result.comparisons if c.n >= 2]
    ids = analyst.write_insights(
        svc.store,
        None,  # SQL now, Chroma off the wake path (memorise)
        campaign_id=cid,
        model=campaign.model,
        dataset=dataset_traits(campaign.data),
        baseline=base,
        comparisons=with_noise,
        runs_by_id=runs,
        titles={k: v["title"] for k, v in hyps.items()},
    )
    return result, ids


def memorise(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Put the insights the analysis stored in SQL into the Chroma memory (a MiniLM embedding,
    the slow part of a phase's end). The graph comes here after the next jobs were submitted,
    or before it waits on a human, so no wake-up waits on it; the report writes what is still
    pending. Exactly once: the ids stay in the checkpoint until this step is saved, and ids
    already in Chroma are skipped (a replay after a crash adds nothing twice)."""
    flush_insights(services_of(runtime), state)
    return {"insights_pending": []}


def flush_insights(svc: Services, state: dict[str, Any]) -> None:
    ids = list(state.get("insights_pending") or [])
    if ids and svc.insights is not None:
        analyst.index_insights(svc.store, svc.insights, ids)


def after_memorise(state: dict[str, Any]) -> str:
    if state.get("budget_request"):
        return "approve_budget"
    return "wait" if state.get("pending") else "analyse"


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
    if state.get("phase") == "baseline":
        return "insights"
    return phases.after_advance(state)  # `analyse` ran `advance` too
