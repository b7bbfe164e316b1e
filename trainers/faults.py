"""Fault injection: make a job fail in a chosen way so the debugger and reliability tests can
exercise every failure kind.

An injected fault does not report a failure by itself; it *causes* one, and the trainer's ordinary
detectors catch it: `oom` makes an allocation the allocator must refuse, `nan_loss` poisons a weight
so the next loss is NaN, `diverged` shifts the output bias so the loss explodes, `timeout` stalls
past the deadline, `killed` sends the process SIGTERM, `crashed` raises an unexpected exception,
`config_error` / `data_error` corrupt the config / data reference before they are validated.

`attempts` (default: only attempt 1) and `when` (conditions on the config) let a test model a fault
that the right fix removes: e.g. `{"kind": "oom", "when": {"batch_size": {"gte": 2048}}}` stops
failing once the debugger halves the batch.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .config import TrainerConfig
from .errors import Killed

if TYPE_CHECKING:  # the service imports the spec models but never trains: torch stays unloaded
    import torch

FaultKind = Literal[
    "oom", "nan_loss", "diverged", "config_error", "data_error", "timeout", "killed", "crashed"
]
Condition = dict[Literal["gte", "lte", "gt", "lt", "eq", "ne"], Any]


class Fault(BaseModel):
    """A failure to inject at optimiser step `at_step` (0 = before the first step)."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    at_step: int = Field(1, ge=0)
    attempts: list[int] | None = Field(
        default_factory=lambda: [1], description="Attempts it fires on; null = every attempt."
    )
    when: dict[str, Condition] = Field(
        default_factory=dict, description="Fires only if every config condition holds."
    )

    def applies(self, config: TrainerConfig | dict[str, Any], attempt: int) -> bool:
        if self.attempts is not None and attempt not in self.attempts:
            return False
        values = config if isinstance(config, dict) else config.model_dump()
        return all(_holds(values.get(key), cond) for key, cond in self.when.items())


_OPS = {
    "gte": lambda a, b: a is not None and a >= b,
    "lte": lambda a, b: a is not None and a <= b,
    "gt": lambda a, b: a is not None and a > b,
    "lt": lambda a, b: a is not None and a < b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}


def _holds(value: Any, cond: Condition) -> bool:
    return all(_OPS[op](value, target) for op, target in cond.items())


def corrupt_inputs(fault: Fault | None, config: dict, data: str) -> tuple[dict, str]:
    """Apply `config_error` / `data_error` faults to the raw config and data reference."""
    if fault is None:
        return config, data
    if fault.kind == "config_error":
        return {**config, "injected_unknown_key": True}, data
    if fault.kind == "data_error":
        return config, "csv:/nonexistent/injected-data-error.csv"
    return config, data


def fire(fault: Fault, model: torch.nn.Module, deadline: float | None) -> None:
    """Cause the runtime fault `fault.kind` now (called by the trainer at `fault.at_step`)."""
    import torch

    kind = fault.kind
    if kind == "oom":
        # Far beyond any machine: the allocator refuses it (CPU: RuntimeError, CUDA: OutOfMemoryError).
        device = next(model.parameters()).device
        torch.empty(1 << 47, dtype=torch.uint8, device=device)
    elif kind == "nan_loss":
        with torch.no_grad():
            model.output_bias.fill_(float("nan"))
    elif kind == "diverged":
        with torch.no_grad():
            model.output_bias.add_(40.0)
    elif kind == "timeout":
        if deadline is None:
            raise ValueError("a timeout fault needs the job's max_seconds")
        time.sleep(max(0.0, deadline - time.monotonic()) + 0.05)
    elif kind == "killed":
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            raise Killed("SIGTERM (injected)")
        os.kill(os.getpid(), signal.SIGTERM)
    elif kind == "crashed":
        raise RuntimeError(f"injected crash at step {fault.at_step}")
