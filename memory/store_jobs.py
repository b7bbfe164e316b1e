"""Jobs, their state machine, events and results: the part of `ExperimentStore` that the
launcher and the webhook use.

A job is one attempt of an experiment on a backend (each attempt has its own job id and
idempotency key). Its state moves queued → running → succeeded | failed | cancelled | lost
(`JOB_TRANSITIONS`); a move from a state to itself is a no-op, any other move raises
`IllegalTransition`, and a compare-under-lock makes two racing updaters safe. Events are stored
once per (job_id, attempt, seq); a result once per job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from rea.trainers.errors import FAILURE_KINDS

from .db import StoreBase, check_value, fetch, new_id, not_found
from .errors import BudgetExceeded, DuplicateKey, IllegalTransition, InvalidValue, NotFound
from .ledger import _check_can_pay, _compute_entry, _same_reservation, settlement
from .tables import (
    EVENT_KINDS,
    JOB_STATES,
    JOB_TRANSITIONS,
    TERMINAL_JOB_STATES,
    Campaign,
    Experiment,
    Job,
    JobEventRow,
    JobResult,
    LedgerEntry,
)


class JobsMixin(StoreBase):
    """Job, event and result methods of `ExperimentStore`."""

    def create_job(
        self,
        experiment_id: str,
        idempotency_key: str,
        max_seconds: float,
        *,
        job_id: str | None = None,
        attempt: int = 1,
        backend: str = "local",
        seed: int = 0,
        output_dir: str | None = None,
    ) -> Job:
        """A queued job, idempotent on `idempotency_key`: a repeat returns the existing job.

        Each attempt is its own job (its own job id and key). Raises `DuplicateKey` when the
        key belongs to another experiment or the job id is taken.
        """
        _check_job_args(max_seconds, attempt)
        existing = self._job_by_key(idempotency_key)
        if existing is not None:
            return _same_job(existing, experiment_id)
        experiment = self._get(Experiment, experiment_id)
        now = self._now()
        row = Job(
            job_id=job_id or new_id("j"),
            campaign_id=experiment.campaign_id,
            experiment_id=experiment_id,
            attempt=attempt,
            backend=backend,
            idempotency_key=idempotency_key,
            seed=seed,
            max_seconds=float(max_seconds),
            output_dir=output_dir,
            created_at=now,
            updated_at=now,
        )
        try:
            return self._insert(row)
        except DuplicateKey:
            existing = self._job_by_key(idempotency_key)  # lost a race for the same key
            if existing is None:
                raise
            return _same_job(existing, experiment_id)

    def create_reserved_job(
        self,
        experiment_id: str,
        idempotency_key: str,
        max_seconds: float,
        *,
        job_id: str,
        attempt: int = 1,
        backend: str = "local",
        seed: int = 0,
        output_dir: str | None = None,
    ) -> Job:
        """`create_job`, then `reserve` its max_seconds (phase: its experiment's), in one write
        transaction: what the launcher does before a submit, one round trip instead of five.

        Idempotent like both: a repeat returns the job, reserving nothing twice; a job that
        has ended is returned as it is. When the campaign cannot pay, the job is kept (queued,
        unreserved) and `BudgetExceeded` raised, as `create_job` then `reserve` would."""
        _check_job_args(max_seconds, attempt)
        try:
            return self._create_reserved_job(
                experiment_id,
                idempotency_key,
                dict(
                    job_id=job_id,
                    attempt=attempt,
                    backend=backend,
                    seed=seed,
                    max_seconds=float(max_seconds),
                    output_dir=output_dir,
                ),
            )
        except IntegrityError as err:
            raise DuplicateKey(f"cannot add job {job_id!r}: {err.orig}") from None

    def _create_reserved_job(
        self, experiment_id: str, idempotency_key: str, fields: dict[str, Any]
    ) -> Job:
        # Prebuilt Core statements, no ORM session: this runs before every submission.
        refused: BudgetExceeded | None = None
        with self._db.write_connection() as conn:
            experiment = conn.execute(_EXPERIMENT_OF_JOB, {"id": experiment_id}).first()
            if experiment is None:
                raise not_found("experiments", experiment_id)
            # The campaign row first, as `reserve` locks it (the same lock order everywhere).
            campaign = conn.execute(_CAMPAIGN_TO_PAY, {"id": experiment.campaign_id}).first()
            if campaign is None:
                raise not_found("campaigns", experiment.campaign_id)
            row = conn.execute(_JOB_BY_KEY, {"key": idempotency_key}).first()
            if row is not None:
                job = _same_job(Job(**row._mapping), experiment_id)
            else:
                now = self._now()
                job = Job(
                    **_NEW_JOB,
                    campaign_id=campaign.id,
                    experiment_id=experiment_id,
                    idempotency_key=idempotency_key,
                    created_at=now,
                    updated_at=now,
                    **fields,
                )
                conn.execute(_INSERT_JOB, {name: getattr(job, name) for name in _JOB_COLUMNS})
            if job.state in TERMINAL_JOB_STATES:
                return job
            entry = conn.execute(_COMPUTE_ENTRY_OF_ANY, {"job_id": job.job_id}).first()
            if entry is not None:
                _same_reservation(entry, campaign.id, job.max_seconds)
                return job
            try:
                _check_can_pay(conn, campaign, job.job_id, job.max_seconds)
            except BudgetExceeded as err:
                refused = err  # the job row is still committed (as create_job would have)
            else:
                conn.execute(
                    _INSERT_LEDGER,
                    {
                        **_NEW_COMPUTE_ENTRY,
                        "campaign_id": campaign.id,
                        "job_id": job.job_id,
                        "phase": experiment.phase,
                        "reserved": float(job.max_seconds),
                        "at": self._now(),
                    },
                )
        if refused is not None:
            raise refused
        return job

    def get_job(self, job_id: str) -> Job:
        return self._get(Job, job_id)

    def list_jobs(
        self,
        campaign_id: str | None = None,
        *,
        experiment_id: str | None = None,
        states: tuple[str, ...] | None = None,
    ) -> list[Job]:
        conditions = [] if campaign_id is None else [Job.campaign_id == campaign_id]
        conditions += [] if experiment_id is None else [Job.experiment_id == experiment_id]
        conditions += [] if states is None else [col(Job.state).in_(states)]
        return self._list(Job, conditions, Job.created_at, Job.job_id)

    def live_jobs(self) -> list[Any]:
        """Queued or running jobs of campaigns that have not ended, in one lean query (what the
        service's sweeper watches every half second): rows with `job_id` and `state` only."""
        ended = ("completed", "failed", "cancelled")
        job, campaign = Job.__table__, Campaign.__table__
        query = (
            sa.select(job.c.job_id, job.c.state)
            .join(campaign, campaign.c.id == job.c.campaign_id)
            .where(job.c.state.in_(("queued", "running")))
            .where(campaign.c.status.not_in(ended))
            .order_by(job.c.created_at)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def update_job(self, job_id: str, **changes: Any) -> Job:
        """Record where the backend put the job: `external_id`, `output_dir`, `backend`."""
        allowed = {"external_id": None, "output_dir": None, "backend": None}
        return self._update(Job, job_id, changes, allowed)

    def transition_job(
        self,
        job_id: str,
        state: str,
        *,
        failure_kind: str | None = None,
        failure_message: str | None = None,
    ) -> Job:
        """Move a job along queued → running → succeeded | failed | cancelled | lost.

        A repeat of the current state changes nothing; any other move not in
        `JOB_TRANSITIONS` raises `IllegalTransition`. Starting (→ running) needs an open ledger
        reservation covering the job's max_seconds.
        """
        check_value(state, JOB_STATES, "job state")
        if failure_kind is not None:
            check_value(failure_kind, FAILURE_KINDS, "failure kind")
        with self._db.write() as session:
            job = fetch(session, Job, job_id, lock=True)
            if job.state == state:
                return job
            if state not in JOB_TRANSITIONS[job.state]:
                raise IllegalTransition(
                    f"job {job_id!r} cannot go from {job.state!r} to {state!r}; allowed from "
                    f"{job.state!r}: {', '.join(JOB_TRANSITIONS[job.state]) or 'nothing (final)'}"
                )
            if state == "running":
                _require_reservation(session, job)
            _apply_state(job, state, self._now(), failure_kind, failure_message)
            session.add(job)
        return job

    # --- events and results ---------------------------------------------------------------
    def record_event(
        self,
        job_id: str,
        attempt: int,
        seq: int,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        same_attempt: bool = False,
    ) -> bool:
        """Store a job event; False (and no change) when (job_id, attempt, seq) was seen before.

        Raises `NotFound` for an unknown job (the webhook answers 404); with `same_attempt`,
        `InvalidValue` when the event's attempt is not the job's (checked in the same
        transaction).
        """
        check_value(kind, EVENT_KINDS, "event kind")
        # Lean Core statements in one write transaction (the webhook's hot path: no ORM
        # objects); nothing is written when the job is unknown or the attempt is not its own.
        job = Job.__table__
        with self._db.write_connection() as conn:
            current = conn.execute(
                sa.select(job.c.attempt).where(job.c.job_id == job_id)
            ).scalar_one_or_none()
            if current is None:
                raise NotFound(
                    f"no row {job_id!r} in jobs: check the id (list the table to see what exists)"
                )
            if same_attempt and current != attempt:
                raise InvalidValue(f"job {job_id} is attempt {current}, the event says {attempt}")
            stmt = _dialect_statement(_EVENT_INSERTS_RETURNING, self.engine)
            row = self._event_row(job_id, attempt, seq, kind, payload or {})
            # RETURNING yields the new row's id, or nothing when the conflict skipped the insert.
            inserted = conn.execute(stmt, row).first()
            return inserted is not None

    def list_events(self, job_id: str, *, attempt: int | None = None) -> list[JobEventRow]:
        conditions = [JobEventRow.job_id == job_id]
        conditions += [] if attempt is None else [JobEventRow.attempt == attempt]
        return self._list(JobEventRow, conditions, JobEventRow.attempt, JobEventRow.seq)

    def record_result(
        self,
        job_id: str,
        final_metrics: dict[str, Any],
        *,
        metrics_per_epoch: list[dict[str, Any]] | None = None,
        trainer_seconds: float = 0.0,
        best_epoch: int | None = None,
    ) -> JobResult:
        """Store a job's result once; a repeat (callback and result.json) returns the first."""
        with self._db.write() as session:
            fetch(session, Job, job_id)
            existing = session.get(JobResult, job_id)
            if existing is not None:
                return existing
            row = JobResult(
                job_id=job_id,
                metrics_per_epoch=metrics_per_epoch or [],
                final_metrics=final_metrics,
                trainer_seconds=float(trainer_seconds),
                best_epoch=best_epoch,
                created_at=self._now(),
            )
            session.add(row)
        return row

    def finish_job(
        self,
        event: dict[str, Any],
        *,
        final_metrics: dict[str, Any] | None = None,
        trainer_seconds: float = 0.0,
        used_seconds: float = 0.0,
        failure_kind: str | None = None,
        failure_message: str | None = None,
    ) -> str:
        """Apply a job's final event (`event`: a JobEvent as JSON, kind succeeded or failed) in
        one write transaction; the job's state after it.

        The event is stored once (as `record_event`); unless the job has ended already, it goes
        to the event's kind (through running when it was still queued: its `started` event
        never came), a success's result is stored once, and the reservation is settled at
        `used_seconds`. All of it or none of it: a repeat changes nothing."""
        kind = event["kind"]
        if kind not in ("succeeded", "failed"):
            raise InvalidValue(f"finish_job needs a final event (got kind {kind!r})")
        if failure_kind is not None:
            check_value(failure_kind, FAILURE_KINDS, "failure kind")
        job_id, now = event["job_id"], self._now()
        # Prebuilt Core statements in one write transaction: the ORM version (objects, a
        # flush) cost ~3 ms of every wake-up's path to its next submission.
        with self._db.write_connection() as conn:
            job = conn.execute(_JOB_TO_FINISH, {"job_id": job_id}).first()
            if job is None:
                raise not_found("jobs", job_id)
            conn.execute(
                _dialect_statement(_EVENT_INSERTS, self.engine),
                self._event_row(job_id, event["attempt"], event["seq"], kind, event),
            )
            if job.state in TERMINAL_JOB_STATES:
                return job.state
            entry = conn.execute(_COMPUTE_ENTRY, {"job_id": job_id}).first()
            started_at = job.started_at
            if job.state == "queued":  # its `started` never came: through running
                _check_open_reservation(entry, job_id, job.max_seconds)
                started_at = now
            if kind == "succeeded":
                conn.execute(
                    _dialect_statement(_RESULT_INSERTS, self.engine),
                    {
                        "job_id": job_id,
                        "metrics_per_epoch": [],
                        "final_metrics": final_metrics or {},
                        "trainer_seconds": float(trainer_seconds),
                        "best_epoch": None,
                        "created_at": now,
                    },
                )
            _settle_compute(conn, job_id, entry, used_seconds, now)
            conn.execute(
                _FINISH_JOB,
                {
                    "b_job_id": job_id,
                    "b_state": kind,
                    "b_now": now,
                    "b_started_at": started_at,
                    "b_failure_kind": failure_kind
                    if failure_kind is not None
                    else job.failure_kind,
                    "b_failure_message": failure_message
                    if failure_message is not None
                    else job.failure_message,
                },
            )
            return kind

    def _event_row(
        self, job_id: str, attempt: int, seq: int, kind: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """The parameters of `_EVENT_INSERTS`' statement for one event."""
        return {
            "job_id": job_id,
            "attempt": attempt,
            "seq": seq,
            "kind": kind,
            "payload": payload or {},
            "received_at": self._now(),
        }

    def get_result(self, job_id: str) -> JobResult:
        return self._get(JobResult, job_id)

    def list_results(
        self, campaign_id: str, *, experiment_id: str | None = None
    ) -> list[JobResult]:
        """Results of a campaign's jobs (optionally one experiment's), oldest first."""
        query = select(JobResult).join(Job, col(Job.job_id) == col(JobResult.job_id))
        query = query.where(Job.campaign_id == campaign_id)
        if experiment_id is not None:
            query = query.where(Job.experiment_id == experiment_id)
        with self._db.read() as session:
            return list(session.exec(query.order_by(JobResult.created_at, JobResult.job_id)))

    def job_owner(self, job_id: str) -> tuple[str, str | None, str]:
        """(campaign id, thread id, campaign status) of a job, in one lean query (a wake-up's
        first question). Raises `NotFound` for a job the store does not know."""
        with self.engine.connect() as conn:
            row = conn.execute(_JOB_OWNER, {"job_id": job_id}).first()
        if row is None:
            raise NotFound(
                f"no row {job_id!r} in jobs: check the id (list the table to see what exists)"
            )
        return row[0], row[1], row[2]

    def existing_job_ids(self, job_ids: list[str]) -> set[str]:
        """Which of these job ids the store has (one lean query)."""
        if not job_ids:
            return set()
        with self.engine.connect() as conn:
            return set(conn.execute(_JOB_IDS_IN, {"job_ids": job_ids}).scalars())

    def finished_runs(self, campaign_id: str, *, phase: str | None = None) -> list[tuple[str, str]]:
        """(experiment_id, job_id) of the campaign's experiments that have a succeeded job with
        a result, in experiment order (created_at, id); per experiment its last succeeded
        attempt. One lean query (no ORM objects): the graph asks this on every wake-up."""
        query, params = _FINISHED_RUNS, {"campaign_id": campaign_id}
        if phase is not None:
            query, params = _FINISHED_RUNS_OF_PHASE, {**params, "phase": phase}
        with self.engine.connect() as conn:
            last = {experiment_id: job_id for experiment_id, job_id in conn.execute(query, params)}
        return list(last.items())

    def final_events(self, job_ids: list[str], kinds: tuple[str, ...]) -> dict[str, dict]:
        """job id -> payload of the first stored event of one of `kinds` for the job's current
        attempt, for those of `job_ids` that have one (one lean query)."""
        if not job_ids:
            return {}
        params = {"job_ids": job_ids, "kinds": list(kinds)}
        with self.engine.connect() as conn:
            # Newest seq first, so the dict keeps each job's earliest final event.
            return {job_id: payload for job_id, payload in conn.execute(_FINAL_EVENTS, params)}

    def run_rows(self, job_ids: list[str]) -> list[dict[str, Any]]:
        """What a finished run is made of, for these (succeeded) jobs: the experiment's id,
        hypothesis, phase, config and delta, the job's final metrics and trainer time."""
        if not job_ids:
            return []
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(_RUN_ROWS, {"job_ids": job_ids})]

    def _job_by_key(self, idempotency_key: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(_JOB_BY_KEY, {"key": idempotency_key}).first()
        return None if row is None else Job(**row._mapping)


def _same_job(job: Job, experiment_id: str) -> Job:
    if job.experiment_id != experiment_id:
        raise DuplicateKey(
            f"idempotency key {job.idempotency_key!r} already belongs to job {job.job_id!r} of "
            f"experiment {job.experiment_id!r}; derive keys from thread + experiment + attempt"
        )
    return job


def _require_reservation(session: Session, job: Job) -> None:
    _check_open_reservation(_compute_entry(session, job.job_id), job.job_id, job.max_seconds)


def _apply_state(
    job: Job, state: str, now: datetime, failure_kind: str | None, failure_message: str | None
) -> None:
    job.state, job.updated_at = state, now
    if state == "running":
        job.started_at = now
    else:
        job.finished_at = now
    if failure_kind is not None:
        job.failure_kind = failure_kind
    if failure_message is not None:
        job.failure_message = failure_message


def _check_job_args(max_seconds: float, attempt: int) -> None:
    if not max_seconds > 0 or attempt < 1:
        raise InvalidValue(
            f"job needs max_seconds > 0 and attempt >= 1 (got {max_seconds}, {attempt})"
        )


_JOBS, _LEDGER = Job.__table__, LedgerEntry.__table__
_JOB_TO_FINISH = (
    sa.select(
        _JOBS.c.state,
        _JOBS.c.max_seconds,
        _JOBS.c.started_at,
        _JOBS.c.failure_kind,
        _JOBS.c.failure_message,
    )
    .where(_JOBS.c.job_id == sa.bindparam("job_id"))
    .with_for_update()
)
# The lean reads every wake-up makes, built once (building a joined SELECT cost about as
# much as running it).
_EXPS, _RESULTS, _EVENTS, _CAMPAIGNS = (
    Experiment.__table__,
    JobResult.__table__,
    JobEventRow.__table__,
    Campaign.__table__,
)
_JOB_OWNER = (
    sa.select(_CAMPAIGNS.c.id, _CAMPAIGNS.c.thread_id, _CAMPAIGNS.c.status)
    .join(_JOBS, _JOBS.c.campaign_id == _CAMPAIGNS.c.id)
    .where(_JOBS.c.job_id == sa.bindparam("job_id"))
)
_JOB_IDS_IN = sa.select(_JOBS.c.job_id).where(
    _JOBS.c.job_id.in_(sa.bindparam("job_ids", expanding=True))
)
_FINISHED_RUNS = (
    sa.select(_EXPS.c.id, _JOBS.c.job_id)
    .join(_JOBS, _JOBS.c.experiment_id == _EXPS.c.id)
    .join(_RESULTS, _RESULTS.c.job_id == _JOBS.c.job_id)
    .where(_EXPS.c.campaign_id == sa.bindparam("campaign_id"), _JOBS.c.state == "succeeded")
    .order_by(_EXPS.c.created_at, _EXPS.c.id, _JOBS.c.created_at, _JOBS.c.job_id)
)
_FINISHED_RUNS_OF_PHASE = _FINISHED_RUNS.where(_EXPS.c.phase == sa.bindparam("phase"))
_FINAL_EVENTS = (
    sa.select(_EVENTS.c.job_id, _EVENTS.c.payload)
    .join(_JOBS, (_JOBS.c.job_id == _EVENTS.c.job_id) & (_JOBS.c.attempt == _EVENTS.c.attempt))
    .where(
        _EVENTS.c.job_id.in_(sa.bindparam("job_ids", expanding=True)),
        _EVENTS.c.kind.in_(sa.bindparam("kinds", expanding=True)),
    )
    .order_by(_EVENTS.c.seq.desc())
)
_RUN_ROWS = (
    sa.select(
        _JOBS.c.job_id,
        _EXPS.c.id.label("experiment_id"),
        _EXPS.c.hypothesis_id,
        _EXPS.c.phase,
        _EXPS.c.config_delta,
        _EXPS.c.config,
        _RESULTS.c.final_metrics,
        _RESULTS.c.trainer_seconds,
    )
    .join(_EXPS, _EXPS.c.id == _JOBS.c.experiment_id)
    .join(_RESULTS, _RESULTS.c.job_id == _JOBS.c.job_id)
    .where(_JOBS.c.job_id.in_(sa.bindparam("job_ids", expanding=True)))
)
_EXPERIMENT_OF_JOB = sa.select(_EXPS.c.campaign_id, _EXPS.c.phase).where(
    _EXPS.c.id == sa.bindparam("id")
)
_CAMPAIGN_TO_PAY = (
    sa.select(_CAMPAIGNS.c.id, _CAMPAIGNS.c.budget_seconds)
    .where(_CAMPAIGNS.c.id == sa.bindparam("id"))
    .with_for_update()
)
_JOB_BY_KEY = sa.select(_JOBS).where(_JOBS.c.idempotency_key == sa.bindparam("key"))
_INSERT_JOB, _INSERT_LEDGER = _JOBS.insert(), _LEDGER.insert()
_JOB_COLUMNS = tuple(column.key for column in _JOBS.c)
# What a new job row holds beyond what `create_reserved_job` is given.
_NEW_JOB = {
    "external_id": None,
    "state": "queued",
    "failure_kind": None,
    "failure_message": None,
    "started_at": None,
    "finished_at": None,
}
_NEW_COMPUTE_ENTRY = {
    "kind": "compute",
    "charged": 0.0,
    "released": 0.0,
    "prompt_tokens": None,
    "completion_tokens": None,
    "llm_model": None,
    "settled_at": None,
}
_COMPUTE_ENTRY_OF_ANY = sa.select(
    _LEDGER.c.job_id, _LEDGER.c.campaign_id, _LEDGER.c.reserved
).where(_LEDGER.c.kind == "compute", _LEDGER.c.job_id == sa.bindparam("job_id"))
_COMPUTE_ENTRY = (
    sa.select(_LEDGER.c.id, _LEDGER.c.reserved, _LEDGER.c.settled_at)
    .where(_LEDGER.c.kind == "compute", _LEDGER.c.job_id == sa.bindparam("job_id"))
    .with_for_update()
)
_SETTLE = (
    sa.update(_LEDGER)
    .where(_LEDGER.c.id == sa.bindparam("b_id"))
    .values(
        charged=sa.bindparam("b_charged"),
        released=sa.bindparam("b_released"),
        settled_at=sa.bindparam("b_now", type_=_LEDGER.c.settled_at.type),
    )
)
_FINISH_JOB = (
    sa.update(_JOBS)
    .where(_JOBS.c.job_id == sa.bindparam("b_job_id"))
    .values(
        state=sa.bindparam("b_state"),
        updated_at=sa.bindparam("b_now", type_=_JOBS.c.updated_at.type),
        finished_at=sa.bindparam("b_now", type_=_JOBS.c.finished_at.type),
        started_at=sa.bindparam("b_started_at", type_=_JOBS.c.started_at.type),
        failure_kind=sa.bindparam("b_failure_kind", type_=_JOBS.c.failure_kind.type),
        failure_message=sa.bindparam("b_failure_message", type_=_JOBS.c.failure_message.type),
    )
)
# Per dialect: PostgreSQL's and SQLite's INSERT … ON CONFLICT DO NOTHING (parameters: the
# row's columns, given when executed).
_EVENT_INSERTS = {
    name: dialect.insert(JobEventRow).on_conflict_do_nothing(
        index_elements=["job_id", "attempt", "seq"]
    )
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_EVENT_INSERTS_RETURNING = {
    name: statement.returning(JobEventRow.id) for name, statement in _EVENT_INSERTS.items()
}
_RESULT_INSERTS = {
    name: dialect.insert(JobResult).on_conflict_do_nothing(index_elements=["job_id"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _dialect_statement(statements: dict[str, Any], engine: Any) -> Any:
    return statements["postgresql" if engine.dialect.name == "postgresql" else "sqlite"]


def _check_open_reservation(entry: Any, job_id: str, max_seconds: float) -> None:
    """`_require_reservation` over a row of `_COMPUTE_ENTRY` (None: no entry)."""
    if entry is None or entry.settled_at is not None or entry.reserved + 1e-9 < max_seconds:
        raise IllegalTransition(
            f"job {job_id!r} cannot start: it holds no open budget reservation of its "
            f"max_seconds ({max_seconds:g} s); call reserve(campaign, job_id, max_seconds) "
            "before submitting it"
        )


def _settle_compute(conn: Any, job_id: str, entry: Any, used_seconds: float, now: Any) -> None:
    """`settle_entry` over a row of `_COMPUTE_ENTRY`, in the caller's write transaction."""
    amounts = settlement(entry, job_id, used_seconds)
    if amounts is not None:
        charged, released = amounts
        conn.execute(
            _SETTLE, {"b_id": entry.id, "b_charged": charged, "b_released": released, "b_now": now}
        )
