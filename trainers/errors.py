"""The errors REA raises, in one place.

Every error says what was wrong and what to do about it. The trainer-side failures carry the
`kind` that DESIGN.md §3 fixes for job events, so the job runner can classify them without
parsing messages.

    ReaError
    ├── ConfigError          a trainer config (or job spec) is invalid        kind=config_error
    ├── DataError            a data reference or file can't be read / parsed  kind=data_error
    └── TrainingFailed       training itself failed
        ├── OutOfMemory                                                       kind=oom
        ├── NanLoss          a non-finite loss or gradient                    kind=nan_loss
        ├── Diverged         the loss grew far past the constant predictor's  kind=diverged
        ├── TrainingTimeout  the job ran past its max_seconds                 kind=timeout
        └── Killed           the job was stopped by a signal                  kind=killed

    StopRequested (a BaseException, like KeyboardInterrupt) is what the job's SIGTERM/SIGINT
    handler raises: library code that guards an optional import or a probe with
    `except Exception` must not swallow a stop (torch does, inside lazy imports, and a stop
    swallowed there left a half-imported module behind that failed later as `crashed`). The
    trainer turns it into `Killed` with the progress made so far.
"""

from __future__ import annotations

FAILURE_KINDS = (
    "oom",
    "nan_loss",
    "diverged",
    "config_error",
    "data_error",
    "timeout",
    "killed",
    "crashed",
)


class ReaError(Exception):
    """Base of every error REA raises on purpose. `kind` is the job-event failure kind."""

    kind: str = "crashed"


class ConfigError(ReaError, ValueError):
    """A trainer config or job spec is invalid; the message lists the offending fields."""

    kind = "config_error"


class DataError(ReaError, ValueError):
    """A data reference or data file is unusable; the message names the file, line and field."""

    kind = "data_error"


class TrainingFailed(ReaError, RuntimeError):
    """Training stopped with a failure. `step` is the optimiser step where it was detected;
    `partial` (set by the trainer) holds the progress made before it."""

    kind = "crashed"

    def __init__(self, message: str, *, step: int | None = None):
        super().__init__(message)
        self.step = step
        self.partial: dict | None = None


class OutOfMemory(TrainingFailed):
    kind = "oom"


class NanLoss(TrainingFailed):
    kind = "nan_loss"


class Diverged(TrainingFailed):
    kind = "diverged"


class TrainingTimeout(TrainingFailed):
    kind = "timeout"


class Killed(TrainingFailed):
    kind = "killed"


class StopRequested(BaseException):
    """A stop signal arrived (see the module docstring); reported as kind `killed`."""
