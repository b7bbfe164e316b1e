"""rea.trainers.data: data references → processed, tensor-resident CTR datasets.

    load_data("synthetic:interaction-heavy?rows=50000&seed=1", min_count=2)  -> CtrData
    load_data("criteo:train.tsv?max_rows=1000000&split=time")
    load_data("libfm:train.libfm,valid.libfm,test.libfm")
    load_data("csv:clicks.csv?label=clicked&sparse=user,ad&dense=price")

See docs/data.md for the reference grammar, the synthetic presets and their measured NEs.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .presets import PRESETS, SyntheticPreset
from .refs import DataRef, parse_ref

# Loading data needs torch; parsing a reference does not. The rest is imported on first use, so
# the service (which checks references but never loads data) does not load torch.
_LAZY = {
    "CACHE_VERSION": ".cache",
    "load_data": ".loader",
    "RawTable": ".raw",
    "generate_synthetic": ".synthetic",
    "Batch": ".types",
    "CtrData": ".types",
    "Schema": ".types",
    "Split": ".types",
}

if TYPE_CHECKING:
    from .cache import CACHE_VERSION
    from .loader import load_data
    from .raw import RawTable
    from .synthetic import generate_synthetic
    from .types import Batch, CtrData, Schema, Split


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CACHE_VERSION",
    "PRESETS",
    "Batch",
    "CtrData",
    "DataRef",
    "RawTable",
    "Schema",
    "Split",
    "SyntheticPreset",
    "generate_synthetic",
    "load_data",
    "parse_ref",
]
