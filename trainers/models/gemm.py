"""`linear(x, weight, bias)`: `F.linear` with faster fp32 CPU kernels for training.

On this project's CPU, torch's fp32 `F.linear` (MKL) takes about twice as long as oneDNN's GEMM for
the shapes of these models (4096 x 429 x 429: 15 ms against 8 ms, 2 threads), while for the weight
gradient (xᵀ·g, a long inner dimension) MKL is the faster one. `linear` therefore runs the forward
product and the input gradient through oneDNN (`torch.ops.mkldnn._linear_pointwise`, the op
Inductor's CPU backend emits) and the weight gradient through `torch.mm`. Everything else — other
dtypes, autocast (bf16), CUDA, builds without oneDNN — goes to `F.linear` unchanged. Results equal
`F.linear`'s up to float summation order (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_ONEDNN = (
    torch.backends.mkldnn.is_available()
    and hasattr(torch.ops, "mkldnn")
    and hasattr(torch.ops.mkldnn, "_linear_pointwise")
)


def _onednn_mm(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x [M, K] @ weight[N, K]ᵀ (+ bias [N]) -> [M, N] through oneDNN."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class _OneDnnLinear(torch.autograd.Function):
    """y = x Wᵀ + b. x [M, K], W [N, K], b [N] or None -> y [M, N]."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _onednn_mm(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _onednn_mm(grad, weight.t().contiguous(), None)  # g W: [M, K]
        if ctx.needs_input_grad[1]:
            grad_w = grad.t().mm(x)  # gᵀ x: [N, K] (MKL is faster for this one)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b


def _eligible(x: Tensor, weight: Tensor) -> bool:
    return (
        _ONEDNN
        and x.dim() == 2
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.shape[0] > 0
        and not torch.is_autocast_enabled("cpu")
    )


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`F.linear(x, weight, bias)`, through oneDNN for 2-d fp32 CPU inputs (see module doc)."""
    if not _eligible(x, weight):
        return F.linear(x, weight, bias)
    return _OneDnnLinear.apply(x.contiguous(), weight, bias)


class Linear(torch.nn.Linear):
    """`nn.Linear` whose forward is `linear` above (same parameters, same state dict)."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)
