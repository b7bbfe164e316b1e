"""The trainer schema's whole search space for a model family: every knob the schema exposes, with
its ranges. The benchmark's TPE and random arms search it; the agent's exploitation widens to
the part of it that its own space format holds when its local search stalls
(`rea.agents.planner.exploit.wide_space`).

`search_space(model)` takes the family's knobs (`rea.tools.trainer.family_knobs`: every config
key but `model`, `seed` and the keys that family never reads) and their bounds from the trainer
config's JSON Schema (`minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`, `enum`). Where
a schema bound is a validity limit rather than a range anyone would search, `CAPS` narrows it,
each with its reason (docs/benchmark-campaign.md lists them). The encoding:

* numbers: Optuna int/float distributions; rates and penalties on a log scale (`LOG_KNOBS`); a
  penalty whose schema range starts at 0 searches [LOG_FLOOR[name], high] (0 ~ the floor);
* enums and booleans: categorical;
* nullable numbers (`hash_buckets`, `cross_rank`, `embedding_lr`, `grad_clip_norm`): a
  categorical switch `<name>.on` and, when on, the number;
* width lists (`mlp_dims`, ...): a depth and a first width (a power of two), halving per layer
  as in the default [256, 128] (floor 8);
* knobs that only act under a setting (`focal_gamma` with the focal loss, the plateau knobs with
  the plateau schedule) are sampled only then (`CONDITIONS`).

`config_from(trial, space, baseline)` turns one Optuna trial into a full config (baseline values
for knobs not sampled); `params_of(config, space)` maps a config back to params, so the baseline
trial can be told to the study.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from rea.tools.trainer import family_knobs
from rea.trainers.config import TrainerConfig, config_json_schema

WIDTH_KNOBS = ("mlp_dims", "bottom_mlp_dims", "mlp2_dims")
WIDTH_CHOICES = (16, 32, 64, 128, 256, 512, 1024)  # first layer; schema allows 1..8192 per layer
MIN_WIDTH = 8
LOG_KNOBS = (
    "lr",
    "embedding_lr",
    "weight_decay",
    "emb_l2",
    "batch_size",
    "embed_dim",
    "min_count",
    "hash_buckets",
    "cross_rank",
    "grad_clip_norm",
)
LOG_FLOOR = {"weight_decay": 1e-8, "emb_l2": 1e-8}  # schema starts at 0 (= off)
# Narrowed schema ranges: (low, high, why). Everything not listed uses the schema's own range.
CAPS: dict[str, tuple[float, float, str]] = {
    "lr": (1e-5, 1.0, "schema (0, 100]: no optimiser here trains above 1; log needs low > 0"),
    "embedding_lr": (1e-5, 1.0, "as lr"),
    "epochs": (1, 20, "schema 1..200; 20 is the agent's own cap for longer training"),
    "batch_size": (256, 32768, "schema 1..1M; 1/8x..16x the default 2048"),
    "embed_dim": (2, 128, "schema 1..512; 8x the default 16 (cost grows with it)"),
    "min_count": (1, 100, "schema 1..10000"),
    "hash_buckets": (100, 100_000, "schema 2..1e7; more buckets than ids only costs memory"),
    "cross_rank": (1, 256, "schema 1..1024; above the cross input width it is full rank"),
    "warmup_steps": (0, 2000, "schema 0..1e6"),
    "plateau_factor": (0.05, 0.95, "schema (0, 1) open"),
    "plateau_patience": (0, 5, "schema 0..100; epochs are at most 20"),
    "early_stopping_patience": (0, 5, "schema 0..100; epochs are at most 20"),
    "label_smoothing": (0.0, 0.45, "schema [0, 0.5) open"),
    "grad_clip_norm": (0.01, 100.0, "schema (0, 1e6]"),
    "fusion_heads": (1, 64, "schema 1..64; powers of two (they must divide the widths)"),
}
CONDITIONS: dict[str, tuple[str, str]] = {
    "focal_gamma": ("loss", "focal"),
    "plateau_factor": ("lr_schedule", "plateau"),
    "plateau_patience": ("lr_schedule", "plateau"),
}


@dataclass(frozen=True)
class Knob:
    """One searched config key. kind: float | int | cat | nullable | widths."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    number: str = ""  # nullable: the kind of the number ("int" | "float")
    min_depth: int = 0  # widths

    def describe(self) -> dict[str, Any]:
        """JSON for the benchmark output (what each arm searched)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.choices:
            out["choices"] = list(self.choices)
        if self.low is not None:
            out.update(low=self.low, high=self.high, log=self.log)
        if self.kind == "widths":
            out.update(depth=[self.min_depth, 4], first_width=list(WIDTH_CHOICES), halving=True)
        if self.name in CAPS:
            out["narrowed"] = CAPS[self.name][2]
        if self.name in CONDITIONS:
            out["only_when"] = "=".join(CONDITIONS[self.name])
        return out


def _bounds(prop: dict[str, Any], name: str) -> tuple[float, float]:
    if name in CAPS:
        return CAPS[name][0], CAPS[name][1]
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    return LOG_FLOOR.get(name, low), high


def _numeric(prop: dict[str, Any]) -> dict[str, Any] | None:
    """The numeric branch of a property (`anyOf` [number, null] or the property itself)."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") in ("integer", "number"):
            return branch
    return None


