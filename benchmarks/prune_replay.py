"""Replay pruning rules on a finished agent campaign's one-seed exploitation trials.

    .venv/bin/python benchmarks/prune_replay.py OUT/repeat-0/agent OUT/repeat-1/agent [--json F]

Each argument is an agent campaign's REA home (e.g. an arm of `rea bench campaign --out OUT`,
run with pruning off so every trial trained to its end). For every trial, in the order the
campaign created them, the bars are set from the curves of the runs that had finished before it
(every phase, the trials' seed), and the trial's own curve says where they would have stopped
it: how many trials, how many of their trainer-seconds would have been given back (the epochs
after the stop), and how many of the campaign's 10 best trials would have been lost (the
campaign's best among them). It replays what the bars see, not the search: pruned trials would
have told TPE other values, and the saved seconds would have bought other trials.

Two bar definitions: `ended` (REA's, `rea.agents.planner.pruning`: a run that ended before
epoch e counts with its final best) and `same-epoch` (Optuna's MedianPruner: only runs that
reported epoch e), each at several quantiles and warm-up epochs.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from rea.agents.planner.pruning import MIN_RUNS, bars_from_curves, best_by_epoch, quantile_of

RULES = [(0.5, 1), (0.5, 0), (0.75, 1), (0.75, 0), (0.9, 0)]


def same_epoch_bars(curves: list[list[float]], epochs: int, q: float, warm: int) -> list | None:
    """Optuna's MedianPruner's view: at epoch e, only the runs that reported epoch e."""
    if len(curves) < MIN_RUNS or epochs - 1 <= warm:
        return None
    bars: list[float | None] = [None] * warm
    for e in range(warm, epochs - 1):
        seen = [best_by_epoch(c, e) for c in curves if len(c) > e]
        bars.append(quantile_of(seen, q) if len(seen) >= MIN_RUNS else None)
    return bars


def load(home: Path) -> list[dict[str, Any]]:
    """The campaign's succeeded jobs with their seed-0 curve, in creation order."""
    db = sqlite3.connect(home / "rea.sqlite")
    rows = db.execute(
        "select j.job_id, j.created_at, r.created_at, j.output_dir, e.phase, j.state "
        "from jobs j join experiments e on e.id = j.experiment_id "
        "left join job_results r on r.job_id = j.job_id order by j.created_at"
    ).fetchall()
    runs = []
    for job_id, created, finished, out_dir, phase, state in rows:
        path = Path(out_dir or "") / "result.json"
        if state != "succeeded" or not path.exists():
            continue
        result = json.loads(path.read_text())["result"]
        first = result["per_seed"][0]
        if first["seed"] != 0:
            continue
        runs.append(
            {
                "job_id": job_id,
                "created": created,
                "finished": finished,
                "phase": phase,
                "seeds": len(result["per_seed"]),
                "curve": [e["metrics"]["val_ne"] for e in first["epochs"]],
                "epoch_seconds": [e["seconds"] for e in first["epochs"]],
                "trainer_seconds": first["trainer_seconds"],
                "epochs": first["config"]["epochs"],
                "val_ne": first["metrics"]["val_ne"],
            }
        )
    return runs


def replay(runs: list[dict[str, Any]], mode: str, q: float, warm: int) -> dict[str, Any]:
    trials = [r for r in runs if r["phase"] == "exploitation" and r["seeds"] == 1]
    ranked = sorted(r["val_ne"] for r in trials)
    tenth = ranked[min(9, len(ranked) - 1)]
    total = sum(t["trainer_seconds"] for t in trials)
    pruned, saved, lost, best_lost = 0, 0.0, 0, False
    for t in trials:
        before = [r["curve"] for r in runs if r["finished"] and r["finished"] < t["created"]]
        if mode == "ended":
            bars = bars_from_curves(before, t["epochs"], quantile=q, warmup_epochs=warm)
        else:
            bars = same_epoch_bars(before, t["epochs"], q, warm)
        if not bars:
            continue
        for e in range(len(t["curve"])):
            bar = bars[e] if e < len(bars) else None
            if bar is not None and best_by_epoch(t["curve"], e) > bar and e + 1 < t["epochs"]:
                pruned += 1
                saved += sum(t["epoch_seconds"][e + 1 :])
                lost += t["val_ne"] <= tenth
                best_lost |= t["val_ne"] == ranked[0]
                break
    return {
        "mode": mode,
        "quantile": q,
        "warmup_epochs": warm,
        "trials": len(trials),
        "trainer_seconds": round(total, 1),
        "pruned": pruned,
        "saved_seconds": round(saved, 1),
        "saved_pct": round(100 * saved / total, 1) if total else 0.0,
        "top10_lost": lost,
        "best_lost": best_lost,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("homes", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = []
    for home in args.homes:
        runs = load(home)
        for mode in ("ended", "same-epoch"):
            for q, warm in RULES:
                row = {"home": str(home), **replay(runs, mode, q, warm)}
                rows.append(row)
                print(
                    f"{home} {mode:10} q={q:<4} warm={warm}: {row['pruned']:3} of "
                    f"{row['trials']} pruned, {row['saved_pct']:5.1f} % of "
                    f"{row['trainer_seconds']:.0f} s given back, top-10 lost {row['top10_lost']}"
                    f"{' (the best too)' if row['best_lost'] else ''}"
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
