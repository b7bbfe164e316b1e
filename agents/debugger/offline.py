"""The failure runbook: a deterministic diagnosis per failure kind, and `apply_fix`.

    oom          halve batch_size (min 32), scale lr linearly; at min batch, halve embed_dim
    nan_loss     lr x0.3, clip gradients at 1.0 (halve an existing clip)
    diverged     warmup_cosine with warmup (~10% of an epoch); already warmed up: lr x0.5
    config_error drop unknown keys, reset invalid values to the family default; a config that
                 validates is retried unchanged (the error came from elsewhere)
    timeout      retry with 1.5x max_seconds
    killed, crashed, lost   retry unchanged (infrastructure)
    data_error   escalate: a data problem is the human's
Any kind escalates once `attempt >= max_attempts` (the diagnosis and suggested patch kept).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from rea.trainers.config import (
    MODEL_FAMILIES,
    TrainerConfig,
    apply_delta,
    default_config,
    parse_config,
)
from rea.trainers.errors import ConfigError
from rea.trainers.events import Failure

from .outputs import Diagnosis

MIN_BATCH, MIN_EMBED = 32, 4
NAN_LR_FACTOR, DIVERGED_LR_FACTOR, CLIP_NORM = 0.3, 0.5, 1.0
WARMUP_FRACTION, DEFAULT_WARMUP_STEPS = 0.1, 100
TIMEOUT_FACTOR = 1.5


def diagnose_offline(
    failure: Failure,
    config: dict[str, Any],
    attempt: int,
    max_attempts: int = 3,
    *,
    steps_per_epoch: int | None = None,
) -> Diagnosis:
    """The runbook's diagnosis of `failure` of a job that ran `config` (see the module doc)."""
    rule = _RUNBOOK.get(failure.kind, _escalate)
    return enforce_limits(rule(failure, config, steps_per_epoch), attempt, max_attempts)


def enforce_limits(diagnosis: Diagnosis, attempt: int, max_attempts: int) -> Diagnosis:
    """Escalate once the attempts are used up, whatever the policy proposed."""
    if attempt < max_attempts or diagnosis.action == "escalate":
        return diagnosis
    note = (
        f"Attempt {attempt} of {max_attempts} failed, so a human decides; the suggested next "
        f"step was {diagnosis.action} with {diagnosis.config_patch or 'no config change'}."
    )
    return diagnosis.model_copy(
        update={"action": "escalate", "rationale": f"{note} {diagnosis.rationale}".strip()}
    )


def apply_fix(config: dict[str, Any], diagnosis: Diagnosis) -> dict[str, Any]:
    """The config to relaunch with: `config` without `drop_keys`, with `config_patch`,
    validated (raises `ConfigError`; a fix may never change the model family)."""
    if diagnosis.config_patch.get("model", config.get("model")) != config.get("model"):
        raise ConfigError(
            f"a fix must not change the model family ({config.get('model')!r} -> "
            f"{diagnosis.config_patch['model']!r}); propose a new experiment instead"
        )
    base = {k: v for k, v in config.items() if k not in diagnosis.drop_keys}
    return apply_delta(base, diagnosis.config_patch).model_dump(mode="json")


def current_values(config: dict[str, Any]) -> dict[str, Any]:
    """Every key's value in `config`, family defaults filled in (best effort if invalid)."""
    try:
        return parse_config(config).model_dump(mode="json")
    except ConfigError:
        model = config.get("model")
        known = TrainerConfig.model_fields
        base = default_config(model).model_dump(mode="json") if model in MODEL_FAMILIES else {}
        return {**base, **{k: v for k, v in config.items() if k in known}}


