"""An in-process copy of the insights' small metadata, so filters and conflicts skip SQLite.

Why: Chroma's embedded engine applies a `where` by building the set of matching ids in SQLite
before the vector search, and that grows with the number of matching records (+300 ms for a
model + outcome filter at 100k insights). With this index, `InsightMemory.search` runs the vector
query unfiltered over more candidates and filters them here in Python (`matches`), and finds
contradicting insights by a dict lookup on `sig_outcome` instead of a filtered `get`.

The index holds every metadata key except `insight_json` (about 1 KB per insight in memory:
~100 MB at 100k). It is built from one full metadata scan, on first use, and kept current by the
owning `InsightMemory.add`. Writes by another process (e.g. the insight server) are detected by
a change of `collection.count()`, which triggers a rebuild; an upsert by another process that
only *replaces* existing ids keeps the count and is not seen until the next rebuild (the ranking
still reads `insight_json` fresh from Chroma, only the filter keys can be stale).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

SCAN_BATCH = 5000  # records per `get` page while building the index
SAMPLE = 1000  # records kept to estimate a filter's selectivity


class UnsupportedFilter(Exception):
    """The `where` uses an operator or value type the Python evaluator does not mirror exactly."""


_COMPARE = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _same(a: Any, b: Any) -> bool:
    """Chroma equality: a bool never equals a number (unlike Python's True == 1)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


Predicate = Callable[[dict[str, Any]], bool]


def _field(key: str, cond: Any) -> Predicate:
    """One `{key: cond}` clause; `cond` is a scalar (equality) or `{"$op": value}`."""
    if not isinstance(cond, dict):
        return lambda m: key in m and _same(m[key], cond)
    if len(cond) != 1:
        raise UnsupportedFilter(f"clause on {key!r} must have one operator")
    op, value = next(iter(cond.items()))
    if op == "$eq":
        return lambda m: key in m and _same(m[key], value)
    if op == "$in":
        return lambda m: key in m and any(_same(m[key], v) for v in value)
    if op in ("$ne", "$nin"):
        values = [value] if op == "$ne" else list(value)
        return lambda m: not any(_same(_present(m, key, op), v) for v in values)
    if op in _COMPARE:
        if not _is_number(value):
            raise UnsupportedFilter(f"{op} needs a number (got {value!r})")
        test = _COMPARE[op]
        return lambda m: key in m and _is_number(_numeric(m[key], op)) and test(m[key], value)
    raise UnsupportedFilter(f"operator {op!r}")


def _present(meta: dict[str, Any], key: str, op: str) -> Any:
    if key not in meta:  # Chroma's treatment of missing keys here is not mirrored: use SQLite
        raise UnsupportedFilter(f"{op} on a record without {key!r}")
    return meta[key]


def _numeric(x: Any, op: str) -> Any:
    if not _is_number(x):
        raise UnsupportedFilter(f"{op} on a non-number value {x!r}")
    return x


def compile_where(where: dict[str, Any] | None) -> Predicate:
    """A predicate on metadata equal to the Chroma `where` (the subset `build_where` produces:
    $and/$or/$eq/$ne/$in/$nin/$gt/$gte/$lt/$lte). Raises UnsupportedFilter for anything else,
    here or when a record falls where the semantics are not mirrored (see `_present`)."""
    if not where:
        return lambda m: True
    if len(where) == 1 and next(iter(where)) in ("$and", "$or"):
        op, parts = next(iter(where.items()))
        preds = [compile_where(p) for p in parts]
        if op == "$and":
            return lambda m: all(p(m) for p in preds)
        return lambda m: any(p(m) for p in preds)
    if any(key.startswith("$") for key in where):
        raise UnsupportedFilter(f"logical operator in {sorted(where)}")
    preds = [_field(key, cond) for key, cond in where.items()]
    return preds[0] if len(preds) == 1 else lambda m: all(p(m) for p in preds)


def matches(meta: dict[str, Any], where: dict[str, Any] | None) -> bool:
    """True when `meta` satisfies the Chroma `where` (see `compile_where`)."""
    return compile_where(where)(meta)


def _slim(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata without `insight_json`; keys and strings interned (they repeat a lot)."""
    return {
        sys.intern(k): sys.intern(v) if isinstance(v, str) else v
        for k, v in meta.items()
        if k != "insight_json"
    }


class MetadataIndex:
    """id -> slim metadata, and sig_outcome -> ids, for one collection."""

    def __init__(self) -> None:
        self.meta: dict[str, dict[str, Any]] = {}
        self.by_sig: dict[str, set[str]] = {}
        self.count = -1  # collection count the index reflects; -1 = not built
        self.sample: list[dict[str, Any]] = []  # every n-th record at the last build
        self._ranked: dict[str, list[str]] = {}  # sig_outcome -> ids by strength, lazily

    def ensure(self, collection: Any, total: int) -> None:
        """(Re)build from a full scan when the collection's count differs from ours."""
        if total == self.count:
            return
        self.meta.clear()
        self.by_sig.clear()
        self._ranked.clear()
        for offset in range(0, total, SCAN_BATCH):
            got = collection.get(include=["metadatas"], limit=SCAN_BATCH, offset=offset)
            self.put(got["ids"], got["metadatas"] or [])
        self.count = len(self.meta)
        step = max(1, self.count // SAMPLE)
        self.sample = list(self.meta.values())[::step]

    def selectivity(self, where: dict[str, Any] | None) -> float:
        """Fraction of a fixed sample (~SAMPLE records) matching `where`; estimates how many
        unfiltered candidates hold enough matches. Raises UnsupportedFilter like `matches`."""
        if not where or not self.sample:
            return 1.0
        pred = compile_where(where)
        return sum(pred(m) for m in self.sample) / len(self.sample)

    def put(self, ids: list[str], metadatas: list[Any]) -> None:
        """Insert or replace records; keeps `count` in step when the index is built."""
        for iid, meta in zip(ids, metadatas, strict=True):
            old = self.meta.get(iid)
            if old is not None:
                self.by_sig.get(str(old.get("sig_outcome")), set()).discard(iid)
                self._ranked.pop(str(old.get("sig_outcome")), None)
            elif self.count >= 0:
                self.count += 1
            slim = _slim(dict(meta))
            self.meta[iid] = slim
            self.by_sig.setdefault(str(slim.get("sig_outcome")), set()).add(iid)
            self._ranked.pop(str(slim.get("sig_outcome")), None)

    def strongest(self, sig_outcome: str, model: str | None, n: int) -> list[str]:
        """Ids of the `n` strongest records with this sig_outcome (and model, if given)."""
        ranked = self._ranked.get(sig_outcome)
        if ranked is None:  # sorted once per signature, until a `put` touches it
            ids = self.by_sig.get(sig_outcome, set())
            ranked = sorted(ids, key=lambda i: (-float(self.meta[i].get("strength", 0.0)), i))
            self._ranked[sig_outcome] = ranked
        out: list[str] = []
        for i in ranked:
            if model is None or self.meta[i].get("model") == model:
                out.append(i)
                if len(out) == n:
                    break
        return out
