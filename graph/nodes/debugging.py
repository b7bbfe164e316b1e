"""Failed jobs: the debugger diagnoses and fixes within the attempt limit, or escalates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from rea.agents import debugger
from rea.trainers.config import apply_delta, config_delta, parse_config
from rea.trainers.events import Failure

from .. import hitl
from ..context import CampaignContext, Services, services_of
from .common import MAX_SECONDS_FACTOR, TRIAL_ID, ensure_approval, job_seconds, note
from .jobs import wait_or_analyse


def debug(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Handle the oldest unhandled failure: a guarded fix + relaunch, or an escalation."""
    svc = services_of(runtime)
    failed = list(state.get("failed") or [])
    job = svc.store.get_job(failed.pop(0))
    exp = svc.store.get_experiment(job.experiment_id)
    failure = _failure_of(svc, job.job_id, job.attempt)
    if failure.kind in TRIAL_FAILURES and _is_trial(exp):
        # An exploratory one-seed trial that fails on its own config (too slow, unstable) is a
        # result, not a bug: the search moves on, and its budget goes to the next trials.
        _drop(svc, exp.id)
        line = f"{job.job_id} failed ({failure.kind}): exploitation trial dropped, not retried"
        return {"failed": failed, "notes": note(state, line)}
    diag = debugger.diagnose(
        svc.brain,
        failure=failure,
        config=exp.config,
        attempt=job.attempt,
        max_attempts=svc.max_attempts,
        job_dir=Path(job.output_dir) if job.output_dir else None,
    )
    line = f"{job.job_id} failed ({failure.kind}): {diag.action} — {diag.diagnosis}"
    if diag.action == "escalate":
        approval_id = f"{exp.id}-esc{job.attempt}"
        request = {
            "job_id": job.job_id,
            "experiment_id": exp.id,
            "failure": failure.model_dump(),
            "diagnosis": diag.model_dump(),
        }
        ensure_approval(
            svc.store, approval_id, campaign_id=exp.campaign_id, kind="escalation", request=request
        )
        escalation = {"approval_id": approval_id, **request, "attempt": job.attempt}
        return {"failed": failed, "escalation": escalation, "notes": note(state, line)}
    fixed = debugger.apply_fix(exp.config, diag) if diag.action == "fix" else None
    retry = {**_retry(svc, job, exp, fixed), **_retry_seconds(svc, job, diag.max_seconds_factor)}
    # A retry goes before requests still waiting for budget: it finishes an experiment already
    # started (and paid for in part) before a new one takes the freed budget.
    queued = list(state.get("launch") or [])
    return {
        "failed": failed,
        "launch": [retry, *queued] if retry["max_seconds"] else queued,
        "notes": note(state, line if retry["max_seconds"] else f"{line}; no budget to retry"),
    }


def escalate(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Ask the human: retry with the debugger's fix (approve), with their own (edit), or drop
    the experiment (reject)."""
    esc = state["escalation"]
    diag = esc["diagnosis"]
    args = {"experiment_id": esc["experiment_id"], "config_patch": diag.get("config_patch", {})}
    text = f"Job {esc['job_id']} failed ({esc['failure']['kind']}): {diag.get('diagnosis', '')}"
    answer = interrupt(
        hitl.request("escalation", esc["approval_id"], "retry_job", args, text),
        response_schema=hitl.HITLResponse,
    )
    svc = services_of(runtime)
    decision = hitl.HITLResponse.model_validate(answer).decision
    svc.store.decide_approval(esc["approval_id"], hitl.status_of(decision), decision.model_dump())
    base = {"escalation": None}
    if decision.type == "reject":
        _drop(svc, esc["experiment_id"])
        return {**base, "notes": note(state, f"{esc['experiment_id']} dropped after escalation")}
    job = svc.store.get_job(esc["job_id"])
    exp = svc.store.get_experiment(esc["experiment_id"])
    if decision.type == "edit":
        fixed = apply_delta(exp.config, decision.edited_action.args.get("config_patch", {}))
        fixed_config = fixed.model_dump(mode="json")
    else:
        fixed_config = debugger.apply_fix(exp.config, debugger.Diagnosis.model_validate(diag))
    retry = {**_retry(svc, job, exp, fixed_config), **_retry_seconds(svc, job, 1.0)}
    queued = list(state.get("launch") or [])
    launch = [retry, *queued] if retry["max_seconds"] else queued
    return {**base, "launch": launch}


def route(state: dict[str, Any]) -> str:
    """After the debugger or an escalation: ask, relaunch, keep waiting, or analyse."""
    if state.get("escalation"):
        return "escalate"
    if state.get("failed"):
        return "debug"
    if state.get("launch"):
        return "launch"
    return wait_or_analyse(state)


def _retry(svc: Services, job: Any, exp: Any, fixed: dict[str, Any] | None) -> dict[str, Any]:
    """The next attempt's launch request, with the experiment's config replaced by `fixed`."""
    if fixed and fixed != exp.config:
        campaign = svc.store.get_campaign(exp.campaign_id)
        if exp.phase == "baseline":
            svc.store.update_campaign(campaign.id, baseline_config=fixed)
        delta = (
            config_delta(parse_config(campaign.baseline_config), parse_config(fixed))
            if exp.phase != "baseline"
            else {}
        )
        svc.store.update_experiment(exp.id, config=fixed, config_delta=delta)
    return {
        "experiment_id": exp.id,
        "attempt": job.attempt + 1,
        "max_seconds": 0.0,
        **_spec_kept(job.output_dir),
    }


def _retry_seconds(svc: Services, job: Any, factor: float) -> dict[str, float]:
    """The failed attempt's reservation (x factor, e.g. after a timeout) and its estimate; the
    launch node defers the retry until the ledger can pay it."""
    entry = svc.store.reservation(job.job_id)
    reserved = entry.reserved if entry else job.max_seconds
    wanted = reserved * max(1.0, factor)
    cap = job_seconds(wanted / MAX_SECONDS_FACTOR, svc.store, job.campaign_id)
    return {"max_seconds": min(wanted, cap), "est_seconds": reserved / MAX_SECONDS_FACTOR}


def _failure_of(svc: Services, job_id: str, attempt: int) -> Failure:
    for event in reversed(svc.store.list_events(job_id, attempt=attempt)):
        if event.kind == "failed" and event.payload.get("failure"):
            return Failure.model_validate(event.payload["failure"])
    job = svc.store.get_job(job_id)
    return Failure(kind=job.failure_kind or "crashed", message=job.failure_message or "")


def _spec_kept(output_dir: str | None) -> dict[str, Any]:
    """What the failed attempt's spec carries over to the next one: its injected fault (a
    drill's fault decides by itself, through its `attempts` and `when`, whether it fires again)
    and its pruning bars."""
    if not output_dir or not (Path(output_dir) / "spec.json").exists():
        return {"fault": None}
    spec = json.loads((Path(output_dir) / "spec.json").read_text())
    kept = {"fault": spec.get("fault")}
    if spec.get("prune"):
        kept["prune"] = spec["prune"]
    return kept


# Failures an exploitation trial's config causes: the trial is dropped, not debugged.
TRIAL_FAILURES = ("oom", "nan_loss", "diverged", "timeout")


def _is_trial(exp: Any) -> bool:
    return exp.phase == "exploitation" and bool(TRIAL_ID.search(exp.id))


def _drop(svc: Services, experiment_id: str) -> None:
    exp = svc.store.get_experiment(experiment_id)
    if exp.hypothesis_id:
        svc.store.update_hypothesis(exp.hypothesis_id, status="dropped")
