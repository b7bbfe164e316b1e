"""Errors raised by the experiment store (`rea.memory`), beside the ones in `rea.trainers.errors`.

They join the one REA hierarchy (every class here is a `ReaError`), so a caller can catch
`ReaError` once; each message says what was wrong and what to do.

    ReaError
    ├── BudgetExceeded      the ledger cannot pay for a job (or the budget change is invalid)
    └── StoreError          the store refused an operation
        ├── NotFound            no row with that id            (also a LookupError)
        ├── IllegalTransition   a job/approval state change the state machine forbids
        ├── DuplicateKey        a unique key is already taken by a different row
        └── InvalidValue        a status/phase/source outside its vocabulary, a bad amount

Unsupported database URLs raise `rea.trainers.errors.ConfigError`.
"""

from __future__ import annotations

from rea.trainers.errors import ReaError


class BudgetExceeded(ReaError):
    """The campaign's remaining compute cannot pay for a reservation.

    `remaining` is what was left (seconds) and `requested` what was asked for.
    """

    kind = "budget_exceeded"

    def __init__(self, message: str, *, remaining: float = 0.0, requested: float = 0.0):
        super().__init__(message)
        self.remaining = remaining
        self.requested = requested


class StoreError(ReaError):
    """The experiment store refused an operation (see the subclasses)."""

    kind = "store_error"


class NotFound(StoreError, LookupError):
    """No row with the given id exists."""


class IllegalTransition(StoreError, ValueError):
    """A state change that the job or approval state machine forbids."""


class DuplicateKey(StoreError, ValueError):
    """A unique key (id, idempotency key) already belongs to a different row."""


class InvalidValue(StoreError, ValueError):
    """A value outside a closed vocabulary (a status, phase, source, …) or out of range."""
