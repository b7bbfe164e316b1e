"""Data references (DESIGN.md §3): the strings that name a dataset, parsed into a typed `DataRef`.

    synthetic:<preset>[?rows=N&seed=S]
    criteo:PATH[?max_rows=N&skip_bad_lines=1&split=0.8,0.1,0.1&split_seed=S]
    libfm:TRAIN[,VALID[,TEST]][?max_rows=N&skip_bad_lines=1&split=...&split_seed=S]
    csv:PATH?label=COL&sparse=A,B&dense=X,Y[&sep=,][&...file options]   (or ?schema=SCHEMA.json)

Options follow the first `?` as `key=value` pairs joined by `&`, taken literally (no URL decoding).
`split` is three fractions or `time` (contiguous 80/10/10 in file order) and only applies to a
single file. Files must exist and be readable when the reference is parsed, so a bad reference
fails before any job is launched.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import DataError
from .presets import PRESETS

SCHEMES = ("synthetic", "criteo", "libfm", "csv")
_FILE_OPTIONS = ("max_rows", "skip_bad_lines", "split", "split_seed")
_OPTIONS = {
    "synthetic": ("rows", "seed"),
    "criteo": _FILE_OPTIONS,
    "libfm": _FILE_OPTIONS,
    "csv": (*_FILE_OPTIONS, "label", "sparse", "dense", "sep", "schema"),
}
_SEPARATORS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
MAX_SYNTHETIC_ROWS = 50_000_000
_GRAMMAR = "synthetic:<preset>, criteo:PATH, libfm:TRAIN[,VALID[,TEST]], csv:PATH (options after ?)"
Fractions = tuple[float, float, float]


@dataclass(frozen=True)
class DataRef:
    """A parsed, validated data reference. `text` is the reference as written."""

    text: str
    scheme: Literal["synthetic", "criteo", "libfm", "csv"]
    preset: str | None = None
    paths: tuple[Path, ...] = ()
    rows: int | None = None
    seed: int = 0
    max_rows: int | None = None
    skip_bad_lines: bool = False
    split: Fractions | Literal["time"] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    label: str | None = None
    sparse: tuple[str, ...] = ()
    dense: tuple[str, ...] = ()
    sep: str = ","

    def options(self) -> dict[str, Any]:
        """Everything but the file paths, as plain JSON values (part of the data cache key)."""
        return {
            "scheme": self.scheme,
            "preset": self.preset,
            "files": len(self.paths),
            "rows": self.rows,
            "seed": self.seed,
            "max_rows": self.max_rows,
            "skip_bad_lines": self.skip_bad_lines,
            "split": self.split if self.split == "time" else list(self.split),
            "split_seed": self.split_seed,
            "label": self.label,
            "sparse": list(self.sparse),
            "dense": list(self.dense),
            "sep": self.sep,
        }


def _fail(ref: str, problem: str, fix: str) -> DataError:
    return DataError(f"data reference {ref!r}: {problem}. {fix}")


def _query(ref: str, query: str, scheme: str) -> dict[str, str]:
    allowed = _OPTIONS[scheme]
    opts: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise _fail(
                ref, f"option {item!r} is not key=value", "Write options as ?key=value&key=value"
            )
        if key not in allowed:
            raise _fail(
                ref, f"unknown option {key!r} for {scheme}", f"Allowed: {', '.join(allowed)}"
            )
        if key in opts:
            raise _fail(ref, f"option {key!r} given twice", "Give each option once")
        opts[key] = value
    return opts


def _int(ref: str, key: str, value: str, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise _fail(
            ref, f"{key}={value!r} is not an integer", f"Use an integer in {lo}..{hi}"
        ) from None
    if not lo <= n <= hi:
        raise _fail(ref, f"{key}={n} is out of range", f"Use an integer in {lo}..{hi}")
    return n


def _bool(ref: str, key: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise _fail(ref, f"{key}={value!r} is not a boolean", "Use 1 or 0")


def _split(ref: str, value: str) -> Fractions | Literal["time"]:
    if value == "time":
        return "time"
    fix = "Use split=TRAIN,VALID,TEST fractions (each > 0, summing to 1, e.g. 0.8,0.1,0.1) or split=time"
    try:
        parts = tuple(float(x) for x in value.split(","))
    except ValueError:
        raise _fail(ref, f"split={value!r} is not three numbers", fix) from None
    if len(parts) != 3 or min(parts) <= 0 or abs(sum(parts) - 1.0) > 1e-6:
        raise _fail(ref, f"split={value!r} is not three positive fractions summing to 1", fix)
    return parts[0], parts[1], parts[2]


def _existing_file(ref: str, text: str) -> Path:
    path = Path(text).expanduser()
    if not text:
        raise _fail(
            ref, "empty file path", "Give the path after the scheme, e.g. criteo:data/train.tsv"
        )
    if not path.exists():
        raise _fail(ref, f"file not found: {path} (cwd {Path.cwd()})", "Check the path")
    if not path.is_file():
        raise _fail(ref, f"not a regular file: {path}", "Point the reference at a data file")
    if not os.access(path, os.R_OK):
        raise _fail(ref, f"file not readable: {path}", "Fix the file's permissions")
    return path


def _names(value: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip())


_SCHEMA_FIX = "Declare the columns: ?label=COL&sparse=A,B&dense=X,Y, or ?schema=SCHEMA.json"


def _schema_file(ref: str, text: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(label, sparse, dense) from a schema JSON file {"label": ..., "sparse": [...], "dense": [...]}."""
    path = _existing_file(ref, text)
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _fail(ref, f"schema file {path} is not valid JSON ({err})", _SCHEMA_FIX) from None
    keys_ok = isinstance(doc, dict) and not set(doc) - {"label", "sparse", "dense"}
    if not keys_ok or not isinstance(doc.get("label"), str):
        raise _fail(ref, f"schema file {path} must be an object with a string label", _SCHEMA_FIX)
    if not all(isinstance(doc.get(k, []), list) for k in ("sparse", "dense")):
        raise _fail(ref, f"schema file {path}: sparse and dense must be lists", _SCHEMA_FIX)
    return (
        doc["label"],
        tuple(map(str, doc.get("sparse", []))),
        tuple(map(str, doc.get("dense", []))),
    )


