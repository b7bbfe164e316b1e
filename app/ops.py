"""What a human can do with campaigns, shared by the HTTP API, the chat agent and the CLI.

`CampaignOps` reads from the SQL store (the source of truth for who waits on what) and the
checkpointer, and hands every graph resume to a `Scheduler`: the service's background wakers
(one resume per thread at a time, never inside a request), or `Inline` for a command line that
runs it in its own process. Errors are `OpsError`s with an HTTP status and a message that says
what to do.
"""

from __future__ import annotations

import contextlib
import statistics
from pathlib import Path
from typing import Any, Protocol

from rea.graph.decisions import InvalidDecision, check_decision
from rea.graph.hitl import HITLResponse
from rea.graph.runner import CampaignRunner, RunnerError
from rea.graph.summary import campaign_summary
from rea.memory import NotFound
from rea.memory.db import new_id
from rea.tools.journal import load_runs
from rea.trainers.errors import ReaError
from rea.trainers.events import JobEvent

ACTIVE = ("planning", "awaiting_approval", "running", "awaiting_jobs")
TERMINAL = ("completed", "failed", "cancelled")


class OpsError(ReaError):
    """A request the operations refuse; `status` is the HTTP status the API answers with."""

    kind = "ops_error"

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Scheduler(Protocol):
    """Runs graph resumes for a thread, one at a time per thread."""

    def begin(self, campaign_id: str) -> None: ...
    def deliver(self, event: JobEvent) -> None: ...
    def decide(self, approval_id: str, response: dict[str, Any]) -> None: ...


class Inline:
    """A scheduler that resumes right away in the caller's thread (CLI, tests)."""

    def __init__(self, runner: CampaignRunner):
        self.runner = runner

    def begin(self, campaign_id: str) -> None:
        self.runner.begin(campaign_id)

    def deliver(self, event: JobEvent) -> None:
        self.runner.deliver(event)

    def decide(self, approval_id: str, response: dict[str, Any]) -> None:
        self.runner.decide(approval_id, response)


