"""What an engineer notices first in a baseline config: knobs far from the family's usual
values. A learning rate 3x below the default, tiny embeddings or very few epochs are the first
suspects when a model underperforms, so cards that move such a knob back toward (or past) the
usual value get a higher prior, and the library is also searched for them by symptom.
"""

from __future__ import annotations

from typing import Any

from rea.trainers.config import TrainerConfig, default_config

# knob -> (the query a symptom adds, how far from the default counts as a symptom)
WATCHED = {
    "lr": ("learning rate too low slow convergence underfitting", 3.0),
    "embed_dim": ("embedding dimension too small model capacity", 2.0),
    "epochs": ("train longer more epochs underfitting", 2.0),
}
SYMPTOM_BONUS = 4.0


def symptoms(base: TrainerConfig) -> dict[str, str]:
    """knob -> "low" | "high" for each watched knob at least its factor away from the default."""
    usual = default_config(base.model)
    out: dict[str, str] = {}
    for knob, (_query, factor) in WATCHED.items():
        value, ref = float(getattr(base, knob)), float(getattr(usual, knob))
        if value * factor <= ref:
            out[knob] = "low"
        elif value >= ref * factor:
            out[knob] = "high"
    return out


def symptom_queries(found: dict[str, str]) -> list[str]:
    return [WATCHED[knob][0] for knob, side in found.items() if side == "low"]


def bonus(delta: dict[str, Any], base: TrainerConfig, found: dict[str, str]) -> float:
    """SYMPTOM_BONUS when the delta moves a symptomatic knob back toward its usual value."""
    for knob, side in found.items():
        if knob in delta and isinstance(delta[knob], int | float):
            now = float(getattr(base, knob))
            if (side == "low" and delta[knob] > now) or (side == "high" and delta[knob] < now):
                return SYMPTOM_BONUS
    return 1.0
