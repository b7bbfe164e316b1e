"""How long `rea status` takes to answer, against the same command with the start-up it had
before 2026-12-05.

    .venv/bin/python benchmarks/cli_startup.py --runs 7 [--json F]

Until 2026-12-05 every `rea` command imported the campaign benchmark (`rea bench`'s module) and
through its data loader torch, although only `rea train`, `rea bench` and the jobs need them;
`rea status`, `approve`, `report` and `serve` now start without them. The two arms run
alternately, each a fresh interpreter on the same REA_HOME: "cli" is `python -m rea.app.cli
status --json`, "cli, old imports" is the same entry point after `import rea.app.bench_campaign`
(what the command imported before). Run it without PYTHONDONTWRITEBYTECODE (as `make` does), or
every start compiles the project's sources again. Prints the median wall seconds of each arm and
their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ARMS = {
    "cli": [sys.executable, "-m", "rea.app.cli", "status", "--json"],
    "cli, old imports": [
        sys.executable,
        "-c",
        "import sys, rea.app.bench_campaign; sys.argv = ['rea', 'status', '--json']; "
        "from rea.app.cli import main; main()",
    ],
}


def once(cmd: list[str], home: str) -> float:
    env = {**os.environ, "REA_HOME": home, "REA_BRAIN": "offline"}
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as home:
        for cmd in ARMS.values():  # first run of each: creates the store, warms the page cache
            once(cmd, home)
        for _ in range(args.runs):
            for arm, cmd in ARMS.items():
                times[arm].append(once(cmd, home))
    medians = {arm: statistics.median(t) for arm, t in times.items()}
    ratio = medians["cli, old imports"] / medians["cli"]
    for arm, t in times.items():
        print(f"{arm:<16} median {medians[arm]:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in t)})")
    print(f"ratio (old imports) / cli: {ratio:.2f}")
    if args.json:
        out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": times}
        out |= {"median_s": medians, "ratio": ratio, "cpus": os.cpu_count()}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
