"""Reading delimited text (Criteo TSV/CSV, plain CSV) into a RawTable, fast and strictly.

Rows are read in chunks with the csv module (C speed) and each column is converted with numpy in
one go; only a chunk that fails the vectorised parse is re-parsed cell by cell, to find the line
and field to blame. Nothing is guessed: a row with the wrong number of columns, a number that is
not a number or a label that is not 0/1 is an error naming the file, the 1-based line and the
field, unless `skip_bad_lines` is set, in which case such lines are dropped and counted.
Line numbers count records, so they are exact unless a quoted field spans several lines.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, count, islice
from pathlib import Path

import numpy as np

from ..errors import DataError
from .raw import RawTable

CHUNK_ROWS = 100_000
MAX_BAD_SHARE = 0.5  # with skip_bad_lines, more bad lines than this means a wrong format: fail

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class TokenCodes:
    """Gives each distinct text token of one field a code 0, 1, 2... in order of first sight."""

    def __init__(self) -> None:
        # A missing key gets the next integer: the whole lookup loop runs in C via map().
        self.index: defaultdict[str, int] = defaultdict(count().__next__)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """[n] tokens → [n] int64 codes."""
        return np.fromiter(map(self.index.__getitem__, tokens), np.int64, len(tokens))

    def tokens(self) -> list[str]:
        return list(self.index)


def parse_numbers(cells: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Text → float64, with '' (and 'nan') as NaN = missing. Returns values [n], bad mask [n]."""
    obj = np.array(cells, dtype=object)
    if obj.size:
        obj[obj == ""] = "nan"
    try:
        values = obj.astype(np.float64)  # float() per cell, in C
        return values, np.isinf(values)
    except (ValueError, TypeError):
        pass
    values = np.full(obj.shape, np.nan)
    bad = np.zeros(obj.shape, dtype=bool)
    for i, cell in enumerate(obj.tolist()):
        try:
            values[i] = float(cell)
        except ValueError:
            bad[i] = True
    return values, bad | np.isinf(values)


@dataclass(frozen=True)
class Columns:
    """Where the label, dense and sparse columns sit in each record of a delimited file."""

    fmt: str  # "criteo" or "csv", for messages
    path: Path
    ncols: int
    label: int
    dense: tuple[int, ...]
    sparse: tuple[int, ...]
    names: tuple[str, ...]  # name of every column, for messages


@dataclass
class _Chunk:
    """One parsed chunk. sparse holds token lists until `read_delimited` swaps in codes; `ok`
    marks the rows that parsed (the others are dropped once the tokens are encoded)."""

    label: np.ndarray
    dense: np.ndarray
    sparse: list
    skipped: int
    ok: np.ndarray


def _fail(cols: Columns, line: int, problem: str) -> DataError:
    return DataError(
        f"{cols.fmt}: {cols.path} line {line}: {problem}. Fix the file, or add "
        "skip_bad_lines=1 to the reference to drop bad lines (they are counted)."
    )


def _check_widths(rows: list[list[str]], first: int, cols: Columns, skip: bool):
    """Indices of rows with the right column count, and how many had a wrong one (blank lines
    are dropped without counting)."""
    lens = np.fromiter(map(len, rows), np.int64, len(rows))
    wrong = (lens != cols.ncols) & (lens > 0)
    if wrong.any() and not skip:
        i = int(np.argmax(wrong))
        raise _fail(cols, first + i, f"expected {cols.ncols} columns, found {lens[i]}")
    return np.flatnonzero(lens == cols.ncols), int(wrong.sum())


