"""Training speed and validation AUC of REA's DeepFM / DCN-v2 against deepctr-torch's, side by side.

    .venv/bin/python benchmarks/trainers_vs_deepctr.py --rows 250000 --epochs 2 --repeats 3

Both libraries train the same shapes (embed_dim 16, MLP 256-128 relu, no dropout; DCN-v2: 3
full-rank "matrix" cross layers beside the MLP), batch 4096, Adam lr 1e-3, on the same tensors: the
parent loads `synthetic:criteo-like` once with REA's loader and saves the train / valid splits to a
temporary file that every arm reads. Each arm runs in its own subprocess (its own peak RSS, its own
thread count); the arms are interleaved per model, their order rotated from repeat to repeat.
Measured per arm:

* samples/s over the training loop: REA's `TrainResult.samples_per_sec` (validation excluded);
  deepctr-torch's wall time of `fit(...)` without validation data, divided by epochs x rows.
* samples/s of the median step: batch / median time between two optimiser steps (a global
  optimiser step hook, the same for both arms). On a machine shared with other people a burst of
  their work slows whole stretches of one arm; the median step is far less sensitive to that.
* validation AUC / NE of the weights after the LAST epoch, with `rea.trainers.metrics` for both (REA's
  own result keeps the best epoch; the last one is what deepctr-torch hands back, so we compare that).
* peak RSS (ru_maxrss) of the subprocess, and peak CUDA memory on `--device cuda`.

Arms (`--arms`, default all): `rea` = the trainer defaults (fp32; sparse embedding gradients summed
per unique row and a row-wise lazy Adam for the tables, fused Adam for the rest, tensor-resident
batches); `rea-bf16` = the same with `precision="bf16"` (the towers' matmuls in bfloat16 under
autocast); `rea-dense` = the defaults with `sparse_optimizer="dense"`
(dense gradients, fused Adam over everything), to show where the speed comes from; `deepctr` =
deepctr-torch 0.3.0 (`pip install -e .[bench]`). Differences that remain are listed in
docs/benchmark-trainers.md.

deepctr-torch 0.3.0 starts a thread at import that asks pypi.org for its latest version; this script
replaces `deepctr_torch.utils` with a stub before the import so that no network call is made.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

ROOT = Path(__file__).resolve().parents[1]
RESULT_PATH = ROOT / "benchmarks" / "results" / "trainers_vs_deepctr.json"
ARMS = ("rea", "rea-bf16", "deepctr", "rea-dense")
ARM_LABELS = {
    "rea": "REA defaults (fp32, sparse grads + row-wise lazy Adam, fused Adam)",
    "rea-bf16": "REA precision=bf16 (else defaults)",
    "rea-dense": "REA fp32, dense grads, fused Adam",
    "deepctr": "deepctr-torch 0.3.0",
}
EMBED_DIM, MLP_DIMS, CROSS_LAYERS, BATCH, LR = 16, (256, 128), 3, 4096, 1e-3
RATE_FIELDS = ("samples_per_sec", "median_step_samples_per_sec")
DEEPCTR_INIT_STD = 0.01  # = REA's embedding init std (deepctr-torch's default is 1e-4)


# --------------------------------------------------------------------------- one arm (subprocess)


def _rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _step_clock() -> list[float]:
    """Record the time of every optimiser step of the first optimiser that steps (one per batch)."""
    times: list[float] = []
    first: list[int] = []

    def hook(opt, args, kwargs) -> None:
        if not first:
            first.append(id(opt))
        if id(opt) == first[0]:
            times.append(time.perf_counter())

    register_optimizer_step_post_hook(hook)
    return times


def _median_step_rate(times: list[float]) -> float:
    """Samples/s of the median interval between consecutive steps (epoch boundaries and the
    smaller last batch are outliers the median ignores)."""
    gaps = np.diff(np.asarray(times))
    return BATCH / float(np.median(gaps)) if gaps.size else float("nan")


def _load_splits(path: str):
    """The saved splits as REA `CtrData` (the test split left empty: it is not measured)."""
    from rea.trainers.data.types import CtrData, Schema, Split

    blob = torch.load(path, weights_only=True)
    train, valid = Split(*blob["train"]), Split(*blob["valid"])
    empty = Split(train.sparse[:0], train.dense[:0], train.label[:0])
    schema = Schema(
        tuple(blob["sparse_names"]), tuple(blob["dense_names"]), tuple(blob["cardinalities"])
    )
    return CtrData(train, valid, empty, schema, {"ref": blob["ref"]})


def _run_rea(model: str, data, args, arm: str) -> dict[str, Any]:
    """REA's trainer on the shared splits; AUC/NE of the last epoch's weights."""
    from rea.trainers.train import train

    config = {
        "model": model,
        "embed_dim": EMBED_DIM,
        "mlp_dims": list(MLP_DIMS),
        "dropout": 0.0,
        "activation": "relu",
        "cross_layers": CROSS_LAYERS,
        "cross_rank": None,
        "dcn_structure": "parallel",
        "batch_size": BATCH,
        "lr": LR,
        "optimizer": "adam",
        "sparse_optimizer": "dense" if arm == "rea-dense" else "sparse_adam",
        "precision": "bf16" if arm == "rea-bf16" else "fp32",
        "epochs": args.epochs,
        "early_stopping_patience": 0,  # train every epoch, as deepctr-torch does
    }
    device = "cuda" if args.device == "cuda" else "cpu"
    result = train(config, data, seed=args.seed, device=device)
    last = result.epochs[-1].metrics
    return {
        "samples_per_sec": result.samples_per_sec,
        "train_seconds": result.train_seconds,
        "val_auc": last["val_auc"],
        "val_ne": last["val_ne"],
        "val_auc_best_epoch": result.metrics["val_auc"],
        "num_params": result.num_params,
    }


def _import_deepctr():
    """Import deepctr-torch without its import-time version check (a pypi.org request)."""
    stub = types.ModuleType("deepctr_torch.utils")
    stub.check_version = lambda version: None
    sys.modules.setdefault("deepctr_torch.utils", stub)
    import deepctr_torch

    return deepctr_torch


def _deepctr_inputs(split, schema) -> dict[str, np.ndarray]:
    """deepctr-torch's input: one numpy column per feature name (ids int64, dense float32)."""
    sparse, dense = split.sparse.numpy(), split.dense.numpy()
    cols = {name: sparse[:, i] for i, name in enumerate(schema.sparse_names)}
    cols.update({name: dense[:, j] for j, name in enumerate(schema.dense_names)})
    return cols


