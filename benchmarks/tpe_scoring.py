"""TPE's candidate scoring on the wake path (issue 5): REA's kept mixture (`_Mixture.log_pdf`)
against Optuna's own `log_pdf`, on the estimators real exploitation rounds build.

    .venv/bin/python benchmarks/tpe_scoring.py                 # 2 campaigns, as wake_profile

Drives campaigns exactly as `benchmarks/wake_profile.py --campaigns N` does. Every time a round
scores its candidates, the same candidates are scored twice, by REA's mixture and by Optuna's
`_MixtureOfProductDistribution` over the same kernels, each timed in thread CPU; the two
results must be the same bits. Prints the calls, the medians and totals, and how many differed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import wake_profile
from optuna.samplers._tpe import probability_distributions as optuna_mixtures

from rea.agents.planner import exploit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=2)
    args = parser.parse_args(argv)
    ours_ns: list[int] = []
    theirs_ns: list[int] = []
    differed = 0
    kept_log_pdf = exploit._Mixture.log_pdf

    def both(self: exploit._Mixture, x: np.ndarray) -> np.ndarray:
        nonlocal differed
        start = time.thread_time_ns()
        ours = kept_log_pdf(self, x)
        ours_ns.append(time.thread_time_ns() - start)
        stock = optuna_mixtures._MixtureOfProductDistribution(self.weights, self.distributions)
        start = time.thread_time_ns()
        theirs = stock.log_pdf(x)
        theirs_ns.append(time.thread_time_ns() - start)
        differed += not np.array_equal(ours, theirs)
        return ours

    exploit._Mixture.log_pdf = both  # type: ignore[method-assign]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            wake_profile.main(["--campaigns", str(args.campaigns)])
    finally:
        exploit._Mixture.log_pdf = kept_log_pdf  # type: ignore[method-assign]
    for name, times in (("REA's _Mixture", ours_ns), ("Optuna's log_pdf", theirs_ns)):
        print(
            f"{name:>17}: {len(times)} calls, median {statistics.median(times) / 1e3:.0f} us, "
            f"total {sum(times) / 1e6:.0f} ms"
        )
    print(f"results that differ in any bit: {differed} of {len(ours_ns)}")
    return 1 if differed or not ours_ns else 0


if __name__ == "__main__":
    raise SystemExit(main())
