"""The six model families, each a `CtrModel` assembled from the parts in base.py and layers.py.

B = batch, F = categorical fields, D = dense features, E = embed_dim, N = F + D field vectors,
K = the flattened input width of a family's towers. Every family ends in one scalar
`output_bias`; the heads before it are bias-free linears, so that bias alone sets the base rate.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import TrainerConfig
from ..data.types import Schema
from .base import (
    EMBED_INIT_STD,
    CtrModel,
    DenseFieldEmbedding,
    FieldEmbedding,
    FirstOrder,
    mean_sq,
)
from .gemm import linear
from .layers import (
    MLP,
    BilinearFusion,
    CrossNetwork,
    DotInteraction,
    FeatureGate,
    fm_second_order,
    xavier_linear,
)


def _mlp(config: TrainerConfig, in_dim: int, widths: list[int]) -> MLP:
    return MLP(
        in_dim, widths, activation=config.activation, norm=config.norm, dropout=config.dropout
    )


class LogisticRegression(CtrModel):
    """lr: logit = bias + Σ_f w[id_f] + Σ_j u_j·dense_j. Uses no embed_dim or tower keys."""

    family = "lr"

    def __init__(self, config: TrainerConfig, schema: Schema):
        super().__init__(config, schema)
        self.first_order = FirstOrder(
            schema.cardinalities, schema.num_dense, sparse_grad=self.sparse_grad
        )

    def compute(self, sparse: Tensor, dense: Tensor, with_reg: bool) -> tuple[Tensor, Tensor]:
        linear, rows = self.first_order(sparse, dense)  # [B], [B, F, 1]
        emb_sq = mean_sq(rows) if with_reg else linear.new_zeros(())
        return linear + self.bias, emb_sq


class FlatInputModel(CtrModel):
    """A family whose input is x0 = [flatten(categorical embeddings) ‖ dense] [B, F·E + D].

    Used by dcn_v2 and finalmlp. This is the DCN papers' x0: dense values enter raw (the data
    layer has already transformed them). Compared with dense-as-vectors (K = (F+D)·E), it keeps
    the K×K cross weights 2.1x smaller at the Criteo shape (F=26, D=13, E=16: K=429, not 624).
    """

    def __init__(self, config: TrainerConfig, schema: Schema):
        super().__init__(config, schema)
        self.embedding = FieldEmbedding(
            schema.cardinalities,
            config.embed_dim,
            sparse_grad=self.sparse_grad,
            init_std=EMBED_INIT_STD,
        )
        self.flat_dim = schema.num_sparse * config.embed_dim + schema.num_dense

    def flat_input(self, sparse: Tensor, dense: Tensor, with_reg: bool) -> tuple[Tensor, Tensor]:
        """sparse [B, F], dense [B, D] -> (x0 [B, F·E + D], emb_sq of the looked-up rows)."""
        rows = self.embedding(sparse)  # [B, F, E]
        x0 = torch.cat([rows.flatten(1), dense], dim=1)
        return x0, mean_sq(rows) if with_reg else rows.new_zeros(())


class FactorizationMachine(CtrModel):
    """fm: lr + Σ_{i<j} <v_i, v_j> over the N = F + D field vectors (sum-square trick, O(N·E)).

    One table of E + 1 columns holds each id's embedding (columns :E) and its first-order weight
    (column E), so both come from one gather and one sparse gradient: the sparse optimiser
    coalesces (sorts) one gradient per step instead of two. Dense feature j is the vector
    value_j · v_j (so it interacts like a field) and has a first-order weight u_j.

    sparse [B, F] -> rows [B, F, E+1]; vectors = [rows[..., :E] ‖ value·v] [B, N, E]
    logit = Σ_f rows[:, f, E] + dense @ u + fm_second_order(vectors) + bias
    """

    family = "fm"

    def __init__(self, config: TrainerConfig, schema: Schema):
        super().__init__(config, schema)
        e = config.embed_dim
        self.embedding = FieldEmbedding(
            schema.cardinalities, e + 1, sparse_grad=self.sparse_grad, init_std=EMBED_INIT_STD
        )
        with torch.no_grad():
            self.embedding.table.weight[:, e].zero_()  # first-order weights start at zero
        self.dense_embedding = DenseFieldEmbedding(schema.num_dense, e)
        self.dense_weights = nn.Parameter(torch.zeros(schema.num_dense))
        self.flat_dim = (schema.num_sparse + schema.num_dense) * e

    def fm_logit(self, sparse: Tensor, dense: Tensor, with_reg: bool):
        """-> (fm logit without bias [B], vectors [B, N, E], emb_sq)."""
        e = self.config.embed_dim
        rows = self.embedding(sparse)  # [B, F, E+1]
        vectors = torch.cat([rows[..., :e], self.dense_embedding(dense)], dim=1)  # [B, N, E]
        linear = rows[..., e].sum(dim=1) + dense @ self.dense_weights  # [B]
        emb_sq = mean_sq(rows) if with_reg else rows.new_zeros(())
        return linear + fm_second_order(vectors), vectors, emb_sq

    def compute(self, sparse: Tensor, dense: Tensor, with_reg: bool) -> tuple[Tensor, Tensor]:
        logit, _, emb_sq = self.fm_logit(sparse, dense, with_reg)
        return logit + self.bias, emb_sq


class DeepFM(FactorizationMachine):
    """deepfm: fm + Linear(MLP(flatten(vectors))) on the same embeddings.

    deep tower: flatten(vectors) [B, K = N·E] -> MLP(mlp_dims) -> [B, mlp_dims[-1]] -> Linear -> [B].
    Empty mlp_dims turns the deep tower off (the model is then exactly fm).
    """

    family = "deepfm"

    def __init__(self, config: TrainerConfig, schema: Schema):
        super().__init__(config, schema)
        self.deep = _mlp(config, self.flat_dim, config.mlp_dims) if config.mlp_dims else None
        self.deep_head = xavier_linear(self.deep.out_dim, 1, bias=False) if self.deep else None

    def compute(self, sparse: Tensor, dense: Tensor, with_reg: bool) -> tuple[Tensor, Tensor]:
        logit, vectors, emb_sq = self.fm_logit(sparse, dense, with_reg)
        if self.deep is not None:
            logit = logit + self.deep_head(self.deep(vectors.flatten(1))).squeeze(1)
        return logit + self.bias, emb_sq


class DCNv2(FlatInputModel):
    """dcn_v2: cross network and MLP over x0 = [flatten(embeddings) ‖ dense] [B, K], K = F·E + D.

    stacked:  x0 -> Cross -> [B, K] -> MLP(mlp_dims) -> head
    parallel: [Cross(x0) [B, K] ‖ MLP(x0) [B, mlp_dims[-1]]] -> head
    cross_layers=0 makes Cross the identity; empty mlp_dims drops the MLP. Head: Linear(., 1).
    Keys: embed_dim, cross_layers, cross_rank, dcn_structure, mlp_dims, norm, activation, dropout.
    """

    family = "dcn_v2"

    def __init__(self, config: TrainerConfig, schema: Schema):
        super().__init__(config, schema)
        self.stacked = config.dcn_structure == "stacked"
        self.cross = CrossNetwork(self.flat_dim, config.cross_layers, config.cross_rank)
        self.deep = _mlp(config, self.flat_dim, config.mlp_dims) if config.mlp_dims else None
        if self.deep is None:
            head_in = self.flat_dim
        elif self.stacked:
            head_in = self.deep.out_dim
        else:
            head_in = self.flat_dim + self.deep.out_dim
        self.head = xavier_linear(head_in, 1, bias=False)

    def compute(self, sparse: Tensor, dense: Tensor, with_reg: bool) -> tuple[Tensor, Tensor]:
        x0, emb_sq = self.flat_input(sparse, dense, with_reg)  # [B, K]
        crossed = self.cross(x0)
        if self.deep is None:
            top = crossed
        elif self.stacked:
            top = self.deep(crossed)
        else:  # head([crossed ‖ deep]) as two matmuls, without building the [B, K + M] concat
            k, w = crossed.shape[1], self.head.weight  # w [1, K + M]
            logit = linear(crossed, w[:, :k]) + linear(self.deep(x0), w[:, k:])
            return logit.squeeze(1) + self.bias, emb_sq
        return self.head(top).squeeze(1) + self.bias, emb_sq


class DLRM(CtrModel):
    """dlrm: bottom MLP on dense features, pairwise dot interaction, top MLP.

    dense [B, D] -> MLP(bottom_mlp_dims) -> Linear -> d [B, E]   (no activation on the projection)
    T = [d, e_1..e_F] [B, F+1, E] -> dot products i<j [B, (F+1)F/2]
    [d ‖ dots] -> MLP(mlp_dims) -> Linear -> logit. With D = 0 there is no d (T has F vectors).
    Keys: embed_dim, bottom_mlp_dims, mlp_dims, norm, activation, dropout.
    """

    family = "dlrm"

    def __init__(self, config: TrainerConfig, schema: Schema):
        super().__init__(config, schema)
        e = config.embed_dim
        self.embedding = FieldEmbedding(
            schema.cardinalities, e, sparse_grad=self.sparse_grad, init_std=EMBED_INIT_STD
        )
        self.has_dense = schema.num_dense > 0
        if self.has_dense:
            self.bottom = _mlp(config, schema.num_dense, config.bottom_mlp_dims)
            self.bottom_proj = xavier_linear(self.bottom.out_dim, e)
        self.interaction = DotInteraction(schema.num_sparse + int(self.has_dense))
        top_in = self.interaction.out_dim + (e if self.has_dense else 0)
        self.top = _mlp(config, top_in, config.mlp_dims)
        self.head = xavier_linear(self.top.out_dim, 1, bias=False)

    def compute(self, sparse: Tensor, dense: Tensor, with_reg: bool) -> tuple[Tensor, Tensor]:
        rows = self.embedding(sparse)  # [B, F, E]
        emb_sq = mean_sq(rows) if with_reg else rows.new_zeros(())
        if self.has_dense:
            d = self.bottom_proj(self.bottom(dense))  # [B, E]
            vectors = torch.cat([d.unsqueeze(1), rows], dim=1)  # [B, F+1, E]
            top_in = torch.cat([d, self.interaction(vectors)], dim=1)
        else:
            top_in = self.interaction(rows)
        return self.head(self.top(top_in)).squeeze(1) + self.bias, emb_sq


class FinalMLP(FlatInputModel):
    """finalmlp: two MLP streams over x = [flatten(embeddings) ‖ dense] [B, K], fused bilinearly.

    stream s: x -> (FeatureGate_s when feature_selection) -> MLP(mlp_dims | mlp2_dims) -> o_s
    logit = BilinearFusion(o1, o2) + bias, fusion_heads heads.
    Keys: embed_dim, mlp_dims, mlp2_dims, fusion_heads, feature_selection, norm, activation, dropout.
    """

    family = "finalmlp"

    def __init__(self, config: TrainerConfig, schema: Schema):
        super().__init__(config, schema)
        k, e = self.flat_dim, config.embed_dim
        self.gate1 = (
            FeatureGate(e, k, activation=config.activation) if config.feature_selection else None
        )
        self.gate2 = (
            FeatureGate(e, k, activation=config.activation) if config.feature_selection else None
        )
        self.stream1 = _mlp(config, k, config.mlp_dims)
        self.stream2 = _mlp(config, k, config.mlp2_dims)
        self.fusion = BilinearFusion(
            self.stream1.out_dim, self.stream2.out_dim, config.fusion_heads
        )

    def compute(self, sparse: Tensor, dense: Tensor, with_reg: bool) -> tuple[Tensor, Tensor]:
        x, emb_sq = self.flat_input(sparse, dense, with_reg)  # [B, K]
        x1 = self.gate1(x) if self.gate1 is not None else x
        x2 = self.gate2(x) if self.gate2 is not None else x
        logit = self.fusion(self.stream1(x1), self.stream2(x2))
        return logit + self.bias, emb_sq
