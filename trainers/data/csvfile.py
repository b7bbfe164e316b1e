"""Plain CSV with a declared schema (`csv:PATH?label=...&sparse=...&dense=...` or `schema=`).

The first line is the header. Declared columns are looked up by name; undeclared columns are
ignored. The label must be 0 or 1; dense cells are numbers (empty = missing); sparse cells are
tokens (empty = the token "", a category of its own).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import DataError
from .raw import RawTable
from .refs import DataRef
from .textio import Columns, read_delimited


def _header(path: Path, sep: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return [c.strip() for c in next(csv.reader(fh, delimiter=sep), [])]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"csv: {path} line 1: unreadable header ({err}).") from None


def read_csv(ref: DataRef) -> tuple[RawTable, dict]:
    """Read the one file of a csv: reference. Returns the raw table and info."""
    path = ref.paths[0]
    names = _header(path, ref.sep)
    where = {n: i for i, n in enumerate(names)}
    declared = [ref.label or "", *ref.sparse, *ref.dense]
    missing = [n for n in declared if n not in where]
    if missing:
        raise DataError(
            f"csv: {path} line 1: the header has no column {', '.join(map(repr, missing))} "
            f"(it has {', '.join(names) or 'nothing'}, separated by {ref.sep!r}). Fix the declared "
            "schema, or the sep= option."
        )
    cols = Columns(
        "csv",
        path,
        len(names),
        where[ref.label or ""],
        tuple(where[n] for n in ref.dense),
        tuple(where[n] for n in ref.sparse),
        tuple(names),
    )
    table, skipped = read_delimited(
        cols, sep=ref.sep, header=True, max_rows=ref.max_rows, skip_bad_lines=ref.skip_bad_lines
    )
    return table, {"format": "csv", "skipped_lines": skipped}
