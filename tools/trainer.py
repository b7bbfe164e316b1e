"""The trainer's config schema as the agents see it, and the one check every config delta passes.

A hypothesis is a config delta relative to the campaign's baseline. `check_delta` is the gate
every agent (and every LLM answer) goes through: the delta must apply to the baseline without a
`ConfigError`, must not set `seed` (seeds belong to the campaign), and is reduced to what it
actually changes (its *effective* delta; empty = nothing to test).

    delta = check_delta(baseline, {"lr": 3e-4, "epochs": 3})   # -> {"lr": 0.0003}
    tools = make_trainer_tools(baseline)                        # schema + validate_delta tools
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from rea.trainers.config import (
    TrainerConfig,
    apply_delta,
    config_delta,
    config_json_schema,
    parse_config,
)
from rea.trainers.errors import ConfigError

FORBIDDEN_KEYS = ("seed",)

# Keys each family's model never reads (trainers/models/families.py): accepted by the config but
# pointless to tune or test on that family.
_TOWER = ("mlp_dims", "dropout", "norm", "activation")
_DCN = ("cross_layers", "cross_rank", "dcn_structure")
_FINAL = ("mlp2_dims", "fusion_heads", "feature_selection")
UNUSED_KEYS: dict[str, frozenset[str]] = {
    "lr": frozenset(("embed_dim", *_TOWER, *_DCN, "bottom_mlp_dims", *_FINAL, "precision")),
    "fm": frozenset((*_TOWER, *_DCN, "bottom_mlp_dims", *_FINAL, "precision")),
    "deepfm": frozenset((*_DCN, "bottom_mlp_dims", *_FINAL)),
    "dcn_v2": frozenset(("bottom_mlp_dims", *_FINAL)),
    "dlrm": frozenset((*_DCN, *_FINAL)),
    "finalmlp": frozenset((*_DCN, "bottom_mlp_dims")),
}


def as_config(config: TrainerConfig | Mapping[str, Any]) -> TrainerConfig:
    """A validated `TrainerConfig` from a dict (raises `ConfigError`)."""
    return config if isinstance(config, TrainerConfig) else parse_config(dict(config))


def check_delta(
    baseline: TrainerConfig | Mapping[str, Any], delta: Mapping[str, Any]
) -> dict[str, Any]:
    """The effective delta (keys whose value really changes) of a valid `delta` on `baseline`.

    Raises `ConfigError` (a ValueError) naming the problem when `delta` is not a dict, sets a
    forbidden key, or does not validate on the baseline. An empty result means the delta
    changes nothing (already part of the baseline).
    """
    if not isinstance(delta, Mapping):
        raise ConfigError(f"a config delta must be an object of trainer keys, got {delta!r}")
    bad = sorted(set(delta) & set(FORBIDDEN_KEYS))
    if bad:
        raise ConfigError(f"a config delta must not set {bad}: seeds belong to the campaign")
    base = as_config(baseline)
    return config_delta(base, apply_delta(base, dict(delta)))


def screen_delta(
    baseline: TrainerConfig | Mapping[str, Any], delta: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """`check_delta` for validating model output: (effective delta, None), or ({}, the problem
    in words) when the delta is invalid or changes nothing on the baseline."""
    try:
        effective = check_delta(baseline, delta)
    except ConfigError as err:
        return {}, f"invalid config_delta: {err}"
    if not effective:
        return {}, "config_delta changes nothing on the baseline"
    return effective, None


def family_knobs(model: str) -> list[str]:
    """Trainer keys that matter for `model` (everything but `model`, `seed` and unused keys)."""
    unused = UNUSED_KEYS.get(model, frozenset())
    return [k for k in TrainerConfig.model_fields if k not in unused and k not in ("model", "seed")]


def relative_cost(baseline: TrainerConfig | Mapping[str, Any], delta: Mapping[str, Any]) -> float:
    """A rough training-cost ratio of baseline+delta over the baseline, in [0.2, 20].

    Epochs scale cost linearly (an upper bound: early stopping may cut it); smaller batches
    cost more steps (about with the square root of the ratio on small models); embedding width
    scales the embedding update (the dominant cost of these models, see notes/stack.md) about
    with its square root; a family switch to a towered model costs ~1.5x. Research cards carry
    their own measured-or-estimated cost, which wins over this guess.
    """
    base = as_config(baseline)
    new = apply_delta(base, dict(delta))
    ratio = new.epochs / base.epochs * math.sqrt(base.batch_size / new.batch_size)
    if new.model != "lr" and base.model != "lr":
        ratio *= math.sqrt(new.embed_dim / base.embed_dim)
    if new.model != base.model and base.model in ("lr", "fm"):
        ratio *= 1.5
    return float(min(max(ratio, 0.2), 20.0))


def canonical(delta: Mapping[str, Any]) -> str:
    """A stable key for a delta (sorted JSON): equal deltas give equal keys."""
    return json.dumps(dict(delta), sort_keys=True, default=str)


def schema_summary(model: str | None = None) -> dict[str, Any]:
    """The config schema trimmed for a prompt: per key its type/enum, range, default and
    description; keys unused by `model` are left out when a family is given."""
    schema = config_json_schema()
    keep = set(family_knobs(model)) | {"model"} if model else set(schema["properties"])
    out: dict[str, Any] = {}
    for key, prop in schema["properties"].items():
        if key not in keep:
            continue
        out[key] = {
            k: v
            for k, v in prop.items()
            if k in ("type", "enum", "anyOf", "minimum", "maximum", "default", "description")
            or k.startswith("exclusive")
        }
    return out


def make_trainer_tools(
    baseline: TrainerConfig | Mapping[str, Any], *, model: str | None = None
) -> list[BaseTool]:
    """`trainer_config_schema` and `validate_delta`, bound to this campaign's baseline."""
    base = as_config(baseline)

    def trainer_config_schema() -> dict[str, Any]:
        """The trainer config keys you may change, with type, allowed values/range, default
        and meaning, plus the current baseline config. A config delta uses these keys only."""
        return {"keys": schema_summary(model or base.model), "baseline": base.model_dump()}

    def validate_delta(config_delta: dict[str, Any]) -> dict[str, Any]:
        """Check a config delta (e.g. {"lr": 0.0003, "lr_schedule": "plateau"}) against the
        baseline. Returns ok=true with the effective delta (what really changes) and its cost
        relative to the baseline, or ok=false with the error to fix. Always check a delta
        before proposing it; an empty effective delta means the baseline already has it."""
        try:
            effective = check_delta(base, config_delta)
        except ConfigError as err:
            return {"ok": False, "error": str(err)}
        cost = relative_cost(base, effective) if effective else 1.0
        return {"ok": True, "effective_delta": effective, "relative_cost": round(cost, 3)}

    return [
        StructuredTool.from_function(trainer_config_schema),
        StructuredTool.from_function(validate_delta),
    ]