def _parse_chunk(rows: list[list[str]], first: int, cols: Columns, skip: bool) -> _Chunk:
    """Parse records whose first one is on line `first`: labels [n], dense [n, D], tokens F × [n]."""
    keep, wrong = _check_widths(rows, first, cols, skip)
    good = rows if keep.size == len(rows) else [rows[i] for i in keep]
    flat = list(chain.from_iterable(good))  # row-major cells; column c is flat[c::ncols]
    checks = []  # (bad mask, column index, what is wrong)
    label, bad = parse_numbers(flat[cols.label :: cols.ncols])
    checks.append((bad | ~np.isin(label, (0.0, 1.0)), cols.label, "is not a label 0 or 1"))
    dense = np.empty((len(good), len(cols.dense)))
    for d, c in enumerate(cols.dense):
        dense[:, d], bad = parse_numbers(flat[c :: cols.ncols])
        checks.append((bad, c, "is not a number"))
    row_bad = np.logical_or.reduce([bad for bad, _, _ in checks])
    if row_bad.any() and not skip:
        i = int(np.argmax(row_bad))
        c, what = next((c, w) for bad, c, w in checks if bad[i])
        raise _fail(cols, first + int(keep[i]), f"field {cols.names[c]}: {good[i][c]!r} {what}")
    sparse = [flat[c :: cols.ncols] for c in cols.sparse]
    return _Chunk(label.astype(np.float32), dense, sparse, wrong + int(row_bad.sum()), ~row_bad)


def _chunks(cols: Columns, sep: str, quoting: int, header: bool, max_rows: int | None):
    """Yield (1-based line of the chunk's first record, records) from the file."""
    with open(cols.path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter=sep, quoting=quoting)
        if header:
            next(reader, None)
        line, left = 1 + int(header), max_rows if max_rows is not None else -1
        while left != 0:
            take = CHUNK_ROWS if left < 0 else min(CHUNK_ROWS, left)
            try:
                rows = list(islice(reader, take))
            except csv.Error as err:
                raise _fail(cols, reader.line_num, f"unreadable record ({err})") from None
            if not rows:
                return
            yield line, rows
            line += len(rows)
            left = left - len(rows) if left > 0 else left


def read_delimited(
    cols: Columns, *, sep: str, header: bool, max_rows: int | None, skip_bad_lines: bool
) -> tuple[RawTable, int]:
    """Read a whole delimited file. Returns the table and the number of skipped bad lines."""
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    codes = [TokenCodes() for _ in cols.sparse]
    parts: list[_Chunk] = []
    try:
        for first, rows in _chunks(cols, sep, quoting, header, max_rows):
            c = _parse_chunk(rows, first, cols, skip_bad_lines)
            # Swap the tokens for int codes chunk by chunk: strings cost ~8x the memory.
            sparse = [enc.encode(t)[c.ok] for enc, t in zip(codes, c.sparse, strict=True)]
            parts.append(_Chunk(c.label[c.ok], c.dense[c.ok], sparse, c.skipped, c.ok[c.ok]))
    except UnicodeDecodeError as err:
        raise DataError(
            f"{cols.fmt}: {cols.path} is not UTF-8 text ({err}). Convert it to UTF-8."
        ) from None
    return _assemble(cols, parts, codes)


def _assemble(cols: Columns, parts: list[_Chunk], codes: list[TokenCodes]) -> tuple[RawTable, int]:
    skipped = sum(p.skipped for p in parts)
    rows = sum(len(p.label) for p in parts)
    if rows == 0:
        raise DataError(
            f"{cols.fmt}: {cols.path} has no usable rows ({skipped} bad lines skipped). "
            "Check that the file and the reference's scheme match."
        )
    if skipped > MAX_BAD_SHARE * (rows + skipped):
        raise DataError(
            f"{cols.fmt}: {cols.path}: {skipped} of {rows + skipped} lines are bad, so this is "
            f"probably not a {cols.fmt} file. Check the file and the reference's scheme."
        )
    table = RawTable(
        sparse_names=tuple(cols.names[c] for c in cols.sparse),
        dense_names=tuple(cols.names[c] for c in cols.dense),
        sparse=np.concatenate(
            [
                np.stack(p.sparse, axis=1) if p.sparse else np.zeros((len(p.label), 0), np.int64)
                for p in parts
            ]
        ),
        dense=np.concatenate([p.dense for p in parts]),
        label=np.concatenate([p.label for p in parts]),
        tokens=tuple(c.tokens() for c in codes),
    )
    return table, skipped
