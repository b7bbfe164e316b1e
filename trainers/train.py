"""`train(config, data) -> TrainResult`: one training run of a CTR model.

The data lives in memory as tensors; each epoch walks a seeded permutation in slices, so there is
no DataLoader and no per-row Python. Validation runs after every epoch (NE is the selection metric),
the best epoch's weights are kept, and test metrics come from those weights at the end.

Failures are detected, not assumed: a non-finite loss raises `NanLoss`, a loss that runs far above
the constant predictor's raises `Diverged`, passing the deadline raises `TrainingTimeout`, and an
allocation the allocator refuses raises `OutOfMemory`.
"""

from __future__ import annotations

import copy
import math
import resource
import time
from collections.abc import Callable
from typing import Any

import torch
from pydantic import BaseModel, Field

from . import faults as faults_mod
from .config import TrainerConfig, parse_config
from .data import CtrData, Split, load_data
from .errors import (
    ConfigError,
    Diverged,
    Killed,
    NanLoss,
    OutOfMemory,
    StopRequested,
    TrainingFailed,
    TrainingTimeout,
)
from .faults import Fault
from .metrics import background_entropy, metrics_from_logits, metrics_from_probs
from .models import build_model
from .optim import LrSchedule, build_optimizers, loss_fn
from .pruning import Prune

EVAL_CHUNK = 65_536
# Diverged: the smoothed training loss exceeds this many times the constant predictor's loss.
DIVERGENCE_FACTOR = 4.0
DIVERGENCE_MIN_STEPS = 5


class EpochRecord(BaseModel):
    """Validation metrics after one epoch, plus the epoch's training loss and timing."""

    epoch: int
    train_loss: float
    lr_factor: float
    seconds: float
    metrics: dict[str, float]


class TrainResult(BaseModel):
    """Everything one run produced. `metrics` holds the best epoch's val_* and the test_* of its
    weights; `data_info` carries the data's facts (for synthetic data, the Bayes-optimal NE)."""

    config: dict[str, Any]
    data_ref: str | None
    seed: int
    device: str
    epochs: list[EpochRecord]
    best_epoch: int
    metrics: dict[str, float]
    bayes: dict[str, float] = Field(default_factory=dict)
    trainer_seconds: float
    train_seconds: float
    samples_per_sec: float
    peak_memory_mb: float
    num_params: int
    stopped_early: bool
    pruned_at_epoch: int | None = Field(
        None, description="The epoch after which a `Prune` bar stopped the run; null = not pruned."
    )
    data_info: dict[str, Any] = Field(default_factory=dict)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


@torch.no_grad()
def predict_logits(model: torch.nn.Module, split: Split, device: torch.device) -> torch.Tensor:
    """Logits for every row of `split`, in chunks. -> [N] float32 on CPU."""
    model.eval()
    out = []
    for start in range(0, len(split), EVAL_CHUNK):
        b = split.batch(slice(start, start + EVAL_CHUNK)).to(device)
        out.append(model(b.sparse, b.dense).float().cpu())
    model.train()
    return torch.cat(out) if out else torch.empty(0)


