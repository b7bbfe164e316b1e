"""Building blocks shared by the model families: MLP towers and the feature-interaction layers.

Shapes use B = batch, N = number of feature vectors (categorical fields + dense features),
E = embed_dim, K = N * E (the flattened embedding width).

Initialisation (every block here): linear weights Xavier-uniform, biases zero. The few exceptions
(the feature-selection gate's last layer) are documented where they happen.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .gemm import Linear

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def make_activation(name: str) -> nn.Module:
    """The activation module for a config `activation` value."""
    if name not in _ACTIVATIONS:
        raise ConfigError(f"unknown activation '{name}'; use one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()


def make_norm(name: str, width: int) -> nn.Module:
    """The normalisation module for a config `norm` value (`none` gives an identity)."""
    if name == "batch":
        return nn.BatchNorm1d(width)
    if name == "layer":
        return nn.LayerNorm(width)
    if name == "none":
        return nn.Identity()
    raise ConfigError(f"unknown norm '{name}'; use one of ['batch', 'layer', 'none']")


def xavier_linear(in_dim: int, out_dim: int, *, bias: bool = True) -> nn.Linear:
    """A Linear (gemm.Linear: nn.Linear with faster fp32 CPU kernels) with Xavier-uniform weights
    and a zero bias (keeps activations' scale stable)."""
    layer = Linear(in_dim, out_dim, bias=bias)
    nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class MLP(nn.Module):
    """A tower of (Linear → norm → activation → dropout) blocks, one per hidden width.

    x [B, in_dim] -> [B, out_dim] where out_dim = widths[-1], or in_dim when `widths` is empty
    (an empty tower is the identity, so "no deep tower" needs no special case upstream).
    """

    def __init__(
        self,
        in_dim: int,
        widths: Sequence[int],
        *,
        activation: str = "relu",
        norm: str = "none",
        dropout: float = 0.0,
    ):
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_dim
        for out in widths:
            blocks += [xavier_linear(width, out), make_norm(norm, out), make_activation(activation)]
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            width = out
        self.net = nn.Sequential(*blocks)
        self.out_dim = width

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _FmSecondOrder(torch.autograd.Function):
    """The FM pairwise term with a hand-written backward.

    d/dv_ie of ½ Σ_e [(Σ_i v_ie)² − Σ_i v_ie²] is s_e − v_ie (s = Σ_i v_i), so the gradient is one
    fused pass over [B, N, E], where autograd through pow/sum would make several.
    """

    @staticmethod
    def forward(ctx, vectors: Tensor) -> Tensor:
        summed = vectors.sum(dim=1)  # [B, E]
        flat = vectors.flatten(1)  # [B, N·E]
        out = 0.5 * (torch.linalg.vecdot(summed, summed) - torch.linalg.vecdot(flat, flat))
        ctx.save_for_backward(vectors, summed)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        vectors, summed = ctx.saved_tensors
        return (summed.unsqueeze(1) - vectors).mul_(grad.view(-1, 1, 1))


def fm_second_order(vectors: Tensor) -> Tensor:
    """Sum over all pairs i < j of <v_i, v_j>, in O(N·E) with the sum-square trick.

    sum_{i<j} <v_i, v_j> = ½ Σ_e [(Σ_i v_ie)² − Σ_i v_ie²].   vectors [B, N, E] -> [B]
    """
    return _FmSecondOrder.apply(vectors)


class _CrossResidual(torch.autograd.Function):
    """x + x0 ⊙ m in one pass, with the backward written out: (g, g ⊙ m, g ⊙ x0).

    The same as `torch.addcmul(x, x0, m)`, whose autograd formula also multiplies each factor by
    the (here unit) `value` scalar: two extra passes over [B, K] per cross layer.
    """

    @staticmethod
    def forward(ctx, x: Tensor, x0: Tensor, mixed: Tensor) -> Tensor:
        ctx.save_for_backward(x0, mixed)
        return torch.addcmul(x, x0, mixed)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x0, mixed = ctx.saved_tensors
        grad_x0 = grad * mixed if ctx.needs_input_grad[1] else None
        grad_mixed = grad * x0 if ctx.needs_input_grad[2] else None
        return grad, grad_x0, grad_mixed


class CrossNetwork(nn.Module):
    """DCN-v2 cross layers: x_{l+1} = x0 ⊙ (W_l x_l + b_l) + x_l.

    W_l is a full [K, K] matrix, or U_l V_lᵀ with U_l, V_l of shape [K, rank] when `rank` is set
    (2·K·rank weights instead of K², the DCN-Mix low-rank form). x0 [B, K] -> [B, K];
    zero layers is the identity.
    """

    def __init__(self, width: int, layers: int, rank: int | None = None):
        super().__init__()
        self.rank = rank
        if rank is None:
            self.full = nn.ModuleList(xavier_linear(width, width) for _ in range(layers))
        else:
            # V_lᵀ x (no bias), then U_l (·) + b_l.
            self.down = nn.ModuleList(xavier_linear(width, rank, bias=False) for _ in range(layers))
            self.up = nn.ModuleList(xavier_linear(rank, width) for _ in range(layers))
        self.layers = layers

    def forward(self, x0: Tensor) -> Tensor:
        x = x0
        for layer in range(self.layers):
            if self.rank is None:
                mixed = self.full[layer](x)
            else:
                mixed = self.up[layer](self.down[layer](x))
            # x0 ⊙ mixed + x. Under bf16 autocast the matmul's output is bfloat16: cast it back
            # so the residual stays float32 and the products run on one dtype, not the slow
            # mixed-dtype path.
            x = _CrossResidual.apply(x, x0, mixed.to(x.dtype))
        return x


class DotInteraction(nn.Module):
    """DLRM's interaction: the dot product of every pair of vectors (strict upper triangle).

    vectors [B, N, E] -> [B, N(N-1)/2]. The pair indices are a buffer, so the forward pass is one
    batched matmul and one gather, with no Python loop.
    """

    def __init__(self, num_vectors: int):
        super().__init__()
        rows, cols = torch.triu_indices(num_vectors, num_vectors, offset=1)
        self.register_buffer("pair_index", rows * num_vectors + cols, persistent=False)
        self.out_dim = int(rows.numel())

    def forward(self, vectors: Tensor) -> Tensor:
        gram = torch.bmm(vectors, vectors.transpose(1, 2))  # [B, N, N]
        return gram.flatten(1).index_select(1, self.pair_index)


class FeatureGate(nn.Module):
    """FinalMLP feature selection for one stream: scale each input feature by a learned gate.

    gate = 2·sigmoid(MLP(c)) ∈ (0, 2)^K, where c [E] is a learned context vector; the gate is the
    same for every example and is broadcast: x [B, K] -> x ⊙ gate [B, K]. The gate MLP is
    Linear(E, hidden) → activation → Linear(hidden, K). Its last layer starts at zero, so every
    gate starts at exactly 1 and the model starts as a plain two-stream MLP.
    """

    def __init__(self, embed_dim: int, width: int, *, hidden: int = 64, activation: str = "relu"):
        super().__init__()
        self.context = nn.Parameter(torch.empty(embed_dim))
        nn.init.normal_(self.context, std=0.01)
        last = xavier_linear(hidden, width)
        nn.init.zeros_(last.weight)
        self.mlp = nn.Sequential(
            xavier_linear(embed_dim, hidden), make_activation(activation), last
        )

    def forward(self, x: Tensor) -> Tensor:
        gate = 2.0 * torch.sigmoid(self.mlp(self.context))  # [K]
        return x * gate


class BilinearFusion(nn.Module):
    """FinalMLP's multi-head bilinear fusion of the two stream outputs, without the scalar bias.

    o1 [B, d1], o2 [B, d2] are split into H heads (o1_h [B, d1/H], o2_h [B, d2/H]); each head
    gives w1_h·o1_h + w2_h·o2_h + o1_hᵀ W_h o2_h, and the heads are summed -> [B]. The per-head
    biases sum to one scalar, which the model holds as its `output_bias`. The linear terms of all
    heads together are one Linear over the whole o1 (and o2).
    """

    def __init__(self, d1: int, d2: int, heads: int):
        super().__init__()
        if d1 % heads or d2 % heads:
            raise ConfigError(
                f"fusion_heads={heads} must divide both stream widths ({d1}, {d2}); "
                "change fusion_heads or the last width of mlp_dims / mlp2_dims"
            )
        self.heads = heads
        self.linear1 = xavier_linear(d1, 1, bias=False)
        self.linear2 = xavier_linear(d2, 1, bias=False)
        self.bilinear = nn.Parameter(torch.empty(heads, d1 // heads, d2 // heads))
        nn.init.xavier_uniform_(self.bilinear)

    def forward(self, o1: Tensor, o2: Tensor) -> Tensor:
        batch = o1.shape[0]
        h1 = o1.reshape(batch, self.heads, -1)  # [B, H, d1/H]
        h2 = o2.reshape(batch, self.heads, -1)  # [B, H, d2/H]
        # [H, B, d1/H] @ [H, d1/H, d2/H] -> [H, B, d2/H]: one batched matmul over the heads.
        projected = torch.bmm(h1.transpose(0, 1), self.bilinear).transpose(0, 1)
        bilinear = (projected * h2).sum(dim=(1, 2))  # [B]
        return self.linear1(o1).squeeze(1) + self.linear2(o2).squeeze(1) + bilinear
