"""The report (markdown + plots) and the launch proposal the human approves."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from rea.agents import analyst
from rea.agents.brain import Brain
from rea.tools.journal import load_runs, phase_concurrency, pruned

from .. import hitl
from ..context import CampaignContext, Services, services_of
from ..summary import phase_rows
from .analysis import flush_insights
from .common import baseline_id, ensure_approval, note


def report(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Write the report; a finished campaign then proposes its best config for launch."""
    svc = services_of(runtime)
    cid = state["campaign_id"]
    flush_insights(svc, state)  # what the last analysis learned, before the campaign ends
    runs = {r.experiment_id: r for r in load_runs(svc.store, cid)}
    base = runs.get(baseline_id(cid))
    if base is None:
        svc.store.update_campaign(cid, status="failed", phase="done")
        return {"status": "failed", "phase": "done", "insights_pending": []}
    best = runs.get(state.get("best_experiment_id") or "", base)
    comparison = analyst.compare(base, best) if best is not base else None
    inputs = _inputs(svc, state, runs, base, best, comparison)
    path = analyst.write_report(svc.reports_root / cid, inputs, svc.brain)
    proposal = inputs.launch_proposal
    ensure_approval(svc.store, f"{cid}-launch", campaign_id=cid, kind="launch", request=proposal)
    svc.store.update_campaign(cid, phase="report")
    return {
        "phase": "report",
        "report_path": str(path),
        "notes": note(state, f"report: {path}"),
        "insights_pending": [],
    }


def propose_launch(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """The human approves (or edits, or rejects) launching the best config; either way the
    campaign is complete and the decision is on record."""
    svc = services_of(runtime)
    cid = state["campaign_id"]
    approval = svc.store.get_approval(f"{cid}-launch")
    text = "Launch the best configuration found (see the report)?"
    answer = interrupt(
        hitl.request("launch", approval.id, "approve_launch", approval.request, text),
        response_schema=hitl.HITLResponse,
    )
    decision = hitl.HITLResponse.model_validate(answer).decision
    svc.store.decide_approval(approval.id, hitl.status_of(decision), decision.model_dump())
    svc.store.update_campaign(cid, status="completed", phase="done")
    return {"status": "completed", "phase": "done", "notes": note(state, f"launch {decision.type}")}


def after_report(state: dict[str, Any]) -> str:
    return "end" if state.get("status") == "failed" else "propose_launch"


def _inputs(
    svc: Services, state: dict[str, Any], runs: dict, base: Any, best: Any, comparison: Any
) -> Any:
    cid = state["campaign_id"]
    campaign = svc.store.get_campaign(cid)
    hyps = {h.id: h for h in svc.store.list_hypotheses(cid)}
    others = [r for r in runs.values() if r.experiment_id != base.experiment_id]
    comparisons = [analyst.compare(base, r) for r in others]
    combos = [r for r in others if r.phase == "combination"]
    interactions = []
    if combos:
        table = {
            h: {"title": v.title, "source": v.source, "config_delta": v.config_delta}
            for h, v in hyps.items()
        }
        singles = {
            c.hypothesis_id: c
            for c in comparisons
            if c.hypothesis_id and runs[c.experiment_id].phase == "validation"
        }
        interactions = analyst.analyse_phase(
            Brain(),
            phase="combination",
            baseline=base,
            runs=combos,
            hypotheses=table,
            singles=singles,
        ).interactions
    status = svc.store.budget_status(cid)
    stopped = pruned(list(runs.values()))
    jobs = svc.store.list_jobs(cid)
    return analyst.ReportInputs(
        campaign_id=cid,
        model=campaign.model,
        data=campaign.data,
        budget_seconds=campaign.budget_seconds,
        budget_used_seconds=status.charged_seconds,
        phases=phase_rows(svc.store, cid, state.get("plan")),
        baseline=base,
        best=best,
        best_comparison=comparison,
        comparisons=comparisons,
        interactions=interactions,
        titles={h: v.title for h, v in hyps.items()},
        sources={h: v.source for h, v in hyps.items()},
        failures=_failures(jobs),
        pruned_trials=len(stopped),
        pruned_seconds=sum(r.trainer_seconds for r in stopped),
        concurrency=[
            analyst.PhaseConcurrency(name=phase, seconds_running=running)
            for phase, running in phase_concurrency(svc.store, cid, jobs).items()
        ],
        launch_proposal=analyst.launch_proposal(base, best, comparison),
    )


def _failures(jobs: list[Any]) -> list[dict[str, Any]]:
    attempts = {(j.experiment_id, j.attempt) for j in jobs}
    rows = []
    for job in jobs:
        if job.state == "failed":
            retried = (job.experiment_id, job.attempt + 1) in attempts
            rows.append(
                {
                    "job_id": job.job_id,
                    "kind": job.failure_kind,
                    "action": "retried" if retried else "escalated / dropped",
                }
            )
    return rows
