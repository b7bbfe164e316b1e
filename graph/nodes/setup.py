"""Campaign set-up: the baseline experiment (the current config, several seeds)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from ..context import CampaignContext, services_of
from .common import BASELINE_SHARE, baseline_id, ensure_experiment, fault_for


def setup(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Create the baseline experiment and ask to launch it (capped at a share of the budget)."""
    svc = services_of(runtime)
    campaign = svc.store.get_campaign(state["campaign_id"])
    exp = ensure_experiment(
        svc.store,
        baseline_id(campaign.id),
        campaign_id=campaign.id,
        phase="baseline",
        config=campaign.baseline_config,
        seeds=list(svc.seeds),
    )
    svc.store.update_campaign(campaign.id, status="running", phase="baseline")
    seconds = round(BASELINE_SHARE * campaign.budget_seconds, 2)
    request = {
        "experiment_id": exp.id,
        "attempt": 1,
        "max_seconds": seconds,
        "fault": fault_for(state, "baseline", 0),
    }
    return {
        "phase": "baseline",
        "status": "running",
        "launch": [request],
        "pending": [],
        "failed": [],
        "round": 0,
        "notes": [f"baseline: {len(svc.seeds)} seeds of the current config"],
    }
