import pytest

from rea.trainers.config import (
    MODEL_FAMILIES,
    TrainerConfig,
    apply_delta,
    config_delta,
    config_json_schema,
    default_config,
    parse_config,
)
from rea.trainers.errors import ConfigError


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_every_family_has_defaults(family):
    config = default_config(family)
    assert config.model == family
    assert parse_config(config.model_dump()) == config


def test_unknown_keys_and_bad_values_are_listed_together():
    with pytest.raises(ConfigError) as err:
        parse_config({"model": "fm", "learning_rate": 0.1, "lr": -1, "norm": "group"})
    msg = str(err.value)
    assert "unknown key 'learning_rate'" in msg
    assert "lr:" in msg and "norm:" in msg
    assert "Allowed keys" in msg


def test_model_is_required_and_checked():
    with pytest.raises(ConfigError, match="missing key 'model'"):
        parse_config({"lr": 0.1})
    with pytest.raises(ConfigError, match="model"):
        parse_config({"model": "xgboost"})


def test_non_object_config_is_rejected():
    with pytest.raises(ConfigError, match="JSON object"):
        parse_config(["model", "fm"])


def test_finalmlp_heads_must_divide_widths():
    with pytest.raises(ConfigError, match="fusion_heads"):
        parse_config({"model": "finalmlp", "fusion_heads": 3, "mlp_dims": [64], "mlp2_dims": [64]})
    ok = parse_config({"model": "finalmlp", "fusion_heads": 4, "mlp_dims": [64], "mlp2_dims": [32]})
    assert ok.fusion_heads == 4


def test_widths_are_bounded():
    with pytest.raises(ConfigError, match="mlp_dims"):
        parse_config({"model": "deepfm", "mlp_dims": [0]})


def test_delta_round_trip():
    base = default_config("dcn_v2")
    new = apply_delta(base, {"lr": 3e-4, "cross_rank": 8})
    assert config_delta(base, new) == {"lr": 3e-4, "cross_rank": 8}
    with pytest.raises(ConfigError, match="unknown key 'crossrank'"):
        apply_delta(base, {"crossrank": 8})


def test_config_is_immutable():
    config = default_config("fm")
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type is an implementation detail
        config.lr = 1.0


def test_json_schema_lists_every_key_and_forbids_extras():
    schema = config_json_schema()
    assert set(schema["properties"]) == set(TrainerConfig.model_fields)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["model"]
    assert schema["properties"]["lr"]["exclusiveMinimum"] == 0.0
