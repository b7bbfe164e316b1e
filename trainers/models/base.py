"""What every CTR model shares: the embedding arches and the `CtrModel` interface.

Inputs everywhere: sparse [B, F] int64 (field-local ids, 0..cardinality-1), dense [B, D] float32.

* `FieldEmbedding` (the sparse arch): all F categorical fields live in ONE table of
  sum(cardinalities) rows; field f's id i is row offsets[f] + i. One gather serves every field,
  and with `sparse_grad` the table gets a sparse gradient that touches only the looked-up rows
  (what SparseAdam wants; see docs/models.md for the measured speed-up).
* `DenseFieldEmbedding`: dense feature j becomes the vector value_j · v_j, so dense features can
  take part in the same interactions as the categorical fields.
* `FirstOrder`: the linear (first-order) term, a [sum(card), 1] table plus one weight per dense
  feature.

Initialisation: embedding tables and dense-feature vectors N(0, 0.01²); first-order weights zero;
the output bias zero (the trainer may set it to logit(base CTR)).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..config import TrainerConfig
from ..data.types import Schema
from ..errors import DataError

EMBED_INIT_STD = 0.01


class _UniqueRowLookup(torch.autograd.Function):
    """`weight[ids]` whose gradient is a *coalesced* sparse tensor over the batch's unique rows.

    nn.Embedding(sparse=True) hands back one gradient row per looked-up id ([B·F, E] values and
    their indices), which the optimiser then has to sort and sum per row. Here the unique rows are
    found once in the forward pass, and the backward sums the gradient into them directly
    ([U, E], one index_add), so the optimiser gets sorted, unique rows and skips the coalesce.
    ids [...] int64, weight [R, E] -> [..., E].
    """

    @staticmethod
    def forward(ctx, ids: Tensor, weight: Tensor) -> Tensor:
        flat = ids.reshape(-1)
        rows, inverse = torch.unique(flat, sorted=True, return_inverse=True)
        ctx.save_for_backward(rows, inverse)
        ctx.table_shape = weight.shape
        return weight.index_select(0, flat).view(*ids.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad: Tensor):
        rows, inverse = ctx.saved_tensors
        dim = ctx.table_shape[1]
        summed = grad.new_zeros(rows.numel(), dim)
        summed.index_add_(0, inverse, grad.reshape(-1, dim))  # [U, E]
        table_grad = torch.sparse_coo_tensor(
            rows.unsqueeze(0), summed, ctx.table_shape, is_coalesced=True, check_invariants=False
        )
        return None, table_grad


class FieldEmbedding(nn.Module):
    """One concatenated table for all categorical fields. sparse [B, F] -> [B, F, dim]."""

    def __init__(
        self, cardinalities: Sequence[int], dim: int, *, sparse_grad: bool, init_std: float
    ):
        super().__init__()
        starts = [0, *itertools.accumulate(cardinalities)][:-1]
        self.register_buffer("offsets", torch.tensor(starts, dtype=torch.long), persistent=False)
        self.table = nn.Embedding(sum(cardinalities), dim, sparse=sparse_grad)
        if init_std > 0:
            nn.init.normal_(self.table.weight, std=init_std)
        else:
            nn.init.zeros_(self.table.weight)

    def forward(self, sparse: Tensor) -> Tensor:
        ids = sparse + self.offsets
        weight = self.table.weight
        if self.table.sparse and weight.requires_grad and torch.is_grad_enabled():
            return _UniqueRowLookup.apply(ids, weight)
        return self.table(ids)


class DenseFieldEmbedding(nn.Module):
    """Dense features as field vectors: dense [B, D] -> [B, D, E], row j = value_j · v_j."""

    def __init__(self, num_dense: int, dim: int):
        super().__init__()
        self.vectors = nn.Parameter(torch.empty(num_dense, dim))
        nn.init.normal_(self.vectors, std=EMBED_INIT_STD)

    def forward(self, dense: Tensor) -> Tensor:
        return dense.unsqueeze(-1) * self.vectors


class FirstOrder(nn.Module):
    """The linear term Σ_f w[id_f] + Σ_j u_j·dense_j.

    sparse [B, F], dense [B, D] -> (term [B], looked-up weights [B, F, 1] for the L2 penalty).
    """

    def __init__(self, cardinalities: Sequence[int], num_dense: int, *, sparse_grad: bool):
        super().__init__()
        self.weights = FieldEmbedding(cardinalities, 1, sparse_grad=sparse_grad, init_std=0.0)
        self.dense_weights = nn.Parameter(torch.zeros(num_dense))

    def forward(self, sparse: Tensor, dense: Tensor) -> tuple[Tensor, Tensor]:
        rows = self.weights(sparse)  # [B, F, 1]
        return rows.sum(dim=(1, 2)) + dense @ self.dense_weights, rows


def mean_sq(rows: Tensor) -> Tensor:
    """Sum of squares of looked-up rows, averaged over the batch. rows [B, ...] -> scalar."""
    return rows.pow(2).sum() / rows.shape[0]


class CtrModel(nn.Module):
    """Base of every family: sparse [B, F] int64, dense [B, D] float32 -> logits [B].

    Subclasses implement `compute(sparse, dense, with_reg)`; this class owns the output bias, input
    checks, and the split of parameters into embedding tables and the rest (the trainer gives the
    tables a sparse optimiser).
    """

    family: str = ""

    def __init__(self, config: TrainerConfig, schema: Schema):
        super().__init__()
        self.config = config
        self.schema = schema
        self.sparse_grad = config.sparse_optimizer != "dense"
        self.bias = nn.Parameter(torch.zeros(()))
        cards = torch.tensor(schema.cardinalities, dtype=torch.long)
        self.register_buffer("cardinalities", cards, persistent=False)
        # Costs two compares and a reduction over [B, F]; a trainer that validated its data once
        # may turn it off.
        self.check_inputs = True
        # precision="bf16": compute() runs under bf16 autocast (matmuls in bfloat16, parameters
        # and everything autocast leaves alone in float32); logits come back as float32.
        self.bf16 = config.precision == "bf16"

    @property
    def output_bias(self) -> nn.Parameter:
        """The final scalar bias added to every logit."""
        return self.bias

    def forward(self, sparse: Tensor, dense: Tensor) -> Tensor:
        """Logits [B] (skips the embedding-L2 term's computation)."""
        return self._run(sparse, dense, with_reg=False)[0]

    def forward_with_reg(self, sparse: Tensor, dense: Tensor) -> tuple[Tensor, Tensor]:
        """(logits [B], emb_sq scalar): emb_sq = batch mean of Σ squares of every looked-up
        embedding row and first-order weight (the trainer multiplies it by `emb_l2`)."""
        return self._run(sparse, dense, with_reg=True)

    def compute(self, sparse: Tensor, dense: Tensor, with_reg: bool) -> tuple[Tensor, Tensor]:
        """(logits [B], emb_sq scalar, or 0 when not with_reg). Implemented by each family."""
        raise NotImplementedError

    def embedding_parameters(self) -> list[nn.Parameter]:
        """The concatenated embedding tables (sparse gradients unless sparse_optimizer='dense')."""
        return [m.table.weight for m in self.modules() if isinstance(m, FieldEmbedding)]

    def dense_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an embedding table."""
        tables = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in tables]

    def _run(self, sparse: Tensor, dense: Tensor, with_reg: bool) -> tuple[Tensor, Tensor]:
        if self.check_inputs:
            self.validate_inputs(sparse, dense)
        if not self.bf16:
            return self.compute(sparse, dense, with_reg)
        with torch.autocast(sparse.device.type, dtype=torch.bfloat16):
            logits, emb_sq = self.compute(sparse, dense, with_reg)
        return logits.float(), emb_sq.float()

    def validate_inputs(self, sparse: Tensor, dense: Tensor) -> None:
        f, d = self.schema.num_sparse, self.schema.num_dense
        if sparse.dim() != 2 or sparse.shape[1] != f or dense.dim() != 2 or dense.shape[1] != d:
            raise DataError(
                f"{self.family}: expected sparse [B, {f}] and dense [B, {d}] as in the schema, got "
                f"{list(sparse.shape)} and {list(dense.shape)}; rebuild the model for this data"
            )
        if sparse.shape[0] != dense.shape[0]:
            raise DataError(f"batch sizes differ: sparse {sparse.shape[0]}, dense {dense.shape[0]}")
        if f == 0 or sparse.numel() == 0:
            return
        cards = self.cardinalities.to(sparse.device)  # the trainer checks whole host splits
        bad = ((sparse < 0) | (sparse >= cards)).any(dim=0)  # [F]
        if bool(bad.any()):
            field = int(bad.nonzero()[0, 0])
            column = sparse[:, field]
            raise DataError(
                f"categorical field '{self.schema.sparse_names[field]}' has ids in "
                f"[{int(column.min())}, {int(column.max())}] but its cardinality is "
                f"{self.schema.cardinalities[field]} (valid ids 0..{self.schema.cardinalities[field] - 1}); "
                "the data and the schema the model was built from disagree"
            )
