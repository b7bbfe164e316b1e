"""TPE's work on the wake path (issue 5), REA's against Optuna's, on the estimators real
exploitation rounds build: scoring candidates (`_Mixture.log_pdf` against Optuna's `log_pdf`),
building an estimator with the scoring's precomputation (`_estimator`, every knob of a kind at
once, against Optuna's `_ParzenEstimator` and then `_Mixture` over it) and sampling candidates (`_Mixture.sample` against Optuna's `sample`).

    .venv/bin/python benchmarks/tpe_scoring.py                 # 2 campaigns, as wake_profile

Drives campaigns exactly as `benchmarks/wake_profile.py --campaigns N` does. Every time a round
scores candidates, builds an estimator over the known space or samples candidates, Optuna does
the same from the same inputs (sampling: from a copy of the generator), each timed in thread
CPU; the results must be the same bits (for an estimator: its weights and every kernel's
parameters). Prints the calls, the medians and totals, and how many differed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import wake_profile
from optuna.samplers._tpe import probability_distributions as optuna_mixtures
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator

from rea.agents.planner import exploit


def _same_estimator(ours: Any, theirs: Any) -> bool:
    a, b = ours._mixture_distribution, theirs._mixture_distribution
    if not np.array_equal(a.weights, b.weights) or len(a.distributions) != len(b.distributions):
        return False
    return all(
        type(x) is type(y) and all(np.array_equal(u, v) for u, v in zip(x, y, strict=True))
        for x, y in zip(a.distributions, b.distributions, strict=True)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=2)
    args = parser.parse_args(argv)
    times: dict[str, tuple[list[int], list[int]]] = {
        "scoring": ([], []),
        "estimator build": ([], []),
        "sampling": ([], []),
    }
    differed = dict.fromkeys(times, 0)
    optuna_alone: list[int] = []  # Optuna's estimator build without `_Mixture`
    kept_log_pdf, kept_sample, kept_estimator = (
        exploit._Mixture.log_pdf,
        exploit._Mixture.sample,
        exploit._estimator,
    )

    def timed(fn: Any, *call: Any) -> tuple[Any, int]:
        start = time.thread_time_ns()
        out = fn(*call)
        return out, time.thread_time_ns() - start

    turn = [0]

    def pair(ours: Any, theirs: Any) -> tuple[tuple[Any, int], tuple[Any, int]]:
        """Run both sides, which one first alternating from call to call (the second runs
        on caches the first warmed)."""
        turn[0] += 1
        if turn[0] % 2:
            first = ours()
            return first, theirs()
        second = theirs()
        return ours(), second

    def both_log_pdf(self: exploit._Mixture, x: np.ndarray) -> np.ndarray:
        stock = optuna_mixtures._MixtureOfProductDistribution(self.weights, self.distributions)
        (ours, ns), (theirs, stock_ns) = pair(
            lambda: timed(kept_log_pdf, self, x), lambda: timed(stock.log_pdf, x)
        )
        times["scoring"][0].append(ns)
        times["scoring"][1].append(stock_ns)
        differed["scoring"] += not np.array_equal(ours, theirs)
        return ours

    def both_sample(self: exploit._Mixture, rng: np.random.RandomState, size: int) -> np.ndarray:
        stock = optuna_mixtures._MixtureOfProductDistribution(self.weights, self.distributions)
        twin = copy.deepcopy(rng)
        (ours, ns), (theirs, stock_ns) = pair(
            lambda: timed(kept_sample, self, rng, size), lambda: timed(stock.sample, twin, size)
        )
        times["sampling"][0].append(ns)
        times["sampling"][1].append(stock_ns)
        left, right = rng.get_state(), twin.get_state()  # the generators left alike too
        same = np.array_equal(left[1], right[1]) and left[2:] == right[2:]
        differed["sampling"] += not (same and np.array_equal(ours, theirs))
        return ours

    def both_estimator(plan: Any, space: Any, observed: np.ndarray, parameters: Any) -> Any:
        # REA's build includes the scoring's precomputation (`_Mixture`); so does the other
        # side: Optuna's `_ParzenEstimator`, then `_Mixture` over it (what REA did before)
        columns = {name: observed[:, i] for i, name in enumerate(space)}

        def stock() -> tuple[Any, int, int]:
            theirs, stock_ns = timed(_ParzenEstimator, columns, space, parameters)
            _, mixture_ns = timed(exploit._Mixture, theirs._mixture_distribution)
            return theirs, stock_ns, mixture_ns

        (ours, ns), (theirs, stock_ns, mixture_ns) = pair(
            lambda: timed(kept_estimator, plan, space, observed, parameters), stock
        )
        times["estimator build"][0].append(ns)
        times["estimator build"][1].append(stock_ns + mixture_ns)
        optuna_alone.append(stock_ns)
        differed["estimator build"] += not _same_estimator(ours, theirs)
        return ours

    exploit._Mixture.log_pdf = both_log_pdf  # type: ignore[method-assign]
    exploit._Mixture.sample = both_sample  # type: ignore[method-assign]
    exploit._estimator = both_estimator
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            wake_profile.main(["--campaigns", str(args.campaigns)])
    finally:
        exploit._Mixture.log_pdf = kept_log_pdf  # type: ignore[method-assign]
        exploit._Mixture.sample = kept_sample  # type: ignore[method-assign]
        exploit._estimator = kept_estimator
    failed = False
    for what, (ours_ns, theirs_ns) in times.items():
        print(f"{what}:")
        sides = [("REA", ours_ns), ("Optuna", theirs_ns)]
        if what == "estimator build":
            sides = [
                ("REA", ours_ns),
                ("Optuna's, then REA's _Mixture", theirs_ns),
                ("(Optuna's alone)", optuna_alone),
            ]
        for name, ns in sides:
            print(
                f"  {name:>6}: {len(ns)} calls, median {statistics.median(ns) / 1e3:.0f} us, "
                f"total {sum(ns) / 1e6:.0f} ms"
            )
        print(f"  results that differ in any bit: {differed[what]} of {len(ours_ns)}")
        failed = failed or bool(differed[what]) or not ours_ns
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
