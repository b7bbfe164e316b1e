"""The processed-data cache: a CtrData saved with torch.save, keyed by what produced it.

Key = sha256 of (CACHE_VERSION, a fingerprint of this package's source code, the content hash of
the input files (sha256 of their bytes, streamed) or the synthetic world's identity, the loader
options, the data params). So a changed file, option, parameter or loader version never hits a
stale entry, and a renamed or copied file with the same bytes still hits. Entries are written to
a temporary file and renamed into place, so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .types import CtrData, Schema, Split

CACHE_VERSION = 1
_SPLITS = ("train", "valid", "test")
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """`$REA_HOME/cache/data`, REA_HOME defaulting to `./.rea`."""
    return Path(os.environ.get("REA_HOME") or ".rea") / "cache" / "data"


def file_digest(paths: tuple[Path, ...]) -> str:
    """sha256 of one file's bytes; for several files, sha256 over their digests in order."""
    digests = []
    for path in paths:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        digests.append(h.hexdigest())
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256(",".join(digests).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of this package's .py sources: editing a loader invalidates what it cached."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def cache_key(content_hash: str, options: dict[str, Any], params: dict[str, Any]) -> str:
    doc = {
        "version": CACHE_VERSION,
        "code": code_fingerprint(),
        "content": content_hash,
        "options": options,
        "params": params,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


def _to_payload(data: CtrData) -> dict[str, Any]:
    splits = {}
    for name in _SPLITS:
        s: Split = getattr(data, name)
        splits[name] = {
            "sparse": s.sparse,
            "dense": s.dense,
            "label": s.label,
            "true_prob": s.true_prob,
        }
    return {
        "version": CACHE_VERSION,
        "splits": splits,
        "schema": data.schema.to_dict(),
        "info": data.info,
    }


def _from_payload(obj: dict[str, Any]) -> CtrData:
    splits = [Split(**obj["splits"][name]) for name in _SPLITS]
    sch = obj["schema"]
    schema = Schema(
        tuple(sch["sparse_names"]), tuple(sch["dense_names"]), tuple(sch["cardinalities"])
    )
    return CtrData(*splits, schema=schema, info=obj["info"])


def load_cached(path: Path) -> CtrData | None:
    """The cached CtrData at `path`, or None if absent. A damaged entry is logged and ignored."""
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if obj.get("version") != CACHE_VERSION:
            return None
        return _from_payload(obj)
    except Exception as err:  # any unreadable entry is just a miss; it is rebuilt and replaced
        log.warning("data cache entry %s is unreadable (%s); rebuilding it", path, err)
        return None


def save_cached(path: Path, data: CtrData) -> None:
    """Write atomically (temporary file + rename). A failure to write is logged, not fatal."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
            tmp = Path(fh.name)
            torch.save(_to_payload(data), fh)
        os.replace(tmp, path)
    except OSError as err:
        log.warning("could not write data cache entry %s (%s); continuing without it", path, err)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
