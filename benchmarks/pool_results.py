"""Pool `rea bench campaign` results over runs: each arm's mean test-NE gain per data set, and the
gain ratio of every other arm to TPE with a bootstrap interval.

One bench run holds 1-3 repeats, and on the synthetic preset one repeat of the same code moves by
~3 points between runs (docs/benchmark-campaign.md), so a single run's ratio says little. This
script reads several bench JSON files (`rea bench campaign --json` output, as kept under
benchmarks/results/) and pools their repeats:

* repeats are grouped by their data reference (a synthetic preset's data seed, a file's split
  seed), since the data sets differ far more than the runs on one of them; a file is known by
  its name, not its directory (runs build the MovieLens file under different temp dirs);
* an arm's pooled gain is the mean over data sets of its mean gain on each (every data set
  weighs the same, however many repeats it has);
* the ratio to TPE uses only data sets where both arms have repeats; its 95 % interval comes from
  a stratified bootstrap (repeats resampled with replacement within each data set and arm).

Which runs to pool is the caller's choice: pool runs of one agent version (or of versions whose
campaigns did the same thing) against TPE runs of one TPE arm. Arms are renamed with
`--as FILE=ARM:NAME` (e.g. to keep two agent versions apart), and left out with NAME `-`.

    .venv/bin/python benchmarks/pool_results.py benchmarks/results/campaign_synthetic_800s_a.json \\
        benchmarks/results/campaign_synthetic_800s_b.json [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

REFERENCE = "tpe"
BOOTSTRAP = 10_000


def load_gains(
    paths: list[Path], rename: dict[tuple[str, str], str] | None = None
) -> dict[str, dict[str, list[float]]]:
    """arm -> data reference -> test-NE gains (%) of its repeats, over every file."""
    rename = rename or {}
    used: set[tuple[str, str]] = set()
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        try:
            doc = json.loads(path.read_text())
            repeats = doc["repeats_detail"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise SystemExit(f"{path}: not a `rea bench campaign --json` result ({err!r})") from err
        for rep in repeats:
            for arm, result in rep["arms"].items():
                used.add((str(path), arm))
                gain = result.get("ne_gain_pct")
                if gain is None:  # no pick retrained: that repeat has no gain to pool
                    continue
                name = rename.get((str(path), arm), arm)
                if name == "-":  # left out
                    continue
                out[name][data_key(rep["data"])].append(float(gain))
    if unmatched := sorted(set(rename) - used):
        named = ", ".join(f"{path}={arm}" for path, arm in unmatched)
        raise SystemExit(
            f"--as {named}: no such arm in that file (give FILE exactly as in the file list)"
        )
    return {arm: dict(by_data) for arm, by_data in out.items()}


def data_key(ref: str) -> str:
    """The data reference with a file path reduced to its file name."""
    scheme, sep, rest = ref.partition(":")
    if not sep or scheme == "synthetic":
        return ref
    path, q, query = rest.partition("?")
    return f"{scheme}:{Path(path).name}{q}{query}"


def pooled_mean(by_data: dict[str, list[float]], data: list[str]) -> float:
    return statistics.fmean(statistics.fmean(by_data[d]) for d in data)


def ratio_interval(
    arm: dict[str, list[float]], ref: dict[str, list[float]], data: list[str], seed: int = 0
) -> tuple[float, float] | None:
    """95 % stratified bootstrap interval of pooled_mean(arm) / pooled_mean(ref)."""
    rng = random.Random(seed)
    ratios = []
    for _ in range(BOOTSTRAP):
        a = {d: rng.choices(arm[d], k=len(arm[d])) for d in data}
        r = {d: rng.choices(ref[d], k=len(ref[d])) for d in data}
        denominator = pooled_mean(r, data)
        if denominator > 0:
            ratios.append(pooled_mean(a, data) / denominator)
    if len(ratios) < BOOTSTRAP // 2:
        return None  # the reference's gain is not positive in most resamples: no ratio
    ratios.sort()
    return ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


def pool(gains: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """Per arm: repeats and mean gain per data set, the pooled gain, and (for arms other than
    TPE) the ratio to TPE's pooled gain over the data sets both have, with its interval."""
    ref = gains.get(REFERENCE, {})
    arms: dict[str, Any] = {}
    for arm, by_data in sorted(gains.items()):
        data = sorted(by_data)
        entry: dict[str, Any] = {
            "per_data": {
                d: {"n": len(v), "mean": round(statistics.fmean(v), 3), "gains": v}
                for d, v in sorted(by_data.items())
            },
            "pooled_gain_pct": round(pooled_mean(by_data, data), 3),
        }
        shared = [d for d in data if d in ref]
        if arm != REFERENCE and shared:
            gain, ref_gain = pooled_mean(by_data, shared), pooled_mean(ref, shared)
            interval = ratio_interval(by_data, ref, shared)
            entry["vs_tpe"] = {
                "data": shared,
                "gain_pct": round(gain, 3),
                "tpe_gain_pct": round(ref_gain, 3),
                "ratio": round(gain / ref_gain, 3) if ref_gain > 0 else None,
                "ratio_ci95": [round(x, 3) for x in interval] if interval else None,
            }
        arms[arm] = entry
    return {"arms": arms}


def _rename(specs: list[str]) -> dict[tuple[str, str], str]:
    out = {}
    for spec in specs:
        try:
            path, rest = spec.rsplit("=", 1)
            arm, name = rest.split(":", 1)
        except ValueError:
            msg = f"--as {spec!r}: give FILE=ARM:NAME, e.g. run.json=agent:agent-v2"
            raise SystemExit(msg) from None
        out[(path, arm)] = name
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="bench JSON files")
    parser.add_argument("--as", dest="rename", action="append", default=[], metavar="FILE=ARM:NAME")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = pool(load_gains(args.files, _rename(args.rename)))
    result.update(files=[str(f) for f in args.files], renamed=args.rename)  # what was pooled
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for arm, entry in result["arms"].items():
        per = "; ".join(f"{d}: {v['mean']:+.2f} (n={v['n']})" for d, v in entry["per_data"].items())
        print(f"{arm}: pooled {entry['pooled_gain_pct']:+.2f} %  [{per}]")
        if vs := entry.get("vs_tpe"):
            ci = vs["ratio_ci95"]
            ci_text = f", 95 % CI {ci[0]:.2f}..{ci[1]:.2f}" if ci else ""
            print(
                f"  vs TPE on {len(vs['data'])} data set(s): {vs['gain_pct']:+.2f} % against "
                f"{vs['tpe_gain_pct']:+.2f} %, ratio {vs['ratio']}{ci_text}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
