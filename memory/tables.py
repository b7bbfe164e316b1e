"""The experiment journal's tables (SQLModel), shared by SQLite and PostgreSQL.

One campaign owns hypotheses, experiments (a config run with some seeds in one phase), jobs (one
attempt of an experiment on a backend), their events and results, the human approvals and the
budget ledger. Insights are cross-campaign memory, so their campaign/experiment ids are plain
references (no foreign key): they outlive the rows they came from.

Closed vocabularies are strings checked by CHECK constraints (portable, readable in SQL). JSON
columns use `sa.JSON` (TEXT on SQLite, json on PostgreSQL). Timestamps are timezone-aware UTC.
These tables live in their own `MetaData` (`STORE_METADATA`) so that other SQLModel tables in
the process never leak into the store's migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

CAMPAIGN_STATUSES = (
    "planning",
    "awaiting_approval",
    "running",
    "awaiting_jobs",
    "completed",
    "failed",
    "cancelled",
)
HYPOTHESIS_SOURCES = ("insight", "research", "llm", "exploit")
HYPOTHESIS_STATUSES = ("proposed", "planned", "testing", "validated", "refuted", "dropped")
PHASES = ("baseline", "validation", "combination", "exploitation")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled", "lost")
EVENT_KINDS = ("started", "progress", "succeeded", "failed")
APPROVAL_KINDS = ("plan", "budget", "escalation", "launch")
APPROVAL_STATUSES = ("pending", "approved", "edited", "rejected")
INSIGHT_OUTCOMES = ("helped", "hurt", "neutral")
LEDGER_KINDS = ("compute", "llm_tokens")

# The job state machine: state -> the states it may move to. Terminal states map to nothing.
JOB_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "queued": ("running", "failed", "cancelled", "lost"),
    "running": ("succeeded", "failed", "cancelled", "lost"),
    "succeeded": (),
    "failed": (),
    "cancelled": (),
    "lost": (),
}
TERMINAL_JOB_STATES = tuple(s for s, nxt in JOB_TRANSITIONS.items() if not nxt)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
STORE_METADATA = sa.MetaData(naming_convention=NAMING_CONVENTION)
# Alembic's version table for the store (named so it can share a database with other apps).
VERSION_TABLE = "rea_alembic_version"

ID = sa.String(200)  # job ids follow JobSpec's pattern: up to 200 characters
SHORT = sa.String(32)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps no offset, so re-add it)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_in(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name)


def _when(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class StoreTable(SQLModel, registry=registry(metadata=STORE_METADATA)):
    """Base of the store's tables: its own registry and metadata."""


class Campaign(StoreTable, table=True):
    """One optimisation campaign: a model family on a dataset within a compute budget."""

    __tablename__ = "campaigns"
    __table_args__ = (
        _check_in("status", CAMPAIGN_STATUSES, "status"),
        sa.CheckConstraint("budget_seconds >= 0", name="budget_nonnegative"),
    )

    id: str = Field(primary_key=True, sa_type=ID)
    model: str = Field(sa_type=SHORT)
    data: str = Field(sa_type=sa.Text)
    budget_seconds: float
    status: str = Field(default="planning", sa_type=SHORT, index=True)
    phase: str | None = Field(default=None, sa_type=SHORT)
    thread_id: str | None = Field(default=None, sa_type=ID, unique=True)
    baseline_config: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    goal: str | None = Field(default=None, sa_type=sa.Text)
    # What the human asked while the campaign ran (chat / API): {"skip_phases": [...],
    # "wrap_up": bool}. The phase planner reads it at every phase transition.
    steering: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Hypothesis(StoreTable, table=True):
    """A proposed change: a config delta with its rationale, evidence and expected effect."""

    __tablename__ = "hypotheses"
    __table_args__ = (
        _check_in("source", HYPOTHESIS_SOURCES, "source"),
        _check_in("status", HYPOTHESIS_STATUSES, "status"),
    )

    id: str = Field(primary_key=True, sa_type=ID)
    campaign_id: str = Field(foreign_key="campaigns.id", sa_type=ID, index=True)
    source: str = Field(sa_type=SHORT)
    title: str = Field(sa_type=sa.Text)
    rationale: str = Field(default="", sa_type=sa.Text)
    # Citation of a research card ({"title", "url", "year", ...}) and/or the insight ids behind it.
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    config_delta: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    expected_effect: str = Field(default="", sa_type=sa.Text)
    cost_estimate_seconds: float | None = None
    status: str = Field(default="proposed", sa_type=SHORT)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Experiment(StoreTable, table=True):
    """One config (baseline + delta) to run with a list of seeds in one phase."""

    __tablename__ = "experiments"
    __table_args__ = (_check_in("phase", PHASES, "phase"),)

    id: str = Field(primary_key=True, sa_type=ID)
    campaign_id: str = Field(foreign_key="campaigns.id", sa_type=ID, index=True)
    hypothesis_id: str | None = Field(
        default=None, foreign_key="hypotheses.id", sa_type=ID, index=True
    )
    phase: str = Field(sa_type=SHORT)
    config_delta: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    config: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    seeds: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: datetime = _when()


