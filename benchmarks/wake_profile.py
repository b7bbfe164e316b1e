"""Where a wake-up's CPU goes, in-process (issue 5): the service's webhook-to-submit path without
HTTP, measured in CPU time, so a loaded machine changes the numbers little.

    .venv/bin/python benchmarks/wake_profile.py                  # 3 campaigns, CPU per step
    .venv/bin/python benchmarks/wake_profile.py --profile 25     # + cProfile's top 25 (cumtime)
    .venv/bin/python benchmarks/wake_profile.py --pstats OUT     # save the profile (pstats)
    .venv/bin/python benchmarks/wake_profile.py --timeline       # + each node's start and end

Campaigns are driven like benchmarks/service.py drives them (the same payloads, one backend
slot held so nothing trains, plans and budget asks approved), but each final event goes
through what the service runs for it — `events.record(..., same_attempt=True)` (the webhook),
then `CampaignRunner.deliver(event, recorded=True)` (the waker) — on this thread. A sample is
one wake-up that submitted a job: the process's CPU (this thread and
LangGraph's checkpoint writer; nothing else runs) from the record to the first
`backend.submit`, and to the end of the wake-up (the rest: the backend's poll, the campaign's
status, the interrupt's checkpoint).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import service as bench

from rea.app.campaigns import open_runner
from rea.graph import events
from rea.trainers.events import EventEmitter, write_result

APPROVE = {"decisions": [{"type": "approve"}]}
NODES = {  # the graph's nodes a wake-up runs: their CPU is reported one by one
    "rea.graph.nodes.jobs": ("launch", "wait", "ingest"),
    "rea.graph.nodes.analysis": ("analyse", "memorise"),
    # `plan_next` is the planning `analyse` does in its step (and the `advance` node's work):
    # reported on its own, and inside `analyse` too; `ingest` likewise inside `wait`
    "rea.graph.nodes.phases": ("advance", "plan_next"),
}
_node_cpu: dict[str, float] = {}
_marks: list[tuple[str, float]] = []  # (node< / node> / submit, process CPU) in one wake-up


def time_nodes() -> None:
    """Wrap the node functions (before the graph is built) to add up their CPU per wake-up."""
    import importlib

    for module_name, names in NODES.items():
        module = importlib.import_module(module_name)
        for name in names:
            if hasattr(module, name):  # (an older checkout may lack one: run against it too)
                setattr(module, name, _timed(name, getattr(module, name)))


def _timed(name: str, fn: Any) -> Any:
    @functools.wraps(fn)  # LangGraph reads the node's signature (does it take `runtime`?)
    def node(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        _marks.append((f"{name}<", began))
        try:
            return fn(*args, **kwargs)
        finally:
            ended = time.process_time()
            _marks.append((f"{name}>", ended))
            _node_cpu[name] = _node_cpu.get(name, 0.0) + ended - began

    return node


def drive(
    runner: Any, cid: str, template: dict, rng: random.Random, stats: list[pstats.Stats] | None
) -> list[dict]:
    """Drive one campaign to its confirmation run; the samples of its wake-ups."""
    store, jobs_root = runner.services.store, runner.services.jobs_root
    thread = store.get_campaign(cid).thread_id
    samples = []
    while True:
        waiting = runner.pending(thread)
        if not waiting:
            return samples
        first = waiting[0]
        if first.type == "approval":
            if first.kind not in ("plan", "budget"):
                return samples
            runner.decide(first.approval_id, APPROVE)
            continue
        if all(j.endswith("-xconfirm-a1") for j in first.job_ids):
            return samples
        done = first.job_ids[0]
        spec = bench.job_spec(jobs_root, done)
        emitter = EventEmitter(spec, None)
        for event in (emitter.emit("started"),):
            events.record(store, event, same_attempt=True)
            runner.deliver(event, recorded=False)
        final = emitter.emit("succeeded", result=bench.final_result(spec, template, rng))
        write_result(spec.output_dir, final)
        before = {j.job_id: j for j in store.list_jobs(campaign_id=cid)}
        prof = cProfile.Profile() if stats is not None else None
        sample = _wake(runner, final, prof)
        new = [j for j in store.list_jobs(campaign_id=cid) if j.job_id not in before]
        if new and sample["to_submit_ms"] is not None:
            sample["step"] = bench._step(_row(store, before[done]), [_row(store, j) for j in new])
            samples.append(sample)
            if prof is not None and sample["step"] == "next exploitation round":
                stats.append(pstats.Stats(prof))


def _row(store: Any, job: Any) -> dict[str, str]:
    phase = store.get_experiment(job.experiment_id).phase
    return {"phase": phase, "experiment_id": job.experiment_id}


def _wake(runner: Any, final: Any, prof: Any) -> dict[str, Any]:
    """One wake-up as the service runs it, on this thread; its CPU up to the first submit."""
    backend = runner.services.backend
    submitted: list[float] = []
    real_submit = backend.submit

    def submit(*args: Any, **kw: Any) -> Any:
        out = real_submit(*args, **kw)
        if not submitted:
            submitted.append(time.process_time())
            _marks.append(("submit", submitted[0]))
        return out

    backend.submit = submit
    try:
        if prof:
            prof.enable()
        _node_cpu.clear()
        _marks.clear()
        began = time.process_time()
        events.record(runner.services.store, final, same_attempt=True)
        runner.deliver(final, recorded=True)
        ended = time.process_time()
    finally:
        if prof:
            prof.disable()
        del backend.submit
    to_submit = 1000 * (submitted[0] - began) if submitted else None
    nodes = {k: 1000 * v for k, v in _node_cpu.items()}
    timeline = []  # each mark up to the first submission, ms of CPU since the event's record
    for mark, at in _marks:
        timeline.append((mark, 1000 * (at - began)))
        if mark == "submit":
            break
    return {
        "to_submit_ms": to_submit,
        "total_ms": 1000 * (ended - began),
        "nodes": nodes,
        "timeline": timeline,
    }


def timeline(samples: list[dict]) -> list[tuple[str, float, float]]:
    """The commonest sequence of node starts and ends up to the first submission among the
    next-exploitation-round wake-ups: (mark, median ms of CPU since the event's record, the
    median step from the mark before). Between a node's end and the next one's start is
    LangGraph's step: saving the checkpoint, routing."""
    rounds = [s["timeline"] for s in samples if s["step"] == "next exploitation round"]
    if not rounds:
        return []
    orders: dict[tuple[str, ...], list[list]] = {}
    for marks in rounds:
        orders.setdefault(tuple(m for m, _ in marks), []).append(marks)
    order, chosen = max(orders.items(), key=lambda item: len(item[1]))
    out, before = [], [0.0] * len(chosen)
    for i, mark in enumerate(order):
        at = [marks[i][1] for marks in chosen]
        out.append(
            (
                mark,
                statistics.median(at),
                statistics.median(a - b for a, b in zip(at, before, strict=True)),
            )
        )
        before = at
    return out


