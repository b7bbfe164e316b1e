"""Criteo display-ads files, in either layout, detected from the first line.

- raw release: tab-separated, no header, 40 columns: label, I1..I13 (integers), C1..C26 (hex).
- CSV with a header naming label, I1..I13, C1..C26 (any order, extra columns ignored), as in
  DeepCTR's `criteo_sample.txt`. A tab-separated file with such a header is read the same way.

Empty I cells are missing (0 after the dense transform). Empty C cells are the token "", an
ordinary category of its own ("missing"), so it gets its own id whenever it is frequent enough in
train instead of being lumped with rare ids into OOV. I values may be written as floats ("260.0").
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .raw import RawTable
from .textio import Columns, read_delimited

DENSE = tuple(f"I{i}" for i in range(1, 14))
SPARSE = tuple(f"C{i}" for i in range(1, 27))
COLUMNS = ("label", *DENSE, *SPARSE)


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.readline().rstrip("\r\n")
    except UnicodeDecodeError:
        raise DataError(f"criteo: {path} is not UTF-8 text. Convert it to UTF-8.") from None


def detect_layout(path: Path) -> tuple[str, Columns, bool]:
    """(separator, column positions, has header) for a Criteo file, from its first line."""
    first = _first_line(path)
    if not first:
        raise DataError(
            f"criteo: {path} is empty (line 1 has no data). Point the reference at a Criteo file."
        )
    sep = "\t" if "\t" in first else ","
    cells = [c.strip().strip('"') for c in first.split(sep)]
    header = "label" in (c.lower() for c in cells)
    if not header:
        return (
            sep,
            Columns("criteo", path, 40, 0, tuple(range(1, 14)), tuple(range(14, 40)), COLUMNS),
            False,
        )
    where = {name.lower(): i for i, name in enumerate(cells)}
    missing = [n for n in COLUMNS if n.lower() not in where]
    if missing:
        raise DataError(
            f"criteo: {path} line 1: the header lacks {', '.join(missing)}. A Criteo CSV header "
            "must name label, I1..I13 and C1..C26."
        )
    names = tuple(cells)
    pos = [where[n.lower()] for n in COLUMNS]
    return (
        sep,
        Columns("criteo", path, len(cells), pos[0], tuple(pos[1:14]), tuple(pos[14:]), names),
        True,
    )


def read_criteo(path: Path, *, max_rows: int | None, skip_bad_lines: bool) -> tuple[RawTable, dict]:
    """Read a Criteo file. Returns the raw table and info (`format`, `skipped_lines`)."""
    sep, cols, header = detect_layout(path)
    table, skipped = read_delimited(
        cols, sep=sep, header=header, max_rows=max_rows, skip_bad_lines=skip_bad_lines
    )
    fmt = "criteo-csv" if sep == "," else "criteo-tsv"
    return table, {
        "format": fmt + ("-header" if header and sep == "\t" else ""),
        "skipped_lines": skipped,
    }
