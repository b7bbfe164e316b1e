"""Apply job events to the SQL journal (idempotent: a repeat changes nothing).

The runner and the webhook record every event as it arrives (`record`); the graph's ingest node
applies a final event's consequences (`apply_final`): the job's state, its result, and the
ledger settlement. Both can run more than once for the same event without effect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rea.memory import ExperimentStore
from rea.tools.journal import seed_metrics
from rea.trainers.backends.base import JobBackend
from rea.trainers.events import JobEvent

FINAL_KINDS = ("succeeded", "failed")


def record(store: ExperimentStore, event: JobEvent, *, same_attempt: bool = False) -> bool:
    """Store the event once (False = a repeat) and move the job to running on `started`.
    `same_attempt`: refuse (InvalidValue) an event whose attempt is not the job's."""
    fresh = store.record_event(
        event.job_id,
        event.attempt,
        event.seq,
        event.kind,
        event.model_dump(mode="json"),
        same_attempt=same_attempt,
    )
    if event.kind == "started" and store.get_job(event.job_id).state == "queued":
        store.transition_job(event.job_id, "running")
    return fresh


def catch_up(store: ExperimentStore, backend: JobBackend, job_id: str) -> int:
    """Record the job's non-final events (as the backend has them: `events.jsonl`) that the
    store lacks, e.g. because their callbacks failed while the service was down; returns how
    many. One query for what is stored, then a `record` per missing event (idempotent)."""
    stored = {(e.attempt, e.seq) for e in store.list_events(job_id)}
    missing = [
        event
        for event in backend.events(job_id)
        if event.kind not in FINAL_KINDS and (event.attempt, event.seq) not in stored
    ]
    for event in missing:
        record(store, event)
    return len(missing)


def apply_final(store: ExperimentStore, event: JobEvent) -> str:
    """Apply a succeeded/failed event: job state, result, ledger — in one write transaction
    (`ExperimentStore.finish_job`). Returns the job's state."""
    payload = event.model_dump(mode="json")
    if event.kind == "succeeded":
        result = event.result or {}
        seconds = float(result.get("trainer_seconds", 0.0))
        return store.finish_job(
            payload,
            final_metrics=_final_metrics(result),
            trainer_seconds=seconds,
            used_seconds=seconds,
        )
    failure = event.failure
    return store.finish_job(
        payload,
        used_seconds=_failed_seconds(store, event.job_id, event),
        failure_kind=failure.kind if failure else "crashed",
        failure_message=(failure.message if failure else "no failure detail")[:2000],
    )


def _final_metrics(result: dict[str, Any]) -> dict[str, Any]:
    metrics = {k: float(v) for k, v in (result.get("metrics") or {}).items()}
    return {**metrics, "seed_metrics": seed_metrics(result)}


def _failed_seconds(store: ExperimentStore, job_id: str, event: JobEvent) -> float:
    """What a failed job cost: from its `started` event to the failure, capped at what was
    reserved (a job cannot run past its max_seconds: the trainer and a watchdog stop it)."""
    entry = store.reservation(job_id)
    reserved = entry.reserved if entry else 0.0
    started = [e for e in store.list_events(job_id, attempt=event.attempt) if e.kind == "started"]
    if not started:
        return 0.0
    begin = datetime.fromisoformat(started[0].payload["at"])
    end = datetime.fromisoformat(event.at)
    return min(reserved, max(0.0, (end - begin).total_seconds()))


def compact(event: JobEvent) -> dict[str, Any]:
    """The few fields of a final event the graph state keeps."""
    return {
        "job_id": event.job_id,
        "attempt": event.attempt,
        "kind": event.kind,
        "failure_kind": event.failure.kind if event.failure else None,
    }
