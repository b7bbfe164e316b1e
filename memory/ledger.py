"""The budget ledger: no job starts unless the campaign's remaining compute can pay for it.

Every compute job reserves its `max_seconds` before it is submitted:

    remaining = approved budget - charged - open reservations

`reserve` checks and records atomically, under a lock on the campaign row (`SELECT … FOR
UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so two launchers racing for the last
seconds cannot both win. When the job ends, `settle` charges what it used and releases the rest
of its reservation (once; repeats change nothing); `release` gives back the whole reservation
of a job that never ran. LLM tokens are recorded beside compute and never block a job.
A budget increase is applied only after the human approved it, once per approval.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, bindparam, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from .db import StoreBase, fetch, not_found
from .errors import BudgetExceeded, IllegalTransition, InvalidValue, NotFound
from .tables import Approval, Campaign, Experiment, Job, LedgerEntry

_EPS = 1e-9  # float slack so a reservation of exactly the remaining seconds is paid

# The ledger's aggregates, built once (a wake-up reads the budget twice; building these
# statements anew each time cost more than running them). Parameter: campaign_id.
_OPEN_RESERVED = case((LedgerEntry.settled_at.is_(None), LedgerEntry.reserved), else_=0.0)
_OF_CAMPAIGN = LedgerEntry.campaign_id == bindparam("campaign_id")
_PHASE = func.coalesce(LedgerEntry.phase, "unassigned")
# Per (kind, phase): compute seconds charged / still reserved and the job count; LLM tokens.
_USAGE = (
    select(
        LedgerEntry.kind,
        _PHASE,
        func.sum(LedgerEntry.charged),
        func.sum(_OPEN_RESERVED),
        func.count(),
        func.sum(LedgerEntry.prompt_tokens),
        func.sum(LedgerEntry.completion_tokens),
    )
    .where(_OF_CAMPAIGN)
    .group_by(LedgerEntry.kind, _PHASE)
)
_APPROVED = sa_select(Campaign.__table__.c.budget_seconds).where(
    Campaign.__table__.c.id == bindparam("campaign_id")
)
_SPENT = select(
    func.coalesce(func.sum(LedgerEntry.charged), 0.0),
    func.coalesce(func.sum(_OPEN_RESERVED), 0.0),
).where(_OF_CAMPAIGN, LedgerEntry.kind == "compute")


class PhaseUsage(BaseModel):
    """Compute of one phase: seconds charged by settled jobs, seconds still reserved."""

    charged_seconds: float = 0.0
    reserved_seconds: float = 0.0
    jobs: int = 0


class BudgetStatus(BaseModel):
    """Where a campaign's budget stands (seconds of trainer time; tokens for the LLM)."""

    campaign_id: str
    approved_seconds: float
    charged_seconds: float
    reserved_seconds: float
    remaining_seconds: float
    phases: dict[str, PhaseUsage]
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0


