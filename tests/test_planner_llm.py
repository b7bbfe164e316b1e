"""The planner's LLM paths on a scripted model: the draft is used when valid (code still screens
and budgets it), and an invalid draft falls back to the deterministic policy."""

from __future__ import annotations

import pytest
from scripted_model import ScriptedToolModel, structured, tool_call

from rea.agents.brain import Brain
from rea.agents.planner import ExploitSpace, make_plan, plan_combination, plan_exploitation
from rea.agents.planner import prompts as planner_prompts
from rea.agents.planner.exploit import default_space
from rea.agents.planner.outputs import CombinationDraft, PlanDraft
from rea.agents.schemas import HypothesisProposal
from rea.trainers.config import apply_delta, default_config

BASELINE = default_config("deepfm").model_dump()
SEEDS = [0, 1, 2]
HYPS = [
    (
        hid,
        HypothesisProposal(
            title=f"{hid} change",
            source="research",
            rationale="why",
            config_delta=delta,
            prior_gain_pct=gain,
        ),
    )
    for hid, delta, gain in [
        ("a", {"lr": 3e-4}, 0.5),
        ("b", {"dropout": 0.1}, 0.4),
        ("c", {"emb_l2": 1e-5}, 0.3),
    ]
]
IDEA = {
    "title": "Smaller batch",
    "source": "llm",
    "config_delta": {"batch_size": 1024},
    "rationale": "More, noisier steps regularise the embeddings.",
}


def brain_for(*replies) -> tuple[Brain, ScriptedToolModel]:
    model = ScriptedToolModel(list(replies))
    return Brain(model=model, structured_method="function_calling", retries=0), model


def plan_with(brain, tried=()):
    return make_plan(
        brain,
        hypotheses=HYPS,
        tried=list(tried),
        baseline_config=BASELINE,
        seconds_per_seed=10.0,
        remaining_seconds=10_000.0,
        seeds=SEEDS,
    )


def test_llm_order_and_new_idea_are_used():
    draft = {"order": ["c", "a"], "new_ideas": [IDEA], "rationale": "L2 first: long tail."}
    brain, model = brain_for(
        tool_call("validate_delta", {"config_delta": IDEA["config_delta"]}),
        "Checked.",
        structured(PlanDraft, draft),
    )
    p = plan_with(brain)
    assert brain.fallbacks == [] and model.remaining == 0
    assert [e.hypothesis_id for e in p.validation] == ["c", "a", None]
    new = p.validation[2]
    assert new.new_hypothesis is not None and new.new_hypothesis.title == "Smaller batch"
    assert new.config_delta == {"batch_size": 1024}
    assert [(d["hypothesis_id"], d["reason"]) for d in p.dropped] == [
        ("b", "left out by the planner")
    ]
    assert p.rationale == "L2 first: long tail." and p.budget.total <= 10_000.0


def test_a_new_idea_that_repeats_a_hypothesis_is_dropped_by_title():
    same = {**IDEA, "config_delta": {"lr": 3e-4}}
    draft = {"order": ["a"], "new_ideas": [same], "rationale": "x"}
    brain, _ = brain_for("No tools.", structured(PlanDraft, draft))
    p = plan_with(brain)
    assert [e.hypothesis_id for e in p.validation] == ["a"]
    assert (None, "Smaller batch: duplicate of a") in [
        (d["hypothesis_id"], d["reason"]) for d in p.dropped
    ]


@pytest.mark.parametrize(
    ("draft", "tried"),
    [
        ({"order": ["a", "zz"], "rationale": "x"}, ()),  # unknown id
        ({"order": ["a", "a"], "rationale": "x"}, ()),  # repeated
        ({"order": ["a"], "rationale": "x"}, ({"lr": 3e-4},)),  # tried already
        ({"order": [], "rationale": "nothing"}, ()),  # validates nothing
        (
            {"order": ["a"], "new_ideas": [{**IDEA, "config_delta": {"lr": -1}}], "rationale": "x"},
            (),
        ),
        ({"order": ["a"], "new_ideas": [{**IDEA, "source": "research"}], "rationale": "x"}, ()),
    ],
)
def test_invalid_plan_draft_falls_back(draft, tried):
    brain, _ = brain_for("No tools.", structured(PlanDraft, draft))
    p = plan_with(brain, tried)
    assert len(brain.fallbacks) == 1 and brain.fallbacks[0].startswith("planner")
    assert p == plan_with(Brain(), tried)


