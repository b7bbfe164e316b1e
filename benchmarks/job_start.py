"""What a local job costs besides its training: cold starts (a new interpreter per job) against
warm starts (forked from a process that imported torch and the trainers once).

    .venv/bin/python benchmarks/job_start.py                 # 3 rounds of 8 jobs per side
    .venv/bin/python benchmarks/job_start.py --rounds 5 --jobs 12 --json OUT

Both sides run the same small real jobs (logistic regression on 2,000 synthetic rows, one epoch)
through `LocalBackend` over their own jobs root, alternating round by round so that a noisy
machine weighs on both alike. Per side: wall time from the first submit to the last final
event, and per job the overhead = (final event written - submitted) - trainer_seconds.
Prints a table with the warm/cold ratios; the JSON goes to OUT when given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rea.trainers.backends import LocalBackend
from rea.trainers.events import JobSpec

DATA = "synthetic:tiny?rows=2000&seed=0"


def spec(root: Path, job_id: str) -> JobSpec:
    return JobSpec.model_validate(
        {
            "job_id": job_id,
            "attempt": 1,
            "campaign_id": "bench",
            "config": {"model": "lr", "epochs": 1},
            "data": DATA,
            "max_seconds": 300,
            "output_dir": str(root / job_id),
            "device": "cpu",
        }
    )


def one_round(root: Path, warm: bool, jobs: int, parallel: int, tag: str) -> dict[str, Any]:
    backend = LocalBackend(root, warm=warm, max_parallel=parallel)
    ids = [f"{tag}-{i}" for i in range(jobs)]
    start = time.monotonic()
    submitted = {}
    for job_id in ids:
        backend.submit(spec(root, job_id))
        submitted[job_id] = time.time()
    finals: dict[str, Any] = {}
    ended: dict[str, float] = {}
    while len(finals) < len(ids):
        backend.poll()
        for job_id in ids:
            if job_id not in finals and (final := backend.final_event(job_id)) is not None:
                finals[job_id], ended[job_id] = final, time.time()
        time.sleep(0.02)
    wall = time.monotonic() - start
    failed = [j for j, f in finals.items() if f.kind != "succeeded"]
    if failed:
        raise SystemExit(f"jobs failed: {failed}: {[finals[j].failure for j in failed]}")
    overhead = [ended[j] - submitted[j] - finals[j].result["trainer_seconds"] for j in ids]
    # With `parallel` slots, a job also waits for a slot: count only the first `parallel`
    # jobs' overhead as start-up (they never queued).
    first = overhead[:parallel]
    return {"wall_s": wall, "overhead_s": overhead, "unqueued_overhead_s": first}


def run(rounds: int, jobs: int, parallel: int) -> dict[str, Any]:
    sides: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="rea-jobstart-") as tmp:
        # One warm-up job each (the warm side's starter comes up; both read the data cache).
        for name, warm in (("cold", False), ("warm", True)):
            one_round(Path(tmp) / f"{name}-warmup", warm, 1, 1, f"{name}-w")
        for r in range(rounds):
            order = (
                (("cold", False), ("warm", True))
                if r % 2 == 0
                else (("warm", True), ("cold", False))
            )
            for name, warm in order:
                sides[name].append(
                    one_round(Path(tmp) / f"{name}-{r}", warm, jobs, parallel, f"{name}-{r}")
                )
    out: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "rounds": rounds,
        "jobs_per_round": jobs,
        "max_parallel": parallel,
        "data": DATA,
    }
    for name, results in sides.items():
        out[name] = {
            "wall_s_median": statistics.median(r["wall_s"] for r in results),
            "overhead_s_median": statistics.median(o for r in results for o in r["overhead_s"]),
            "unqueued_overhead_s_median": statistics.median(
                o for r in results for o in r["unqueued_overhead_s"]
            ),
            "walls_s": [round(r["wall_s"], 2) for r in results],
        }
    out["ratio_wall_warm_over_cold"] = out["warm"]["wall_s_median"] / out["cold"]["wall_s_median"]
    out["ratio_unqueued_overhead_warm_over_cold"] = (
        out["warm"]["unqueued_overhead_s_median"] / out["cold"]["unqueued_overhead_s_median"]
    )
    return out


def table(result: dict[str, Any]) -> str:
    c, w = result["cold"], result["warm"]
    rows = [
        ("measure", "cold", "warm", "warm / cold"),
        ("---", "---", "---", "---"),
        (
            f"wall for {result['jobs_per_round']} jobs, {result['max_parallel']} at a time (median of {result['rounds']})",
            f"{c['wall_s_median']:.2f} s",
            f"{w['wall_s_median']:.2f} s",
            f"{result['ratio_wall_warm_over_cold']:.2f}",
        ),
        (
            "overhead of a job that did not queue (submit -> final, less training)",
            f"{c['unqueued_overhead_s_median']:.2f} s",
            f"{w['unqueued_overhead_s_median']:.2f} s",
            f"{result['ratio_unqueued_overhead_warm_over_cold']:.2f}",
        ),
    ]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=8)
    p.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", type=Path, default=None, help="write the result here")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.jobs < 1 or args.parallel < 1:
        p.error("--rounds, --jobs and --parallel must each be >= 1")
    result = run(args.rounds, args.jobs, args.parallel)
    result["command"] = "python benchmarks/job_start.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
