"""Waking hibernating campaigns in the service: background wakers and the job sweeper.

A campaign that waits costs a row (SQL) and a checkpoint, never a thread: the `Waker` runs a
resume on a small worker pool when there is one to run, one at a time per LangGraph thread (a
per-thread queue; the runner's lock is the second line of defence, across processes). The
`Sweeper` is the service's one housekeeping loop: it lets the job backend start queued jobs and
picks up final events whose callback never arrived (the job's `result.json`, or the backend's
own status for a job that died) — so a callback lost while the service was down, or refused,
still wakes its campaign. On start-up `reconcile` does the same for every job and campaign the
service may have missed, and finishes wake-ups a crash interrupted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rea.graph import events
from rea.graph.runner import CampaignRunner
from rea.memory import NotFound
from rea.trainers.events import JobEvent

log = logging.getLogger("rea.service")

TERMINAL_CAMPAIGNS = ("completed", "failed", "cancelled")
MAX_DEFERRED_PASSES = 8  # sweeper passes skipped in a row at most while wake-ups run


class Waker:
    """Background resumes, serialised per thread. Implements `ops.Scheduler`."""

    def __init__(self, runner: CampaignRunner, workers: int = 2):
        self.runner = runner
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="rea-wake")
        self._queues: dict[str, deque[Callable[[], Any]]] = {}
        self._active: set[str] = set()
        self._guard = threading.Lock()
        self._idle = threading.Condition(self._guard)
        self._finals: set[tuple[str, int]] = set()  # final events queued in this process
        self.versions: dict[str, int] = {}  # campaign id -> wake-ups run (SSE followers poll it)
        self.listeners: list[Callable[[str, str], None]] = []  # (campaign_id, what) after a run

    # --- Scheduler ------------------------------------------------------------------------
    def begin(self, campaign_id: str) -> None:
        self._submit(campaign_id, "begin", lambda: self.runner.begin(campaign_id))

    def recover(self, campaign_id: str) -> None:
        self._submit(campaign_id, "recover", lambda: self.runner.recover(campaign_id))

    def deliver(self, event: JobEvent, *, recorded: bool = False) -> None:
        """Queue a final event (once per job attempt in this process); `recorded`: the caller
        (the webhook) has stored it already."""
        key = (event.job_id, event.attempt)
        with self._guard:
            if key in self._finals:
                return
            self._finals.add(key)
        campaign_id, thread_id, _ = self.runner.services.store.job_owner(event.job_id)
        self._submit(
            campaign_id,
            "event",
            lambda: self.runner.deliver(event, recorded=recorded),
            thread_id=thread_id,
        )

    def decide(self, approval_id: str, response: dict[str, Any]) -> None:
        approval = self.runner.services.store.get_approval(approval_id)
        self._submit(
            approval.campaign_id, "decision", lambda: self.runner.decide(approval_id, response)
        )

    # --- running ---------------------------------------------------------------------------
    def _submit(
        self, campaign_id: str, what: str, fn: Callable[[], Any], *, thread_id: str | None = None
    ) -> None:
        thread_id = thread_id or self.runner.thread_of(campaign_id)
        with self._guard:
            self._queues.setdefault(thread_id, deque()).append((campaign_id, what, fn))
            if thread_id in self._active:
                return
            self._active.add(thread_id)
        self._pool.submit(self._drain, thread_id)

    def _drain(self, thread_id: str) -> None:
        while True:
            with self._guard:
                queue = self._queues.get(thread_id)
                if not queue:
                    self._queues.pop(thread_id, None)
                    self._active.discard(thread_id)
                    self._idle.notify_all()
                    return
                campaign_id, what, fn = queue.popleft()
            try:
                fn()
            except Exception:  # a failed wake-up is logged; the sweeper or a retry comes back
                log.exception("wake-up %s of campaign %s failed", what, campaign_id)
            with self._guard:
                self.versions[campaign_id] = self.versions.get(campaign_id, 0) + 1
            for listener in list(self.listeners):
                try:
                    listener(campaign_id, what)
                except Exception:
                    log.exception("wake listener failed")

    def busy(self) -> int:
        with self._guard:
            return len(self._active)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no wake-up is queued or running (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


class Sweeper:
    """The housekeeping loop: start queued jobs, find final events that no callback brought.

    Each pass costs one SQL query. While the store has queued jobs, the job backend is asked to
    start them when a slot may have come free — a final event arrived (`kick`) — and otherwise
    every `scan_every`-th pass (a job that died without a callback); the launch node asks it
    itself right after it submits. The jobs' files are scanned for final events every
    `scan_every`-th pass (callbacks normally bring them first; the scan is for the ones that
    were lost). A pass waits while a wake-up runs, at most `max_deferred` passes in a row."""

    def __init__(
        self, runner: CampaignRunner, waker: Waker, interval: float = 0.5, scan_every: int = 4
    ):
        self.runner, self.waker, self.interval = runner, waker, interval
        self.scan_every = max(1, scan_every)
        self.max_deferred = MAX_DEFERRED_PASSES
        self._passes = 0
        self._kicked = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rea-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def kick(self) -> None:
        """A job ended (its final event arrived): let the backend start queued jobs next pass."""
        self._kicked.set()

    def _loop(self) -> None:
        deferred = 0
        while not self._stop.wait(self.interval):
            if self._yields(deferred):
                deferred += 1
                continue
            deferred = 0
            try:
                self.sweep()
            except Exception:
                log.exception("sweep failed")

    def _yields(self, deferred: int) -> bool:
        """Skip this pass: a wake-up is running (a pass over many live jobs would take the GIL
        from it; a wake-up that submits asks the backend to start jobs itself), unless
        `max_deferred` passes in a row were skipped already (the sweeper is never starved)."""
        busy = getattr(self.waker, "busy", None)
        return deferred < self.max_deferred and busy is not None and busy() > 0

    def sweep(self, *, catch_up: bool = False) -> int:
        """One pass; returns how many final events it queued. `catch_up` also records every
        non-final event a job wrote that the service never received (start-up)."""
        store, backend = self.runner.services.store, self.runner.services.backend
        self._passes += 1
        live = store.live_jobs()
        scan = catch_up or self._passes % self.scan_every == 0
        kicked = self._kicked.is_set()
        if any(job.state == "queued" for job in live) and (scan or kicked):
            self._kicked.clear()
            backend.poll()
        elif catch_up:
            backend.poll()  # settles jobs that died while the service was down
        if not scan:
            return 0
        found = 0
        for job in live:
            try:
                if catch_up:
                    events.catch_up(store, backend, job.job_id)
                final = backend.final_event(job.job_id)
            except (LookupError, OSError, NotFound) as err:
                log.warning("cannot read job %s from the backend: %s", job.job_id, err)
                continue
            if final is not None:
                self._kicked.set()
                self.waker.deliver(final)
                found += 1
        return found


def reconcile(runner: CampaignRunner, waker: Waker, sweeper: Sweeper) -> dict[str, int]:
    """Start-up: recover what the service missed while it was down. Campaigns created but never
    begun are begun; wake-ups a crash cut short are finished; every final event written by a
    job whose callback was lost is delivered; missed progress events are recorded."""
    store = runner.services.store
    recovered = 0
    for campaign in store.list_campaigns():
        if campaign.status in TERMINAL_CAMPAIGNS or not campaign.thread_id:
            continue
        snapshot = runner.graph.get_state(runner._config(campaign.thread_id))
        if not snapshot.values or (snapshot.next and not snapshot.interrupts):
            waker.recover(campaign.id)
            recovered += 1
    decisions = redeliver_decisions(runner, waker)
    finals = sweeper.sweep(catch_up=True)
    return {"recovered": recovered, "decisions": decisions, "final_events": finals}


def redeliver_decisions(runner: CampaignRunner, waker: Waker) -> int:
    """Approvals answered in SQL whose interrupt is still pending (the service died after the
    node recorded the decision but before the step was checkpointed): resume them with the
    recorded decision (recording it again changes nothing)."""
    store = runner.services.store
    found = 0
    for campaign in store.list_campaigns(status="awaiting_approval"):
        if not campaign.thread_id:
            continue
        for pending in runner.pending(campaign.thread_id):
            if pending.type != "approval" or not pending.approval_id:
                continue
            approval = store.get_approval(pending.approval_id)
            if approval.status != "pending" and approval.decision:
                waker.decide(approval.id, {"decisions": [approval.decision]})
                found += 1
    return found