class CampaignOps:
    def __init__(self, runner: CampaignRunner, scheduler: Scheduler | None = None):
        self.runner = runner
        self.scheduler = scheduler or Inline(runner)

    @property
    def store(self) -> Any:
        return self.runner.services.store

    # --- campaigns ------------------------------------------------------------------------
    def create_campaign(
        self,
        model: str,
        data: str,
        budget_seconds: float,
        *,
        goal: str | None = None,
        baseline: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a campaign and start it in the background: `{campaign_id, thread_id}`."""
        try:
            cid = self.runner.create(model, data, budget_seconds, baseline=baseline, goal=goal)
        except ReaError as err:
            raise OpsError(str(err), 422) from None
        self.scheduler.begin(cid)
        campaign = self.store.get_campaign(cid)
        return {"campaign_id": cid, "thread_id": campaign.thread_id, "status": campaign.status}

    def list_campaigns(self, status: str | None = None) -> list[dict[str, Any]]:
        out = []
        for c in self.store.list_campaigns(status=status):
            budget = self.store.budget_status(c.id)
            out.append(
                {
                    "campaign_id": c.id,
                    "thread_id": c.thread_id,
                    "status": c.status,
                    "phase": c.phase,
                    "model": c.model,
                    "data": c.data,
                    "goal": c.goal,
                    "budget_seconds": c.budget_seconds,
                    "budget_used_seconds": round(budget.charged_seconds, 2),
                    "created_at": c.created_at.isoformat(),
                }
            )
        return out

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        """Status, phase, budget, jobs running, best so far, what it waits on, progress notes."""
        c = self._campaign(campaign_id)
        state = self.runner.state(c.thread_id) if c.thread_id else {}
        view = campaign_summary(self.store, c.id, state)
        budget = self.store.budget_status(c.id)
        running = self.store.list_jobs(c.id, states=("queued", "running"))
        waiting = self.runner.pending(c.thread_id) if c.thread_id else []
        view.update(
            thread_id=c.thread_id,
            phase=c.phase,
            goal=c.goal,
            steering=c.steering or {},
            budget={
                "approved_seconds": round(budget.approved_seconds, 2),
                "charged_seconds": round(budget.charged_seconds, 2),
                "reserved_seconds": round(budget.reserved_seconds, 2),
                "remaining_seconds": round(budget.remaining_seconds, 2),
            },
            jobs_running=[j.job_id for j in running],
            waiting_on=[
                {"type": p.type, "approval_id": p.approval_id, "kind": p.kind, "jobs": p.job_ids}
                for p in waiting
            ],
            created_at=c.created_at.isoformat(),
            updated_at=c.updated_at.isoformat(),
        )
        return view

    def jobs(self, campaign_id: str) -> list[dict[str, Any]]:
        self._campaign(campaign_id)
        experiments = {e.id: e for e in self.store.list_experiments(campaign_id)}
        out = []
        for job in self.store.list_jobs(campaign_id):
            exp = experiments.get(job.experiment_id)
            row = _job_row(job, exp)
            if job.state == "succeeded":
                metrics = self.store.get_result(job.job_id).final_metrics
                row["metrics"] = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
            out.append(row)
        return out

    def job(self, job_id: str) -> dict[str, Any]:
        """One job with its failure, log tail and what the agent did about it."""
        try:
            job = self.store.get_job(job_id)
        except NotFound:
            raise OpsError(
                f"there is no job {job_id!r}; list them with GET /v1/campaigns/ID/jobs", 404
            ) from None
        exp = self.store.get_experiment(job.experiment_id)
        row = _job_row(job, exp)
        row["events"] = len(self.store.list_events(job_id))
        row["log_tail"] = _log_tail(job.output_dir)
        if job.state == "failed":
            later = [
                j
                for j in self.store.list_jobs(job.campaign_id, experiment_id=job.experiment_id)
                if j.attempt > job.attempt
            ]
            # What the debugger did: the next attempt runs the experiment's (fixed) config.
            row["next_attempt"] = _job_row(later[0], exp) if later else None
        return row

    def trials(self, campaign_id: str) -> dict[str, Any]:
        """What the dashboard plots: every finished run's validation NE in finishing order,
        the baseline with its seed-noise band, the phase timeline and the budget burn."""
        c = self._campaign(campaign_id)
        runs = load_runs(self.store, campaign_id)
        jobs = {j.job_id: j for j in self.store.list_jobs(campaign_id)}
        hyps = {h.id: h for h in self.store.list_hypotheses(campaign_id)}
        rows = []
        for run in runs:
            job = jobs.get(run.job_id or "")
            title = hyps[run.hypothesis_id].title if run.hypothesis_id in hyps else None
            rows.append(
                {
                    "experiment_id": run.experiment_id,
                    "phase": run.phase,
                    "title": title
                    or ("baseline" if run.phase == "baseline" else run.experiment_id),
                    "val_ne": run.metrics.get("val_ne"),
                    "val_auc": run.metrics.get("val_auc"),
                    "seeds": [s.metrics.get("val_ne") for s in run.seeds],
                    "config_delta": run.config_delta,
                    "trainer_seconds": round(run.trainer_seconds, 2),
                    "finished_at": job.finished_at.isoformat() if job and job.finished_at else None,
                }
            )
        rows.sort(key=lambda r: r["finished_at"] or "")
        base = next((r for r in rows if r["phase"] == "baseline"), None)
        band = None
        if base and len([s for s in base["seeds"] if s is not None]) >= 2:
            sd = statistics.stdev([s for s in base["seeds"] if s is not None])
            band = {
                "mean": base["val_ne"],
                "low": base["val_ne"] - 2 * sd,
                "high": base["val_ne"] + 2 * sd,
            }
        return {
            "campaign_id": c.id,
            "trials": rows,
            "baseline": band,
            "phases": _timeline(list(jobs.values()), self.store, campaign_id),
            "budget_burn": _burn(self.store, campaign_id),
            "budget_seconds": c.budget_seconds,
        }

    def report(self, campaign_id: str) -> dict[str, Any]:
        c = self._campaign(campaign_id)
        state = self.runner.state(c.thread_id) if c.thread_id else {}
        path = state.get("report_path")
        if not path or not Path(path).exists():
            raise OpsError(
                f"campaign {campaign_id} has no report yet (it is {c.status}); it is written "
                "when the campaign finishes",
                409,
            )
        folder = Path(path).parent
        return {
            "campaign_id": c.id,
            "path": path,
            "markdown": Path(path).read_text(),
            "plots": sorted(p.name for p in folder.glob("*.png")),
        }

    def report_file(self, campaign_id: str, name: str) -> Path:
        report = self.report(campaign_id)
        folder = Path(report["path"]).parent
        target = (folder / name).resolve()
        if target.parent != folder.resolve() or not target.is_file():
            raise OpsError(f"the report of {campaign_id} has no file {name!r}", 404)
        return target

    # --- approvals ------------------------------------------------------------------------
    def approvals(
        self, campaign_id: str | None = None, status: str | None = "pending"
    ) -> list[dict[str, Any]]:
        out = []
        for a in self.store.list_approvals(campaign_id=campaign_id, status=status):
            out.append(self._approval_row(a))
        return out

    def approval(self, approval_id: str) -> dict[str, Any]:
        return self._approval_row(self._approval(approval_id))

    def decide(
        self,
        approval_id: str,
        decision: str,
        *,
        edits: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        """Check an answer now (a bad one is refused and the approval stays open), then resume
        the campaign in the background."""
        approval = self._approval(approval_id)
        if approval.status != "pending":
            raise OpsError(f"approval {approval_id} was already answered ({approval.status})", 409)
        if decision == "approve":
            body: dict[str, Any] = {"type": "approve"}
        elif decision == "reject":
            body = {"type": "reject", "message": message}
        elif decision == "edit":
            if not edits:
                raise OpsError("an edit needs `edits`: the changed action arguments", 422)
            name = (approval.request or {}).get("action") or _ACTIONS[approval.kind]
            body = {"type": "edit", "edited_action": {"name": name, "args": edits}}
        else:
            raise OpsError(f"decision must be approve, edit or reject (got {decision!r})", 422)
        response = {"decisions": [body]}
        parsed = HITLResponse.model_validate(response)
        try:
            check_decision(self.store, approval, parsed.decision)
        except InvalidDecision as err:
            raise OpsError(str(err), 422) from None
        waiting = self.runner.pending(self.runner.thread_of(approval.campaign_id))
        if not any(p.approval_id == approval_id for p in waiting):
            raise OpsError(f"approval {approval_id} is not awaited by its campaign any more", 409)
        self.scheduler.decide(approval_id, response)
        return {"approval_id": approval_id, "decision": decision, "status": "accepted"}

    # --- steering -------------------------------------------------------------------------
    def steer(
        self, campaign_id: str, *, skip_phases: list[str] | None = None, wrap_up: bool | None = None
    ) -> dict[str, Any]:
        c = self._campaign(campaign_id)
        if c.status in TERMINAL:
            raise OpsError(f"campaign {campaign_id} is {c.status}; nothing to steer", 409)
        try:
            steering = self.store.steer(campaign_id, skip_phases=skip_phases, wrap_up=wrap_up)
        except ReaError as err:
            raise OpsError(str(err), 422) from None
        return {"campaign_id": campaign_id, "steering": steering}

    def add_budget(self, campaign_id: str, seconds: float, *, why: str = "") -> dict[str, Any]:
        """More trainer-seconds: answers the campaign's open budget request with this amount, or
        records the human's decision as an approved budget approval and applies it."""
        c = self._campaign(campaign_id)
        if not seconds > 0:
            raise OpsError(f"add a positive number of trainer-seconds (got {seconds})", 422)
        if c.status in TERMINAL:
            raise OpsError(f"campaign {campaign_id} is {c.status}; start a new one instead", 409)
        for a in self.store.list_approvals(campaign_id=campaign_id, status="pending"):
            if a.kind == "budget":
                args = {**(a.request or {}), "extra_seconds": float(seconds)}
                args = {k: v for k, v in args.items() if k in ("extra_seconds", "phase")}
                self.decide(a.id, "edit", edits=args)
                return {"campaign_id": campaign_id, "added_seconds": seconds, "approval_id": a.id}
        approval_id = new_id("budget")
        self.store.create_approval(
            campaign_id,
            "budget",
            {"extra_seconds": float(seconds), "source": "human", "why": why},
            approval_id=approval_id,
        )
        self.store.decide_approval(approval_id, "approved", {"type": "approve", "message": why})
        status = self.store.raise_budget(campaign_id, float(seconds), approval_id=approval_id)
        return {
            "campaign_id": campaign_id,
            "added_seconds": seconds,
            "approval_id": approval_id,
            "budget_seconds": status.approved_seconds,
        }

    def cancel(self, campaign_id: str) -> dict[str, Any]:
        """Stop the campaign: cancel its running jobs; it reports nothing further."""
        c = self._campaign(campaign_id)
        if c.status in TERMINAL:
            return {"campaign_id": campaign_id, "status": c.status}
        backend = self.runner.services.backend
        self.store.update_campaign(campaign_id, status="cancelled")  # first: nothing wakes it
        for job in self.store.list_jobs(campaign_id, states=("queued", "running")):
            with contextlib.suppress(LookupError):  # never reached the backend
                backend.cancel(job.job_id)
            self.store.transition_job(job.job_id, "cancelled", failure_message="campaign cancelled")
        return {"campaign_id": campaign_id, "status": "cancelled"}

    # --- internals ------------------------------------------------------------------------
    def _campaign(self, campaign_id: str) -> Any:
        try:
            return self.store.get_campaign(campaign_id)
        except NotFound:
            raise OpsError(
                f"there is no campaign {campaign_id!r}; list them with GET /v1/campaigns", 404
            ) from None

    def _approval(self, approval_id: str) -> Any:
        try:
            return self.store.get_approval(approval_id)
        except NotFound:
            raise OpsError(
                f"there is no approval {approval_id!r}; list pending ones with GET /v1/approvals",
                404,
            ) from None

    def _approval_row(self, a: Any) -> dict[str, Any]:
        payload = None
        if a.status == "pending":
            try:
                thread = self.runner.thread_of(a.campaign_id)
                payload = next(
                    (p.payload for p in self.runner.pending(thread) if p.approval_id == a.id), None
                )
            except RunnerError:
                payload = None
        hypotheses = {}
        if a.kind == "plan":  # what the plan card shows beside each experiment
            for h in self.store.list_hypotheses(a.campaign_id):
                hypotheses[h.id] = {
                    "title": h.title,
                    "source": h.source,
                    "rationale": h.rationale,
                    "evidence": h.evidence,
                    "expected_effect": h.expected_effect,
                    "config_delta": h.config_delta,
                    "cost_estimate_seconds": h.cost_estimate_seconds,
                    "status": h.status,
                }
        return {
            "approval_id": a.id,
            "campaign_id": a.campaign_id,
            "kind": a.kind,
            "hypotheses": hypotheses,
            "status": a.status,
            "request": a.request or {},
            "interrupt": payload,
            "decision": a.decision,
            "created_at": a.created_at.isoformat(),
            "decided_at": a.decided_at.isoformat() if a.decided_at else None,
        }


_ACTIONS = {
    "plan": "approve_plan",
    "budget": "raise_budget",
    "escalation": "retry_job",
    "launch": "approve_launch",
}


def _job_row(job: Any, exp: Any) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "experiment_id": job.experiment_id,
        "phase": exp.phase if exp else None,
        "config_delta": exp.config_delta if exp else {},
        "attempt": job.attempt,
        "state": job.state,
        "max_seconds": job.max_seconds,
        "failure_kind": job.failure_kind,
        "failure_message": job.failure_message,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _log_tail(output_dir: str | None, lines: int = 30) -> str:
    if not output_dir:
        return ""
    path = Path(output_dir) / "train.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _timeline(jobs: list[Any], store: Any, campaign_id: str) -> list[dict[str, Any]]:
    phase_of = {e.id: e.phase for e in store.list_experiments(campaign_id)}
    spans: dict[str, list[str]] = {}
    for job in jobs:
        phase = phase_of.get(job.experiment_id)
        begin = job.started_at or job.created_at
        end = job.finished_at or job.updated_at
        if phase is None or begin is None:
            continue
        span = spans.setdefault(phase, [begin.isoformat(), end.isoformat()])
        span[0] = min(span[0], begin.isoformat())
        span[1] = max(span[1], end.isoformat())
    order = ("baseline", "validation", "combination", "exploitation")
    return [{"phase": p, "start": spans[p][0], "end": spans[p][1]} for p in order if p in spans]


def _burn(store: Any, campaign_id: str) -> list[dict[str, Any]]:
    """Cumulative charged trainer-seconds, one point per settled job."""
    points, total = [], 0.0
    entries = [e for e in store.ledger_entries(campaign_id) if e.kind == "compute" and e.settled_at]
    for e in sorted(entries, key=lambda e: e.settled_at):
        total += e.charged
        points.append({"at": e.settled_at.isoformat(), "charged_seconds": round(total, 2)})
    return points
