"""Read the SQL journal the way the agents need it: finished runs, and what was already tried."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from rea.agents.schemas import RunRecord, SeedMetrics
from rea.memory import ExperimentStore


def seed_metrics(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-seed metrics of a job's `result` (the trainer job's aggregate) for `record_result`."""
    return [
        {
            "seed": run["seed"],
            "metrics": run["metrics"],
            # val NE after each epoch (the planner's pruning bars come from these)
            "curve": [
                e["metrics"]["val_ne"]
                for e in run.get("epochs") or []
                if "val_ne" in (e.get("metrics") or {})
            ],
            "pruned_at_epoch": run.get("pruned_at_epoch"),
        }
        for run in result.get("per_seed") or []
    ]


def pruned(runs: list[RunRecord]) -> list[RunRecord]:
    """The runs a pruning bar stopped early (`rea.trainers.pruning`)."""
    return [r for r in runs if any(s.pruned_at_epoch is not None for s in r.seeds)]


def concurrency(spans: Iterable[tuple[float, float]]) -> dict[int, float]:
    """Seconds during which n of these (start, end) spans ran at once, for each n, from the
    first start to the last end (n = 0: a gap between them). An empty list gives {}."""
    edges = sorted((t, d) for a, b in spans for t, d in ((a, 1), (max(a, b), -1)))
    out: dict[int, float] = {}
    running, last = 0, None
    for t, d in edges:  # at equal times an end (-1) sorts first: touching spans do not overlap
        if last is not None and t > last:
            out[running] = out.get(running, 0.0) + t - last
        running, last = running + d, t
    return out


def phase_concurrency(
    store: ExperimentStore, campaign_id: str, jobs: list[Any] | None = None
) -> dict[str, dict[int, float]]:
    """`concurrency` of each phase's jobs (by the times the journal recorded them starting and
    finishing), phases in the order of their first job; `jobs`: the campaign's, when the
    caller has them already."""
    phase_of = {e.id: e.phase for e in store.list_experiments(campaign_id)}
    spans: dict[str, list[tuple[float, float]]] = {}
    for job in store.list_jobs(campaign_id) if jobs is None else jobs:
        if job.started_at is not None and job.finished_at is not None:
            span = (job.started_at.timestamp(), job.finished_at.timestamp())
            spans.setdefault(phase_of.get(job.experiment_id, "unknown"), []).append(span)
    return {phase: concurrency(s) for phase, s in spans.items()}


def load_runs(
    store: ExperimentStore, campaign_id: str, *, phase: str | None = None
) -> list[RunRecord]:
    """Every experiment of the campaign with a succeeded job, oldest first (the last
    succeeded attempt wins). Failed or unfinished experiments are left out.

    A succeeded job's run never changes (its result is stored once, and a finished experiment
    is not re-configured), so runs are kept per job id for the store's life: a wake-up asks
    one lean query which jobs count and reads only the ones it has not seen yet. The records
    are shared: read them, never change them."""
    pairs = store.finished_runs(campaign_id, phase=phase)
    with _RUNS_LOCK:
        cache = _RUNS.setdefault(store, OrderedDict())
        known = {job_id: cache[job_id] for _, job_id in pairs if job_id in cache}
    missing = [job_id for _, job_id in pairs if job_id not in known]
    fresh = {row["job_id"]: _run_record(row) for row in store.run_rows(missing)}
    with _RUNS_LOCK:
        cache.update(fresh)
        for job_id in known:
            cache.move_to_end(job_id)
        while len(cache) > _RUNS_KEPT:
            cache.popitem(last=False)
    found = {**known, **fresh}
    return [found[job_id] for _, job_id in pairs if job_id in found]


# Finished runs by job id, per store (dropped with it); the least recently used go first.
_RUNS: WeakKeyDictionary[ExperimentStore, OrderedDict[str, RunRecord]] = WeakKeyDictionary()
_RUNS_KEPT = 4096
_RUNS_LOCK = threading.Lock()


def _run_record(row: dict[str, Any]) -> RunRecord:
    final = row["final_metrics"] or {}
    return RunRecord(
        experiment_id=row["experiment_id"],
        hypothesis_id=row["hypothesis_id"],
        phase=row["phase"],
        config_delta=row["config_delta"] or {},
        config=row["config"] or {},
        seeds=[SeedMetrics.model_validate(s) for s in final.get("seed_metrics", [])],
        metrics={k: float(v) for k, v in final.items() if isinstance(v, int | float)},
        trainer_seconds=row["trainer_seconds"],
        job_id=row["job_id"],
    )


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