class LedgerMixin(StoreBase):
    """Budget methods of `ExperimentStore`."""

    def reserve(
        self, campaign_id: str, job_id: str, seconds: float, *, phase: str | None = None
    ) -> LedgerEntry:
        """Reserve `seconds` of compute for `job_id`, or raise `BudgetExceeded`.

        Idempotent per job: reserving again for a job that already has an entry returns it
        (a launcher retrying after a crash) as long as campaign and amount match. `phase`
        defaults to the phase of the job's experiment when the job row exists.
        """
        if not seconds > 0:
            raise InvalidValue(f"reserve: seconds must be > 0 (got {seconds})")
        with self._db.write() as session:
            campaign = fetch(session, Campaign, campaign_id, lock=True)
            existing = _compute_entry(session, job_id)
            if existing is not None:
                return _same_reservation(existing, campaign_id, seconds)
            _check_can_pay(session, campaign, job_id, seconds)
            entry = LedgerEntry(
                campaign_id=campaign_id,
                kind="compute",
                job_id=job_id,
                phase=phase or _job_phase(session, job_id),
                reserved=float(seconds),
                at=self._now(),
            )
            session.add(entry)
        return entry

    def settle(self, job_id: str, used_seconds: float) -> LedgerEntry:
        """Charge what the job used and release the rest of its reservation (once).

        A job that overran its reservation is charged what it really used. Settling an
        already settled job returns the entry unchanged.
        """
        if used_seconds < 0:
            raise InvalidValue(f"settle: used_seconds must be >= 0 (got {used_seconds})")
        with self._db.write() as session:
            return settle_entry(session, job_id, used_seconds, self._now())

    def release(self, job_id: str) -> LedgerEntry:
        """Give back the whole reservation of a job that never ran (idempotent)."""
        return self.settle(job_id, 0.0)

    def record_llm_tokens(
        self, campaign_id: str, prompt_tokens: int, completion_tokens: int, model: str
    ) -> LedgerEntry:
        """Record one LLM call's token usage against the campaign (it never blocks compute)."""
        if prompt_tokens < 0 or completion_tokens < 0:
            raise InvalidValue("record_llm_tokens: token counts must be >= 0")
        with self._db.write() as session:
            fetch(session, Campaign, campaign_id)
            entry = LedgerEntry(
                campaign_id=campaign_id,
                kind="llm_tokens",
                charged=float(prompt_tokens + completion_tokens),
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                llm_model=model,
                at=self._now(),
            )
            session.add(entry)
        return entry

    def raise_budget(
        self, campaign_id: str, extra_seconds: float, *, approval_id: str
    ) -> BudgetStatus:
        """Add `extra_seconds` to the approved budget, as decided by a `budget` approval.

        The approval must belong to the campaign and be approved (or edited); it is applied
        once, so calling again with the same approval changes nothing.
        """
        if not extra_seconds > 0:
            raise InvalidValue(f"raise_budget: extra_seconds must be > 0 (got {extra_seconds})")
        with self._db.write() as session:
            campaign = fetch(session, Campaign, campaign_id, lock=True)
            approval = fetch(session, Approval, approval_id, lock=True)
            _check_budget_approval(approval, campaign_id)
            if approval.applied_at is None:
                now = self._now()
                campaign.budget_seconds += float(extra_seconds)
                campaign.updated_at = now
                approval.applied_at = now
                session.add_all([campaign, approval])
        return self.budget_status(campaign_id)

    def budget_status(self, campaign_id: str) -> BudgetStatus:
        """Approved, charged, reserved and remaining seconds, per phase too, and LLM tokens."""
        phases: dict[str, PhaseUsage] = {}
        prompt = completion = 0
        with self.engine.connect() as conn:  # Core: asked twice on every wake-up's path
            approved = conn.execute(_APPROVED, {"campaign_id": campaign_id}).scalar()
            if approved is None:
                raise not_found("campaigns", campaign_id)
            usage = conn.execute(_USAGE, {"campaign_id": campaign_id})
            for kind, phase, charged, reserved, jobs, prompt_sum, completion_sum in usage:
                if kind == "compute":
                    phases[phase] = PhaseUsage(
                        charged_seconds=float(charged or 0.0),
                        reserved_seconds=float(reserved or 0.0),
                        jobs=int(jobs),
                    )
                elif kind == "llm_tokens":
                    prompt += int(prompt_sum or 0)
                    completion += int(completion_sum or 0)
        charged = sum(p.charged_seconds for p in phases.values())
        reserved = sum(p.reserved_seconds for p in phases.values())
        return BudgetStatus(
            campaign_id=campaign_id,
            approved_seconds=approved,
            charged_seconds=charged,
            reserved_seconds=reserved,
            remaining_seconds=approved - charged - reserved,
            phases=phases,
            llm_prompt_tokens=prompt,
            llm_completion_tokens=completion,
        )

    def ledger_entries(self, campaign_id: str) -> list[LedgerEntry]:
        """Every ledger entry of the campaign, oldest first."""
        with self._db.read() as session:
            query = select(LedgerEntry).where(LedgerEntry.campaign_id == campaign_id)
            return list(session.exec(query.order_by(LedgerEntry.id)))

    def reservation(self, job_id: str) -> LedgerEntry | None:
        """The job's compute entry (open or settled), or None if it was never reserved."""
        with self._db.read() as session:
            return _compute_entry(session, job_id)


