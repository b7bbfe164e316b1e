"""Small helpers the nodes share: ids, budget arithmetic, dataset traits, fault lookup."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rea.agents.schemas import RunRecord
from rea.memory import DuplicateKey, ExperimentStore, NotFound
from rea.tools.journal import load_runs
from rea.trainers.data.refs import parse_ref

# Share of the approved budget never handed to a job: reservations are settled at the real
# cost, and this keeps a step's overrun or a failed job's charge inside the budget.
RESERVE_FRACTION = 0.05
# A one-seed exploitation trial's experiment id: <cid>-x<round>-<i> (confirmations are
# <cid>-xconfirm-<round>).
TRIAL_ID = re.compile(r"-x(\d+)-\d+$")
# A job's max_seconds = its estimate x this (trainers jitter; a timeout wastes the whole job).
MAX_SECONDS_FACTOR = 2.5
MIN_JOB_SECONDS = 10.0
BASELINE_SHARE = 0.15  # most of the budget the baseline may reserve (its cost is unknown)


def baseline_id(campaign_id: str) -> str:
    return f"{campaign_id}-base"


def hypothesis_id(campaign_id: str, origin: str, index: int) -> str:
    """Deterministic ids (a replayed node finds its rows): origin i(nsight), r(esearch),
    p(lanner), x (exploitation round r as 'x{r}-')."""
    return f"{campaign_id}-h{origin[0]}{index}"


def dataset_traits(data: str) -> dict[str, Any]:
    """What the insight memory matches datasets on: the source, preset and size."""
    ref = parse_ref(data)
    traits: dict[str, Any] = {"source": ref.scheme, "ref": data}
    if ref.preset:
        traits["preset"] = ref.preset
    if ref.rows:
        traits["rows"] = ref.rows
    return traits


def spendable(store: ExperimentStore, campaign_id: str, status: Any = None) -> float:
    """Seconds a new job may still reserve: what is left minus the campaign's safety reserve.
    `status`: the campaign's `budget_status`, when the caller has just read it."""
    status = status or store.budget_status(campaign_id)
    return status.remaining_seconds - RESERVE_FRACTION * status.approved_seconds


def launch_floor(estimate: float) -> float:
    """The least max_seconds a job estimated at `estimate` trainer-seconds is launched with:
    twice the estimate plus 2 s of start-up (tighter, a timeout would likely waste it)."""
    return 2.0 * estimate + 2.0


def job_seconds(
    estimate: float, store: ExperimentStore, campaign_id: str, status: Any = None
) -> float:
    """max_seconds for a job estimated at `estimate` trainer-seconds: generous (a timeout wastes
    the whole job) but within what the campaign has not yet charged; 0 when even the estimate
    cannot be paid (the job is not planned). Whether it can start *now* depends on the open
    reservations of running jobs: the launch node defers it until they settle."""
    status = status or store.budget_status(campaign_id)
    cap = status.approved_seconds * (1 - RESERVE_FRACTION) - status.charged_seconds
    wanted = max(MAX_SECONDS_FACTOR * estimate, estimate + MIN_JOB_SECONDS)
    if cap < 1.2 * estimate or cap <= 0:
        return 0.0
    return round(min(wanted, cap), 2)


def seconds_per_seed(
    store: ExperimentStore, campaign_id: str, runs: Sequence[RunRecord] | None = None
) -> float:
    """Measured trainer-seconds per seed of the baseline (the unit of every cost estimate).
    `runs`: the campaign's runs, when the caller has just loaded them."""
    if runs is None:
        runs = load_runs(store, campaign_id, phase="baseline")
    for run in runs:
        if run.phase == "baseline":
            return max(0.05, run.trainer_seconds / max(1, len(run.seeds)))
    return 1.0


def fault_for(state: dict[str, Any], phase: str, index: int) -> dict[str, Any] | None:
    """The failure the campaign's fault plan injects into the index-th experiment of `phase`."""
    for item in state.get("faults") or []:
        if item.get("phase") == phase and int(item.get("index", 0)) == index:
            return dict(item["fault"])
    return None


def ensure_experiment(store: ExperimentStore, experiment_id: str, **fields: Any) -> Any:
    """Create the experiment unless a replayed node already did (deterministic ids). Created
    first (the usual case: one round trip), read back when its id is taken."""
    try:
        return store.create_experiment(experiment_id=experiment_id, **fields)
    except DuplicateKey:
        return store.get_experiment(experiment_id)


def ensure_hypothesis(store: ExperimentStore, hyp_id: str, **fields: Any) -> Any:
    try:
        return store.create_hypothesis(hypothesis_id=hyp_id, **fields)
    except DuplicateKey:
        return store.get_hypothesis(hyp_id)


def ensure_approval(store: ExperimentStore, approval_id: str, **fields: Any) -> Any:
    try:
        return store.get_approval(approval_id)
    except NotFound:
        return store.create_approval(approval_id=approval_id, **fields)


def note(state: dict[str, Any], text: str) -> list[str]:
    return [*(state.get("notes") or []), text]