class Job(StoreTable, table=True):
    """One attempt of an experiment on a backend; `state` follows `JOB_TRANSITIONS`."""

    __tablename__ = "jobs"
    __table_args__ = (
        _check_in("state", JOB_STATES, "state"),
        sa.CheckConstraint("attempt >= 1", name="attempt_positive"),
        sa.CheckConstraint("max_seconds > 0", name="max_seconds_positive"),
    )

    job_id: str = Field(primary_key=True, sa_type=ID)
    campaign_id: str = Field(foreign_key="campaigns.id", sa_type=ID, index=True)
    experiment_id: str = Field(foreign_key="experiments.id", sa_type=ID, index=True)
    attempt: int = 1
    backend: str = Field(default="local", sa_type=SHORT)
    external_id: str | None = Field(default=None, sa_type=sa.String(255))
    idempotency_key: str = Field(sa_type=sa.String(255), unique=True)
    state: str = Field(default="queued", sa_type=SHORT, index=True)
    seed: int = 0
    max_seconds: float
    output_dir: str | None = Field(default=None, sa_type=sa.Text)
    failure_kind: str | None = Field(default=None, sa_type=SHORT)
    failure_message: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    started_at: datetime | None = _when(default=None)
    finished_at: datetime | None = _when(default=None)


class JobResult(StoreTable, table=True):
    """What a succeeded job produced: metrics per epoch, final metrics, trainer time."""

    __tablename__ = "job_results"

    job_id: str = Field(primary_key=True, foreign_key="jobs.job_id", sa_type=ID)
    metrics_per_epoch: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    final_metrics: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    trainer_seconds: float = 0.0
    best_epoch: int | None = None
    created_at: datetime = _when()


class JobEventRow(StoreTable, table=True):
    """A job event as received; (job_id, attempt, seq) is unique, so a repeat is a no-op."""

    __tablename__ = "job_events"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "attempt", "seq"),
        _check_in("kind", EVENT_KINDS, "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.job_id", sa_type=ID)
    attempt: int
    seq: int
    kind: str = Field(sa_type=SHORT)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    received_at: datetime = _when()


class Approval(StoreTable, table=True):
    """A decision the human owes: the plan, a budget increase, an escalation, the launch."""

    __tablename__ = "approvals"
    __table_args__ = (
        _check_in("kind", APPROVAL_KINDS, "kind"),
        _check_in("status", APPROVAL_STATUSES, "status"),
    )

    id: str = Field(primary_key=True, sa_type=ID)
    campaign_id: str = Field(foreign_key="campaigns.id", sa_type=ID, index=True)
    kind: str = Field(sa_type=SHORT)
    request: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(default="pending", sa_type=SHORT, index=True)
    decision: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    # Set once an approved budget increase has been added to the campaign (makes it idempotent).
    applied_at: datetime | None = _when(default=None)
    created_at: datetime = _when()
    decided_at: datetime | None = _when(default=None)


class InsightRow(StoreTable, table=True):
    """The structured evidence behind one insight of the Chroma memory (same id there)."""

    __tablename__ = "insights"
    __table_args__ = (_check_in("outcome", INSIGHT_OUTCOMES, "outcome"),)

    id: str = Field(primary_key=True, sa_type=ID)
    statement: str = Field(sa_type=sa.Text)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    campaign_id: str | None = Field(default=None, sa_type=ID, index=True)
    experiment_id: str | None = Field(default=None, sa_type=ID)
    model: str | None = Field(default=None, sa_type=SHORT)
    config_delta: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    outcome: str = Field(sa_type=SHORT)
    created_at: datetime = _when()


class LedgerEntry(StoreTable, table=True):
    """One budget movement. compute: a job's reservation, settled once (charged + released =
    what was reserved, unless it overran). llm_tokens: `charged` tokens, never reserved."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.UniqueConstraint("kind", "job_id"),
        _check_in("kind", LEDGER_KINDS, "kind"),
        sa.CheckConstraint("reserved >= 0 AND charged >= 0 AND released >= 0", name="amounts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaigns.id", sa_type=ID, index=True)
    kind: str = Field(sa_type=SHORT)
    job_id: str | None = Field(default=None, sa_type=ID)
    phase: str | None = Field(default=None, sa_type=SHORT)
    reserved: float = 0.0
    charged: float = 0.0
    released: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    llm_model: str | None = Field(default=None, sa_type=sa.String(255))
    at: datetime = _when()
    settled_at: datetime | None = _when(default=None)


CHAT_ROLES = ("user", "agent", "progress")


class ChatMessage(StoreTable, table=True):
    """One line of a chat thread (the web UI, `rea chat`, the SSE endpoint): what the user said,
    what the agent answered, and the progress notes it streamed. `campaign_id` links the line to
    the campaign it is about (a thread's current campaign is the latest one it names)."""

    __tablename__ = "chat_messages"
    __table_args__ = (_check_in("role", CHAT_ROLES, "role"),)

    id: int | None = Field(default=None, primary_key=True)
    thread_id: str = Field(sa_type=ID, index=True)
    role: str = Field(sa_type=SHORT)
    content: str = Field(sa_type=sa.Text)
    campaign_id: str | None = Field(default=None, sa_type=ID)
    at: datetime = _when()


ALL_TABLES = (
    Campaign,
    Hypothesis,
    Experiment,
    Job,
    JobResult,
    JobEventRow,
    Approval,
    InsightRow,
    LedgerEntry,
    ChatMessage,
)
