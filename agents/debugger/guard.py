"""What an LLM's diagnosis may change, per failure kind (the code decides, the LLM proposes).

    oom                only shrink: batch_size, embed_dim, MLP widths, hash buckets, cross rank
                       (and lower the LRs with them); at least one size must shrink
    nan_loss, diverged only lower LRs, set or tighten gradient clipping, add warmup
    timeout            at most lower epochs; max_seconds_factor up to 2
    config_error       only reset keys that are invalid, only drop keys that are unknown
    killed, crashed, lost, data_error   no config change (data_error must escalate)
Never `model` or `seed`; every patch must validate (`apply_fix`).
"""

from __future__ import annotations

from typing import Any

from rea.trainers.config import config_delta, parse_config
from rea.trainers.errors import ConfigError
from rea.trainers.events import Failure

from .offline import apply_fix, repair_config
from .outputs import Diagnosis

SIZE_KEYS = ("batch_size", "embed_dim", "mlp_dims", "mlp2_dims", "bottom_mlp_dims")
SIZE_KEYS += ("hash_buckets", "cross_rank")
LR_KEYS = ("lr", "embedding_lr")
STABILITY_KEYS = (*LR_KEYS, "grad_clip_norm", "lr_schedule", "warmup_steps")
ALLOWED_KEYS: dict[str, tuple[str, ...]] = {
    "oom": (*SIZE_KEYS, *LR_KEYS),
    "nan_loss": STABILITY_KEYS,
    "diverged": STABILITY_KEYS,
    "timeout": ("epochs",),
}
MAX_TIMEOUT_FACTOR = 2.0


def check_diagnosis(diagnosis: Diagnosis, failure: Failure, config: dict[str, Any]) -> Diagnosis:
    """Return `diagnosis` if it stays inside the guard for its failure kind, else raise
    ValueError listing every problem (the LLM sees it and may try again)."""
    problems = _shape_problems(diagnosis, failure)
    if diagnosis.failure_kind == "config_error":
        problems += _config_error_problems(diagnosis, config)
    elif diagnosis.config_patch or diagnosis.drop_keys:
        problems += _change_problems(diagnosis, config)
    if problems:
        raise ValueError("diagnosis outside the guard: " + "; ".join(problems))
    return diagnosis


def _shape_problems(d: Diagnosis, failure: Failure) -> list[str]:
    problems = []
    if d.failure_kind != failure.kind and failure.kind != "crashed":
        problems.append(f"failure_kind must stay {failure.kind!r} (got {d.failure_kind!r})")
    changes = bool(d.config_patch or d.drop_keys)
    if d.action == "fix" and not changes:
        problems.append("action 'fix' needs a config_patch")
    if d.action == "retry" and changes:
        problems.append("action 'retry' relaunches unchanged: leave config_patch empty")
    if d.failure_kind == "data_error" and d.action != "escalate":
        problems.append("a data_error must be escalated: the data is the human's")
    limit = MAX_TIMEOUT_FACTOR if d.failure_kind == "timeout" else 1.0
    if not 1.0 <= d.max_seconds_factor <= limit:
        problems.append(f"max_seconds_factor must be in [1, {limit:g}] for {d.failure_kind}")
    return problems


def _change_problems(d: Diagnosis, config: dict[str, Any]) -> list[str]:
    if d.drop_keys:
        return ["drop_keys is only for config_error"]
    try:
        before, after = parse_config(config), parse_config(apply_fix(config, d))
    except ConfigError as err:
        return [f"the patch does not validate: {err}"]
    changed = config_delta(before, after)
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    allowed = ALLOWED_KEYS.get(d.failure_kind, ())
    problems = [
        f"{d.failure_kind} may not change {key!r} (allowed: {', '.join(allowed) or 'nothing'})"
        for key in changed
        if key not in allowed
    ]
    problems += [
        f"{key} may only go {_DIRECTION.get(key, 'down')} ({old[key]!r} -> {new[key]!r})"
        for key in changed
        if key in allowed and not _safe_move(key, old, new)
    ]
    if d.failure_kind == "oom" and not any(k in changed for k in SIZE_KEYS):
        problems.append("an oom fix must shrink a size (batch_size, embed_dim, MLP widths)")
    return problems


def _config_error_problems(d: Diagnosis, config: dict[str, Any]) -> list[str]:
    reset, unknown = repair_config(config)
    if reset is None:
        return [] if d.action == "escalate" else ["the model family is invalid: escalate"]
    problems = [f"{k!r} is not an invalid key" for k in d.config_patch if k not in reset]
    problems += [f"{k!r} is not an unknown key" for k in d.drop_keys if k not in unknown]
    if d.action != "escalate":
        try:
            apply_fix(config, d)
        except ConfigError as err:
            problems.append(f"the repaired config does not validate: {err}")
    return problems


_DIRECTION = {"warmup_steps": "up", "lr_schedule": "to warmup_cosine", "grad_clip_norm": "tighter"}


def _safe_move(key: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Does `key` move in the safe direction from `old` to `new`?"""
    a, b = old[key], new[key]
    if key == "warmup_steps":
        return b >= a
    if key == "lr_schedule":
        return b == "warmup_cosine"
    if key == "grad_clip_norm":
        return b is not None and (a is None or b <= a)
    if key == "embedding_lr":  # None means "same as lr"
        return b is not None and b <= (a if a is not None else old["lr"])
    if isinstance(a, list) or isinstance(b, list):
        return len(b) <= len(a) and all(x <= y for x, y in zip(b, a, strict=False))
    if a is None:  # hash_buckets / cross_rank: None is unbounded, any number is smaller
        return True
    return b is not None and b <= a
