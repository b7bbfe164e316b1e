"""The debugger: the runbook per failure kind, apply_fix, the guard, and the LLM policy."""

from __future__ import annotations

import pytest
from langchain_core.messages import ToolMessage
from scripted_model import ScriptedToolModel, structured, tool_call

from rea.agents.brain import Brain
from rea.agents.debugger import (
    Diagnosis,
    apply_fix,
    check_diagnosis,
    diagnose,
    diagnose_offline,
    prompts,
)
from rea.trainers.config import parse_config
from rea.trainers.errors import ConfigError
from rea.trainers.events import Failure

DEEP = {"model": "deepfm", "batch_size": 2048, "lr": 0.001}


def fail(kind: str, message: str = "boom", log_tail: str = "") -> Failure:
    return Failure(kind=kind, message=message, log_tail=log_tail)


def runbook(kind: str, config: dict, attempt: int = 1, **kw) -> Diagnosis:
    return diagnose(Brain(), failure=fail(kind), config=config, attempt=attempt, **kw)


def scripted_brain(*replies) -> tuple[Brain, ScriptedToolModel]:
    model = ScriptedToolModel(list(replies))
    return Brain(model=model, model_name="scripted", structured_method="function_calling"), model


# --- the runbook ----------------------------------------------------------------------------
def test_oom_halves_the_batch_and_scales_the_lr():
    d = runbook("oom", {**DEEP, "embedding_lr": 0.01})
    assert d.action == "fix"
    assert d.config_patch == {"batch_size": 1024, "lr": 0.0005, "embedding_lr": 0.005}
    assert apply_fix(DEEP, d)["batch_size"] == 1024


def test_oom_at_the_minimum_batch_shrinks_embeddings_then_escalates():
    assert runbook("oom", {**DEEP, "batch_size": 48}).config_patch["batch_size"] == 32
    d = runbook("oom", {**DEEP, "batch_size": 32, "embed_dim": 16})
    assert d.config_patch == {"embed_dim": 8}
    assert runbook("oom", {**DEEP, "batch_size": 32, "embed_dim": 4}).action == "escalate"


def test_nan_loss_lowers_lr_and_clips_then_tightens_the_clip():
    d = runbook("nan_loss", DEEP)
    assert d.action == "fix" and d.config_patch == {"lr": 0.0003, "grad_clip_norm": 1.0}
    clipped = runbook("nan_loss", {**DEEP, "grad_clip_norm": 2.0})
    assert clipped.config_patch["grad_clip_norm"] == 1.0


def test_diverged_adds_warmup_then_lowers_the_lr():
    d = runbook("diverged", DEEP)
    assert d.config_patch == {"lr_schedule": "warmup_cosine", "warmup_steps": 100}
    assert runbook("diverged", DEEP, steps_per_epoch=500).config_patch["warmup_steps"] == 50
    warm = {**DEEP, "lr_schedule": "warmup_cosine", "warmup_steps": 50}
    assert runbook("diverged", warm).config_patch == {"lr": 0.0005}
    assert apply_fix(warm, runbook("diverged", warm))["lr"] == 0.0005


def test_config_error_repairs_an_invalid_config():
    bad = {"model": "fm", "bogus": 1, "lr": -1.0, "embed_dim": 8}
    d = runbook("config_error", bad)
    assert d.action == "fix" and d.drop_keys == ["bogus"] and d.config_patch == {"lr": 0.001}
    fixed = apply_fix(bad, d)
    assert "bogus" not in fixed and fixed["embed_dim"] == 8
    parse_config(fixed)


def test_config_error_on_a_valid_config_is_a_plain_retry_and_a_bad_family_escalates():
    d = runbook("config_error", DEEP)
    assert d.action == "retry" and d.config_patch == {} and d.drop_keys == []
    assert runbook("config_error", {"model": "xgboost"}).action == "escalate"


@pytest.mark.parametrize("kind", ["killed", "crashed", "lost"])
def test_infrastructure_failures_are_retried_unchanged(kind):
    failure = Failure.model_construct(kind=kind, message="process died", log_tail="")
    d = diagnose_offline(failure, DEEP, attempt=1)
    assert (d.action, d.config_patch, d.max_seconds_factor) == ("retry", {}, 1.0)
    assert d.failure_kind == kind


def test_timeout_retries_with_more_time_and_data_error_escalates():
    d = runbook("timeout", DEEP)
    assert d.action == "retry" and d.max_seconds_factor == 1.5
    assert runbook("data_error", DEEP).action == "escalate"


def test_the_last_attempt_escalates_keeping_the_diagnosis():
    d = runbook("oom", DEEP, attempt=3, max_attempts=3)
    assert d.action == "escalate" and d.config_patch["batch_size"] == 1024
    assert "Attempt 3 of 3" in d.rationale and "Out of memory" in d.diagnosis
    assert runbook("oom", DEEP, attempt=2, max_attempts=3).action == "fix"


def test_apply_fix_validates_and_never_changes_the_family():
    with pytest.raises(ConfigError, match="batch_size"):
        apply_fix(DEEP, Diagnosis(**_diag("oom", {"batch_size": 0})))
    with pytest.raises(ConfigError, match="model family"):
        apply_fix(DEEP, Diagnosis(**_diag("oom", {"model": "lr"})))


