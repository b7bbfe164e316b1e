"""Insert and query latency of the insight memory (embedded Chroma) at 10k and 100k insights.

    .venv/bin/python benchmarks/memory_insights.py --sizes 10000 100000

What is measured, per size N (a fresh PersistentClient in a temporary directory each time):

* insert throughput with precomputed vectors: `InsightMemory.add(insights, embeddings=...)` in
  batches of 1000. `--distinct` statements (default 2000) are embedded once and their vectors
  reused with varied metadata (model, outcome, knobs, dataset, effect), so 100k inserts do not
  spend minutes in the encoder; the embedding cost is reported on its own line instead.
* insert throughput with text embedding (the real path for a few new insights), on 1000 inserts.
* query latency WITH the embedding of the query text (MiniLM on 1 torch thread, what `search`
  does): p50 / p95 over `--queries` distinct queries, for three variants: no filter; model +
  outcome filter; and the full default `search` (which also fetches conflicting insights).
* the query-text embedding alone, for reference.

Prints a table and writes benchmarks/results/memory_insights.json. The target is query p95
< 50 ms with text embedding on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rea.memory.chroma import open_chroma
from rea.memory.embeddings import MiniLMEmbedder
from rea.memory.insights import Effect, Evidence, Insight, InsightMemory, outcome_for

RESULTS = Path(__file__).parent / "results" / "memory_insights.json"
MODELS = ("lr", "fm", "deepfm", "dcn_v2", "dlrm", "finalmlp")
DATASETS = ("criteo", "avazu", "kdd12", "taobao", "internal-feed")
KNOBS: dict[str, tuple[Any, Any]] = {
    "lr": (1e-3, 3e-4), "embedding_lr": (None, 1e-2), "embed_dim": (16, 32), "dropout": (0.0, 0.2),
    "weight_decay": (0.0, 1e-5), "emb_l2": (0.0, 1e-6), "batch_size": (2048, 8192),
    "cross_layers": (3, 4), "cross_rank": (None, 64), "norm": ("none", "layer"),
    "activation": ("relu", "gelu"), "lr_schedule": ("constant", "warmup_cosine"),
    "warmup_steps": (0, 1000), "grad_clip_norm": (None, 1.0), "loss": ("bce", "focal"),
    "min_count": (1, 5), "hash_buckets": (None, 1_000_000), "epochs": (3, 5),
    "optimizer": ("adam", "adamw"), "mlp_dims": ([256, 128], [512, 256]),
}  # fmt: skip
QUERIES = (
    "does a lower learning rate help {m}?", "effect of dropout on {m} for {d}",
    "what regularisation worked on {d}", "larger embeddings on {m}", "warmup schedules for {m}",
    "batch size and NE on {d}", "which optimizer is best for {m}", "focal loss on {d} clicks",
    "hashing rare ids on {d}", "cross layers in {m}",
)  # fmt: skip


def make_statement(rng: random.Random) -> str:
    knob = rng.choice(list(KNOBS))
    old, new = KNOBS[knob]
    verdict = rng.choice(("improved NE by", "hurt NE by", "did not change NE"))
    return (
        f"Changing {knob} from {old} to {new} on {rng.choice(MODELS)} for {rng.choice(DATASETS)} "
        f"{verdict} {rng.uniform(0.05, 2):.2f}% over {rng.randint(2, 9)} seeds"
    )


def make_insight(i: int, statement: str, rng: random.Random) -> Insight:
    knob = rng.choice(list(KNOBS))
    old, new = KNOBS[knob]
    gain = rng.gauss(0, 0.6)
    half = rng.uniform(0.1, 1.0)
    effect = Effect(gain_pct=gain, ci_lo=gain - half, ci_hi=gain + half, seeds=rng.randint(1, 9))
    evidence = Evidence(
        model=rng.choice(MODELS),
        dataset={"source": rng.choice(DATASETS), "rows": rng.choice((1e5, 1e6, 4.5e7))},
        knobs={knob: new},
        baseline={knob: old},
        effect=effect,
        cost_seconds=rng.uniform(60, 3600),
    )
    return Insight(
        id=f"bench-{i}", statement=statement, evidence=evidence, outcome=outcome_for(effect)
    )


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(samples_ms, n=100)
    return {
        "p50_ms": round(qs[49], 2),
        "p95_ms": round(qs[94], 2),
        "mean_ms": round(statistics.fmean(samples_ms), 2),
    }


def timed(fn: Any, *args: Any, **kwargs: Any) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000.0


def bench_size(
    n: int, statements: list[str], vectors: list[Any], queries: list[str], embedder: MiniLMEmbedder
) -> dict[str, Any]:
    rng = random.Random(n)
    picks = [rng.randrange(len(statements)) for _ in range(n)]
    insights = [make_insight(i, statements[j], rng) for i, j in enumerate(picks)]
    with tempfile.TemporaryDirectory(prefix="rea-bench-chroma-") as tmp:
        memory = InsightMemory(open_chroma(Path(tmp) / "chroma"), embedder)
        start = time.perf_counter()
        for b in range(0, n, 1000):
            memory.add(insights[b : b + 1000], embeddings=[vectors[j] for j in picks[b : b + 1000]])
        insert_s = time.perf_counter() - start
        fresh = [make_insight(n + i, make_statement(rng), rng) for i in range(1000)]
        embed_insert_s = timed(memory.add, fresh) / 1000.0
        memory.search("warm up the index and the encoder")
        plain = [timed(memory.search, q, with_conflicts=False) for q in queries]
        filtered = [
            timed(
                memory.search, q, model=rng.choice(MODELS), outcome="helped", with_conflicts=False
            )
            for q in queries
        ]
        full = [timed(memory.search, q) for q in queries]
        count = memory.count()
    return {
        "insights": count,
        "insert_per_s_precomputed": round(n / insert_s),
        "insert_per_s_with_embedding": round(1000 / embed_insert_s),
        "query_text_no_filter": percentiles(plain),
        "query_text_model_outcome_filter": percentiles(filtered),
        "query_text_full_search_with_conflicts": percentiles(full),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--distinct", type=int, default=2000, help="distinct statements embedded")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    rng = random.Random(0)
    embedder = MiniLMEmbedder(num_threads=1)
    load_ms = timed(embedder, ["load the model"])
    statements = [make_statement(rng) for _ in range(args.distinct)]
    start = time.perf_counter()
    vectors = embedder(statements)
    embed_per_s = args.distinct / (time.perf_counter() - start)
    queries = [
        rng.choice(QUERIES).format(m=rng.choice(MODELS), d=rng.choice(DATASETS)) + f" #{i}"
        for i in range(args.queries)
    ]
    embed_only = [timed(embedder, [q]) for q in queries]
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "torch_threads": embedder.num_threads,
        "model_load_ms": round(load_ms),
        "embed_statements_per_s": round(embed_per_s),
        "query_embedding_only": percentiles(embed_only),
        "sizes": {},
    }
    for n in args.sizes:
        report["sizes"][str(n)] = bench_size(n, statements, vectors, queries, embedder)
        print(f"done {n}", file=sys.stderr)
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return report


def print_table(report: dict[str, Any]) -> None:
    q = report["query_embedding_only"]
    print(f"model load {report['model_load_ms']} ms; embedding {report['embed_statements_per_s']} "
          f"statements/s; one query embedding p50 {q['p50_ms']} ms, p95 {q['p95_ms']} ms")  # fmt: skip
    print("| insights | insert/s (vectors given) | insert/s (embedding) | query p50 / p95 ms: "
          "no filter | model+outcome filter | full search (+conflicts) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for n, r in report["sizes"].items():
        cells = [
            f"{r[k]['p50_ms']} / {r[k]['p95_ms']}"
            for k in ("query_text_no_filter", "query_text_model_outcome_filter",
                      "query_text_full_search_with_conflicts")
        ]  # fmt: skip
        print(f"| {int(n):,} | {r['insert_per_s_precomputed']:,} | {r['insert_per_s_with_embedding']:,} | "
              + " | ".join(cells) + " |")  # fmt: skip


if __name__ == "__main__":
    main()
