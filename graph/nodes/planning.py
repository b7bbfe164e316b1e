"""Hypotheses from the two sources, the three-phase plan, and its approval."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from rea.agents import insight, planner, research
from rea.agents.schemas import HypothesisProposal, HypothesisSet
from rea.tools.journal import tried_deltas
from rea.trainers.config import apply_delta

from .. import hitl
from ..context import CampaignContext, Services, services_of
from .common import (
    dataset_traits,
    ensure_approval,
    ensure_experiment,
    ensure_hypothesis,
    fault_for,
    hypothesis_id,
    job_seconds,
    note,
    seconds_per_seed,
    spendable,
)


def insights(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Hypotheses from the historical insights of earlier campaigns (Chroma + SQL evidence)."""
    svc = services_of(runtime)
    campaign = svc.store.get_campaign(state["campaign_id"])
    found = insight.propose(
        svc.brain,
        svc.insights,
        model=campaign.model,
        data=campaign.data,
        dataset=dataset_traits(campaign.data),
        baseline_config=campaign.baseline_config,
    )
    n = _store_hypotheses(svc, campaign.id, "i", found)
    return {"notes": note(state, f"insight agent: {n} hypotheses from past campaigns")}


def research_node(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Hypotheses from the research library (technique cards with citations)."""
    svc = services_of(runtime)
    if svc.research is None:  # Services without a library (its documented default)
        return {"notes": note(state, "research agent: no research library; 0 hypotheses")}
    campaign = svc.store.get_campaign(state["campaign_id"])
    found = research.propose(
        svc.brain,
        svc.research,
        model=campaign.model,
        baseline_config=campaign.baseline_config,
        dataset=dataset_traits(campaign.data),
    )
    n = _store_hypotheses(svc, campaign.id, "r", found)
    return {"notes": note(state, f"research agent: {n} hypotheses from the library")}


def plan(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Merge both sources, drop what was tried, cost it and split the budget in three phases;
    the plan is stored as a pending approval (the next node asks the human)."""
    svc = services_of(runtime)
    campaign = svc.store.get_campaign(state["campaign_id"])
    rows = svc.store.list_hypotheses(campaign.id, status="proposed")
    the_plan = planner.make_plan(
        svc.brain,
        hypotheses=[(row.id, _proposal(row)) for row in rows],
        tried=tried_deltas(svc.store, campaign.model, campaign.data),
        baseline_config=campaign.baseline_config,
        seconds_per_seed=seconds_per_seed(svc.store, campaign.id),
        remaining_seconds=max(0.0, spendable(svc.store, campaign.id)),
        seeds=list(svc.seeds),
    )
    experiments = []
    for i, exp in enumerate(the_plan.validation):
        hyp_id = exp.hypothesis_id or _llm_hypothesis(svc, campaign.id, i, exp)
        item = exp.model_dump(mode="json", exclude={"new_hypothesis"})
        experiments.append({**item, "hypothesis_id": hyp_id})
    args = {
        "budget_seconds": campaign.budget_seconds,
        "remaining_seconds": round(spendable(svc.store, campaign.id), 2),
        "budget": the_plan.budget.model_dump(mode="json"),
        "experiments": experiments,
        "dropped": the_plan.dropped,
        "rationale": the_plan.rationale,
    }
    approval_id = f"{campaign.id}-plan"
    ensure_approval(svc.store, approval_id, campaign_id=campaign.id, kind="plan", request=args)
    line = f"plan: {len(experiments)} validation experiments, {len(the_plan.dropped)} dropped"
    return {"plan": {"approval_id": approval_id, **args}, "notes": note(state, line)}


def approve_plan(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """The human approves the plan and its budget (approve), changes it (edit: drop experiments
    or move budget between phases), or rejects it (the campaign is cancelled)."""
    the_plan = state["plan"]
    args = {k: v for k, v in the_plan.items() if k != "approval_id"}
    answer = interrupt(
        hitl.request("plan", the_plan["approval_id"], "approve_plan", args, _describe(args)),
        response_schema=hitl.HITLResponse,
    )
    svc = services_of(runtime)
    decision = hitl.HITLResponse.model_validate(answer).decision
    svc.store.decide_approval(
        the_plan["approval_id"], hitl.status_of(decision), decision.model_dump()
    )
    if decision.type == "reject":
        svc.store.update_campaign(state["campaign_id"], status="cancelled")
        why = decision.message or "no reason given"
        return {
            "status": "cancelled",
            "phase": "done",
            "notes": note(state, f"plan rejected: {why}"),
        }
    if decision.type == "edit":
        args = {**args, **decision.edited_action.args}
    return {**_start_validation(svc, state, args), "plan": {**the_plan, **args}}


def after_plan_approval(state: dict[str, Any]) -> str:
    if state.get("status") == "cancelled":
        return "end"
    return "launch" if state.get("launch") else "analyse"


def _start_validation(svc: Services, state: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    campaign = svc.store.get_campaign(state["campaign_id"])
    chosen = {e["hypothesis_id"] for e in args["experiments"]}
    for row in svc.store.list_hypotheses(campaign.id, status="proposed"):
        svc.store.update_hypothesis(row.id, status="planned" if row.id in chosen else "dropped")
    requests = []
    for i, item in enumerate(args["experiments"]):
        exp = ensure_experiment(
            svc.store,
            f"{campaign.id}-v{i}",
            campaign_id=campaign.id,
            phase="validation",
            config=_applied(campaign.baseline_config, item["config_delta"]),
            config_delta=item["config_delta"],
            seeds=item["seeds"],
            hypothesis_id=item["hypothesis_id"],
        )
        seconds = job_seconds(float(item["est_seconds"]), svc.store, campaign.id)
        requests.append(
            {
                "experiment_id": exp.id,
                "attempt": 1,
                "max_seconds": seconds,
                "est_seconds": float(item["est_seconds"]),
                "fault": fault_for(state, "validation", i),
            }
        )
    svc.store.update_campaign(campaign.id, status="running", phase="validation")
    return {"phase": "validation", "launch": [r for r in requests if r["max_seconds"] > 0]}


def _applied(baseline: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    return apply_delta(baseline, delta).model_dump(mode="json")


def _store_hypotheses(svc: Services, campaign_id: str, prefix: str, found: HypothesisSet) -> int:
    for i, h in enumerate(found.hypotheses):
        ensure_hypothesis(
            svc.store,
            hypothesis_id(campaign_id, prefix, i),
            campaign_id=campaign_id,
            source=h.source,
            title=h.title,
            config_delta=h.config_delta,
            rationale=h.rationale,
            evidence={
                **h.evidence,
                "prior_gain_pct": h.prior_gain_pct,
                "relative_cost": h.relative_cost,
            },
            expected_effect=h.expected_effect,
        )
    return len(found.hypotheses)


def _proposal(row: Any) -> HypothesisProposal:
    evidence = dict(row.evidence)
    return HypothesisProposal(
        title=row.title,
        source=row.source,
        rationale=row.rationale,
        config_delta=row.config_delta,
        evidence={
            k: v for k, v in evidence.items() if k not in ("prior_gain_pct", "relative_cost")
        },
        expected_effect=row.expected_effect,
        prior_gain_pct=float(evidence.get("prior_gain_pct", 0.0)),
        relative_cost=float(evidence.get("relative_cost", 1.0)),
    )


def _llm_hypothesis(svc: Services, campaign_id: str, index: int, exp: Any) -> str:
    """A free-form idea the LLM planner added gets its own hypothesis row (source llm)."""
    idea = exp.new_hypothesis
    row = ensure_hypothesis(
        svc.store,
        hypothesis_id(campaign_id, "planner", index),
        campaign_id=campaign_id,
        source="llm",
        title=idea.title if idea else exp.title,
        config_delta=exp.config_delta,
        rationale=idea.rationale if idea else "proposed by the planner",
        evidence=idea.evidence if idea else {},
        expected_effect=idea.expected_effect if idea else "",
    )
    return row.id


def _describe(args: dict[str, Any]) -> str:
    budget = args["budget"]
    lines = [
        f"Approve this plan and its budget of {args['budget_seconds']:.0f} trainer-seconds "
        f"({args['remaining_seconds']:.0f} s left after the baseline)?",
        "Phases: "
        + ", ".join(
            f"{k} {float(v):.0f} s" for k, v in budget.items() if isinstance(v, int | float)
        ),
    ]
    lines += [f"- {e['title']}: {e['config_delta']}" for e in args["experiments"]]
    return "\n".join(lines)