def _deepctr_model(model: str, schema, device: str, seed: int):
    """The deepctr-torch model matching REA's shapes, every L2 penalty off (REA's default)."""
    dc = _import_deepctr()
    from deepctr_torch.inputs import DenseFeat, SparseFeat

    sparse = [
        SparseFeat(n, vocabulary_size=c, embedding_dim=EMBED_DIM)
        for n, c in zip(schema.sparse_names, schema.cardinalities, strict=True)
    ]
    dense = [DenseFeat(n, 1) for n in schema.dense_names]
    common = dict(
        dnn_hidden_units=MLP_DIMS,
        l2_reg_linear=0.0,
        l2_reg_embedding=0.0,
        l2_reg_dnn=0.0,
        init_std=DEEPCTR_INIT_STD,
        seed=seed,
        dnn_dropout=0.0,
        dnn_activation="relu",
        device=device,
    )
    if model == "deepfm":
        return dc.models.DeepFM(sparse + dense, sparse + dense, **common)
    # REA's DCN-v2 has no first-order (linear) term, so deepctr's gets no linear columns either.
    return dc.models.DCN(
        [],
        sparse + dense,
        cross_num=CROSS_LAYERS,
        cross_parameterization="matrix",
        l2_reg_cross=0.0,
        **common,
    )


