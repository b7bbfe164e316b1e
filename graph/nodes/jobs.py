"""Launching and waiting: `launch` submits (idempotently, never interrupts); `wait` interrupts
until a final event arrives and then applies it (`ingest`) in the same step: nothing precedes
the interrupt but a read, and applying an event is idempotent."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from rea.agents import launcher
from rea.trainers.events import JobEvent

from .. import events
from ..context import CampaignContext, services_of
from .common import launch_floor, note, spendable


def launch(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Submit the requested job attempts the ledger can pay now; defer the rest until running
    jobs settle (their reservations come back), or drop them when nothing is running. Replays
    are safe: job ids and idempotency keys derive from (thread, experiment, attempt), and
    reservations and submissions happen once."""
    svc = services_of(runtime)
    requests = state.get("launch") or []
    if not requests:
        return {}
    campaign = svc.store.campaign_facts(state["campaign_id"])
    existing = svc.store.existing_job_ids([_job_id(r) for r in requests])
    room = spendable(svc.store, campaign.id) + _held(svc.store, requests, existing)
    now, later = _affordable(requests, room)
    report = launcher.launch(
        svc.store,
        svc.backend,
        svc.brain,
        campaign_id=campaign.id,
        thread_id=campaign.thread_id or campaign.id,
        data=campaign.data,
        requests=[
            launcher.LaunchRequest.model_validate(
                {k: v for k, v in r.items() if k != "est_seconds"}
            )
            for r in now
        ],
        jobs_root=svc.jobs_root,
        callback_url=svc.callback_url,
        existing=existing,
    )
    svc.backend.poll()
    pending = list(dict.fromkeys([*(state.get("pending") or []), *report.launched]))
    notes = state.get("notes") or []
    skipped = [(s["experiment_id"], s["reason"]) for s in report.skipped]
    if not pending:  # nothing will settle and free budget: what is left cannot run
        skipped += [(r["experiment_id"], "budget") for r in later]
        later = []
    for exp_id, reason in skipped:
        notes = note({"notes": notes}, f"not launched: {exp_id} ({reason})")
    svc.store.update_campaign(campaign.id, status="awaiting_jobs" if pending else "running")
    return {"launch": later, "pending": pending, "notes": notes}


def _job_id(request: dict[str, Any]) -> str:
    return f"{request['experiment_id']}-a{request['attempt']}"  # LaunchRequest.job_id


def _held(store: Any, requests: list[dict[str, Any]], existing: set[str] | None = None) -> float:
    """Seconds still reserved for these requests' jobs: a run of this step that a crash cut
    short created and reserved them already. That budget is theirs, not spent: counting it as
    spent would defer (and then drop) the very jobs it was reserved for. `existing`: which of
    their job ids the store has, when the caller has just asked."""
    ids = [_job_id(r) for r in requests]
    existing = store.existing_job_ids(ids) if existing is None else existing & set(ids)
    held = 0.0
    for job_id in existing:
        entry = store.reservation(job_id)
        if entry is not None and entry.settled_at is None:
            held += entry.reserved
    return held


def _affordable(requests: list[dict[str, Any]], room: float) -> tuple[list, list]:
    """The requests (in order) that can be reserved in `room` now, and the rest. A request
    gets its wanted max_seconds, or what is left if that still covers twice its estimate plus
    2 s of start-up (near the end of the budget a job runs on a tighter leash rather than not
    at all; tighter than that and a timeout would waste it)."""
    now, later = [], []
    for request in requests:
        take = min(request["max_seconds"], room)
        need = min(request["max_seconds"], launch_floor(float(request.get("est_seconds") or 0.0)))
        if take > 0 and take >= need:
            now.append({**request, "max_seconds": round(take, 2)})
            room -= take
        else:
            later.append(request)
    return now, later


def wait(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Sleep until a job's final event arrives (the runner or the webhook resumes with it),
    then apply it as `ingest` does, in the same step (one checkpoint fewer on every wake-up).

    A final event that arrived while the thread waited on something else (a human, during an
    escalation) was recorded but woke nobody: it is taken from the store instead of sleeping.
    Nothing before the interrupt writes; on resume the node runs again from its start, and the
    event is applied once the step is saved (a crash before that applies it again: `ingest`
    and the store's finish are idempotent)."""
    arrived = _recorded_final(services_of(runtime).store, list(state.get("pending") or []))
    if arrived is None:
        value = interrupt(
            {
                "type": "job_wait",
                "campaign_id": state["campaign_id"],
                "job_ids": list(state.get("pending") or []),
            },
            response_schema=JobEvent,
        )
        event = value if isinstance(value, JobEvent) else JobEvent.model_validate(value)
        arrived = event.model_dump(mode="json")
    return ingest({**state, "event": arrived}, runtime)


def _recorded_final(store: Any, job_ids: list[str]) -> dict[str, Any] | None:
    """The first of these jobs' stored final events (of their current attempt), if any."""
    found = store.final_events(job_ids, events.FINAL_KINDS)
    for job_id in job_ids:
        if job_id in found:
            return JobEvent.model_validate(found[job_id]).model_dump(mode="json")
    return None


def ingest(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Apply the delivered event; a stale one (job not awaited) changes nothing. `wait` calls
    it; as a node it only finishes a wake-up saved before `wait` applied events itself."""
    svc = services_of(runtime)
    raw = state.get("event")
    pending = list(state.get("pending") or [])
    if not raw:
        return {}
    event = JobEvent.model_validate(raw)
    if event.job_id not in pending or event.kind not in events.FINAL_KINDS:
        return {"event": None}
    final_state = events.apply_final(svc.store, event)
    pending.remove(event.job_id)
    failed = list(state.get("failed") or [])
    if final_state == "failed":
        failed.append(event.job_id)
    return {"pending": pending, "failed": failed, "event": events.compact(event)}


def after_launch(state: dict[str, Any]) -> str:
    if state.get("insights_pending"):
        return "memorise"  # the jobs are submitted: now the analysis's insights go to Chroma
    return "wait" if state.get("pending") else "analyse"


def after_ingest(state: dict[str, Any]) -> str:
    if state.get("failed"):
        return "debug"
    if state.get("launch"):
        return "launch"  # deferred requests: a settled job may have freed their budget
    return wait_or_analyse(state)


def wait_or_analyse(state: dict[str, Any]) -> str:
    """Once nothing is left to launch: wait while jobs run, analyse when none does; a rolling
    exploitation (`slots` in the state) analyses as soon as a slot is free, to fill it."""
    pending = state.get("pending") or []
    if pending and state.get("phase") == "exploitation" and state.get("slots"):
        return "analyse" if len(pending) < state["slots"] else "wait"
    return "wait" if pending else "analyse"