def _oom(failure: Failure, config: dict[str, Any], _: int | None) -> Diagnosis:
    v = current_values(config)
    bs, lr = v["batch_size"], v["lr"]
    if bs > MIN_BATCH:
        new_bs = max(MIN_BATCH, bs // 2)
        patch: dict[str, Any] = {"batch_size": new_bs, "lr": _sig(lr * new_bs / bs)}
        if v.get("embedding_lr"):
            patch["embedding_lr"] = _sig(v["embedding_lr"] * new_bs / bs)
        why = "Halving the batch halves activation memory; the LR scales with it (linear rule)."
    elif v["embed_dim"] > MIN_EMBED:
        patch = {"embed_dim": max(MIN_EMBED, v["embed_dim"] // 2)}
        why = f"The batch is already at the minimum ({MIN_BATCH}); halve the embeddings instead."
    else:
        return _escalate(failure, config, None, why="nothing left to shrink safely")
    return _fix(failure, patch, f"Out of memory at batch_size {bs}.", why)


def _nan_loss(failure: Failure, config: dict[str, Any], _: int | None) -> Diagnosis:
    v = current_values(config)
    clip = v.get("grad_clip_norm")
    patch = {
        "lr": _sig(v["lr"] * NAN_LR_FACTOR),
        "grad_clip_norm": CLIP_NORM if clip is None else _sig(clip / 2),
    }
    why = "A smaller LR and clipped gradients keep one bad batch from blowing up the weights."
    return _fix(failure, patch, "The loss became non-finite.", why)


def _diverged(failure: Failure, config: dict[str, Any], steps: int | None) -> Diagnosis:
    v = current_values(config)
    if v["warmup_steps"] > 0:
        patch: dict[str, Any] = {"lr": _sig(v["lr"] * DIVERGED_LR_FACTOR)}
        if v["lr_schedule"] != "warmup_cosine":
            patch["lr_schedule"] = "warmup_cosine"
        why = "It diverged despite a warmup: the peak LR itself is too high."
    else:
        warmup = max(1, round(WARMUP_FRACTION * steps)) if steps else DEFAULT_WARMUP_STEPS
        patch = {"lr_schedule": "warmup_cosine", "warmup_steps": warmup}
        why = "A linear warmup lets the early, badly scaled steps settle before the full LR."
    return _fix(failure, patch, "The training loss diverged.", why)


def _config_error(failure: Failure, config: dict[str, Any], _: int | None) -> Diagnosis:
    try:
        parse_config(config)
    except ConfigError:
        pass
    else:
        return _retry(failure, "The stored config validates, so the error came from elsewhere.")
    patch, drop = repair_config(config)
    if patch is None:
        return _escalate(failure, config, None, why="the config cannot be repaired automatically")
    diagnosis = Diagnosis(
        failure_kind="config_error",
        diagnosis=f"Invalid trainer config: {_short(failure.message)}",
        action="fix",
        config_patch=patch,
        drop_keys=drop,
        rationale="Unknown keys dropped, invalid values reset to the family's defaults.",
    )
    try:
        apply_fix(config, diagnosis)
    except ConfigError as err:
        return _escalate(failure, config, None, why=f"the repaired config is still invalid: {err}")
    return diagnosis


def repair_config(config: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """(patch resetting invalid keys to the family default, unknown keys to drop); patch None
    when the model family itself is missing or invalid."""
    if config.get("model") not in MODEL_FAMILIES:
        return None, []
    defaults = default_config(config["model"]).model_dump(mode="json")
    try:
        TrainerConfig.model_validate(config)
        return {}, []
    except ValidationError as err:
        errors = err.errors()
    drop = sorted({str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"})
    bad = {str(e["loc"][0]) for e in errors if e["loc"] and e["type"] != "extra_forbidden"}
    return {k: defaults[k] for k in sorted(bad) if k in defaults}, drop


def _timeout(failure: Failure, config: dict[str, Any], _: int | None) -> Diagnosis:
    return _retry(failure, "The job ran out of time before finishing.", factor=TIMEOUT_FACTOR)


def _infra(failure: Failure, config: dict[str, Any], _: int | None) -> Diagnosis:
    return _retry(failure, "The job process was stopped or died (infrastructure, not config).")


def _escalate(
    failure: Failure, config: dict[str, Any], _: int | None, *, why: str = ""
) -> Diagnosis:
    reason = why or (
        "the data could not be read: a data problem is the human's"
        if failure.kind == "data_error"
        else f"no runbook entry for {failure.kind!r}"
    )
    return Diagnosis(
        failure_kind=failure.kind,
        diagnosis=f"{failure.kind}: {_short(failure.message)}",
        action="escalate",
        rationale=f"Escalated: {reason}.",
    )


def _fix(failure: Failure, patch: dict[str, Any], what: str, why: str) -> Diagnosis:
    return Diagnosis(
        failure_kind=failure.kind,
        diagnosis=f"{what} ({_short(failure.message)})",
        action="fix",
        config_patch=patch,
        rationale=why,
    )


def _retry(failure: Failure, what: str, *, factor: float = 1.0) -> Diagnosis:
    return Diagnosis(
        failure_kind=failure.kind,
        diagnosis=f"{what} ({_short(failure.message)})",
        action="retry",
        max_seconds_factor=factor,
        rationale="Relaunch unchanged" + (f" with {factor:g}x the time." if factor != 1 else "."),
    )


def _sig(x: float) -> float:
    """Round to 4 significant digits, so patches stay readable."""
    return float(f"{x:.4g}")


def _short(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."


_RUNBOOK: dict[str, Callable[[Failure, dict[str, Any], int | None], Diagnosis]] = {
    "oom": _oom,
    "nan_loss": _nan_loss,
    "diverged": _diverged,
    "config_error": _config_error,
    "timeout": _timeout,
    "killed": _infra,
    "crashed": _infra,
    "lost": _infra,
    "data_error": _escalate,
}
