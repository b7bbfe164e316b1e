"""How much is there to find? Retrain the best configs of one or more finished searches.

`rea bench campaign` reports each arm's gain over the baseline; whether a gain ratio such as "1.5x
TPE's" is reachable at all depends on how far the best configs of that data go. This script takes
the job directories of finished arms (any `rea bench campaign` arm home, e.g. a long TPE run with
`--budget 3200 --arms tpe`), ranks their finished runs by validation NE (one per config, the seed
aside), retrains the baseline and the top K with the bench's evaluation seeds (the same
`rea.app.bench_campaign.evaluate` the bench uses, so the numbers compare with its picks), and
reports each one's test-NE gain over the retrained baseline:

* `val_selected`: the first of them (by search val NE) that retrains, the pick the bench would
  report for a search that had found all of these runs;
* `best_by_test`: the largest test gain among the K, an optimistic bound (selected on test).

    .venv/bin/python benchmarks/headroom.py OUT/repeat-0/tpe [MORE_ARM_HOMES ...] \
        --data 'libfm:FILE?max_rows=20000&split=0.8,0.1,0.1' --top 5 --json F
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from rea.app.bench_arms import EVAL_SEEDS
from rea.app.bench_campaign import ArmRun, evaluate, share_cache
from rea.app.bench_search import Trial
from rea.app.bench_stats import gain_pct


def finished_runs(home: Path) -> list[dict[str, Any]]:
    """Every job under home/jobs that succeeded with a finite val NE: label, config, metrics,
    seconds per seed."""
    runs = []
    for spec_path in sorted((home / "jobs").glob("*/spec.json")):
        result_path = spec_path.with_name("result.json")
        if not result_path.exists():
            continue
        final = json.loads(result_path.read_text())
        metrics = (final.get("result") or {}).get("metrics") or {}
        val = metrics.get("val_ne")
        if final.get("kind") != "succeeded" or val is None or not math.isfinite(val):
            continue
        spec = json.loads(spec_path.read_text())
        seeds = len(spec.get("seeds") or [spec.get("seed")])
        seconds = (final.get("result") or {}).get("trainer_seconds") or 30.0
        runs.append(
            {
                "home": str(home),
                "label": spec["job_id"],
                "config": spec["config"],
                "val_ne": val,
                "seconds_per_seed": seconds / max(1, seeds),
            }
        )
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("homes", nargs="+", type=Path, help="arm homes (each has jobs/)")
    ap.add_argument("--data", required=True, help="the data reference the arms searched on")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument(
        "--baseline-from",
        type=Path,
        default=None,
        help="the arm home whose baseline job is the baseline (default: the first of the homes "
        "that has one); "
        "e.g. a dcn_v2 arm's, to measure other families' searches against the bench's baseline",
    )
    ap.add_argument("--eval-seeds", default=",".join(map(str, EVAL_SEEDS)))
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/rea-headroom"))
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args(argv)
    seeds = tuple(int(s) for s in args.eval_seeds.split(","))

    by_home = {home: finished_runs(home) for home in args.homes}
    runs = [r for home_runs in by_home.values() for r in home_runs]
    # the baseline: the named home's (read once, also when it is one of the homes), else the
    # first home's that has one
    base_homes = [args.baseline_from] if args.baseline_from else args.homes
    named = args.baseline_from
    pool = runs if named is None else by_home[named] if named in by_home else finished_runs(named)
    base = [r for r in pool if r["label"].startswith("baseline")]
    if not base:
        where = ", ".join(f"{home}/jobs" for home in base_homes)
        print(f"no finished baseline-* job under {where}", file=sys.stderr)
        return 2
    base_home = base[0]["home"]
    # the bench's own model selection: lowest val NE first, one run per config (seed aside)
    trials = [
        Trial(r["label"], r["config"], 0.0, 0.0, metrics={"val_ne": r["val_ne"]}) for r in runs
    ]
    by_label = {r["label"]: r for r in runs}
    ranked = ArmRun("headroom", math.inf, trials).ranked()
    top = [by_label[t.label] for t in ranked[: args.top]]
    configs = {
        "baseline": base[0]["config"],
        **{f"top-{i}": r["config"] for i, r in enumerate(top)},
    }
    est = {"baseline": base[0]["seconds_per_seed"]} | {
        f"top-{i}": r["seconds_per_seed"] for i, r in enumerate(top)
    }
    share_cache(args.out, args.homes[0] / "cache")
    started = time.time()
    evals = evaluate(configs, est, args.data, seeds, args.out, args.parallel)
    base_eval = evals["baseline"]
    rows = []
    for i, run in enumerate(top):
        ev = evals[f"top-{i}"]
        rows.append(
            {
                "rank": i,
                "label": run["label"],
                "home": run["home"],
                "search_val_ne": run["val_ne"],
                "val_ne": ev.get("val_ne"),
                "test_ne": ev.get("test_ne"),
                "failure": ev.get("failure"),
                "test_gain_pct": gain_pct(base_eval.get("test_ne"), ev.get("test_ne")),
                "val_gain_pct": gain_pct(base_eval.get("val_ne"), ev.get("val_ne")),
                "config": run["config"],
            }
        )
    ok = [r for r in rows if r["test_gain_pct"] is not None]
    out = {
        "command": " ".join(["benchmarks/headroom.py", *(argv or sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "data": args.data,
        "eval_seeds": list(seeds),
        "runs_ranked": len(runs),
        "baseline_from": str(base_home),
        "baseline": {k: base_eval.get(k) for k in ("val_ne", "test_ne", "failure")}
        | {"config": base[0]["config"]},
        "val_selected": ok[0] if ok else None,
        "best_by_test": max(ok, key=lambda r: r["test_gain_pct"]) if ok else None,
        "top": rows,
        "eval_seconds": round(time.time() - started, 1),
    }
    for r in rows:
        gain = "—" if r["test_gain_pct"] is None else f"{r['test_gain_pct']:+.2f} %"
        print(
            f"top-{r['rank']} {r['label']:<24} search val NE {r['search_val_ne']:.5f}  test gain {gain}"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    print(json.dumps({k: out[k] for k in ("val_selected", "best_by_test")}, default=str)[:2000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
