"""Where a wake-up's latency goes inside `rea serve` (issue 5): runs `benchmarks/service.py`
with a tracer loaded into the service (`benchmarks/service_trace/sitecustomize.py`), then
splits each final event's path from the webhook to the first job it submitted.

    .venv/bin/python benchmarks/service_trace.py            # a full service.py run
    .venv/bin/python benchmarks/service_trace.py --quick    # service.py --quick
    .venv/bin/python benchmarks/service_trace.py --json OUT # also write the split as JSON

Prints, per final event that led to a submission: the webhook handler's `accept_event`
(recording the event, queueing the wake-up), from its start to the wake-up's start (`deliver`
on the waker's thread), and the wake-up to its first `submit`; beside them service.py's own
wake-latency p50 (which also holds HTTP and the job's client), and the sweeper's passes. The
tracer adds a JSON line per step, a few µs each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
FINAL = ("succeeded", "failed")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def split(lines: list[dict]) -> dict[str, list[float]]:
    """Per final event that led to a submission (ms): the webhook handler's `accept_event`
    (recording it and queueing the wake-up), from the handler's start to the wake-up's start,
    and from the wake-up's start to its first submission; and the whole."""
    out: dict[str, list[float]] = {"accept": [], "to wake-up": [], "wake-up": [], "total": []}
    accepted: dict[str, tuple[int, int | None]] = {}  # job -> its last accept_event in, out
    waking: dict[str, tuple[int, int | None, int]] = {}  # thread -> (accept in, out, deliver)
    for line in lines:
        step, job, t = line["step"], line["job"], line["t"]
        if step == "accept_event in":
            accepted[job] = (t, None)
        elif step == "accept_event out" and job in accepted:
            accepted[job] = (accepted[job][0], t)
        elif step == "deliver in" and job in accepted:  # (a wake-up of the sweeper's: no accept)
            waking[line["thread"]] = (*accepted.pop(job), t)
        elif step == "deliver out":
            waking.pop(line["thread"], None)  # a wake-up that submitted nothing
        elif step == "submit in" and line["thread"] in waking:
            accept_in, accept_out, deliver_in = waking.pop(line["thread"])
            if accept_out is not None:
                out["accept"].append((accept_out - accept_in) / 1e6)
            out["to wake-up"].append((deliver_in - accept_in) / 1e6)
            out["wake-up"].append((t - deliver_in) / 1e6)
            out["total"].append((t - accept_in) / 1e6)
    return out


def sweeps(lines: list[dict]) -> list[float]:
    starts = [x["t"] for x in lines if x["step"] == "sweep in"]
    ends = [x["t"] for x in lines if x["step"] == "sweep out"]
    return [(b - a) / 1e6 for a, b in zip(starts, ends, strict=False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--json", type=Path, default=None, help="write the split and service.py's JSON"
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rea-service-trace-"))
    trace, result = work / "trace.jsonl", work / "service.json"
    env = {**os.environ, "SERVICE_TRACE_FILE": str(trace)}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE / "service_trace"), *filter(None, [env.get("PYTHONPATH")])]
    )
    cmd = [sys.executable, str(HERE / "service.py"), "--json", str(result)]
    subprocess.run(cmd + (["--quick"] if args.quick else []), env=env, check=True)
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    parts = split(lines)
    if not parts["total"]:
        print("no traced wake-up submitted a job: was the tracer loaded?", file=sys.stderr)
        return 1
    bench = json.loads(result.read_text())
    bench_p50 = bench["wake_latency"]["p50_ms"]
    print(f"\n{len(parts['total'])} wake-ups that submitted; service.py's p50 {bench_p50} ms")
    for name, values in parts.items():
        print(
            f"  {name:>10}: p50 {statistics.median(values):.1f} ms, "
            f"p90 {percentile(values, 0.9):.1f} ms"
        )
    passes = sweeps(lines)
    if passes:
        print(
            f"  sweeper: {len(passes)} passes, p50 {statistics.median(passes):.1f} ms, "
            f"max {max(passes):.1f} ms"
        )
    print(f"(trace and service.py's JSON in {work})")
    if args.json:
        summary = {
            name: {"n": len(v), "p50_ms": statistics.median(v), "p90_ms": percentile(v, 0.9)}
            for name, v in parts.items()
        }
        if passes:
            summary["sweeper passes"] = {
                "n": len(passes),
                "p50_ms": statistics.median(passes),
                "max_ms": max(passes),
            }
        args.json.write_text(json.dumps({"split": summary, "service": bench}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
