"""rea.trainers.data: data references → processed, tensor-resident CTR datasets.

    load_data("synthetic:interaction-heavy?rows=50000&seed=1", min_count=2)  -> CtrData
    load_data("criteo:train.tsv?max_rows=1000000&split=time")
    load_data("libfm:train.libfm,valid.libfm,test.libfm")
    load_data("csv:clicks.csv?label=clicked&sparse=user,ad&dense=price")

See docs/data.md for the reference grammar, the synthetic presets and their measured NEs.
"""

from .cache import CACHE_VERSION
from .loader import load_data
from .presets import PRESETS, SyntheticPreset
from .raw import RawTable
from .refs import DataRef, parse_ref
from .synthetic import generate_synthetic
from .types import Batch, CtrData, Schema, Split

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