def _csv_schema(ref: str, opts: dict[str, str]) -> dict[str, Any]:
    """label / sparse / dense / sep for csv:, from inline options or a schema JSON file."""
    inline = {k: opts[k] for k in ("label", "sparse", "dense") if k in opts}
    if "schema" in opts and inline:
        raise _fail(ref, "both schema= and label/sparse/dense given", "Use one of the two")
    if "schema" in opts:
        label, sparse, dense = _schema_file(ref, opts["schema"])
    else:
        label = inline.get("label")
        sparse, dense = _names(inline.get("sparse", "")), _names(inline.get("dense", ""))
    if not label or not (sparse or dense):
        problem = "csv needs a label column and at least one sparse or dense column"
        raise _fail(ref, problem, _SCHEMA_FIX)
    cols = [label, *sparse, *dense]
    if len(set(cols)) != len(cols):
        raise _fail(ref, f"a column is declared twice in {cols}", "Name each column once")
    sep = _SEPARATORS.get(opts.get("sep", ","), opts.get("sep", ","))
    if len(sep) != 1:
        raise _fail(ref, f"sep={sep!r} is not one character", "Use e.g. sep=, or sep=; or sep=tab")
    return {"label": label, "sparse": sparse, "dense": dense, "sep": sep}


def _file_options(ref: str, opts: dict[str, str], n_files: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "max_rows" in opts:
        out["max_rows"] = _int(ref, "max_rows", opts["max_rows"], 1, 10**12)
    if "skip_bad_lines" in opts:
        out["skip_bad_lines"] = _bool(ref, "skip_bad_lines", opts["skip_bad_lines"])
    if "split" in opts:
        if n_files > 1:
            raise _fail(
                ref, "split= applies to a single file", "Drop split= when giving VALID/TEST files"
            )
        out["split"] = _split(ref, opts["split"])
    if "split_seed" in opts:
        out["split_seed"] = _int(ref, "split_seed", opts["split_seed"], 0, 2**31 - 1)
    return out


def parse_ref(ref: str) -> DataRef:
    """Parse and validate a data reference; raise DataError naming the reference and the problem."""
    if not isinstance(ref, str):
        raise DataError(f"data reference must be a string, got {type(ref).__name__}")
    scheme, colon, rest = ref.partition(":")
    if not colon or scheme not in SCHEMES:
        problem = f"unknown scheme {scheme!r}" if colon else "no scheme"
        raise _fail(ref, problem, f"Use one of: {_GRAMMAR}")
    target, _, query = rest.partition("?")
    opts = _query(ref, query, scheme)
    if scheme == "synthetic":
        if target not in PRESETS:
            raise _fail(
                ref, f"unknown synthetic preset {target!r}", f"Choose one of: {', '.join(PRESETS)}"
            )
        rows = _int(ref, "rows", opts["rows"], 100, MAX_SYNTHETIC_ROWS) if "rows" in opts else None
        seed = _int(ref, "seed", opts["seed"], 0, 2**31 - 1) if "seed" in opts else 0
        return DataRef(ref, "synthetic", preset=target, rows=rows, seed=seed)
    names = target.split(",") if scheme == "libfm" else [target]
    if len(names) > 3:
        raise _fail(ref, f"{len(names)} files given", "libfm takes TRAIN[,VALID[,TEST]]")
    paths = tuple(_existing_file(ref, n) for n in names)
    kwargs = _file_options(ref, opts, len(paths))
    if scheme == "csv":
        kwargs |= _csv_schema(ref, opts)
    return DataRef(ref, scheme, paths=paths, **kwargs)
