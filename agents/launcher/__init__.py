"""The launcher: submit approved jobs idempotently, inside the budget.

    report = launch(store, backend, brain, campaign_id=c, thread_id=t, data=ref,
                    requests=[LaunchRequest(experiment_id=e, attempt=1, max_seconds=120)],
                    jobs_root=home / "jobs", callback_url=url)

Per request: the job row (idempotency key `thread:experiment:attempt`, job id
`<experiment>-a<attempt>`), a ledger reservation of its max_seconds (BudgetExceeded → the job is
cancelled and skipped, never submitted), then the backend submission with a JobSpec whose
max_seconds is 95% of the reservation (a last step that overruns stays paid for). Every step is
idempotent, so replaying a launch after a crash creates, reserves and submits nothing new. The
policy (LLM or offline) only orders the new requests and may lower their budgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rea.agents.brain import Brain
from rea.agents.llm import decide
from rea.memory import BudgetExceeded, ExperimentStore
from rea.memory.tables import TERMINAL_JOB_STATES, Experiment
from rea.trainers.backends import JobBackend
from rea.trainers.events import JobSpec

from .llm import plan_llm
from .offline import apply_plan, plan_offline
from .outputs import LaunchItem, LaunchPlan, LaunchReport, LaunchRequest, Skipped

__all__ = [
    "LaunchItem",
    "LaunchPlan",
    "LaunchReport",
    "LaunchRequest",
    "Skipped",
    "apply_plan",
    "idempotency_key",
    "launch",
    "plan_llm",
    "plan_offline",
]

SPEC_SHARE = 0.95  # of the reservation a job may run: the trainer checks time once per step
BUDGET_PREFIX = "budget: "


def idempotency_key(thread_id: str, experiment_id: str, attempt: int) -> str:
    return f"{thread_id}:{experiment_id}:{attempt}"


@dataclass(frozen=True)
class _Target:
    """Where this launch's jobs go: campaign, thread, data, job dirs, callback."""

    campaign_id: str
    thread_id: str
    data: str
    jobs_root: Path
    callback_url: str | None


def launch(
    store: ExperimentStore,
    backend: JobBackend,
    brain: Brain,
    *,
    campaign_id: str,
    thread_id: str,
    data: str,
    requests: list[LaunchRequest],
    jobs_root: Path,
    callback_url: str | None = None,
    existing: set[str] | None = None,
) -> LaunchReport:
    """Submit `requests` (see the module docstring); returns what was launched and skipped.
    `existing`: which of their job ids the store has, when the caller has just asked."""
    target = _Target(campaign_id, thread_id, data, Path(jobs_root), callback_url)
    # Jobs created before a crash keep their order and budgets; only new ones are planned.
    if existing is None:
        existing = store.existing_job_ids([r.job_id for r in requests])
    known = existing
    old = [r for r in requests if r.job_id in known]
    new = [r for r in requests if r not in old]
    policy = "offline"
    if new:
        plan, policy = decide(
            brain,
            "launcher",
            llm=lambda: plan_llm(brain, store, campaign_id=campaign_id, data=data, requests=new),
            offline=lambda: plan_offline(new),
        )
        new = apply_plan(new, plan)
    report = LaunchReport(policy=policy)
    for request in [*old, *new]:
        outcome = _launch_one(store, backend, request, target)
        if isinstance(outcome, str):
            report.launched.append(outcome)
        else:
            report.skipped.append(outcome)
    return report


def _launch_one(
    store: ExperimentStore, backend: JobBackend, request: LaunchRequest, target: _Target
) -> str | Skipped:
    """Create, reserve and submit one job (each step idempotent); its job id, or why not."""
    exp = store.get_experiment(request.experiment_id)
    if exp.campaign_id != target.campaign_id:
        raise ValueError(
            f"experiment {exp.id!r} belongs to campaign {exp.campaign_id!r}, "
            f"not {target.campaign_id!r}"
        )
    spec = _spec(exp, request, target)  # validates job id and fault before anything is stored
    try:  # one transaction: the job (idempotent on its key) and its reservation
        job = store.create_reserved_job(
            exp.id,
            idempotency_key(target.thread_id, exp.id, request.attempt),
            request.max_seconds,
            job_id=spec.job_id,
            attempt=request.attempt,
            backend=backend.name,
            seed=spec.seed,
            output_dir=spec.output_dir,
        )
    except BudgetExceeded as err:
        store.transition_job(spec.job_id, "cancelled", failure_message=f"{BUDGET_PREFIX}{err}")
        return _skip(request, "budget")
    if job.state in TERMINAL_JOB_STATES:
        budget = (job.failure_message or "").startswith(BUDGET_PREFIX)
        return _skip(request, "budget" if budget else "already finished")
    # The stored budget wins: on a replay it is what was reserved.
    spec = spec.model_copy(update={"max_seconds": round(SPEC_SHARE * job.max_seconds, 3)})
    external_id = backend.submit(spec)
    if job.external_id != external_id or job.output_dir != spec.output_dir:
        store.update_job(job.job_id, external_id=external_id, output_dir=spec.output_dir)
    return job.job_id


def _spec(exp: Experiment, request: LaunchRequest, target: _Target) -> JobSpec:
    seeds = list(exp.seeds) or [0]
    return JobSpec(
        job_id=request.job_id,
        attempt=request.attempt,
        campaign_id=target.campaign_id,
        config=exp.config,
        data=target.data,
        seed=seeds[0],
        seeds=seeds,
        max_seconds=round(SPEC_SHARE * request.max_seconds, 3),
        output_dir=str(target.jobs_root / request.job_id),
        # The service's webhook; `{job_id}` in it becomes this job's id.
        callback_url=(target.callback_url or "").replace("{job_id}", request.job_id) or None,
        num_threads=request.num_threads,
        fault=request.fault,
        prune=request.prune,
    )


def _skip(request: LaunchRequest, reason: str) -> Skipped:
    return Skipped(experiment_id=request.experiment_id, attempt=request.attempt, reason=reason)