def _run_deepctr(model: str, data, args) -> dict[str, Any]:
    """deepctr-torch's own `fit` (its DataLoader pipeline), timed without validation."""
    from rea.trainers.metrics import metrics_from_probs

    device = "cuda:0" if args.device == "cuda" else "cpu"
    net = _deepctr_model(model, data.schema, device, args.seed)
    net.compile(torch.optim.Adam(net.parameters(), lr=LR), loss="binary_crossentropy")
    x, y = _deepctr_inputs(data.train, data.schema), data.train.label.numpy()
    if device != "cpu":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    net.fit(x, y, batch_size=BATCH, epochs=args.epochs, verbose=0, shuffle=True)
    if device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    probs = net.predict(_deepctr_inputs(data.valid, data.schema), batch_size=65_536)
    metrics = metrics_from_probs(torch.from_numpy(probs).reshape(-1), data.valid.label, "val")
    return {
        "samples_per_sec": args.epochs * len(data.train) / seconds,
        "train_seconds": seconds,
        "val_auc": metrics["val_auc"],
        "val_ne": metrics["val_ne"],
        "num_params": sum(p.numel() for p in net.parameters()),
    }


def run_arm(args) -> None:
    """Subprocess entry: train one (model, arm) and write its measurements as JSON."""
    torch.set_num_threads(args.threads)
    data = _load_splits(args.data_file)
    rss_before = _rss_mb()
    steps = _step_clock()
    if args.arm == "deepctr":
        out = _run_deepctr(args.model, data, args)
    else:
        out = _run_rea(args.model, data, args, args.arm)
    out.update(
        median_step_samples_per_sec=_median_step_rate(steps),
        steps=len(steps),
        rss_before_train_mb=rss_before,
        peak_rss_mb=_peak_rss_mb(),
    )
    if args.device == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    Path(args.out).write_text(json.dumps(out))


# --------------------------------------------------------------------------- orchestration (parent)


def _prepare_data(args, path: Path) -> dict[str, Any]:
    """Load the synthetic data once with REA's loader and save train/valid for the arms."""
    from rea.trainers.data import load_data

    ref = f"synthetic:criteo-like?rows={args.rows}&seed={args.seed}"
    data = load_data(ref)
    blob = {
        "train": (data.train.sparse, data.train.dense, data.train.label),
        "valid": (data.valid.sparse, data.valid.dense, data.valid.label),
        "sparse_names": list(data.schema.sparse_names),
        "dense_names": list(data.schema.dense_names),
        "cardinalities": list(data.schema.cardinalities),
        "ref": ref,
    }
    torch.save(blob, path)
    return {
        "ref": ref,
        "train_rows": len(data.train),
        "valid_rows": len(data.valid),
        "embedding_rows": sum(data.schema.cardinalities),
    }


