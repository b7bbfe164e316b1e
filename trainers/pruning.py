"""Early stopping against other runs: a job told how good it must be by each epoch stops once it
is clearly behind (the multi-fidelity idea of median pruning and successive halving: a hopeless
config gives back the rest of its budget after an epoch or two instead of training to the end).

The job does not decide what "behind" means; whoever launches it does (the campaign's planner
sets the bars from its earlier runs; see docs/agent.md). A pruned run is not a failure:
it ends like one that stopped early on its own, with its best epoch's metrics, and says at which
epoch it was stopped (`TrainResult.pruned_at_epoch`).

No torch here: the service reads job specs without loading it.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Prune(BaseModel):
    """Stop after epoch `e` (0-based) when the run's best validation NE so far is above
    `val_ne_above[e]`. No check where the entry is null, past the list's end, or on the run's
    last epoch (stopping there saves nothing)."""

    model_config = ConfigDict(extra="forbid")

    val_ne_above: list[float | None] = Field(
        max_length=1000,
        description="Per epoch: the best val NE so far must be at most this to go on; null = no bar.",
    )

    @field_validator("val_ne_above")
    @classmethod
    def _finite(cls, bars: list[float | None]) -> list[float | None]:
        for e, bar in enumerate(bars):
            if bar is not None and not (math.isfinite(bar) and bar > 0):
                raise ValueError(
                    f"val_ne_above[{e}] must be a positive finite NE or null (got {bar})"
                )
        return bars

    def stops(self, epoch: int, best_val_ne: float, epochs: int) -> bool:
        """Whether a run of `epochs` epochs whose best val NE after epoch `epoch` is
        `best_val_ne` stops here."""
        if epoch + 1 >= epochs or epoch >= len(self.val_ne_above):
            return False
        bar = self.val_ne_above[epoch]
        return bar is not None and best_val_ne > bar