def settle_entry(session: Session, job_id: str, used_seconds: float, now: Any) -> LedgerEntry:
    """`settle` inside the caller's write transaction."""
    entry = _compute_entry(session, job_id, lock=True)
    amounts = settlement(entry, job_id, used_seconds)  # (raises when there is no entry)
    if entry is not None and amounts is not None:
        entry.charged, entry.released = amounts
        entry.settled_at = now
        session.add(entry)
    return entry


def settlement(entry: Any, job_id: str, used_seconds: float) -> tuple[float, float] | None:
    """(charged, released) that settle the job's compute entry (an ORM entry or a row with
    `reserved` and `settled_at`); None when it is settled already. Raises `NotFound` when
    there is no entry."""
    if entry is None:
        raise NotFound(f"job {job_id!r} has no budget reservation to settle: reserve() it first")
    if entry.settled_at is not None:
        return None
    charged = float(used_seconds)
    return charged, max(0.0, entry.reserved - charged)


def _compute_entry(session: Session, job_id: str, *, lock: bool = False) -> LedgerEntry | None:
    query = select(LedgerEntry).where(LedgerEntry.kind == "compute", LedgerEntry.job_id == job_id)
    return session.exec(query.with_for_update() if lock else query).first()


def _same_reservation(entry: LedgerEntry, campaign_id: str, seconds: float) -> LedgerEntry:
    if entry.campaign_id != campaign_id or abs(entry.reserved - seconds) > _EPS:
        raise IllegalTransition(
            f"job {entry.job_id!r} already holds a reservation of {entry.reserved:g} s in "
            f"campaign {entry.campaign_id!r}; a new attempt needs a new job id"
        )
    return entry


def _check_can_pay(
    session: Session | Connection, campaign: Any, job_id: str, seconds: float
) -> None:
    # `campaign`: its row (anything with `id` and `budget_seconds`)
    charged, outstanding = _spent(session, campaign.id)
    remaining = campaign.budget_seconds - charged - outstanding
    if seconds > remaining + _EPS:
        raise BudgetExceeded(
            f"campaign {campaign.id!r}: job {job_id!r} needs {seconds:g} s but only "
            f"{max(remaining, 0.0):g} s of the {campaign.budget_seconds:g} s budget are left "
            f"({charged:g} s charged, {outstanding:g} s reserved by unfinished jobs). Give the "
            "job a smaller max_seconds, wait for running jobs to settle, or ask the human for "
            "a budget increase (a 'budget' approval).",
            remaining=max(remaining, 0.0),
            requested=float(seconds),
        )


def _spent(session: Session | Connection, campaign_id: str) -> tuple[float, float]:
    """(charged, outstanding reservations) of the campaign's compute, in seconds (in an ORM
    session's transaction or a Core connection's)."""
    params = {"campaign_id": campaign_id}
    if isinstance(session, Session):
        charged, outstanding = session.exec(_SPENT, params=params).one()
    else:
        charged, outstanding = session.execute(_SPENT, params).one()
    return float(charged), float(outstanding)


def _job_phase(session: Session, job_id: str) -> str | None:
    query = select(Experiment.phase).join(Job, Job.experiment_id == Experiment.id)
    return session.exec(query.where(Job.job_id == job_id)).first()


def _check_budget_approval(approval: Approval, campaign_id: str) -> None:
    if approval.campaign_id != campaign_id or approval.kind != "budget":
        raise IllegalTransition(
            f"approval {approval.id!r} is a {approval.kind!r} approval of campaign "
            f"{approval.campaign_id!r}; a budget increase needs a 'budget' approval of {campaign_id!r}"
        )
    if approval.status not in ("approved", "edited"):
        raise IllegalTransition(
            f"approval {approval.id!r} is {approval.status!r}: raise the budget only after the "
            "human approved it"
        )
