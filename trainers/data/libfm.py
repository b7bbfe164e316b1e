"""libFM / libSVM text files: `label idx:value idx:value ...` (frappe, MovieLens-tag style).

Field rule: the k-th `idx:value` pair of a line is field `f{k}` (1-based), and its categorical id is
`idx` (indices are global across fields; ids stay local to the field after the vocabulary). So
every line must have the same number of pairs. A position whose value is anything but 1 on some
line also yields a dense feature `f{k}_value` holding the values; positions where every value is 1
are purely categorical. Labels may be -1/1 or 0/1 (-1 and 0 both mean "no click").

Several files (TRAIN, VALID, TEST) share one code space, so an id means the same in each.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np

from ..errors import DataError
from .raw import RawTable
from .textio import MAX_BAD_SHARE, parse_numbers


def _fail(path: Path, line: int, problem: str) -> DataError:
    return DataError(
        f"libfm: {path} line {line}: {problem}. Fix the file, or add skip_bad_lines=1 to the "
        "reference to drop bad lines (they are counted)."
    )


def _count_problem(found: int, nfeat: int) -> str:
    return (
        f"{found} idx:value pairs, but other lines have {nfeat} "
        "(field = position in the line, so the count must not vary)"
    )


def _split_lines(path: Path, max_rows: int | None, nfeat: int | None, skip: bool):
    """Split lines into labels and pair tokens; drop (or fail on) lines with a wrong pair count.

    Returns line numbers [n], label texts [n], pair texts [n*F] (row-major), F, skipped count.
    """
    linenos, labels, flat, skipped = [], [], [], 0
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(islice(fh, max_rows), 1):
            parts = line.split()
            if not parts:
                continue
            if nfeat is None:
                nfeat = len(parts) - 1
                if nfeat == 0:
                    raise _fail(path, no, "no idx:value pairs after the label")
            if len(parts) - 1 != nfeat:
                if not skip:
                    raise _fail(path, no, _count_problem(len(parts) - 1, nfeat))
                skipped += 1
                continue
            linenos.append(no)
            labels.append(parts[0])
            flat.extend(parts[1:])
    return np.asarray(linenos, dtype=np.int64), labels, flat, nfeat, skipped


def _parse_pairs(flat: list[str], n: int, nfeat: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """'idx:value' texts → idx [n, F] int64, value [n, F] float64, bad mask [n, F]."""
    split = [t.partition(":") for t in flat]
    bad = np.fromiter((not s[1] or not s[0] or not s[2] for s in split), bool, len(split))
    idx_f, bad_idx = parse_numbers([s[0] for s in split])
    value, bad_val = parse_numbers([s[2] for s in split])
    with np.errstate(invalid="ignore"):
        bad_idx |= np.isnan(idx_f) | (idx_f < 0) | (idx_f >= 2**62) | (idx_f != np.floor(idx_f))
    bad |= bad_idx | bad_val | np.isnan(value)
    idx = np.where(bad, 0, np.nan_to_num(idx_f)).astype(np.int64)
    return idx.reshape(n, nfeat), value.reshape(n, nfeat), bad.reshape(n, nfeat)


def _read_one(path: Path, max_rows: int | None, nfeat: int | None, skip: bool):
    """One file → (label [n], idx [n, F], value [n, F], F, skipped)."""
    try:
        linenos, labels, flat, nfeat, skipped = _split_lines(path, max_rows, nfeat, skip)
    except UnicodeDecodeError as err:
        raise DataError(f"libfm: {path} is not UTF-8 text ({err}). Convert it to UTF-8.") from None
    n = len(labels)
    if n == 0:
        raise DataError(f"libfm: {path} has no usable lines ({skipped} skipped). Check the file.")
    label, bad_label = parse_numbers(labels)
    bad_label |= ~np.isin(label, (-1.0, 0.0, 1.0))
    idx, value, bad = _parse_pairs(flat, n, nfeat)
    row_bad = bad_label | bad.any(axis=1)
    if row_bad.any() and not skip:
        i = int(np.argmax(row_bad))
        if bad_label[i]:
            raise _fail(path, int(linenos[i]), f"label {labels[i]!r} is not -1, 0 or 1")
        k = int(np.argmax(bad[i]))
        raise _fail(
            path, int(linenos[i]), f"field f{k + 1}: {flat[i * nfeat + k]!r} is not idx:value"
        )
    total = n + skipped
    skipped += int(row_bad.sum())
    if skipped > MAX_BAD_SHARE * total:
        raise DataError(
            f"libfm: {path}: {skipped} of {total} lines are bad, so this is probably not a libFM "
            "file. Check the file and the reference's scheme."
        )
    ok = ~row_bad
    return (label[ok] > 0).astype(np.float32), idx[ok], value[ok], nfeat, skipped


def read_libfm(
    paths: tuple[Path, ...], *, max_rows: int | None, skip_bad_lines: bool
) -> tuple[list[RawTable], dict]:
    """Read 1-3 libFM files into tables sharing fields and codes. Returns tables and info."""
    parsed, nfeat = [], None
    for path in paths:
        label, idx, value, nfeat, skipped = _read_one(path, max_rows, nfeat, skip_bad_lines)
        parsed.append((label, idx, value, skipped))
    dense_pos = [k for k in range(nfeat) if any((p[2][:, k] != 1.0).any() for p in parsed)]
    tables = [
        RawTable(
            sparse_names=tuple(f"f{k + 1}" for k in range(nfeat)),
            dense_names=tuple(f"f{k + 1}_value" for k in dense_pos),
            sparse=idx,
            dense=value[:, dense_pos].astype(np.float64),
            label=label,
        )
        for label, idx, value, _ in parsed
    ]
    info = {"format": "libfm", "skipped_lines": sum(p[3] for p in parsed)}
    return tables, info
