"""Read the SQL journal the way the agents need it: finished runs, and what was already tried."""

from __future__ import annotations

from typing import Any

from rea.agents.schemas import RunRecord, SeedMetrics
from rea.memory import ExperimentStore


def seed_metrics(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-seed metrics of a job's `result` (the trainer job's aggregate) for `record_result`."""
    return [
        {"seed": run["seed"], "metrics": run["metrics"]} for run in result.get("per_seed") or []
    ]


def load_runs(
    store: ExperimentStore, campaign_id: str, *, phase: str | None = None
) -> list[RunRecord]:
    """Every experiment of the campaign with a succeeded job, oldest first (the last
    succeeded attempt wins). Failed or unfinished experiments are left out."""
    succeeded = {
        job.experiment_id: job for job in store.list_jobs(campaign_id, states=("succeeded",))
    }
    results = {r.job_id: r for r in store.list_results(campaign_id)} if succeeded else {}
    runs = []
    for exp in store.list_experiments(campaign_id, phase=phase):
        job = succeeded.get(exp.id)
        if job is None or job.job_id not in results:
            continue
        result = results[job.job_id]
        final = result.final_metrics
        seeds = [SeedMetrics.model_validate(s) for s in final.get("seed_metrics", [])]
        runs.append(
            RunRecord(
                experiment_id=exp.id,
                hypothesis_id=exp.hypothesis_id,
                phase=exp.phase,
                config_delta=exp.config_delta,
                config=exp.config,
                seeds=seeds,
                metrics={k: float(v) for k, v in final.items() if isinstance(v, int | float)},
                trainer_seconds=result.trainer_seconds,
                job_id=job.job_id,
            )
        )
    return runs


def tried_deltas(store: ExperimentStore, model: str, data: str) -> list[dict[str, Any]]:
    """Config deltas already run for this model family on this data reference, in any campaign
    (the planner does not propose them again; on other data they are worth re-testing)."""
    seen: list[dict[str, Any]] = []
    for campaign in store.list_campaigns():
        if campaign.model != model or campaign.data != data:
            continue
        for exp in store.list_experiments(campaign.id):
            if exp.config_delta and exp.config_delta not in seen:
                seen.append(exp.config_delta)
    return seen