def summary(samples: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    steps = sorted({s["step"] for s in samples})
    for step in ["all", *steps]:
        chosen = [s for s in samples if step == "all" or s["step"] == step]
        out[step] = {
            "n": len(chosen),
            "to_submit_ms_median": round(statistics.median(s["to_submit_ms"] for s in chosen), 1),
            "total_ms_median": round(statistics.median(s["total_ms"] for s in chosen), 1),
            "nodes_ms_median": {
                node: round(statistics.median(s["nodes"].get(node, 0.0) for s in chosen), 1)
                for node in sorted({n for s in chosen for n in s["nodes"]})
            },
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N")
    parser.add_argument("--pstats", type=Path, default=None, help="save the profile (pstats)")
    parser.add_argument("--template", type=Path, default=None, help="cache the template job")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--timeline", action="store_true", help="print the median CPU at each node's start/end"
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="rea-wake-profile-"))
    if args.template and args.template.exists():
        template = json.loads(args.template.read_text())
    else:
        template = bench.real_job(workdir, [0, 1, 2])
        if args.template:
            args.template.write_text(json.dumps(template))
    settings = bench.settings_for(workdir / "home")
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    stats: list[pstats.Stats] | None = [] if args.profile or args.pstats else None
    time_nodes()
    samples: list[dict] = []
    rng = random.Random(0)
    with bench.full_backend(settings.jobs_dir), open_runner(settings) as runner:
        for i in range(args.campaigns):
            budget = bench.DRIVE_BUDGETS_S[i % len(bench.DRIVE_BUDGETS_S)]
            cid = runner.start(
                bench.MODEL, bench.DATA.format(seed=i + 1), budget, baseline=bench.BASELINE
            )
            samples += drive(runner, cid, template, rng, stats)
    result = summary(samples)
    print(json.dumps(result, indent=2))
    if args.timeline:
        marks = timeline(samples)
        n = sum(s["step"] == "next exploitation round" for s in samples)
        print(f"timeline of the next-round wake-ups (CPU ms since the event's record, n={n}):")
        for mark, at, step in marks:
            print(f"  {mark:<12} {at:7.2f}  (+{step:.2f})")
    if args.json:
        args.json.write_text(json.dumps({"summary": result, "samples": samples}, indent=2))
    if stats:  # the exploitation rounds' wake-ups only, per wake-up
        buf = io.StringIO()
        total = stats[0]
        total.stream = buf
        for more in stats[1:]:
            total.add(more)
        print(f"cProfile, {len(stats)} exploitation-round wake-ups (divide by it)")
        if args.pstats:
            total.dump_stats(args.pstats)
        if args.profile:
            total.sort_stats("cumulative").print_stats(args.profile)
            print(buf.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
