"""The benchmark's TPE and random arms: Optuna over the whole trainer space, inside a budget of
trainer-seconds, with the agent's own budget rules.

The first trial is the baseline config, alone (it also measures the seconds per trial that every
later estimate scales). Then trials run `parallel` at a time (the agent's local backend runs one
job per core too), each a real training job on the same `LocalBackend` the agent uses, with one
training seed. Budget accounting is the agent's (graph/nodes/common.py, jobs.py):

* a job reserves its max_seconds before it starts: max(2.5 x estimate, estimate + 10 s), or what
  is left if that still covers 2 x estimate + 2 s; 5% of the budget is never handed out, so a
  step's overrun stays inside the budget;
* when it ends it is charged what it used: `result.trainer_seconds` on success; on failure the
  time from its `started` to its final event, capped at the reservation;
* nothing starts that the rest of the budget cannot pay for: such a proposal waits while jobs
  run (their settlements free room); when nothing runs it is told to the study as failed and
  the next one is asked for; the arm ends after MAX_UNPAID such proposals in a row.

A proposal that does not validate (e.g. fusion_heads not dividing the widths) is told to the
study as failed and costs nothing; a job that fails (timeout, divergence, OOM) is told as failed
and costs what it ran.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

from rea.agents.planner.pruning import bars_from_curves
from rea.graph.nodes.common import (
    BASELINE_SHARE,
    MAX_SECONDS_FACTOR,
    MIN_JOB_SECONDS,
    RESERVE_FRACTION,
)
from rea.tools.journal import seed_metrics
from rea.tools.search_space import Knob, config_from, params_of
from rea.tools.trainer import relative_cost
from rea.trainers.backends import LocalBackend
from rea.trainers.config import TrainerConfig, parse_config
from rea.trainers.errors import ConfigError
from rea.trainers.events import JobEvent, JobSpec
from rea.trainers.pruning import Prune

MAX_INVALID_ASKS = 50  # proposals in a row that do not validate before the arm gives up
MAX_UNPAID = 20  # proposals in a row the rest of the budget cannot pay before the arm ends


class _Done(Exception):
    """The arm is over: nothing runs and nothing more can be paid."""


@dataclass
class Trial:
    """One finished job of an arm. `at_seconds`: the arm's charged trainer-seconds once this job
    (and every job that ended before it) was paid for."""

    label: str
    config: dict[str, Any]
    charged: float
    at_seconds: float
    seeds: int = 1
    metrics: dict[str, float] = field(default_factory=dict)
    failure: str | None = None

    @property
    def val_ne(self) -> float | None:
        value = self.metrics.get("val_ne")
        return value if value is not None and math.isfinite(value) else None


@dataclass
class _Running:
    trial: optuna.Trial | None
    label: str
    config: dict[str, Any]
    reserved: float


class SearchArm:
    """Runs one TPE or random search (see the module docstring) and returns its trials."""

    def __init__(
        self,
        sampler: optuna.samplers.BaseSampler,
        space: list[Knob],
        *,
        baseline: TrainerConfig,
        data: str,
        budget: float,
        jobs_root: Path,
        seed: int,
        parallel: int,
        progress: Callable[[str], None] = lambda _line: None,
        poll_s: float = 0.2,
        prune_quantile: float | None = None,
    ):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self.space, self.baseline, self.data = space, baseline, data
        self.budget, self.seed, self.parallel = budget, seed, parallel
        self.backend = LocalBackend(jobs_root, max_parallel=parallel)
        self.progress, self.poll_s = progress, poll_s
        self.running: dict[str, _Running] = {}
        self.trials: list[Trial] = []
        self.charged = 0.0
        self.seconds_per_trial: float | None = None
        self._next: tuple[optuna.Trial | None, str, dict[str, Any]] | None = None
        self._count = self._unpaid = 0
        # With a quantile: each trial carries the agent's pruning bars, set from the
        # val-NE curves of this arm's finished runs (`rea.agents.planner.pruning`).
        self.prune_quantile = prune_quantile
        self.curves: list[list[float]] = []
        self.pruned = 0

    # --- the loop ------------------------------------------------------------------------
    def run(self) -> list[Trial]:
        baseline = self.baseline.model_dump(mode="json")
        self._next = (None, "baseline", baseline)
        while True:
            self._collect()
            try:
                self._launch()
            except _Done:
                break
            if not self.running:
                break
            time.sleep(self.poll_s)
        if self._next and self._next[0] is not None:
            self.study.tell(self._next[0], state=optuna.trial.TrialState.FAIL)
        return self.trials

    def _room(self) -> float:
        open_ = sum(r.reserved for r in self.running.values())
        return self.budget * (1 - RESERVE_FRACTION) - self.charged - open_

    def _launch(self) -> bool:
        """Start what fits; False when the next proposal must wait for room. Raises `_Done`
        when nothing runs and no proposal can be paid (or none is left)."""
        while len(self.running) < self.parallel:
            if self.seconds_per_trial is None and (self.running or self.trials):
                return True  # the baseline first, alone: later estimates scale its time
            if self._next is None:
                self._next = self._propose()
                if self._next is None:
                    raise _Done
            seconds = self._max_seconds(self._next[2])
            if seconds <= 0 and self.running:
                return False  # hold it: the running jobs' settlements may free the room
            if seconds <= 0:
                self._discard()  # nothing will free room: try a cheaper proposal
                continue
            self._submit(*self._next, seconds)
            self._next, self._unpaid = None, 0
        return True

    def _discard(self) -> None:
        trial = self._next[0] if self._next else None
        if trial is None or self._unpaid >= MAX_UNPAID:
            raise _Done
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self._next, self._unpaid = None, self._unpaid + 1

    def _max_seconds(self, config: dict[str, Any]) -> float:
        room = self._room()
        if self.seconds_per_trial is None:  # the baseline: a share of the budget, as the agent
            return round(min(BASELINE_SHARE * self.budget, room), 2)
        est = self.seconds_per_trial * relative_cost(self.baseline, config)
        wanted = max(MAX_SECONDS_FACTOR * est, est + MIN_JOB_SECONDS)
        take, need = min(wanted, room), min(wanted, 2.0 * est + 2.0)
        return round(take, 2) if take > 0 and take >= need else 0.0

    def _propose(self) -> tuple[optuna.Trial, str, dict[str, Any]] | None:
        for _ in range(MAX_INVALID_ASKS):
            trial = self.study.ask()
            config = config_from(trial, self.space, self.baseline)
            try:
                parse_config(config)
            except ConfigError:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            self._count += 1
            return trial, f"trial {self._count}", config
        return None

    def _submit(
        self, trial: optuna.Trial | None, label: str, config: dict[str, Any], seconds: float
    ) -> None:
        job_id = f"{label.replace(' ', '-')}-{len(self.trials) + len(self.running)}"
        bars = None
        if self.prune_quantile is not None and trial is not None:
            epochs = parse_config(config).epochs
            bars = bars_from_curves(self.curves, epochs, quantile=self.prune_quantile)
        spec = JobSpec(
            job_id=job_id,
            campaign_id="bench",
            config=config,
            data=self.data,
            seed=self.seed,
            max_seconds=seconds,
            output_dir=str(self.backend.job_dir(job_id)),
            prune=None if bars is None else Prune(val_ne_above=bars),
        )
        self.backend.submit(spec)
        self.backend.poll()
        self.running[job_id] = _Running(trial, label, config, seconds)

    # --- results -------------------------------------------------------------------------
    def _collect(self) -> None:
        self.backend.poll()
        for job_id in list(self.running):
            final = self.backend.final_event(job_id)
            if final is not None:
                self._finish(job_id, self.running.pop(job_id), final)

    def _finish(self, job_id: str, run: _Running, final: JobEvent) -> None:
        ok = final.kind == "succeeded" and final.result is not None
        result = final.result or {}
        charged = float(result["trainer_seconds"]) if ok else self._failed_seconds(job_id, run)
        self.charged += charged
        metrics = {k: float(v) for k, v in (result.get("metrics") or {}).items()}
        failure = None if ok else (final.failure.kind if final.failure else "crashed")
        trial = Trial(run.label, run.config, charged, self.charged, 1, metrics, failure)
        self.trials.append(trial)
        for seed_run in seed_metrics(result) if ok else []:  # curves as the agent's journal keeps
            self.curves.append(seed_run["curve"])
            self.pruned += seed_run["pruned_at_epoch"] is not None
        if run.trial is None:  # the baseline
            self.seconds_per_trial = max(0.05, charged)
            self._tell_baseline(trial)
        elif trial.val_ne is not None:
            self.study.tell(run.trial, trial.val_ne)
        else:
            self.study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
        self.progress(_line(trial, self.budget))

    def _tell_baseline(self, trial: Trial) -> None:
        found = params_of(trial.config, self.space)
        if found is None or trial.val_ne is None:
            return
        params, dists = found
        self.study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, value=trial.val_ne)
        )

    def _failed_seconds(self, job_id: str, run: _Running) -> float:
        events = self.backend.events(job_id)
        final = self.backend.final_event(job_id)
        started = [e for e in events if e.kind == "started"]
        if not started or final is None:
            return 0.0
        begin, end = _when(started[0].at), _when(final.at)
        return min(run.reserved, max(0.0, end - begin))


def _when(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _line(trial: Trial, budget: float) -> str:
    what = f"val NE {trial.val_ne:.5f}" if trial.val_ne is not None else f"failed ({trial.failure})"
    return f"{trial.label}: {what} · {trial.charged:.1f} s · {trial.at_seconds:.0f}/{budget:.0f} s"
