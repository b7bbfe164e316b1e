"""The budget ledger on SQLite and PostgreSQL: it refuses what it can't pay, settles once, and
lets exactly one of two concurrent reservers take the last seconds."""

from __future__ import annotations

import threading
import time

import pytest
from test_store_db import BACKENDS, open_store, store_databases  # noqa: F401

import rea.memory.ledger as ledger_module
from rea.memory.errors import BudgetExceeded, IllegalTransition, NotFound

CONFIG = {"model": "fm"}


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    yield from open_store(request, tmp_path)


def _campaign(store, budget=100.0):
    campaign = store.create_campaign("fm", "synthetic:tiny", budget)
    validation = store.create_experiment(campaign.id, "validation", CONFIG)
    combination = store.create_experiment(campaign.id, "combination", CONFIG)
    return campaign, validation, combination


def test_reserve_refuses_what_the_budget_cannot_pay(store):
    campaign, validation, _ = _campaign(store)
    job = store.create_job(validation.id, "k1", 60.0)
    entry = store.reserve(campaign.id, job.job_id, 60.0)
    assert (entry.reserved, entry.phase) == (60.0, "validation")  # phase taken from the experiment
    with pytest.raises(BudgetExceeded, match=r"needs 41 s but only 40 s .* budget increase") as err:
        store.reserve(campaign.id, "job-2", 41.0)
    assert (err.value.remaining, err.value.requested) == (40.0, 41.0)
    store.reserve(campaign.id, "job-2", 40.0)  # exactly what is left is fine
    status = store.budget_status(campaign.id)
    assert (status.charged_seconds, status.reserved_seconds, status.remaining_seconds) == (
        0.0,
        100.0,
        0.0,
    )
    with pytest.raises(NotFound, match="campaigns"):
        store.reserve("c-missing", "job-3", 1.0)


def test_settle_charges_use_releases_the_rest_and_is_idempotent(store):
    campaign, validation, combination = _campaign(store)
    first = store.create_job(validation.id, "k1", 50.0)
    second = store.create_job(combination.id, "k2", 30.0)
    store.reserve(campaign.id, first.job_id, 50.0)
    store.reserve(campaign.id, second.job_id, 30.0)
    settled = store.settle(first.job_id, 20.0)
    assert (settled.charged, settled.released) == (20.0, 30.0)
    assert store.settle(first.job_id, 45.0).charged == 20.0  # a repeat changes nothing
    store.release(second.job_id)
    status = store.budget_status(campaign.id)
    assert (status.approved_seconds, status.charged_seconds, status.reserved_seconds) == (
        100.0,
        20.0,
        0.0,
    )
    assert status.remaining_seconds == 80.0
    assert status.phases["validation"].charged_seconds == 20.0
    assert (status.phases["combination"].charged_seconds, status.phases["combination"].jobs) == (
        0.0,
        1,
    )
    with pytest.raises(NotFound, match="reserve"):
        store.settle("never-reserved", 1.0)


def test_reserving_again_for_the_same_job_is_idempotent(store):
    campaign, _, _ = _campaign(store)
    store.reserve(campaign.id, "job-1", 60.0, phase="validation")
    store.reserve(campaign.id, "job-1", 60.0)  # a launcher retrying after a crash
    assert store.budget_status(campaign.id).reserved_seconds == 60.0
    with pytest.raises(IllegalTransition, match="new job id"):
        store.reserve(campaign.id, "job-1", 10.0)


def test_llm_tokens_are_recorded_beside_compute(store):
    campaign, _, _ = _campaign(store)
    store.record_llm_tokens(campaign.id, 1200, 300, "gpt-4.1-mini")
    store.record_llm_tokens(campaign.id, 800, 100, "gpt-4.1-mini")
    status = store.budget_status(campaign.id)
    assert (status.llm_prompt_tokens, status.llm_completion_tokens) == (2000, 400)
    assert status.remaining_seconds == 100.0
    assert [e.llm_model for e in store.ledger_entries(campaign.id)] == ["gpt-4.1-mini"] * 2


def test_budget_is_raised_only_by_an_approved_budget_approval_once(store):
    campaign, _, _ = _campaign(store)
    store.reserve(campaign.id, "job-1", 100.0)
    request = store.create_approval(campaign.id, "budget", {"extra_seconds": 50})
    with pytest.raises(IllegalTransition, match="pending"):
        store.raise_budget(campaign.id, 50.0, approval_id=request.id)
    plan = store.create_approval(campaign.id, "plan", {})
    store.decide_approval(plan.id, "approved")
    with pytest.raises(IllegalTransition, match="'budget' approval"):
        store.raise_budget(campaign.id, 50.0, approval_id=plan.id)
    store.decide_approval(request.id, "approved")
    assert store.raise_budget(campaign.id, 50.0, approval_id=request.id).approved_seconds == 150.0
    assert store.raise_budget(campaign.id, 50.0, approval_id=request.id).approved_seconds == 150.0
    assert store.reserve(campaign.id, "job-2", 50.0).reserved == 50.0


def test_two_concurrent_reservers_of_the_last_seconds_one_wins(store, monkeypatch):
    campaign, _, _ = _campaign(store, budget=100.0)
    store.reserve(campaign.id, "job-0", 40.0)

    # Widen the window between "check what is left" and "record the reservation": without a
    # lock, both threads would see 60 s left and both would win.
    real_spent = ledger_module._spent

    def slow_spent(*args):
        result = real_spent(*args)
        time.sleep(0.3)
        return result

    monkeypatch.setattr(ledger_module, "_spent", slow_spent)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def reserve(job_id: str) -> None:
        barrier.wait()
        try:
            outcomes[job_id] = store.reserve(campaign.id, job_id, 60.0)
        except Exception as err:  # recorded and asserted on below
            outcomes[job_id] = err

    threads = [threading.Thread(target=reserve, args=(f"job-{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    errors = [o for o in outcomes.values() if isinstance(o, Exception)]
    assert len(outcomes) == 2 and len(errors) == 1, outcomes
    assert isinstance(errors[0], BudgetExceeded)
    status = store.budget_status(campaign.id)
    assert (status.reserved_seconds, status.remaining_seconds) == (100.0, 0.0)
