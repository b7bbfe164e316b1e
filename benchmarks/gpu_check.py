"""The trainers on a GPU: every model family against the same run on the CPU, and a job end to end.

    python benchmarks/gpu_check.py [--rows 50000] [--epochs 2] [--json-out PATH]

For each model family and precision (fp32, bf16) it trains the same config with the same seed on
the CPU and on `--device` (default cuda) and reports both runs' validation NE / AUC, their
difference and the seconds each took. Initial weights and the batch order come from CPU generators,
so the two runs see the same batches from the same start; they differ by kernel arithmetic (and by
dropout's device RNG where a config has dropout), so the check is "close", not "equal": the
device's val NE must be finite and within `--tolerance` of the CPU's.

Then it runs two jobs through `python -m rea.trainers.job` on the device: a plain one (must
succeed, and report the device in its `started` event and in its result) and one with an injected
`oom` fault (must fail with kind `oom`, the allocator's own refusal on the device).

Exit status 0 when every check holds, 1 otherwise. Needs only torch, numpy and pydantic beside
`rea.trainers`, so it runs on a GPU machine that has none of the service's packages.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from rea.trainers.config import MODEL_FAMILIES
from rea.trainers.data import load_data
from rea.trainers.train import train

RESULTS = Path(__file__).parent / "results" / "gpu_check.json"


def _parity(args, data) -> list[dict[str, Any]]:
    rows = []
    base = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": 3e-3}
    for family in MODEL_FAMILIES:
        for precision in ("fp32", "bf16"):
            config = {"model": family, "precision": precision, **base}
            runs = {}
            for device in ("cpu", args.device):
                t0 = time.monotonic()
                result = train(config, data, seed=args.seed, device=device)
                runs[device] = (result.metrics, time.monotonic() - t0)
            (cpu, cpu_s), (dev, dev_s) = runs["cpu"], runs[args.device]
            diff = dev["val_ne"] - cpu["val_ne"]
            ok = math.isfinite(dev["val_ne"]) and abs(diff) <= args.tolerance
            rows.append({
                "model": family, "precision": precision,
                "cpu_val_ne": cpu["val_ne"], "device_val_ne": dev["val_ne"], "ne_diff": diff,
                "cpu_val_auc": cpu["val_auc"], "device_val_auc": dev["val_auc"],
                "cpu_seconds": cpu_s, "device_seconds": dev_s, "ok": ok,
            })  # fmt: skip
            print(f"{family:8s} {precision}  val NE cpu {cpu['val_ne']:.4f}  "
                  f"{args.device} {dev['val_ne']:.4f}  diff {diff:+.4f}  "
                  f"{cpu_s:5.1f}s / {dev_s:5.1f}s  {'ok' if ok else 'FAIL'}", flush=True)  # fmt: skip
    return rows


def _job(args, tmp: Path, name: str, fault: dict | None) -> dict[str, Any]:
    out = tmp / name
    spec = {
        "job_id": name, "campaign_id": "gpu-check", "data": args.data,
        "config": {"model": "dcn_v2", "epochs": 1, "batch_size": args.batch_size},
        "max_seconds": 300, "output_dir": str(out), "device": args.device, "fault": fault,
    }  # fmt: skip
    spec_path = tmp / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, "-m", "rea.trainers.job", str(spec_path)],
        capture_output=True, text=True, timeout=600, env=os.environ.copy(),
    )  # fmt: skip
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    final = events[-1]
    return {
        "exit": proc.returncode,
        "kinds": [e["kind"] for e in events],
        "started_device": (events[0].get("metrics") or {}).get("device"),
        "result_device": (final.get("result") or {}).get("device"),
        "failure": final.get("failure"),
        "stderr_tail": proc.stderr[-1500:],
    }


def _jobs(args) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rea-gpu-") as name:
        tmp = Path(name)
        plain = _job(args, tmp, "plain", None)
        oom = _job(args, tmp, "oom", {"kind": "oom", "at_step": 2})
    on_device = all(
        str(plain[k]).startswith(args.device) for k in ("started_device", "result_device")
    )
    plain["ok"] = plain["exit"] == 0 and plain["kinds"][-1] == "succeeded" and on_device
    oom["ok"] = oom["exit"] == 1 and (oom["failure"] or {}).get("kind") == "oom"
    for label, job in (("plain job", plain), ("oom job", oom)):
        print(f"{label}: exit {job['exit']} events {job['kinds']} device {job['result_device']} "
              f"failure {(job['failure'] or {}).get('kind')}  {'ok' if job['ok'] else 'FAIL'}")  # fmt: skip
        if not job["ok"]:
            print(job["stderr_tail"], file=sys.stderr)
    return {"plain": plain, "oom": oom}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="the device checked against the CPU")
    p.add_argument("--rows", type=int, default=50_000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=0.01, help="largest |val NE difference|")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--json-out", default=str(RESULTS))
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here; use a GPU machine")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.data = f"synthetic:interaction-heavy?rows={args.rows}&seed={args.seed}"
    data = load_data(args.data)
    parity = _parity(args, data)
    jobs = _jobs(args)
    ok = all(r["ok"] for r in parity) and all(j["ok"] for j in jobs.values())
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "machine": {
            "device": torch.cuda.get_device_name(0) if args.device == "cuda" else args.device,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu_threads": torch.get_num_threads(),
        },
        "data": args.data,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "tolerance": args.tolerance,
        "parity": parity,
        "jobs": jobs,
        "ok": ok,
    }
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")
    print("all checks hold" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
