"""Optimisers, learning-rate schedule and losses for the trainer.

Embedding tables and dense parameters get separate optimisers: tables with sparse gradients are
updated by a sparse-capable optimiser (SparseAdam, Adagrad, SGD) so a step touches only the rows the
batch used; with `sparse_optimizer="dense"` they join the dense optimiser as their own group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .config import TrainerConfig


@dataclass
class Optimizers:
    """The optimisers of one run and the base LR of each param group (the schedule scales these)."""

    optimizers: list[torch.optim.Optimizer]
    base_lrs: list[list[float]] = field(default_factory=list)

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def scale_lr(self, factor: float) -> None:
        for opt, lrs in zip(self.optimizers, self.base_lrs, strict=True):
            for group, base in zip(opt.param_groups, lrs, strict=True):
                group["lr"] = base * factor


def _dense_optimizer(config: TrainerConfig, groups: list[dict]) -> torch.optim.Optimizer:
    kind = config.optimizer
    if kind == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    if kind == "adagrad":
        return torch.optim.Adagrad(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


class RowSparseAdam(torch.optim.Optimizer):
    """Lazy Adam for embedding tables with sparse gradients: the same update as
    `torch.optim.SparseAdam` (only rows the batch used move; one global step count for bias
    correction; eps added to sqrt(v) before correction), done with dense row ops.

    Instead of building coalesced sparse tensors for the gradient and both moments, it sums the
    gradient per unique row ([U, E]), gathers the moments of those rows, updates them and scatters
    them back: about 1.5x faster than SparseAdam on a 2.6M x 16 table (tests check equality).
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        return None

    def _update(self, p: torch.Tensor, group: dict) -> None:
        b1, b2 = group["betas"]
        state = self.state[p]
        if not state:
            state["step"], state["exp_avg"], state["exp_avg_sq"] = (
                0,
                torch.zeros_like(p),
                torch.zeros_like(p),
            )
        state["step"] += 1
        grad = p.grad
        if not grad.is_sparse:
            raise RuntimeError("RowSparseAdam needs sparse gradients (nn.Embedding(sparse=True))")
        rows = grad._indices()[0]
        if _strictly_increasing(rows):  # FieldEmbedding's gradient: rows already unique, summed
            g = grad._values()
        else:
            rows, inverse = torch.unique(grad._indices()[0], return_inverse=True)
            g = torch.zeros(rows.numel(), *p.shape[1:], dtype=p.dtype, device=p.device)
            g.index_add_(0, inverse, grad._values())  # [U, E]: summed over repeated rows
        m = state["exp_avg"].index_select(0, rows).lerp_(g, 1 - b1)
        v = state["exp_avg_sq"].index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
        state["exp_avg"].index_copy_(0, rows, m)
        state["exp_avg_sq"].index_copy_(0, rows, v)
        t = state["step"]
        step_size = group["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
        # rows are unique, so gather-update-scatter equals p.index_add_, which is ~13x slower
        # here (4.6 vs 0.35 ms for 22k rows of a 238k x 17 table: it allows for repeated rows).
        moved = p.index_select(0, rows).add_(m.div_(v.sqrt_().add_(group["eps"])), alpha=-step_size)
        p.index_copy_(0, rows, moved)


def _strictly_increasing(index: torch.Tensor) -> bool:
    """True when a 1-d index is sorted without repeats (a coalesced gradient's row index).

    Autograd drops a sparse gradient's `is_coalesced` flag on its way to `.grad`, so the check
    is made on the data: one compare over the U rows, far cheaper than re-sorting them.
    """
    return index.numel() < 2 or bool((index[1:] > index[:-1]).all())


def _sparse_optimizer(config: TrainerConfig, params: list, lr: float) -> torch.optim.Optimizer:
    kind = config.sparse_optimizer
    if kind == "sparse_adam":
        return RowSparseAdam(params, lr=lr)
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    return torch.optim.SGD(params, lr=lr)


def build_optimizers(config: TrainerConfig, model) -> Optimizers:
    """Dense optimiser for `model.dense_parameters()`, sparse one for its embedding tables."""
    emb_lr = config.embedding_lr or config.lr
    dense = [p for p in model.dense_parameters() if p.requires_grad]
    tables = [p for p in model.embedding_parameters() if p.requires_grad]
    groups = [{"params": dense, "lr": config.lr}] if dense else []
    if config.sparse_optimizer == "dense" and tables:
        groups.append({"params": tables, "lr": emb_lr, "weight_decay": 0.0})
    opts: list[torch.optim.Optimizer] = []
    if groups:
        opts.append(_dense_optimizer(config, groups))
    if config.sparse_optimizer != "dense" and tables:
        opts.append(_sparse_optimizer(config, tables, emb_lr))
    base = [[g["lr"] for g in opt.param_groups] for opt in opts]
    return Optimizers(opts, base)


@dataclass
class LrSchedule:
    """LR factor per step: linear warmup, then constant or cosine to 0; `plateau` multiplies it by
    `plateau_factor` whenever validation NE fails to improve for `plateau_patience`+1 epochs."""

    config: TrainerConfig
    total_steps: int
    plateau_scale: float = 1.0
    _bad_epochs: int = 0

    def factor(self, step: int) -> float:
        c = self.config
        f = min(1.0, (step + 1) / c.warmup_steps) if c.warmup_steps else 1.0
        if c.lr_schedule == "warmup_cosine":
            span = max(1, self.total_steps - c.warmup_steps)
            progress = min(1.0, max(0.0, (step - c.warmup_steps) / span))
            f *= 0.5 * (1 + math.cos(math.pi * progress))
        return f * self.plateau_scale

    def epoch_end(self, improved: bool) -> None:
        if self.config.lr_schedule != "plateau":
            return
        self._bad_epochs = 0 if improved else self._bad_epochs + 1
        if self._bad_epochs > self.config.plateau_patience:
            self.plateau_scale *= self.config.plateau_factor
            self._bad_epochs = 0


def loss_fn(config: TrainerConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean training loss. logits, labels: [B]. Label smoothing pulls targets toward 0.5."""
    target = labels
    if config.label_smoothing:
        target = labels * (1 - config.label_smoothing) + 0.5 * config.label_smoothing
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if config.loss == "focal":
        # Focal loss (Lin et al. 2017): down-weight well-classified rows by (1 - p_t)^gamma.
        p = torch.sigmoid(logits)
        p_t = p * target + (1 - p) * (1 - target)
        bce = bce * (1 - p_t).clamp_min(0).pow(config.focal_gamma)
    return bce.mean()
