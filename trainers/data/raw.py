"""The unprocessed table every reader produces, and the rules that split it into train/valid/test.

A `RawTable` holds rows before any statistics are fitted: categorical fields as integer *codes*
(raw ids for synthetic and libFM data, first-seen codes for text tokens), dense values as floats
with NaN for "missing", labels as 0/1. Vocabularies and dense statistics are fitted later, on the
train split only (see `process.py`), so splitting must happen here, before processing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import DataError


@dataclass(frozen=True)
class RawTable:
    """Rows before vocabularies and dense transforms.

    sparse: [N, F] int64 raw codes. dense: [N, D] float64, NaN = missing. label: [N] float32 in {0, 1}.
    true_prob: [N] float64, the generator's click probability (synthetic data only).
    tokens[f]: the original text of field f's codes (code c is `tokens[f][c]`) so that hashing is
    stable across files; None when the codes are themselves the raw ids.
    """

    sparse_names: tuple[str, ...]
    dense_names: tuple[str, ...]
    sparse: np.ndarray
    dense: np.ndarray
    label: np.ndarray
    true_prob: np.ndarray | None = None
    tokens: tuple[list[str] | None, ...] | None = None

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def take(self, index: np.ndarray | slice) -> RawTable:
        """The rows at `index` (an index array or a slice), same fields and tokens."""
        prob = None if self.true_prob is None else self.true_prob[index]
        return replace(
            self,
            sparse=self.sparse[index],
            dense=self.dense[index],
            label=self.label[index],
            true_prob=prob,
        )


def split_counts(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Rows per split for `n` rows: train and valid rounded, test takes the rest."""
    n_train = round(n * fractions[0])
    n_valid = round(n * fractions[1])
    return n_train, n_valid, n - n_train - n_valid


def split_table(
    table: RawTable,
    fractions: tuple[float, float, float] | str,
    seed: int,
    source: str,
) -> tuple[RawTable, RawTable, RawTable]:
    """Split one table into train/valid/test.

    fractions: three fractions (rows shuffled with `seed` first) or "time" (contiguous 80/10/10 in
    file order, for files already sorted by time). Raises DataError if a split would be empty.
    """
    if fractions == "time":
        order = np.arange(len(table))
        fractions = (0.8, 0.1, 0.1)
    else:
        order = np.random.default_rng(seed).permutation(len(table))
    counts = split_counts(len(table), fractions)
    if min(counts) == 0:
        raise DataError(
            f"{source}: {len(table)} rows cannot be split into non-empty train/valid/test "
            f"(would get {counts[0]}/{counts[1]}/{counts[2]} rows). Use a larger file, more rows, "
            "or different split fractions."
        )
    a, b = counts[0], counts[0] + counts[1]
    return table.take(order[:a]), table.take(order[a:b]), table.take(order[b:])


def halve_table(table: RawTable, seed: int, source: str) -> tuple[RawTable, RawTable]:
    """Split a table randomly into two halves (used for a VALID file that must also yield test)."""
    if len(table) < 2:
        raise DataError(
            f"{source}: the validation file has {len(table)} rows; it is halved into valid and "
            "test, so it needs at least 2. Pass a TEST file too, or a larger VALID file."
        )
    order = np.random.default_rng(seed).permutation(len(table))
    half = len(table) // 2
    return table.take(order[:half]), table.take(order[half:])