def _platt(val_logits: torch.Tensor, val_labels: torch.Tensor) -> tuple[float, float]:
    """Fit p = sigmoid(a * logit + b) on validation (Platt scaling). Returns (a, b)."""
    ab = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    x, y = val_logits.double(), val_labels.double()
    opt = torch.optim.LBFGS([ab], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(ab[0] * x + ab[1], y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(ab[0].detach()), float(ab[1].detach())


class _Guard:
    """Watches the training loss and the clock; raises the typed failure when one goes wrong."""

    def __init__(self, base_loss: float, deadline: float | None):
        self.limit = DIVERGENCE_FACTOR * max(base_loss, 1e-3)
        self.deadline = deadline
        self.ema: float | None = None
        self.steps = 0

    def check_time(self, step: int) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TrainingTimeout(f"ran past max_seconds at step {step}", step=step)

    def check_loss(self, loss: torch.Tensor, step: int) -> float:
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NanLoss(f"loss became {value} at step {step}", step=step)
        self.steps += 1
        self.ema = value if self.ema is None else 0.8 * self.ema + 0.2 * value
        if self.steps >= DIVERGENCE_MIN_STEPS and self.ema > self.limit:
            raise Diverged(
                f"training loss {self.ema:.3g} is over {DIVERGENCE_FACTOR:g}x the constant "
                f"predictor's {self.limit / DIVERGENCE_FACTOR:.3g} at step {step}",
                step=step,
            )
        return value


def _resident(split: Split, device: torch.device) -> Split:
    """`split` with its tensors on `device`, so that each training batch is gathered there with
    no host-to-device copy per step. The split itself on the CPU, or when it does not fit (then
    every batch is copied over as it is used)."""
    if device.type == "cpu" or not len(split):
        return split
    try:
        return Split(split.sparse.to(device), split.dense.to(device), split.label.to(device))
    except torch.OutOfMemoryError:
        return split


def resolve_device(device: str) -> torch.device:
    """`auto` is the GPU when torch sees one, else the CPU; any other name as given. A CUDA
    device on a machine where torch sees none is a `ConfigError` that says what to use."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} was asked for but torch sees no CUDA device on this machine; "
            "use device 'auto' (the GPU when there is one) or 'cpu'"
        )
    return resolved


def train(
    config: TrainerConfig | dict[str, Any],
    data: str | CtrData,
    *,
    seed: int | None = None,
    max_seconds: float | None = None,
    device: str = "cpu",
    fault: Fault | None = None,
    attempt: int = 1,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    prune: Prune | None = None,
) -> TrainResult:
    """Train one model. `data` is a data reference (loaded with the config's data keys) or a
    loaded `CtrData`. `seed` overrides `config.seed`; `prune` stops a run that falls behind its
    bars (`rea.trainers.pruning`). Raises a `TrainingFailed` subclass,
    `ConfigError` or `DataError` on failure."""
    t0 = time.monotonic()
    deadline = t0 + max_seconds if max_seconds else None
    config = parse_config(config)
    if seed is not None:
        config = config.model_copy(update={"seed": seed})
    ctr_data = load_data(data, **config.data_params) if isinstance(data, str) else data
    run = _Run(config, ctr_data, resolve_device(device), deadline)
    active_fault = fault if fault is not None and fault.applies(config, attempt) else None
    try:
        try:
            run.fit(active_fault, on_epoch, prune)
        except (torch.OutOfMemoryError, MemoryError) as err:
            raise OutOfMemory(f"out of memory: {err}", step=run.step) from err
        except RuntimeError as err:
            if "can't allocate memory" in str(err) or "out of memory" in str(err).lower():
                raise OutOfMemory(f"out of memory: {err}", step=run.step) from err
            raise
    except TrainingFailed as err:
        err.partial = run.partial()  # what was learned before the failure, for the debugger
        raise
    except StopRequested as stop:
        killed = Killed(str(stop), step=run.step)
        killed.partial = run.partial()
        raise killed from stop
    return run.result(t0, data if isinstance(data, str) else ctr_data.info.get("ref"))


class _Run:
    """The state of one training run (model, optimisers, schedule, best weights)."""

    def __init__(self, config: TrainerConfig, data: CtrData, device: torch.device, deadline):
        torch.manual_seed(config.seed)
        self.config, self.data, self.device = config, data, device
        self.gen = torch.Generator().manual_seed(config.seed)
        self.model = build_model(config, data.schema).to(device)
        ctr = float(data.train.label.mean()) if len(data.train) else 0.5
        ctr = min(max(ctr, 1e-4), 1 - 1e-4)
        # Start at the base rate, so the first steps don't spend themselves on the bias.
        with torch.no_grad():
            self.model.output_bias.fill_(math.log(ctr / (1 - ctr)))
        # Check every split's ids once up front, then skip the per-batch check in the hot loop.
        for split in (data.train, data.valid, data.test):
            if len(split):
                self.model.validate_inputs(split.sparse, split.dense)
        self.model.check_inputs = False
        self.train_split = _resident(data.train, device)
        self.opt = build_optimizers(config, self.model)
        steps_per_epoch = max(1, math.ceil(len(data.train) / config.batch_size))
        self.schedule = LrSchedule(config, steps_per_epoch * config.epochs)
        self.guard = _Guard(background_entropy(data.train.label), deadline)
        self.step, self.epochs, self.best_state = 0, [], None
        self.best_ne, self.best_epoch, self.stopped_early = math.inf, -1, False
        self.pruned_at_epoch: int | None = None
        self.samples, self.train_seconds = 0, 0.0

    def fit(self, fault: Fault | None, on_epoch, prune: Prune | None = None) -> None:
        if fault is not None and fault.at_step == 0:
            faults_mod.fire(fault, self.model, self.guard.deadline)
        bad = 0
        for epoch in range(self.config.epochs):
            record = self._epoch(epoch, fault)
            improved = record.metrics["val_ne"] < self.best_ne
            if improved:
                self.best_ne, self.best_epoch = record.metrics["val_ne"], epoch
                self.best_state = copy.deepcopy(self.model.state_dict())
            self.schedule.epoch_end(improved)
            self.epochs.append(record)
            if on_epoch is not None:
                on_epoch(record)
            bad = 0 if improved else bad + 1
            patience = self.config.early_stopping_patience
            if patience and bad >= patience and epoch + 1 < self.config.epochs:
                self.stopped_early = True
                break
            if prune is not None and prune.stops(epoch, self.best_ne, self.config.epochs):
                self.stopped_early, self.pruned_at_epoch = True, epoch
                break

    def _epoch(self, epoch: int, fault: Fault | None) -> EpochRecord:
        t_epoch = time.monotonic()
        train, bs = self.train_split, self.config.batch_size
        # Drawn on the CPU generator, so the batch order is the same on every device.
        perm = torch.randperm(len(train), generator=self.gen).to(train.label.device)
        total, n = 0.0, 0
        for start in range(0, len(train), bs):
            self.guard.check_time(self.step)
            if fault is not None and self.step == fault.at_step and fault.at_step > 0:
                faults_mod.fire(fault, self.model, self.guard.deadline)
            total += self._train_step(train.batch(perm[start : start + bs]).to(self.device))
            n += 1
        self.train_seconds += time.monotonic() - t_epoch
        self.guard.check_time(self.step)
        metrics = self._validate()
        return EpochRecord(
            epoch=epoch,
            train_loss=total / max(n, 1),
            lr_factor=self.schedule.factor(self.step),
            seconds=time.monotonic() - t_epoch,
            metrics=metrics,
        )

    def _train_step(self, batch) -> float:
        self.opt.scale_lr(self.schedule.factor(self.step))
        if self.config.emb_l2:
            logits, emb_sq = self.model.forward_with_reg(batch.sparse, batch.dense)
        else:  # skip squaring every looked-up row when there is no penalty
            logits, emb_sq = self.model(batch.sparse, batch.dense), None
        loss = loss_fn(self.config, logits, batch.label)
        value = self.guard.check_loss(loss, self.step)
        if emb_sq is not None:
            loss = loss + self.config.emb_l2 * emb_sq
        self.opt.zero_grad()
        loss.backward()
        if self.config.grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(
                self.model.dense_parameters(), self.config.grad_clip_norm
            )
        self.opt.step()
        self.step += 1
        self.samples += len(batch.label)
        return value

    def _validate(self) -> dict[str, float]:
        logits = predict_logits(self.model, self.data.valid, self.device)
        metrics = metrics_from_logits(logits, self.data.valid.label, "val")
        if not math.isfinite(metrics["val_logloss"]):
            raise NanLoss(f"validation loss is {metrics['val_logloss']}", step=self.step)
        return metrics

    def partial(self) -> dict[str, Any]:
        """Progress so far: the step reached and the epochs completed (for failure events)."""
        return {
            "step": self.step,
            "epochs_completed": len(self.epochs),
            "best_val_ne": self.best_ne if self.epochs else None,
        }

    def _final_metrics(self) -> dict[str, float]:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        valid, test = self.data.valid, self.data.test
        val_logits = predict_logits(self.model, valid, self.device)
        test_logits = predict_logits(self.model, test, self.device)
        out: dict[str, float] = {}
        if self.config.calibration == "platt":
            a, b = _platt(val_logits, valid.label)
            val_logits, test_logits = a * val_logits + b, a * test_logits + b
            out.update({"platt_a": a, "platt_b": b})
        out.update(metrics_from_logits(val_logits, valid.label, "val"))
        if len(test):
            out.update(metrics_from_logits(test_logits, test.label, "test"))
        return out

    def _bayes(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, split in (("val", self.data.valid), ("test", self.data.test)):
            if split.true_prob is not None and len(split):
                out.update(metrics_from_probs(split.true_prob, split.label, name))
        return out

    def result(self, t0: float, data_ref: str | None) -> TrainResult:
        metrics = self._final_metrics()
        return TrainResult(
            config=self.config.model_dump(),
            data_ref=data_ref,
            seed=self.config.seed,
            device=str(self.device),
            epochs=self.epochs,
            best_epoch=self.best_epoch,
            metrics=metrics,
            bayes=self._bayes(),
            trainer_seconds=time.monotonic() - t0,
            train_seconds=self.train_seconds,
            samples_per_sec=self.samples / max(self.train_seconds, 1e-9),
            peak_memory_mb=_peak_memory_mb(self.device),
            num_params=sum(p.numel() for p in self.model.parameters()),
            stopped_early=self.stopped_early,
            pruned_at_epoch=self.pruned_at_epoch,
            data_info={k: v for k, v in self.data.info.items() if _jsonable(v)},
        )


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict | type(None))