def _spawn(args, model: str, arm: str, data_file: Path, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{model}-{arm}.json"
    cmd = [sys.executable, __file__, "--arm", arm, "--model", model, "--data-file", str(data_file)]
    cmd += ["--out", str(out), "--epochs", str(args.epochs), "--seed", str(args.seed)]
    cmd += ["--device", args.device, "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(
            f"arm {arm} / {model} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return json.loads(out.read_text())


def _paired_ratios(runs: list[dict[str, Any]], mine: list[dict[str, Any]]) -> list[float]:
    """Loop samples/s over deepctr-torch's in the same repeat (how much the ratio itself moves)."""
    base = {(b["model"], b["repeat"]): b["samples_per_sec"] for b in runs if b["arm"] == "deepctr"}
    keys = [(r["model"], r["repeat"]) for r in mine]
    return [
        round(r["samples_per_sec"] / base[k], 2)
        for r, k in zip(mine, keys, strict=True)
        if k in base
    ]


def _median_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median over repeats per (model, arm), with the speed-up and ΔAUC against deepctr-torch."""
    keys = sorted({(r["model"], r["arm"]) for r in runs}, key=lambda k: (k[0], ARMS.index(k[1])))
    rows = []
    for model, arm in keys:
        mine = [r for r in runs if r["model"] == model and r["arm"] == arm]
        row = {"model": model, "arm": arm, "repeats": len(mine)}
        for field in (*RATE_FIELDS, "val_auc", "val_ne", "peak_rss_mb", "peak_cuda_mb"):
            values = [r[field] for r in mine if field in r]
            if values:
                row[field] = statistics.median(values)
        row["samples_per_sec_all"] = [round(r["samples_per_sec"], 1) for r in mine]
        row["loop_ratio_per_repeat"] = _paired_ratios(runs, mine)
        rows.append(row)
    for row in rows:
        base = next((r for r in rows if r["model"] == row["model"] and r["arm"] == "deepctr"), None)
        if base is not None:
            for field in RATE_FIELDS:
                row[f"{field}_vs_deepctr"] = row[field] / base[field]
            row["delta_auc_vs_deepctr"] = row["val_auc"] - base["val_auc"]
    return rows


def _markdown(rows: list[dict[str, Any]], device: str) -> str:
    """The summary table: loop and median-step throughput, each with its ratio to deepctr-torch."""
    mem = "peak CUDA MB" if device == "cuda" else "peak RSS MB"
    lines = [
        "| model | arm | samples/s (loop) | vs deepctr | samples/s (median step) | vs deepctr "
        f"| val AUC | ΔAUC | val NE | {mem} |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    nan = float("nan")
    for r in rows:
        peak = r.get("peak_cuda_mb", nan) if device == "cuda" else r["peak_rss_mb"]
        rates = [f"{r[f]:,.0f} | {r.get(f + '_vs_deepctr', nan):.2f}x" for f in RATE_FIELDS]
        lines.append(
            f"| {r['model']} | {ARM_LABELS[r['arm']]} | {' | '.join(rates)} | {r['val_auc']:.4f} "
            f"| {r.get('delta_auc_vs_deepctr', nan):+.4f} | {r['val_ne']:.4f} | {peak:,.0f} |"
        )
    return "\n".join(lines)


def _machine(args) -> dict[str, Any]:
    info = {
        "nproc": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if args.device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_all(args) -> None:
    """Parent: prepare data, run every (repeat, model, arm) in its own process, report."""
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in ("deepfm", "dcn_v2")]
    if bad:
        raise SystemExit(f"--models: unsupported {bad}; use deepfm and/or dcn_v2")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here; use --device cpu")
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if "deepctr" not in arms or any(a not in ARMS for a in arms):
        raise SystemExit(f"--arms: use some of {list(ARMS)}, deepctr included (the reference)")
    runs = []
    with tempfile.TemporaryDirectory(prefix="rea-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data_info = _prepare_data(args, tmp / "splits.pt")
        for repeat in range(args.repeats):
            for model in models:
                for arm in arms[repeat % len(arms) :] + arms[: repeat % len(arms)]:
                    run = _spawn(args, model, arm, tmp / "splits.pt", tmp)
                    runs.append({"repeat": repeat, "model": model, "arm": arm, **run})
                    print(f"[{repeat}] {model:7s} {arm:9s} {run['samples_per_sec']:9,.0f}/s loop "
                          f"{run['median_step_samples_per_sec']:9,.0f}/s median step "
                          f"auc {run['val_auc']:.4f}", file=sys.stderr, flush=True)  # fmt: skip
    rows = _median_rows(runs)
    print(_markdown(rows, args.device))
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "device": args.device,
        "machine": _machine(args),
        "data": data_info,
        "epochs": args.epochs,
        "batch_size": BATCH,
        "seed": args.seed,
        "summary": rows,
        "runs": runs,
    }
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=400_000, help="synthetic rows (all splits)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--models", default="deepfm,dcn_v2")
    p.add_argument("--arms", default=",".join(ARMS), help=f"some of {','.join(ARMS)}")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--repeats", type=int, default=1, help="runs per arm; the table shows medians")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in every arm")
    p.add_argument("--json-out", default=str(RESULT_PATH))
    # Internal: run one arm (the parent starts the script again with these).
    p.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--data-file", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    ARGS = _parse()
    run_arm(ARGS) if ARGS.arm else run_all(ARGS)
