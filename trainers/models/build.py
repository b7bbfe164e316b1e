"""`build_model`: the one way the trainer turns (config, schema) into a model."""

from __future__ import annotations

from ..config import TrainerConfig, parse_config
from ..data.types import Schema
from ..errors import ConfigError, DataError
from .base import CtrModel
from .families import DLRM, DCNv2, DeepFM, FactorizationMachine, FinalMLP, LogisticRegression

FAMILIES: dict[str, type[CtrModel]] = {
    cls.family: cls
    for cls in (LogisticRegression, FactorizationMachine, DeepFM, DCNv2, DLRM, FinalMLP)
}


def _check_schema(schema: Schema) -> None:
    if len(schema.cardinalities) != len(schema.sparse_names):
        raise DataError(
            f"schema lists {len(schema.sparse_names)} categorical fields but "
            f"{len(schema.cardinalities)} cardinalities; the data loader built an inconsistent schema"
        )
    bad = [n for n, c in zip(schema.sparse_names, schema.cardinalities, strict=True) if c < 1]
    if bad:
        raise DataError(
            f"categorical fields {bad} have cardinality < 1; each needs at least its OOV id"
        )
    if schema.num_sparse + schema.num_dense == 0:
        raise DataError("the schema has no features at all; a model needs at least one field")


def build_model(config: TrainerConfig, schema: Schema) -> CtrModel:
    """Build the family `config.model` for `schema`; parameters are drawn from torch's global RNG,
    so `torch.manual_seed(s)` before the call makes the initial weights reproducible."""
    config = parse_config(config)
    if config.model not in FAMILIES:
        raise ConfigError(f"unknown model family '{config.model}'; use one of {sorted(FAMILIES)}")
    _check_schema(schema)
    return FAMILIES[config.model](config, schema)
