"""The campaign's outcome as one JSON object (`rea run --json`, the API's campaign view)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rea.memory import ExperimentStore, NotFound
from rea.tools.journal import load_runs

from .nodes.common import BASELINE_SHARE

PHASES = ("baseline", "validation", "combination", "exploitation")
METRIC_KEYS = ("val_ne", "val_auc", "test_ne", "test_auc")


def phase_rows(
    store: ExperimentStore, campaign_id: str, plan: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Budget planned and used, and experiments run, per phase."""
    status = store.budget_status(campaign_id)
    usage = status.phases
    budget = {
        "baseline": BASELINE_SHARE * status.approved_seconds,
        **((plan or {}).get("budget") or {}),
    }
    runs = Counter(r.phase for r in load_runs(store, campaign_id))
    rows = []
    for name in PHASES:
        used = usage.get(name)
        rows.append(
            {
                "name": name,
                "budget_seconds": round(float(budget.get(name, 0.0)), 2),
                "used_seconds": round(used.charged_seconds if used else 0.0, 2),
                "trials": runs.get(name, 0),
            }
        )
    return rows


def campaign_summary(
    store: ExperimentStore, campaign_id: str, state: dict[str, Any]
) -> dict[str, Any]:
    """Everything DESIGN.md §3 promises in `rea run --json`."""
    campaign = store.get_campaign(campaign_id)
    runs = {r.experiment_id: r for r in load_runs(store, campaign_id)}
    base = runs.get(f"{campaign_id}-base")
    best = runs.get(state.get("best_experiment_id") or "", base)
    hyps = store.list_hypotheses(campaign_id)
    status = store.budget_status(campaign_id)
    out: dict[str, Any] = {
        "campaign_id": campaign_id,
        "status": campaign.status,
        "model": campaign.model,
        "data": campaign.data,
        "budget_seconds": campaign.budget_seconds,
        "budget_used_seconds": round(status.charged_seconds, 2),
        "baseline": _metrics(base),
        "best": {
            **_metrics(best),
            "config_delta": best.config_delta if best else {},
            "experiment_id": best.experiment_id if best else None,
        },
        "ne_gain_pct": _gain(base, best),
        "validated": [
            {"id": h.id, "title": h.title, "source": h.source}
            for h in hyps
            if h.status == "validated"
        ],
        "trials": len([r for r in runs.values() if r.phase != "baseline"]),
        "failures": len(store.list_jobs(campaign_id, states=("failed",))),
        "phases": phase_rows(store, campaign_id, state.get("plan")),
        "hypothesis_sources": dict(Counter(h.source for h in hyps)),
        "llm_tokens": status.llm_prompt_tokens + status.llm_completion_tokens,
        "report_path": state.get("report_path"),
        "notes": state.get("notes") or [],
    }
    try:
        out["launch_decision"] = store.get_approval(f"{campaign_id}-launch").status
    except NotFound:
        out["launch_decision"] = None
    return out


def _metrics(run: Any) -> dict[str, Any]:
    if run is None:
        return dict.fromkeys(METRIC_KEYS)
    return {k: run.metrics.get(k) for k in METRIC_KEYS}


def _gain(base: Any, best: Any) -> float | None:
    if base is None or best is None:
        return None
    b, v = base.metrics["val_ne"], best.metrics["val_ne"]
    return round(100.0 * (b - v) / b, 3)
