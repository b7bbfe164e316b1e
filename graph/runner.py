"""Start, wake and drive campaign threads.

Every resume goes through here: it takes the thread's lock (one resume per thread at a time,
across threads of this process and across processes on this machine), checks that the expected
interrupt — the job wait naming this job, or the approval with this id — is pending, and only then
resumes it by interrupt id, with the context passed again and `durability="sync"`. Duplicate and
stale events therefore change nothing, and a bad decision is refused while its interrupt stays
answerable. `drive()` runs a whole campaign in this process (`rea run`): it waits on the job
backend and asks an `approver` for every human decision.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langgraph.types import Command
from pydantic import ValidationError

from rea.memory import NotFound
from rea.memory.db import new_id
from rea.trainers.config import parse_config
from rea.trainers.data.refs import parse_ref
from rea.trainers.errors import ConfigError, ReaError
from rea.trainers.events import JobEvent

from . import collector, events, hitl
from .context import CampaignContext, Services
from .decisions import check_decision

log = logging.getLogger("rea.graph")


class RunnerError(ReaError):
    """A resume the runner refuses: unknown job or approval, or nothing pending for it."""

    kind = "runner_error"


@dataclass
class Pending:
    """One interrupt a thread waits on."""

    interrupt_id: str
    type: str  # job_wait | approval
    payload: dict[str, Any]
    kind: str | None = None  # approvals: plan | budget | escalation | launch
    approval_id: str | None = None
    job_ids: list[str] = field(default_factory=list)


Approver = Callable[[Pending], dict[str, Any] | None]  # a HITL response, or None = not now


class CampaignRunner:
    """Runs campaign threads of one compiled graph over one set of services."""

    def __init__(self, graph: Any, services: Services):
        self.graph = graph
        self.services = services
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._delivered: set[tuple[str, int, int]] = set()  # events this process delivered

    # --- starting ------------------------------------------------------------------------
    def start(
        self,
        model: str,
        data: str,
        budget_seconds: float,
        *,
        baseline: dict[str, Any] | None = None,
        goal: str | None = None,
        faults: list[dict[str, Any]] | None = None,
    ) -> str:
        """Create the campaign and run its thread up to the first interrupt; its id."""
        cid = self.create(model, data, budget_seconds, baseline=baseline, goal=goal)
        self.begin(cid, faults=faults)
        return cid

    def create(
        self,
        model: str,
        data: str,
        budget_seconds: float,
        *,
        baseline: dict[str, Any] | None = None,
        goal: str | None = None,
    ) -> str:
        """Check the request and create the campaign row (status `planning`); its id. Nothing
        runs yet: `begin` does (the service calls it in the background)."""
        parse_ref(data)  # DataError naming the reference and the problem
        if not budget_seconds > 0:
            raise ConfigError(f"the budget must be > 0 trainer-seconds (got {budget_seconds})")
        config = parse_config({**(baseline or {}), "model": model}).model_dump(mode="json")
        if baseline and baseline.get("model", model) != model:
            raise ConfigError(
                f"--baseline is a {baseline['model']!r} config but --model is {model!r}"
            )
        cid = new_id("c")
        thread_id = f"t-{cid}"
        self.services.store.create_campaign(
            model,
            data,
            budget_seconds,
            baseline_config=config,
            goal=goal,
            thread_id=thread_id,
            campaign_id=cid,
        )
        return cid

    def begin(self, campaign_id: str, *, faults: list[dict[str, Any]] | None = None) -> bool:
        """Run a created campaign's thread up to its first interrupt; False when it had
        already begun (a repeat changes nothing)."""
        thread_id = self._thread_of(campaign_id)
        with self._lock(thread_id):
            if self.graph.get_state(self._config(thread_id)).values:
                return False
            self._run(thread_id, {"campaign_id": campaign_id, "faults": faults or []})
        return True

    def recover(self, campaign_id: str) -> bool:
        """Finish a wake-up a crash interrupted: a thread whose checkpoint has a next step but
        no pending interrupt is run on from that checkpoint (launching is idempotent, so a
        step that submitted a job before the crash does not submit it again). True if it ran."""
        thread_id = self._thread_of(campaign_id)
        with self._lock(thread_id):
            snapshot = self.graph.get_state(self._config(thread_id))
            if not snapshot.values:
                self._run(thread_id, {"campaign_id": campaign_id, "faults": []})
                return True
            if snapshot.next and not snapshot.interrupts:
                self._run(thread_id, None)
                return True
        return False

    # --- waking --------------------------------------------------------------------------
    def deliver(self, event: JobEvent, *, recorded: bool = False) -> str:
        """Record a job event; a final one resumes the thread waiting on that job.

        Returns "recorded" (a new non-final event), "duplicate" (seen before), "resumed", or
        "stale" (final, but no thread waits on this job any more). Raises `NotFound` for a job
        the store does not know. `recorded`: the caller has just stored this final event (the
        webhook), so it is not written again.
        """
        store = self.services.store
        campaign_id, thread_id, status = store.job_owner(event.job_id)
        if not (recorded and event.kind in events.FINAL_KINDS):
            fresh = events.record(store, event)
            if event.kind not in events.FINAL_KINDS:
                return "recorded" if fresh else "duplicate"
        try:
            if status == "cancelled":
                return "stale"  # a cancelled campaign is never woken again
            if not thread_id:
                raise RunnerError(f"campaign {campaign_id!r} has no thread")
            with self._lock(thread_id):
                waiting = [p for p in self.pending(thread_id) if event.job_id in p.job_ids]
                if not waiting:
                    return "stale"
                self._run(
                    thread_id,
                    Command(resume={waiting[0].interrupt_id: event.model_dump(mode="json")}),
                    campaign_id=campaign_id,
                )
            return "resumed"
        finally:
            self._catch_up(event.job_id)

    def _catch_up(self, job_id: str) -> None:
        """Record the job's non-final events that never reached the store. A job whose callbacks
        failed while the service was down, and which then ended, is no longer live, so no later
        start-up sweep reads its files: its final event is the last chance. Runs after the
        wake-up (off its latency), once per final event; records are idempotent."""
        try:
            events.catch_up(self.services.store, self.services.backend, job_id)
        except (LookupError, OSError, NotFound) as err:
            log.warning("cannot catch up the events of job %s: %s", job_id, err)

    def decide(self, approval_id: str, response: dict[str, Any]) -> None:
        """Answer a pending approval with a HITL response (`{"decisions": [...]}`)."""
        try:
            approval = self.services.store.get_approval(approval_id)
        except NotFound:
            raise RunnerError(f"there is no approval {approval_id!r}; see `rea status`") from None
        try:
            parsed = hitl.HITLResponse.model_validate(response)
        except ValidationError as err:
            raise RunnerError(
                f"invalid decision for {approval_id}: {err.errors()[0]['msg']}; send "
                '{"decisions": [{"type": "approve"}]} (or edit / reject)'
            ) from None
        thread_id = self._thread_of(approval.campaign_id)
        with self._lock(thread_id):
            waiting = [p for p in self.pending(thread_id) if p.approval_id == approval_id]
            if not waiting:
                raise RunnerError(
                    f"approval {approval_id!r} is not pending (it is {approval.status})"
                )
            check_decision(self.services.store, approval, parsed.decision)
            self._run(
                thread_id, Command(resume={waiting[0].interrupt_id: parsed.model_dump(mode="json")})
            )

    # --- inspecting ----------------------------------------------------------------------
    def pending(self, thread_id: str) -> list[Pending]:
        snapshot = self.graph.get_state(self._config(thread_id))
        return [_pending(i) for i in snapshot.interrupts]

    def state(self, thread_id: str) -> dict[str, Any]:
        return dict(self.graph.get_state(self._config(thread_id)).values)

    def thread_of(self, campaign_id: str) -> str:
        return self._thread_of(campaign_id)

    # --- driving a whole campaign in this process (`rea run`) ------------------------------
    def drive(
        self,
        campaign_id: str,
        approver: Approver,
        *,
        poll_s: float = 0.5,
        progress: Callable[[str], None] | None = None,
        tick: Callable[[], None] | None = None,
    ) -> str:
        """Wake the campaign on its jobs' events and its approver's decisions until it ends or
        an approval is left unanswered (approver returned None). Returns the campaign status.
        `progress` receives each new progress note; `tick` is called at every poll (a live
        display refreshes there)."""
        thread_id = self._thread_of(campaign_id)
        self.recover(campaign_id)  # a wake-up a crash cut short is finished first
        shown = 0
        while True:
            notes = self.state(thread_id).get("notes") or []
            for line in notes[shown:]:
                if progress:
                    progress(line)
            shown = len(notes)
            if not self._step(thread_id, approver, poll_s, tick):
                return self.services.store.get_campaign(campaign_id).status

    def _step(
        self,
        thread_id: str,
        approver: Approver,
        poll_s: float,
        tick: Callable[[], None] | None = None,
    ) -> bool:
        """Wait for and deliver one wake-up (an event or a decision); False = nothing to wait
        for (the campaign ended, or an approval was left unanswered)."""
        while True:
            if tick:
                tick()
            waiting = self.pending(thread_id)
            if not waiting:
                return False
            first = waiting[0]
            if first.type == "approval":
                # Decided in SQL but not consumed (a crash after the node recorded it): resume
                # with that decision instead of asking again.
                answer = self._recorded_decision(first.approval_id) or approver(first)
                if answer is None:
                    return False
                self.decide(first.approval_id or "", answer)
                return True
            if self.collect(first.job_ids):
                return True
            time.sleep(poll_s)

    def collect(self, job_ids: list[str]) -> int:
        """Read the backend's events of these jobs (starting queued ones) and deliver the new
        ones. Returns how many final events resumed the graph."""
        backend = self.services.backend
        backend.poll()
        resumed = 0
        for job_id in job_ids:
            final = backend.final_event(job_id)
            events_ = [*backend.events(job_id), *([final] if final else [])]
            for event in events_:
                key = (event.job_id, event.attempt, event.seq)
                if key in self._delivered:
                    continue
                outcome = self.deliver(event)
                self._delivered.add(key)
                resumed += outcome == "resumed"
            if resumed:
                break  # the pending set changed: re-read it
        return resumed

    # --- internals -----------------------------------------------------------------------
    def _recorded_decision(self, approval_id: str | None) -> dict[str, Any] | None:
        if not approval_id:
            return None
        approval = self.services.store.get_approval(approval_id)
        if approval.status == "pending" or not approval.decision:
            return None
        return {"decisions": [approval.decision]}

    def _run(self, thread_id: str, payload: Any, *, campaign_id: str | None = None) -> None:
        if campaign_id is None:
            campaign = self.services.store.get_campaign_by_thread(thread_id)
            campaign_id = campaign.id if campaign is not None else None
        if campaign_id is not None:
            self._meter(campaign_id)
        with collector.held():  # no collection pauses between the wake-up and its submission
            self.graph.invoke(
                payload,
                self._config(thread_id),
                context=CampaignContext(services=self.services),
                durability="sync",
                version="v2",
            )
        if campaign_id is not None:
            self._sync_status(thread_id, campaign_id)

    def _sync_status(self, thread_id: str, campaign_id: str) -> None:
        """The campaign row says what the thread waits on (the SQL source of truth)."""
        waiting = self.pending(thread_id)
        current = self.services.store.get_campaign(campaign_id).status
        status = current
        if any(p.type == "approval" for p in waiting):
            status = "awaiting_approval"
        elif waiting:
            status = "awaiting_jobs"
        if status != current:
            self.services.store.update_campaign(campaign_id, status=status)

    def _meter(self, campaign_id: str) -> None:
        store = self.services.store

        def record(agent: str, prompt: int, completion: int, model: str) -> None:
            store.record_llm_tokens(campaign_id, prompt, completion, model)

        self.services.brain.on_usage = record

    def _thread_of(self, campaign_id: str) -> str:
        campaign = self.services.store.get_campaign(campaign_id)
        if not campaign.thread_id:
            raise RunnerError(f"campaign {campaign_id!r} has no thread")
        return campaign.thread_id

    @staticmethod
    def _config(thread_id: str) -> dict[str, Any]:
        # A wake-up runs until the next interrupt; debugging a burst of failures can take more
        # than LangGraph's default 25 steps.
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": 200}

    @contextmanager
    def _lock(self, thread_id: str) -> Iterator[None]:
        """This process's lock for the thread, then a file lock shared with other processes."""
        with self._guard:
            lock = self._locks.setdefault(thread_id, threading.Lock())
        locks_dir = self.services.jobs_root.parent / "locks"
        locks_dir.mkdir(parents=True, exist_ok=True)
        with lock, open(locks_dir / f"{thread_id}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _pending(interrupt: Any) -> Pending:
    value = interrupt.value if isinstance(interrupt.value, dict) else {}
    return Pending(
        interrupt_id=interrupt.id,
        type=value.get("type", "unknown"),
        payload=value,
        kind=value.get("kind"),
        approval_id=value.get("approval_id"),
        job_ids=list(value.get("job_ids") or []),
    )
