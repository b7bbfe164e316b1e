"""Validation/test NE of every model family on a synthetic preset, beside the Bayes-optimal NE.

    .venv/bin/python benchmarks/model_families.py [--data REF] [--seeds 0,1] [--epochs 4]

Shows that the families differ measurably where interactions are planted (LR < FM < DCN-v2 on
`interaction-heavy`) and how much headroom is left to the generator's true probabilities.
Writes benchmarks/results/model_families.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from rea.trainers.config import MODEL_FAMILIES
from rea.trainers.data import load_data
from rea.trainers.train import train

RESULTS = Path(__file__).parent / "results" / "model_families.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="synthetic:interaction-heavy?rows=50000&seed=0")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    data = load_data(args.data)
    config = {"epochs": args.epochs, "batch_size": 512, "lr": 3e-3}
    rows = []
    for family in MODEL_FAMILIES:
        t0 = time.monotonic()
        runs = [train({"model": family, **config}, data, seed=s) for s in seeds]
        ne = [r.metrics["val_ne"] for r in runs]
        rows.append({
            "model": family,
            "val_ne_mean": statistics.fmean(ne),
            "val_ne_std": statistics.stdev(ne) if len(ne) > 1 else 0.0,
            "val_auc_mean": statistics.fmean(r.metrics["val_auc"] for r in runs),
            "test_ne_mean": statistics.fmean(r.metrics["test_ne"] for r in runs),
            "seconds_per_run": (time.monotonic() - t0) / len(seeds),
        })  # fmt: skip
    bayes = runs[0].bayes
    print(f"data {args.data}; config {config}; seeds {seeds}")
    print("| model | val NE (mean ± sd) | val AUC | test NE | s/run |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['model']} | {r['val_ne_mean']:.4f} ± {r['val_ne_std']:.4f} | "
            f"{r['val_auc_mean']:.4f} | {r['test_ne_mean']:.4f} | {r['seconds_per_run']:.1f} |"
        )
    print(
        f"| Bayes-optimal | {bayes['val_ne']:.4f} | {bayes['val_auc']:.4f} | {bayes['test_ne']:.4f} | |"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = {"data": args.data, "config": config, "seeds": seeds, "rows": rows, "bayes": bayes}
    RESULTS.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