def _knob(name: str, prop: dict[str, Any], model: str) -> Knob:
    if name in WIDTH_KNOBS:
        return Knob(name, "widths", min_depth=1 if model == "finalmlp" else 0)
    if name == "fusion_heads":
        return Knob(name, "cat", choices=(1, 2, 4, 8, 16, 32, 64))
    if "enum" in prop:
        return Knob(name, "cat", choices=tuple(prop["enum"]))
    if prop.get("type") == "boolean":
        return Knob(name, "cat", choices=(False, True))
    numeric = _numeric(prop)
    if numeric is None:
        raise ValueError(f"bench space: no rule for config key {name!r} ({prop})")
    low, high = _bounds(numeric, name)
    number = "int" if numeric["type"] == "integer" else "float"
    kind = "nullable" if "anyOf" in prop else number
    return Knob(name, kind, float(low), float(high), name in LOG_KNOBS, number=number)


def search_space(model: str) -> list[Knob]:
    """Every knob of `model`'s family, in schema order (see the module docstring)."""
    return list(_family_space(model))


@functools.lru_cache(maxsize=64)
def _family_space(model: str) -> tuple[Knob, ...]:
    # The schema is fixed for the process and Knobs are frozen, so one space per family serves
    # every call; exploitation asks for it each wide round (building the schema is ~5 ms).
    props = config_json_schema()["properties"]
    return tuple(_knob(name, props[name], model) for name in family_knobs(model))


def describe_space(space: list[Knob]) -> dict[str, Any]:
    return {k.name: k.describe() for k in space}


def distribution(knob: Knob) -> BaseDistribution:
    """The Optuna distribution of a numeric knob (of its number, for a nullable one)."""
    number = knob.number or knob.kind
    if number == "int":
        return IntDistribution(int(knob.low), int(knob.high), log=knob.log)  # type: ignore[arg-type]
    return FloatDistribution(knob.low, knob.high, log=knob.log)  # type: ignore[arg-type]


def halving_widths(depth: int, first: int) -> list[int]:
    """A width list of `depth` layers from `first`, halving per layer (floor MIN_WIDTH)."""
    return [max(first // 2**i, MIN_WIDTH) for i in range(depth)]


def _suggest(trial: optuna.Trial, knob: Knob) -> Any:
    name = knob.name
    if knob.kind == "cat":
        return json.loads(trial.suggest_categorical(name, [json.dumps(c) for c in knob.choices]))
    if knob.kind == "widths":
        depth = trial.suggest_int(f"{name}.depth", knob.min_depth, 4)
        return halving_widths(depth, trial.suggest_categorical(f"{name}.width", WIDTH_CHOICES))
    if knob.kind == "nullable" and not trial.suggest_categorical(f"{name}.on", (False, True)):
        return None
    if (knob.number or knob.kind) == "int":
        return trial.suggest_int(name, int(knob.low), int(knob.high), log=knob.log)  # type: ignore[arg-type]
    value = trial.suggest_float(name, knob.low, knob.high, log=knob.log)  # type: ignore[arg-type]
    return min(max(float(f"{value:.4g}"), knob.low), knob.high)  # type: ignore[type-var]


def config_from(trial: optuna.Trial, space: list[Knob], baseline: TrainerConfig) -> dict[str, Any]:
    """A full config dict: the trial's values for the sampled knobs, the baseline's elsewhere."""
    config = baseline.model_dump(mode="json")
    for knob in space:
        parent = CONDITIONS.get(knob.name)
        if parent and config.get(parent[0]) != parent[1]:
            continue
        config[knob.name] = _suggest(trial, knob)
    return config


def params_of(
    config: dict[str, Any], space: list[Knob]
) -> tuple[dict[str, Any], dict[str, BaseDistribution]] | None:
    """Optuna params + distributions that `config_from` would turn into `config`, or None when
    a value lies outside the space (e.g. a user baseline with widths [300, 100])."""
    params: dict[str, Any] = {}
    dists: dict[str, BaseDistribution] = {}
    for knob in space:
        parent = CONDITIONS.get(knob.name)
        if parent and config.get(parent[0]) != parent[1]:
            continue
        found = _param(knob, config.get(knob.name))
        if found is None:
            return None
        params.update(found[0])
        dists.update(found[1])
    return params, dists


def _param(knob: Knob, value: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    name = knob.name
    if knob.kind == "cat":
        choices = [json.dumps(c) for c in knob.choices]
        encoded = json.dumps(value)
        return (
            ({name: encoded}, {name: CategoricalDistribution(choices)})
            if encoded in choices
            else None
        )
    if knob.kind == "widths":
        return _width_param(knob, value)
    if knob.kind == "nullable":
        switch = {f"{name}.on": CategoricalDistribution((False, True))}
        if value is None:
            return {f"{name}.on": False}, switch
        inner = _number_param(knob, value)
        return None if inner is None else ({f"{name}.on": True, **inner[0]}, {**switch, **inner[1]})
    return _number_param(knob, value)


def _number_param(knob: Knob, value: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value == 0 and knob.log:
        value = knob.low  # "off" ~ the floor of a log range
    if not knob.low <= value <= knob.high:  # type: ignore[operator]
        return None
    return {knob.name: value}, {knob.name: distribution(knob)}


def _width_param(knob: Knob, value: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    depth = len(value or [])
    first = value[0] if value else WIDTH_CHOICES[0]
    if not knob.min_depth <= depth <= 4 or first not in WIDTH_CHOICES:
        return None
    if list(value or []) != halving_widths(depth, first):
        return None
    params = {f"{knob.name}.depth": depth, f"{knob.name}.width": first}
    dists = {
        f"{knob.name}.depth": IntDistribution(knob.min_depth, 4),
        f"{knob.name}.width": CategoricalDistribution(WIDTH_CHOICES),
    }
    return params, dists
