"""MovieLens-100k as a libFM file, for `rea bench campaign --data libfm:...` on real data.

    .venv/bin/python benchmarks/movielens_libfm.py --out .rea/data/ml-100k.libfm

No libFM-format CTR dataset (frappe, MovieLens-tag) is published on PyPI, but the RecBole wheel
(`recbole` on PyPI, MIT) ships MovieLens-100k (GroupLens; 100,000 ratings of 1,682 movies by 943
users) under recbole/dataset_example/ml-100k. This script downloads that wheel with pip (no
install), reads the ratings, users and items from it, and writes one libFM line per rating:

    label  user  item  age-band  gender  occupation  zip-region  release-decade  first-genre

label = 1 when the rating is >= 4 (55% of ratings), else 0: "would click / like" as in the
libFM MovieLens-tag benchmarks. Each field gets its own index range (k-th pair = field k, as
rea's libFM loader expects), every value is 1 (all fields categorical). Lines are in the order
of the ratings file; give the benchmark `?split=0.8,0.1,0.1` and it varies split_seed per repeat.
The MovieLens licence allows research use but not redistribution: the file is built locally and
not committed.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"
FIELDS = ("user", "item", "age", "gender", "occupation", "zip", "decade", "genre")


def download_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), WHEEL]
    subprocess.run(cmd, check=True)
    return next(dest.glob("recbole-*.whl"))


def read_table(wheel: zipfile.ZipFile, kind: str) -> list[dict[str, str]]:
    text = wheel.read(MEMBER.format(kind)).decode("utf-8", errors="replace")
    rows = csv.reader(io.StringIO(text), delimiter="\t")
    header = [h.split(":")[0] for h in next(rows)]
    return [dict(zip(header, row, strict=False)) for row in rows if row]


def features(inter: dict[str, str], user: dict[str, str], item: dict[str, str]) -> list[str]:
    age = int(user.get("age") or 0)
    year = (item.get("release_year") or "").strip()
    return [
        inter["user_id"],
        inter["item_id"],
        str(min(age // 10, 6)),
        user.get("gender", "?"),
        user.get("occupation", "?"),
        (user.get("zip_code") or "?")[:1],
        year[:3] if year.isdigit() else "?",
        ((item.get("class") or "?").split() or ["?"])[0],
    ]


def convert(wheel_path: Path, out: Path) -> tuple[int, float]:
    """Write the libFM file; (lines, share of positive labels)."""
    with zipfile.ZipFile(wheel_path) as wheel:
        inters = read_table(wheel, "inter")
        users = {u["user_id"]: u for u in read_table(wheel, "user")}
        items = {i["item_id"]: i for i in read_table(wheel, "item")}
    index: list[dict[str, int]] = [{} for _ in FIELDS]
    lines, positives = [], 0
    for row in inters:
        values = features(row, users.get(row["user_id"], {}), items.get(row["item_id"], {}))
        label = int(float(row["rating"]) >= 4)
        positives += label
        codes = [index[f].setdefault(v, len(index[f])) for f, v in enumerate(values)]
        lines.append((label, codes))
    offsets = [sum(len(index[g]) for g in range(f)) for f in range(len(FIELDS))]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as fh:
        for label, codes in lines:
            pairs = " ".join(f"{offsets[f] + c}:1" for f, c in enumerate(codes))
            fh.write(f"{label} {pairs}\n")
    return len(lines), positives / max(1, len(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".rea/data/ml-100k.libfm"))
    parser.add_argument("--wheel", type=Path, help="a recbole wheel already downloaded")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        n, ctr = convert(wheel, args.out)
    print(f"wrote {args.out}: {n} lines, {len(FIELDS)} fields, positive share {ctr:.3f}")
    print(f'use: --data "libfm:{args.out}?split=0.8,0.1,0.1"')


if __name__ == "__main__":
    main()
