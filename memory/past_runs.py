"""Past runs from any source, normalised, and the insights derived from them (source-agnostic).

The readers in `rea.memory.importers` turn an Optuna study, a CSV/JSONL file or MLflow runs into
`PastRun`s; this module validates their parameters and derives insights. Parameter names are
normalised (prefixes and aliases, see `PARAM_PREFIXES` / `KEY_ALIASES`); keys of `TrainerConfig`
are validated one by one and become executable knobs; everything else is kept as a
non-executable `param` (context in the evidence). The effect estimates and their confidence
intervals come from `rea.memory.effects`; docs/memory.md gives the rules.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from rea.trainers.config import TrainerConfig
from rea.trainers.errors import ConfigError

from .effects import KnobEffect, Objective, Sample, estimate_effects
from .insights import Effect, Evidence, Insight, InsightSource, insight_id, outcome_for

# metric name -> lower is better. NE and logloss share a denominator on one validation set, so
# their relative gains are equal.
METRIC_DIRECTIONS: dict[str, bool] = {
    "val_ne": True, "ne": True, "val_logloss": True, "logloss": True, "val_loss": True,
    "loss": True, "val_auc": False, "auc": False,
}  # fmt: skip
OBJECTIVE_PRIORITY = (
    "val_ne",
    "val_logloss",
    "val_auc",
    "ne",
    "logloss",
    "auc",
    "val_loss",
    "loss",
)
KEY_ALIASES = {
    "learning_rate": "lr", "embedding_dim": "embed_dim", "emb_dim": "embed_dim",
    "embedding_size": "embed_dim", "family": "model", "model_family": "model",
    "num_epochs": "epochs", "n_epochs": "epochs", "l2_reg_embedding": "emb_l2",
    "clip_norm": "grad_clip_norm", "dnn_dropout": "dropout", "dnn_hidden_units": "mlp_dims",
}  # fmt: skip
PARAM_PREFIXES = ("params_", "params.", "param_", "param.", "config_", "config.")
NOT_KNOBS = {"seed"}  # runs differing only in seed are replicates, not a change


class PastRun(BaseModel):
    """One imported run: a journal entry. `config` holds validated TrainerConfig keys only."""

    run_id: str
    source: InsightSource
    config: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(
        default_factory=dict, description="Other, non-executable params."
    )
    metrics: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0
    status: str = "complete"


class ImportResult(BaseModel):
    """What an importer found: the runs, the insights derived from them, and what it skipped."""

    source: InsightSource
    study: str
    campaign_id: str = Field(description="Stable id of the 'imported' campaign for these runs.")
    objective: str
    lower_is_better: bool
    model: str | None = None
    runs: list[PastRun]
    insights: list[Insight]
    warnings: list[str] = Field(default_factory=list)


# --- normalisation ----------------------------------------------------------------------------
def canonical_key(name: str) -> str:
    """`params_learning_rate` -> `lr`: strip a parameter prefix, then apply `KEY_ALIASES`."""
    for prefix in PARAM_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return KEY_ALIASES.get(name, name)


def normalise_params(
    raw: dict[str, Any], run_id: str
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Split raw parameters into (config, params, warnings).

    A TrainerConfig key whose value validates goes to `config` in its canonical type; an invalid
    value goes to `params` with a warning, so it is kept but never proposed as a knob.
    """
    config: dict[str, Any] = {}
    params: dict[str, Any] = {}
    warnings: list[str] = []
    for name, value in raw.items():
        key = canonical_key(name)
        if key not in TrainerConfig.model_fields:
            params[key] = value
            continue
        try:
            probe = {"model": value} if key == "model" else {"model": "lr", key: value}
            config[key] = getattr(TrainerConfig.model_validate(probe), key)
        except ValidationError as err:
            params[key] = value
            msg = err.errors()[0]["msg"]
            warnings.append(
                f"run {run_id}: {key}={value!r} is not a valid TrainerConfig value ({msg}); kept as a param"
            )
    return config, params, warnings


def choose_objective(
    metric_names: Iterable[str], metric: str | None = None, direction: str | None = None
) -> Objective:
    """The metric to compare: `metric` if given, else the first of OBJECTIVE_PRIORITY present.

    `direction` (minimize | maximize) is needed for metrics not in METRIC_DIRECTIONS.
    """
    names = set(metric_names)
    if direction not in (None, "minimize", "maximize"):
        raise ConfigError(f"direction must be 'minimize' or 'maximize' (got {direction!r})")
    name = metric or next((m for m in OBJECTIVE_PRIORITY if m in names), None)
    if name is None or name not in names:
        raise ConfigError(
            f"no objective metric found (wanted {metric or ' / '.join(OBJECTIVE_PRIORITY)}); "
            f"the runs have: {', '.join(sorted(names)) or 'no metrics'}. Pass metric=NAME."
        )
    if direction is not None:
        return Objective(name, direction == "minimize")
    if name not in METRIC_DIRECTIONS:
        raise ConfigError(f"say whether {name!r} should be minimised or maximised: pass direction=")
    return Objective(name, METRIC_DIRECTIONS[name])


def _family(run: PastRun, model: str | None) -> str | None:
    return run.config.get("model", model)


