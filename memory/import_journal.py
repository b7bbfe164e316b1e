"""`import_into`: an `ImportResult` into the SQL journal (an 'imported' campaign) and the memory.

Each imported run becomes an experiment (phase `exploitation`) with one job (backend `import`)
that is reserved, started, finished and settled with the run's seconds in the ledger, plus its
result; the insights go to the store's `insights` table and to Chroma. Every step is
get-or-create or idempotent in `ExperimentStore`, so a repeated or interrupted import is safe.
"""

from __future__ import annotations

from typing import Any

from rea.trainers.config import parse_config
from rea.trainers.errors import ReaError

from .errors import NotFound
from .insights import InsightMemory
from .past_runs import ImportResult, PastRun


def import_into(store: Any, memory: InsightMemory, result: ImportResult) -> str:
    """Record `result` as a completed 'imported' campaign (experiments, jobs, results, insight
    rows, ledger) in `store` (an `ExperimentStore`) and add its insights to `memory`.

    Idempotent: runs already journaled and insight rows already stored are left alone; the
    Chroma insights are upserted. Runs whose config does not validate as a whole are skipped
    with a note in `result.warnings`. Returns the campaign id."""
    _journal(store, result)
    for ins in result.insights:
        try:
            store.get_insight(ins.id)
        except NotFound:
            store.add_insight(
                ins.statement,
                ins.outcome,
                evidence=ins.evidence.model_dump(mode="json"),
                campaign_id=ins.campaign_id,
                model=ins.evidence.model,
                config_delta=ins.evidence.knobs,
                insight_id=ins.id,
            )
    memory.add(result.insights)
    return result.campaign_id


def _journal(store: Any, result: ImportResult) -> None:
    """Campaign (budget = the runs' seconds), then per run: experiment, job, ledger, result.

    Each step is get-or-create or idempotent in the store, so an interrupted import resumes.
    """
    try:
        store.get_campaign(result.campaign_id)
    except NotFound:
        store.create_campaign(
            result.model or "mixed",
            f"import:{result.source}:{result.study}",
            sum(_cost(r) for r in result.runs),
            goal=f"imported from {result.source} '{result.study}' (objective {result.objective})",
            campaign_id=result.campaign_id,
        )
    for run in result.runs:
        try:
            config = parse_config({"model": result.model or "lr", **run.config})
        except ReaError as err:
            result.warnings.append(f"run {run.run_id}: not journaled ({err})")
            continue
        _journal_run(store, result.campaign_id, run, config.model_dump(mode="json"))
    store.update_campaign(result.campaign_id, status="completed")


def _cost(run: PastRun) -> float:
    return max(run.seconds, 1.0)  # jobs need max_seconds > 0; unknown durations count 1 s


def _journal_run(store: Any, campaign_id: str, run: PastRun, config: dict[str, Any]) -> None:
    eid = f"{campaign_id}-{run.run_id}"
    try:
        store.get_experiment(eid)
    except NotFound:
        seeds = [config["seed"]]
        store.create_experiment(campaign_id, "exploitation", config, seeds=seeds, experiment_id=eid)
    job = store.create_job(
        eid, f"import:{eid}", _cost(run), job_id=f"{eid}-j", backend="import", seed=config["seed"]
    )
    if job.state != "queued":
        return  # journaled by an earlier import
    store.reserve(campaign_id, job.job_id, _cost(run))
    store.transition_job(job.job_id, "running")
    if run.status == "complete":
        store.transition_job(job.job_id, "succeeded")
        store.record_result(job.job_id, run.metrics, trainer_seconds=run.seconds)
    else:
        message = f"imported run ended {run.status}"
        store.transition_job(job.job_id, "failed", failure_kind="crashed", failure_message=message)
    store.settle(job.job_id, run.seconds)
