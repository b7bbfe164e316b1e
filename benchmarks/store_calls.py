"""Two store calls every wake-up makes, timed in this checkout (issue 5): the campaign's budget
status and an empty write transaction (what each of a wake-up's ~20 transactions costs
before its statements), on a migrated SQLite store with some history.

    .venv/bin/python benchmarks/store_calls.py

Run it from two checkouts (each with its own venv), alternately, to compare them. Each figure
is the best of 5 rounds of 2,000 calls.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rea.memory import ExperimentStore
from rea.trainers.config import default_config


def per_call_us(fn: Callable[[], object], calls: int = 2000, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def main() -> int:
    store = ExperimentStore(f"sqlite:///{Path(tempfile.mkdtemp()) / 'rea.sqlite'}")
    store.migrate()
    config = default_config("fm").model_dump()
    campaign = store.create_campaign("fm", "synthetic:tiny", 10_000.0)
    for i in range(10):  # 30 jobs, 20 of them settled
        experiment = store.create_experiment(campaign.id, "validation", config)
        for attempt in range(3):
            job = store.create_job(experiment.id, f"k{i}-{attempt}", 10.0)
            store.reserve(campaign.id, job.job_id, 10.0)
            if attempt < 2:
                store.settle(job.job_id, 5.0)

    def empty_write() -> None:
        with store._db.write_connection():
            pass

    status = per_call_us(lambda: store.budget_status(campaign.id))
    print(
        f"budget_status {status:.0f} us, empty write transaction {per_call_us(empty_write):.0f} us"
    )
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