# --- the guard ------------------------------------------------------------------------------
def _diag(kind: str, patch: dict, action: str = "fix", **kw) -> dict:
    return dict(failure_kind=kind, diagnosis="x", action=action, config_patch=patch, **kw)


@pytest.mark.parametrize(
    ("kind", "patch", "action", "extra", "problem"),
    [
        ("oom", {"batch_size": 4096}, "fix", {}, "batch_size may only go down"),
        ("oom", {"lr": 0.0001}, "fix", {}, "must shrink a size"),
        ("oom", {"dropout": 0.2}, "fix", {}, "may not change 'dropout'"),
        ("nan_loss", {"lr": 0.01}, "fix", {}, "lr may only go down"),
        ("nan_loss", {"model": "lr"}, "fix", {}, "model family"),
        ("timeout", {}, "retry", {"max_seconds_factor": 2.5}, "max_seconds_factor"),
        ("data_error", {}, "retry", {}, "must be escalated"),
        ("killed", {"lr": 0.0001}, "retry", {}, "leave config_patch empty"),
        ("config_error", {"lr": 0.1}, "fix", {}, "not an invalid key"),
    ],
)
def test_the_guard_rejects_unsafe_patches(kind, patch, action, extra, problem):
    d = Diagnosis(**_diag(kind, patch, action, **extra))
    with pytest.raises(ValueError, match=problem):
        check_diagnosis(d, fail(kind), {**DEEP, "lr": 0.001})


def test_the_guard_accepts_safe_patches():
    ok = Diagnosis(**_diag("nan_loss", {"lr": 0.0001, "grad_clip_norm": 0.5, "warmup_steps": 10}))
    assert check_diagnosis(ok, fail("nan_loss"), DEEP) is ok
    shrink = Diagnosis(**_diag("oom", {"mlp_dims": [128, 64], "hash_buckets": 100_000}))
    assert check_diagnosis(shrink, fail("oom"), DEEP) is shrink
    relabelled = Diagnosis(**_diag("oom", {"batch_size": 512}))
    assert check_diagnosis(relabelled, fail("crashed"), DEEP) is relabelled  # crashed -> cause
    with pytest.raises(ValueError, match="must stay 'nan_loss'"):
        check_diagnosis(relabelled, fail("nan_loss"), DEEP)


# --- the LLM policy -------------------------------------------------------------------------
def test_llm_diagnosis_reads_the_log_and_is_used_when_safe(tmp_path):
    (tmp_path / "train.log").write_text("epoch 0 ok\nRuntimeError: CUDA out of memory\nbye\n")
    answer = _diag("oom", {"batch_size": 512, "lr": 0.00025}, rationale="quarter batch")
    brain, model = scripted_brain(
        tool_call("read_job_log", {"contains": "memory"}),
        "The log shows an allocator failure.",
        structured(Diagnosis, answer),
    )
    d = diagnose(
        brain, failure=fail("crashed", "worker died"), config=DEEP, attempt=1, job_dir=tmp_path
    )
    assert d == Diagnosis(**answer) and brain.fallbacks == [] and model.remaining == 0
    tool_results = [m for m in model.seen[1] if isinstance(m, ToolMessage)]
    assert tool_results[0].content == "RuntimeError: CUDA out of memory"
    assert "The standard runbook suggests" in model.seen[0][1].content


def test_an_llm_patch_outside_the_guard_falls_back_to_the_runbook():
    bad = structured(Diagnosis, _diag("oom", {"batch_size": 8192}))
    brain, model = scripted_brain("no tools needed", bad, bad, bad)
    d = diagnose(brain, failure=fail("oom"), config=DEEP, attempt=1)
    assert d == diagnose_offline(fail("oom"), DEEP, attempt=1)
    assert model.remaining == 0  # it was asked again after each rejection
    assert brain.fallbacks and "batch_size may only go down" in brain.fallbacks[0]


def test_an_llm_retry_on_the_last_attempt_is_escalated_by_code():
    answer = _diag("killed", {}, action="retry")
    brain, _ = scripted_brain("ok", structured(Diagnosis, answer))
    d = diagnose(brain, failure=fail("killed"), config=DEEP, attempt=3, max_attempts=3)
    assert d.action == "escalate" and brain.fallbacks == []


def test_prompts_format():
    prompts.SYSTEM.format()
    text = prompts.USER.format(
        attempt=1,
        max_attempts=3,
        kind="oom",
        message="m",
        log_tail="t",
        config="{}",
        suggestion="{}",
    )
    assert "attempt 1 of at most 3" in text


def test_the_log_tool_filters_and_falls_back_to_the_failure_tail(tmp_path):
    from rea.tools.jobs import make_log_tool

    (tmp_path / "train.log").write_text("\n".join(f"line {i}" for i in range(300)))
    tool = make_log_tool(tmp_path, fallback="tail")
    assert tool.invoke({"lines": 2}) == "line 298\nline 299"
    assert tool.invoke({"contains": "LINE 12", "lines": 3}) == "line 127\nline 128\nline 129"
    assert tool.invoke({"contains": "oom"}) == "no log line contains 'oom'"
    assert make_log_tool(None, fallback="tail").invoke({}) == "tail"
    assert make_log_tool(tmp_path / "missing").invoke({}) == "no log available for this job"
