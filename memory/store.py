"""`ExperimentStore`: the typed experiment journal in SQL (DESIGN.md §4–5).

Campaigns, hypotheses, experiments, approvals and insight evidence here; jobs (with their
state machine), job events (deduplicated on `(job_id, attempt, seq)`) and results in
`JobsMixin` (store_jobs.py); the budget ledger in `LedgerMixin` (ledger.py). Every method opens its own short session and returns detached SQLModel rows,
so the store is safe to share between threads and cheap to use from several processes.
The schema is created and upgraded by Alembic (`migrate()`), never by `create_all`.

    store = ExperimentStore("sqlite:///.rea/rea.db")   # or postgresql+psycopg://…
    store.migrate()
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rea.trainers.config import parse_config

from .db import check_value, fetch, make_engine, new_id, not_found, utc_now
from .errors import DuplicateKey, IllegalTransition, InvalidValue
from .ledger import LedgerMixin
from .store_jobs import JobsMixin
from .tables import (
    APPROVAL_KINDS,
    APPROVAL_STATUSES,
    CAMPAIGN_STATUSES,
    HYPOTHESIS_SOURCES,
    HYPOTHESIS_STATUSES,
    INSIGHT_OUTCOMES,
    PHASES,
    VERSION_TABLE,
    Approval,
    Campaign,
    ChatMessage,
    Experiment,
    Hypothesis,
    InsightRow,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_HYP, _EXP = Hypothesis.__table__, Experiment.__table__
_HYP_DIGEST = (
    select(_HYP.c.id, _HYP.c.status, _HYP.c.title, _HYP.c.source, _HYP.c.config_delta)
    .where(_HYP.c.campaign_id == bindparam("campaign_id"))
    .order_by(_HYP.c.created_at, _HYP.c.id)
)
_CAMPAIGN_ID = select(Campaign.id).where(Campaign.id == bindparam("id"))
_HYP_IDS_IN = select(_HYP.c.id).where(_HYP.c.id.in_(bindparam("ids", expanding=True)))
_EXPS_IN = select(_EXP).where(_EXP.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_HYP, _INSERT_EXP = _HYP.insert(), _EXP.insert()
# A hypothesis's verdict (every exploitation round refutes or validates its trial's)
_SET_STATUS = (
    _HYP.update()  # type: ignore[attr-defined]
    .where(_HYP.c.id == bindparam("hyp_id"))  # type: ignore[attr-defined]
    .values(status=bindparam("status"), updated_at=bindparam("at"))
)


class CampaignFacts(NamedTuple):
    """What a campaign is about, fixed once it has a thread: nothing updates these fields."""

    id: str
    model: str
    data: str
    thread_id: str


class ExperimentStore(JobsMixin, LedgerMixin):
    """The experiment journal on SQLite or PostgreSQL. `clock` returns aware UTC datetimes."""

    def __init__(self, url_or_engine: str | Engine, *, clock: Callable[[], datetime] = utc_now):
        is_url = isinstance(url_or_engine, str)
        super().__init__(make_engine(url_or_engine) if is_url else url_or_engine, clock)
        self._facts: dict[str, CampaignFacts] = {}

    # --- schema ---------------------------------------------------------------------------
    def migrate(self) -> str:
        """Upgrade the schema to the newest revision (a no-op when already there); return it."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        with self._db.write() as session:
            config.attributes["connection"] = session.connection()
            command.upgrade(config, "head")
        return self.revision() or ""

    def revision(self) -> str | None:
        """The schema revision the database is at (None for an empty database)."""
        with self.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()

    def close(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()

    # --- campaigns ------------------------------------------------------------------------
    def create_campaign(
        self,
        model: str,
        data: str,
        budget_seconds: float,
        *,
        baseline_config: dict[str, Any] | None = None,
        goal: str | None = None,
        thread_id: str | None = None,
        campaign_id: str | None = None,
    ) -> Campaign:
        """A new campaign in status `planning` with its approved compute budget (seconds)."""
        if budget_seconds < 0:
            raise InvalidValue(f"budget_seconds must be >= 0 (got {budget_seconds})")
        now = self._now()
        row = Campaign(
            id=campaign_id or new_id("c"),
            model=model,
            data=data,
            budget_seconds=float(budget_seconds),
            thread_id=thread_id,
            baseline_config=baseline_config or {},
            goal=goal,
            created_at=now,
            updated_at=now,
        )
        return self._insert(row)

    def get_campaign(self, campaign_id: str) -> Campaign:
        return self._get(Campaign, campaign_id)

    def campaign_facts(self, campaign_id: str) -> CampaignFacts:
        """The campaign's model, data and thread: read from the row once, then kept (every
        wake-up needs them, and no store method changes them once the thread is set; a campaign
        still without a thread is read each time). `NotFound` for an unknown id."""
        facts = self._facts.get(campaign_id)
        if facts is None:
            row = self.get_campaign(campaign_id)
            facts = CampaignFacts(row.id, row.model, row.data, row.thread_id or "")
            if row.thread_id:
                self._facts[campaign_id] = facts
        return facts

    def get_campaign_by_thread(self, thread_id: str) -> Campaign | None:
        """The campaign driven by LangGraph thread `thread_id`, if any."""
        with self._db.read() as session:
            return session.exec(select(Campaign).where(Campaign.thread_id == thread_id)).first()

    def list_campaigns(self, *, status: str | None = None) -> list[Campaign]:
        conditions = [] if status is None else [Campaign.status == status]
        return self._list(Campaign, conditions, Campaign.created_at, Campaign.id)

    def update_campaign(self, campaign_id: str, **changes: Any) -> Campaign:
        """Change `status`, `phase`, `thread_id`, `goal` or `baseline_config`."""
        allowed = {
            "status": CAMPAIGN_STATUSES,
            "phase": None,
            "thread_id": None,
            "goal": None,
            "baseline_config": None,
        }
        if "thread_id" in changes:
            self._facts.pop(campaign_id, None)
        return self._update(Campaign, campaign_id, changes, allowed)

    def steer(
        self,
        campaign_id: str,
        *,
        skip_phases: list[str] | None = None,
        wrap_up: bool | None = None,
    ) -> dict[str, Any]:
        """Record what the human asked while the campaign runs: phases to skip (added to those
        asked before) and whether to wrap up (no new phase or round; report what exists). The
        phase planner reads it at the next transition. Returns the campaign's steering."""
        for phase in skip_phases or []:
            check_value(phase, ("combination", "exploitation"), "a skipped phase")
        with self._db.write() as session:
            row = fetch(session, Campaign, campaign_id, lock=True)
            steering = dict(row.steering or {})
            if skip_phases:
                steering["skip_phases"] = sorted({*steering.get("skip_phases", []), *skip_phases})
            if wrap_up is not None:
                steering["wrap_up"] = bool(wrap_up)
            row.steering = steering  # a new dict: the JSON column sees the change
            row.updated_at = self._now()
            session.add(row)
        return steering

    # --- chat -----------------------------------------------------------------------------
    def add_chat_message(
        self, thread_id: str, role: str, content: str, *, campaign_id: str | None = None
    ) -> ChatMessage:
        check_value(role, ("user", "agent", "progress"), "role")
        row = ChatMessage(
            thread_id=thread_id, role=role, content=content, campaign_id=campaign_id, at=self._now()
        )
        return self._insert(row)

    def chat_messages(self, thread_id: str, *, after_id: int = 0) -> list[ChatMessage]:
        conditions = [ChatMessage.thread_id == thread_id, ChatMessage.id > after_id]
        return self._list(ChatMessage, conditions, ChatMessage.id)

    def chat_campaign(self, thread_id: str) -> str | None:
        """The campaign a chat thread is about: the campaign driven by that thread, else the
        latest one its messages named."""
        campaign = self.get_campaign_by_thread(thread_id)
        if campaign is not None:
            return campaign.id
        with self._db.read() as session:
            query = (
                select(ChatMessage.campaign_id)
                .where(
                    ChatMessage.thread_id == thread_id, col(ChatMessage.campaign_id).is_not(None)
                )
                .order_by(col(ChatMessage.id).desc())
            )
            return session.exec(query).first()

    # --- hypotheses -----------------------------------------------------------------------
    def create_hypothesis(
        self,
        campaign_id: str,
        source: str,
        title: str,
        *,
        config_delta: dict[str, Any] | None = None,
        rationale: str = "",
        evidence: dict[str, Any] | None = None,
        expected_effect: str = "",
        cost_estimate_seconds: float | None = None,
        hypothesis_id: str | None = None,
    ) -> Hypothesis:
        """A proposed hypothesis (`source`: insight | research | llm | exploit)."""
        check_value(source, HYPOTHESIS_SOURCES, "hypothesis source")
        now = self._now()
        row = Hypothesis(
            id=hypothesis_id or new_id("h"),
            campaign_id=campaign_id,
            source=source,
            title=title,
            rationale=rationale,
            evidence=evidence or {},
            config_delta=config_delta or {},
            expected_effect=expected_effect,
            cost_estimate_seconds=cost_estimate_seconds,
            created_at=now,
            updated_at=now,
        )
        return self._insert(row, parents=[(Campaign, campaign_id)])

    def ensure_planned(
        self, campaign_id: str, items: list[tuple[dict[str, Any] | None, dict[str, Any]]]
    ) -> list[Experiment]:
        """Each item's hypothesis (or None) and experiment, created unless its id exists (a
        replayed step finds its rows, as they were), in one write transaction; the experiments.

        An item is (`create_hypothesis` keyword arguments or None, `create_experiment` keyword
        arguments), both with their id given (`hypothesis_id`, `experiment_id`) and without the
        campaign. An experiment of a hypothesis in the same item gets that hypothesis's id."""
        rows = []
        for hyp, exp in items:
            hyp_row = None
            if hyp is not None:
                hyp_row = self._hypothesis_row(campaign_id, **hyp)
                exp = {**exp, "hypothesis_id": hyp_row.id}
            rows.append((hyp_row, self._experiment_row(campaign_id, **exp)))
        try:
            with self._db.write_connection() as conn:
                if conn.execute(_CAMPAIGN_ID, {"id": campaign_id}).first() is None:
                    raise not_found("campaigns", campaign_id)
                return _ensure_rows(conn, rows)
        except IntegrityError as err:
            raise DuplicateKey(f"cannot add the planned experiments: {err.orig}") from None

    def _hypothesis_row(self, campaign_id: str, *, hypothesis_id: str, **fields: Any) -> Hypothesis:
        check_value(fields["source"], HYPOTHESIS_SOURCES, "hypothesis source")
        now = self._now()
        defaults = {"rationale": "", "evidence": {}, "config_delta": {}, "expected_effect": ""}
        fields = {**defaults, **{k: v for k, v in fields.items() if v is not None}}
        return Hypothesis(
            id=hypothesis_id, campaign_id=campaign_id, created_at=now, updated_at=now, **fields
        )

    def _experiment_row(
        self,
        campaign_id: str,
        *,
        experiment_id: str,
        phase: str,
        config: dict[str, Any],
        config_delta: dict[str, Any] | None = None,
        seeds: list[int] | None = None,
        hypothesis_id: str | None = None,
    ) -> Experiment:
        check_value(phase, PHASES, "experiment phase")
        return Experiment(
            id=experiment_id,
            campaign_id=campaign_id,
            hypothesis_id=hypothesis_id,
            phase=phase,
            config_delta=config_delta or {},
            config=parse_config(config).model_dump(mode="json"),
            seeds=list(seeds or [0]),
            created_at=self._now(),
        )

    def get_hypothesis(self, hypothesis_id: str) -> Hypothesis:
        return self._get(Hypothesis, hypothesis_id)

    def list_hypotheses(
        self, campaign_id: str, *, source: str | None = None, status: str | None = None
    ) -> list[Hypothesis]:
        conditions = [Hypothesis.campaign_id == campaign_id]
        conditions += [] if source is None else [Hypothesis.source == source]
        conditions += [] if status is None else [Hypothesis.status == status]
        return self._list(Hypothesis, conditions, Hypothesis.created_at, Hypothesis.id)

    def hypothesis_digest(self, campaign_id: str) -> dict[str, dict[str, Any]]:
        """id -> {"status", "title", "source", "config_delta"} of the campaign's hypotheses, in
        `list_hypotheses`' order: what each round's analysis reads, without the rest of the row
        (one prebuilt Core query, no ORM session: a long campaign has a hypothesis per trial)."""
        with self.engine.connect() as conn:
            rows = conn.execute(_HYP_DIGEST, {"campaign_id": campaign_id}).all()
        return {
            hyp_id: {"status": status, "title": title, "source": source, "config_delta": delta}
            for hyp_id, status, title, source, delta in rows
        }

    def update_hypothesis(self, hypothesis_id: str, **changes: Any) -> Hypothesis:
        """Change `status`, `title`, `rationale`, `evidence`, `config_delta`, `expected_effect`
        or `cost_estimate_seconds`."""
        allowed = {"status": HYPOTHESIS_STATUSES}
        for name in ("title", "rationale", "evidence", "config_delta", "expected_effect"):
            allowed[name] = None
        allowed["cost_estimate_seconds"] = None
        return self._update(Hypothesis, hypothesis_id, changes, allowed)

    def set_hypothesis_statuses(self, statuses: dict[str, str]) -> None:
        """Set several hypotheses' `status` (id -> status) in one write transaction."""
        for status in statuses.values():
            check_value(status, HYPOTHESIS_STATUSES, "status")
        if not statuses:
            return
        now = self._now()
        with self._db.write_connection() as conn:  # every row or none (NotFound rolls back)
            for hypothesis_id, status in statuses.items():
                done = conn.execute(
                    _SET_STATUS, {"hyp_id": hypothesis_id, "status": status, "at": now}
                )
                if done.rowcount != 1:
                    raise not_found("hypothesis", hypothesis_id)

    # --- experiments ----------------------------------------------------------------------
    def create_experiment(
        self,
        campaign_id: str,
        phase: str,
        config: dict[str, Any],
        *,
        config_delta: dict[str, Any] | None = None,
        seeds: list[int] | None = None,
        hypothesis_id: str | None = None,
        experiment_id: str | None = None,
    ) -> Experiment:
        """One config to run in `phase`; `config` is validated (ConfigError) and stored in full."""
        row = self._experiment_row(
            campaign_id,
            experiment_id=experiment_id or new_id("e"),
            phase=phase,
            config=config,
            config_delta=config_delta,
            seeds=seeds,
            hypothesis_id=hypothesis_id,
        )
        parents = [(Campaign, campaign_id)] + (
            [(Hypothesis, hypothesis_id)] if hypothesis_id else []
        )
        return self._insert(row, parents=parents)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._get(Experiment, experiment_id)

    def update_experiment(
        self, experiment_id: str, *, config: dict[str, Any], config_delta: dict[str, Any]
    ) -> Experiment:
        """Replace an experiment's config (validated) and delta, e.g. after the debugger's fix;
        the next job attempt runs the new config."""
        changes = {
            "config": parse_config(config).model_dump(mode="json"),
            "config_delta": config_delta,
        }
        return self._update(
            Experiment, experiment_id, changes, {"config": None, "config_delta": None}
        )

    def list_experiments(self, campaign_id: str, *, phase: str | None = None) -> list[Experiment]:
        conditions = [Experiment.campaign_id == campaign_id]
        conditions += [] if phase is None else [Experiment.phase == phase]
        return self._list(Experiment, conditions, Experiment.created_at, Experiment.id)

    # --- approvals ------------------------------------------------------------------------
    def create_approval(
        self,
        campaign_id: str,
        kind: str,
        request: dict[str, Any],
        *,
        approval_id: str | None = None,
    ) -> Approval:
        """A pending decision for the human (`kind`: plan | budget | escalation | launch)."""
        check_value(kind, APPROVAL_KINDS, "approval kind")
        row = Approval(
            id=approval_id or new_id("a"),
            campaign_id=campaign_id,
            kind=kind,
            request=request,
            created_at=self._now(),
        )
        return self._insert(row, parents=[(Campaign, campaign_id)])

    def get_approval(self, approval_id: str) -> Approval:
        return self._get(Approval, approval_id)

    def list_approvals(
        self, *, campaign_id: str | None = None, status: str | None = None
    ) -> list[Approval]:
        conditions = [] if campaign_id is None else [Approval.campaign_id == campaign_id]
        conditions += [] if status is None else [Approval.status == status]
        return self._list(Approval, conditions, Approval.created_at, Approval.id)

    def decide_approval(
        self, approval_id: str, status: str, decision: dict[str, Any] | None = None
    ) -> Approval:
        """Decide a pending approval (approved | edited | rejected), once.

        Repeating the same decision returns the approval unchanged; a different decision on
        an already decided approval raises `IllegalTransition`.
        """
        check_value(status, APPROVAL_STATUSES[1:], "approval decision")
        with self._db.write() as session:
            row = fetch(session, Approval, approval_id, lock=True)
            if row.status == status and row.decision == (decision or {}):
                return row
            if row.status != "pending":
                raise IllegalTransition(
                    f"approval {approval_id!r} was already decided ({row.status!r}); "
                    "ask for a new approval instead"
                )
            row.status, row.decision, row.decided_at = status, decision or {}, self._now()
            session.add(row)
        return row

    # --- insights (the structured side of the Chroma memory) ------------------------------
    def add_insight(
        self,
        statement: str,
        outcome: str,
        *,
        evidence: dict[str, Any] | None = None,
        campaign_id: str | None = None,
        experiment_id: str | None = None,
        model: str | None = None,
        config_delta: dict[str, Any] | None = None,
        insight_id: str | None = None,
    ) -> InsightRow:
        """Store one insight's evidence (`outcome`: helped | hurt | neutral)."""
        check_value(outcome, INSIGHT_OUTCOMES, "insight outcome")
        row = InsightRow(
            id=insight_id or new_id("i"),
            statement=statement,
            evidence=evidence or {},
            campaign_id=campaign_id,
            experiment_id=experiment_id,
            model=model,
            config_delta=config_delta or {},
            outcome=outcome,
            created_at=self._now(),
        )
        return self._insert(row)

    def get_insight(self, insight_id: str) -> InsightRow:
        return self._get(InsightRow, insight_id)

    def get_insights(self, insight_ids: list[str]) -> list[InsightRow]:
        """The rows of these ids (e.g. Chroma hits), in the order given; unknown ids skipped."""
        with self._db.read() as session:
            rows = session.exec(select(InsightRow).where(col(InsightRow.id).in_(insight_ids)))
            by_id = {row.id: row for row in rows}
        return [by_id[i] for i in insight_ids if i in by_id]

    def stored_insight_ids(self, insight_ids: list[str]) -> set[str]:
        """Which of these insight ids have a row (one query over the ids alone)."""
        if not insight_ids:
            return set()
        with self._db.read() as session:
            found = session.exec(select(InsightRow.id).where(col(InsightRow.id).in_(insight_ids)))
            return set(found)

    def list_insights(
        self,
        *,
        campaign_id: str | None = None,
        model: str | None = None,
        outcome: str | None = None,
    ) -> list[InsightRow]:
        conditions = [] if campaign_id is None else [InsightRow.campaign_id == campaign_id]
        conditions += [] if model is None else [InsightRow.model == model]
        conditions += [] if outcome is None else [InsightRow.outcome == outcome]
        return self._list(InsightRow, conditions, InsightRow.created_at, InsightRow.id)


def _ensure_rows(
    conn: Connection, rows: list[tuple[Hypothesis | None, Experiment]]
) -> list[Experiment]:
    """Insert the rows whose ids are new (hypotheses first), with one query per table for the
    ids already there, through Core (`advance` runs this before every submission); the
    experiments as stored."""
    hyps = {h.id: h for h, _ in rows if h is not None}
    stored_hyps: set[str] = set()
    if hyps:
        stored_hyps = set(conn.execute(_HYP_IDS_IN, {"ids": list(hyps)}).scalars())
        new_hyps = [_values(h) for h_id, h in hyps.items() if h_id not in stored_hyps]
        if new_hyps:
            conn.execute(_INSERT_HYP, new_hyps)  # before the experiments that refer to them
    exp_ids = [e.id for _, e in rows]
    experiments = {
        row.id: Experiment(**row._mapping) for row in conn.execute(_EXPS_IN, {"ids": exp_ids})
    }
    new = {e.id: e for _, e in rows if e.id not in experiments}
    unknown = {e.hypothesis_id for e in new.values() if e.hypothesis_id} - set(hyps)
    if unknown:
        found = set(conn.execute(_HYP_IDS_IN, {"ids": sorted(unknown)}).scalars())
        for hyp_id in sorted(unknown - found):
            raise not_found("hypotheses", hyp_id)
    if new:
        conn.execute(_INSERT_EXP, [_values(e) for e in new.values()])
    experiments.update(new)
    return [experiments[e.id] for _, e in rows]


def _values(row: Any) -> dict[str, Any]:
    """A table model's columns as INSERT parameters."""
    return {column.key: getattr(row, column.key) for column in row.__table__.c}