VALIDATED = [
    ("a", {"lr": 3e-4, "dropout": 0.1}, 0.4),
    ("b", {"dropout": 0.2}, 0.9),
    ("c", {"emb_l2": 1e-5}, 0.2),
]


def combine(brain, budget=10_000.0):
    return plan_combination(
        brain,
        baseline_config=BASELINE,
        validated=VALIDATED,
        budget_seconds=budget,
        seconds_per_seed=10.0,
        seeds=SEEDS,
    )


def test_llm_combinations_are_merged_checked_and_budgeted():
    draft = {
        "experiments": [
            {"title": "L2 + lower lr", "hypothesis_ids": ["c", "a"]},
            {"title": "own stack", "hypothesis_ids": ["a", "b"], "config_delta": {"lr": 5e-4}},
            {"title": "repeat", "hypothesis_ids": ["a", "c"]},
        ]
    }
    brain, _ = brain_for("Plan ready.", structured(CombinationDraft, draft))
    out = combine(brain)
    assert brain.fallbacks == []
    assert [e.title for e in out] == ["L2 + lower lr", "own stack"]  # the repeat is dropped
    assert out[0].config_delta == {"lr": 3e-4, "dropout": 0.1, "emb_l2": 1e-5}
    assert out[0].parents == ["c", "a"] and out[1].config_delta == {"lr": 5e-4}
    brain, _ = brain_for("Plan ready.", structured(CombinationDraft, draft))
    assert len(combine(brain, budget=50.0)) == 1  # ~39 s each


def test_invalid_combination_draft_falls_back():
    draft = {"experiments": [{"title": "with an unvalidated one", "hypothesis_ids": ["a", "x"]}]}
    brain, _ = brain_for("Plan ready.", structured(CombinationDraft, draft))
    out = combine(brain)
    assert brain.fallbacks and out == combine(Brain())


def test_llm_space_is_used_when_valid_and_replaced_when_not():
    best = {**BASELINE, "dropout": 0.1}
    good = {
        "knobs": [
            {"name": "lr", "low": 1e-4, "high": 3e-3, "log": True},
            {"name": "norm", "choices": ["none", "layer"]},
        ]
    }
    bad = {"knobs": [{"name": "learning_rate", "low": 1e-4, "high": 3e-3}]}
    for answer, expected in [(good, ExploitSpace.model_validate(good)), (bad, None)]:
        brain, _ = brain_for("Looked.", structured(ExploitSpace, answer))
        experiments, space = plan_exploitation(
            brain,
            runs=[],
            baseline_config=BASELINE,
            best_config=best,
            n_trials=2,
            seed=0,
            seconds_per_seed=10.0,
        )
        assert space == (expected or default_space(best))
        assert bool(brain.fallbacks) == (expected is None) and len(experiments) == 2
        for e in experiments:
            apply_delta(BASELINE, e.config_delta)


def test_prompts_format():
    assert "Validation" in planner_prompts.PLAN_SYSTEM
    assert "90" in planner_prompts.PLAN_USER.format(
        baseline="{}", remaining=90, per_seed=1.0, n_seeds=3, tried="nothing", hypotheses="- a"
    )
    assert "stack" in planner_prompts.COMBINATION_SYSTEM
    assert planner_prompts.COMBINATION_USER.format(
        baseline="{}", budget=5, per_seed=1.0, n_seeds=2, validated="- a"
    )
    assert "Optuna" in planner_prompts.SPACE_SYSTEM
    assert planner_prompts.SPACE_USER.format(best="{}", runs="none")
