"""The processed, tensor-resident form every loader produces and every model consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Schema:
    """Shape of the features.

    `cardinalities[f]` is the number of ids of categorical field f *including* its OOV id 0
    (ids are local to the field: 0..cardinalities[f]-1). Dense features are already transformed.
    """

    sparse_names: tuple[str, ...]
    dense_names: tuple[str, ...]
    cardinalities: tuple[int, ...]

    @property
    def num_sparse(self) -> int:
        return len(self.sparse_names)

    @property
    def num_dense(self) -> int:
        return len(self.dense_names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sparse_names": list(self.sparse_names),
            "dense_names": list(self.dense_names),
            "cardinalities": list(self.cardinalities),
        }


@dataclass(frozen=True)
class Batch:
    """One batch. sparse: [B, F] int64 (field-local ids); dense: [B, D] float32; label: [B] float32."""

    sparse: torch.Tensor
    dense: torch.Tensor
    label: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.sparse.to(device), self.dense.to(device), self.label.to(device))


@dataclass(frozen=True)
class Split:
    """All rows of one split, resident in memory. Same layout as `Batch`.

    `true_prob` ([N] float32) is only set for synthetic data: the generator's true click
    probability, from which the Bayes-optimal metrics are computed.
    """

    sparse: torch.Tensor
    dense: torch.Tensor
    label: torch.Tensor
    true_prob: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def batch(self, index: torch.Tensor | slice) -> Batch:
        return Batch(self.sparse[index], self.dense[index], self.label[index])


@dataclass(frozen=True)
class CtrData:
    """A dataset ready to train on: three splits, the schema, and what produced it.

    info: `ref` (the data reference), `content_hash`, `rows` per split, `ctr` per split, and for
    synthetic data `preset`, `seed` and `bayes_ne` per split (the NE of the true probabilities).
    """

    train: Split
    valid: Split
    test: Split
    schema: Schema
    info: dict[str, Any] = field(default_factory=dict)
