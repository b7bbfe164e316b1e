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


def _sparse_optimizer(config: TrainerConfig, params: list, lr: float) -> torch.optim.Optimizer:
    kind = config.sparse_optimizer
    if kind == "sparse_adam":
        return torch.optim.SparseAdam(params, lr=lr)
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