# --- runs -> insights -------------------------------------------------------------------------
def insights_from_runs(
    runs: Sequence[PastRun],
    objective: Objective,
    *,
    source: InsightSource,
    study: str,
    campaign_id: str,
    model: str | None = None,
    dataset: dict[str, Any] | None = None,
) -> list[Insight]:
    """One insight per (knob, non-reference level), per model family when the family varies.

    Only complete runs with a finite objective count; `seed` is never a knob.
    """
    done = [
        r
        for r in runs
        if r.status == "complete" and math.isfinite(r.metrics.get(objective.name, math.nan))
    ]
    families = sorted({_family(r, model) for r in done}, key=str)
    groups: list[tuple[str | None, list[PastRun], list[str]]] = []
    if len(families) > 1:
        groups.append((None, done, ["model"]))
    for fam in families:
        subset = [r for r in done if _family(r, model) == fam]
        knobs = sorted({k for r in subset for k in r.config} - NOT_KNOBS - {"model"})
        groups.append((fam, subset, knobs))
    out = []
    for fam, subset, knobs in groups:
        samples = [_sample(r, objective, model) for r in subset]
        context = _varied_params(subset)
        for knob in knobs:
            for ke in estimate_effects(samples, knob, objective):
                out.append(_insight(ke, fam, source, study, campaign_id, dataset or {}, context))
    return out


def _sample(run: PastRun, objective: Objective, model: str | None) -> Sample:
    values = {**run.params, **{k: v for k, v in run.config.items() if k not in NOT_KNOBS}}
    if "model" not in values and model:
        values["model"] = model
    return Sample(values=values, y=run.metrics[objective.name], seconds=run.seconds)


def _varied_params(runs: Sequence[PastRun]) -> dict[str, Any]:
    """Non-executable params that took several values: {name: up to 10 distinct values}."""
    seen: dict[str, dict[str, Any]] = {}
    for r in runs:
        for k, v in r.params.items():
            seen.setdefault(k, {})[json.dumps(v, sort_keys=True, default=str)] = v
    return {k: list(vals.values())[:10] for k, vals in seen.items() if len(vals) > 1}


def _insight(
    ke: KnobEffect,
    fam: str | None,
    source: InsightSource,
    study: str,
    campaign_id: str,
    dataset: dict[str, Any],
    other_params: dict[str, Any],
) -> Insight:
    outcome = outcome_for(ke.effect)
    evidence = Evidence(
        model=fam,
        dataset=dataset,
        knobs={ke.knob: ke.value},
        baseline={ke.knob: ke.reference},
        effect=ke.effect,
        cost_seconds=ke.cost_seconds,
        method=ke.method,
        other_params=other_params,
    )
    return Insight(
        id=insight_id(campaign_id, fam, ke.knob, ke.value, ke.reference),
        statement=_statement(ke, fam, outcome, study, source),
        evidence=evidence,
        outcome=outcome,
        source=source,
        campaign_id=campaign_id,
    )


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value, default=str)


def _statement(ke: KnobEffect, fam: str | None, outcome: str, study: str, source: str) -> str:
    """e.g. 'Raising lr from 0.001 to 0.01 on dcn_v2 worsened val_logloss (-1.20%, 95% CI ...)'."""
    new, ref = ke.value, ke.reference
    if isinstance(new, int | float) and isinstance(ref, int | float) and not isinstance(new, bool):
        verb = "Raising" if new > ref else "Lowering"
        change = f"{verb} {ke.knob} from {_fmt(ref)} to {_fmt(new)}"
    else:
        change = f"Setting {ke.knob} to {_fmt(new)} instead of {_fmt(ref)}"
    verdict = {"helped": "improved", "hurt": "worsened", "neutral": "did not clearly change"}[
        outcome
    ]
    e: Effect = ke.effect
    ci = "too few runs for a CI" if e.ci_lo is None else f"95% CI {e.ci_lo:+.2f} to {e.ci_hi:+.2f}%"
    where = f" on {fam}" if fam else ""
    return (
        f"{change}{where} {verdict} {e.metric} ({e.gain_pct:+.2f}%, {ci}; {e.seeds} runs; "
        f"{source.removeprefix('import:')} '{study}')."
    )


def import_campaign_id(source: str, study_key: str) -> str:
    """The stable id of the 'imported' campaign of one study (re-imports land on the same id)."""
    return "imp-" + hashlib.sha1(f"{source}|{study_key}".encode()).hexdigest()[:12]


def build_result(
    runs: list[PastRun],
    *,
    source: InsightSource,
    study: str,
    study_key: str,
    metric: str | None,
    direction: str | None,
    model: str | None,
    dataset: dict[str, Any] | None,
    warnings: list[str],
) -> ImportResult:
    """Choose the objective, derive the insights and bundle everything (run ids made unique)."""
    seen: dict[str, int] = {}
    for run in runs:
        n = seen[run.run_id] = seen.get(run.run_id, 0) + 1
        if n > 1:
            run.run_id = f"{run.run_id}#{n}"
    objective = choose_objective({m for r in runs for m in r.metrics}, metric, direction)
    cid = import_campaign_id(source, study_key)
    insights = insights_from_runs(
        runs, objective, source=source, study=study, campaign_id=cid, model=model, dataset=dataset
    )
    families = {_family(r, model) for r in runs} - {None}
    return ImportResult(
        source=source,
        study=study,
        campaign_id=cid,
        objective=objective.name,
        lower_is_better=objective.lower_is_better,
        model=families.pop() if len(families) == 1 else None,
        runs=runs,
        insights=insights,
        warnings=warnings,
    )
