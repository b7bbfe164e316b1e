"""The planner's deterministic policy: the budget split rule, screening (invalid, no-op, tried,
duplicate), ranking and fitting the validation phase, and stacking for the combination phase."""

from __future__ import annotations

import pytest

from rea.agents.brain import Brain
from rea.agents.planner import make_plan, plan_combination, split_budget
from rea.agents.planner.budget import SAFETY, est_seconds, fit
from rea.agents.schemas import HypothesisProposal
from rea.tools.trainer import check_delta, family_knobs, make_trainer_tools, relative_cost
from rea.trainers.config import apply_delta, default_config
from rea.trainers.errors import ConfigError

BASELINE = default_config("deepfm").model_dump()
SEEDS = [0, 1, 2]


def hyp(delta, gain=0.3, cost=1.0, source="research", **evidence) -> HypothesisProposal:
    return HypothesisProposal(
        title=f"try {delta}",
        source=source,
        rationale="because",
        config_delta=delta,
        prior_gain_pct=gain,
        relative_cost=cost,
        evidence=evidence,
    )


def plan(hypotheses, tried=(), remaining=10_000.0, per_seed=10.0, seeds=SEEDS):
    return make_plan(
        Brain(),
        hypotheses=hypotheses,
        tried=list(tried),
        baseline_config=BASELINE,
        seconds_per_seed=per_seed,
        remaining_seconds=remaining,
        seeds=seeds,
    )


# --- budget ----------------------------------------------------------------------------------
def test_split_rule_shares_and_sum():
    b = split_budget(1000.0, validation_spend=300.0, n_validation=3)
    assert (b.reserve, b.validation, b.combination) == (50.0, 300.0, 200.0)
    assert b.exploitation == 450.0 and b.total == pytest.approx(1000.0)
    capped = split_budget(1000.0, validation_spend=900.0, n_validation=5)
    assert capped.validation == 450.0  # never more than the 45% share
    single = split_budget(1000.0, validation_spend=100.0, n_validation=1)
    assert single.combination == 0.0 and single.exploitation == 850.0  # nothing to stack
    assert split_budget(-5.0, 0.0, 0).total == 0.0
    odd = split_budget(1234.5678, 333.3333, 2)
    assert odd.total <= 1234.5678


def test_estimates_and_fit():
    assert est_seconds(10.0, 1.5, 3) == pytest.approx(10 * 1.5 * 3 * SAFETY)
    assert fit([50, 60, 30, 10], 100) == [0, 2, 3]  # 60 does not fit after 50; cheaper ones do
    assert fit([], 100) == [] and fit([5], 0) == []


# --- make_plan -------------------------------------------------------------------------------
def test_ranked_by_gain_per_cost_with_estimates():
    hyps = [
        ("a", hyp({"lr": 3e-4}, gain=0.3)),
        ("b", hyp({"dropout": 0.1}, gain=0.5, cost=2.0)),
        ("c", hyp({"emb_l2": 1e-5}, gain=0.5)),
    ]
    p = plan(hyps)
    assert [e.hypothesis_id for e in p.validation] == ["c", "a", "b"]  # 0.5, 0.3, 0.5/2
    assert p.validation[2].est_seconds == pytest.approx(10 * 2.0 * 3 * SAFETY)
    assert all(e.seeds == SEEDS for e in p.validation) and p.dropped == []
    assert p.budget.validation == pytest.approx(sum(e.est_seconds for e in p.validation))
    assert p.budget.total <= 10_000.0 and p.budget.combination == 2000.0
    assert "45%" in p.rationale


def test_invalid_noop_tried_and_duplicates_are_dropped():
    hyps = [
        ("bad", hyp({"lr": -1.0})),
        ("noop", hyp({"epochs": BASELINE["epochs"]})),
        ("tried", hyp({"lr": 3e-4, "epochs": BASELINE["epochs"]})),  # tried once its no-op goes
        ("card", hyp({"dropout": 0.1}, card_id="reg-dropout-0.1")),
        ("ins", hyp({"dropout": 0.1, "norm": "none"}, source="insight", insight_ids=["i1"])),
        ("llm", hyp({"dropout": 0.1}, gain=5.0, source="llm")),
        ("ok", hyp({"emb_l2": 1e-5})),
    ]
    p = plan(hyps, tried=[{"lr": 3e-4}])
    reasons = {d["hypothesis_id"]: d["reason"] for d in p.dropped}
    assert reasons["bad"].startswith("invalid config delta") and "lr" in reasons["bad"]
    assert reasons["noop"] == "changes nothing on the baseline"
    assert reasons["tried"].startswith("already tried")
    assert reasons["card"] == "duplicate of ins" and reasons["llm"] == "duplicate of ins"
    assert [e.hypothesis_id for e in p.validation] == ["ins", "ok"]
    assert p.validation[0].config_delta == {"dropout": 0.1}  # the effective delta


def test_validation_fits_in_its_share_and_the_rest_is_dropped():
    hyps = [(f"h{i}", hyp({"lr": 1e-4 * (i + 1)}, gain=1.0 - i / 10)) for i in range(8)]
    p = plan(hyps, remaining=1000.0, per_seed=30.0)  # one experiment ~117 s; share 450 s
    assert len(p.validation) == 3 and [e.hypothesis_id for e in p.validation] == ["h0", "h1", "h2"]
    assert sum(e.est_seconds for e in p.validation) <= 450.0
    over = [d for d in p.dropped if d["reason"].startswith("over budget")]
    assert [d["hypothesis_id"] for d in over] == ["h3", "h4", "h5", "h6", "h7"]
    assert p.budget.total <= 1000.0 and p.budget.exploitation > 0
    broke = plan(hyps, remaining=100.0, per_seed=30.0)
    assert broke.validation == [] and broke.budget.combination == 0.0


def test_planned_deltas_always_validate():
    hyps = [("a", hyp({"model": "dcn_v2"}, gain=1.0)), ("b", hyp({"batch_size": 8192}))]
    for e in plan(hyps).validation:
        apply_delta(BASELINE, e.config_delta)


# --- combination -----------------------------------------------------------------------------
def combine(validated, budget=10_000.0, per_seed=10.0):
    return plan_combination(
        Brain(),
        baseline_config=BASELINE,
        validated=validated,
        budget_seconds=budget,
        seconds_per_seed=per_seed,
        seeds=SEEDS,
    )


def test_nothing_to_combine_below_two():
    assert combine([]) == [] and combine([("a", {"lr": 3e-4}, 0.5)]) == []


def test_stack_everything_higher_gain_wins_conflicts_then_pairs():
    validated = [
        ("a", {"lr": 3e-4, "dropout": 0.1}, 0.4),
        ("b", {"dropout": 0.2}, 0.9),
        ("c", {"emb_l2": 1e-5}, 0.2),
    ]
    out = combine(validated)
    full = out[0]
    assert full.config_delta == {"lr": 3e-4, "dropout": 0.2, "emb_l2": 1e-5}  # b beats a
    assert full.parents == ["b", "a", "c"] and full.hypothesis_id is None
    pairs = [tuple(e.parents) for e in out[1:]]
    assert pairs == [("b", "a"), ("b", "c"), ("a", "c")]  # by summed gain
    assert out[1].config_delta == {"lr": 3e-4, "dropout": 0.2}
    for e in out:
        apply_delta(BASELINE, e.config_delta)


def test_combination_respects_the_budget_and_skips_repeats():
    validated = [("a", {"lr": 3e-4}, 0.4), ("b", {"dropout": 0.2}, 0.9)]
    out = combine(validated)
    assert len(out) == 1  # the only pair is the full stack
    one = combine([*validated, ("c", {"emb_l2": 1e-5}, 0.2)], budget=100.0)  # ~39 s each
    assert len(one) == 2 and sum(e.est_seconds for e in one) <= 100.0


def test_a_member_that_breaks_the_stack_is_left_out():
    base = default_config("finalmlp").model_dump()
    validated = [
        ("heads", {"fusion_heads": 4}, 0.5),
        ("narrow", {"mlp_dims": [256, 130]}, 0.3),
        ("l2", {"emb_l2": 1e-5}, 0.1),
    ]
    out = plan_combination(
        Brain(),
        baseline_config=base,
        validated=validated,
        budget_seconds=1e6,
        seconds_per_seed=1.0,
        seeds=[0],
    )
    assert out[0].parents == ["heads", "l2"]  # 130 is not divisible by 4 heads
    assert all(set(e.parents) != {"heads", "narrow"} for e in out)


def test_seeds_are_required():
    with pytest.raises(ConfigError, match="seed"):
        plan([("a", hyp({"lr": 3e-4}))], seeds=[])


# --- the trainer tools every agent validates with ------------------------------------------------
def test_check_delta_and_relative_cost():
    assert check_delta(BASELINE, {"lr": 3e-4, "epochs": BASELINE["epochs"]}) == {"lr": 3e-4}
    with pytest.raises(ConfigError, match="seed"):
        check_delta(BASELINE, {"seed": 1})
    with pytest.raises(ConfigError, match="unknown key 'learning_rate'"):
        check_delta(BASELINE, {"learning_rate": 0.1})
    assert relative_cost(BASELINE, {"epochs": BASELINE["epochs"] * 2}) == pytest.approx(2.0)
    assert relative_cost(BASELINE, {"embed_dim": 64}) == pytest.approx(2.0)  # sqrt(64 / 16)
    assert relative_cost(BASELINE, {"lr": 0.01}) == 1.0


def test_trainer_tools_answer_the_model():
    schema_tool, validate_tool = make_trainer_tools(default_config("lr"))
    keys = schema_tool.invoke({})["keys"]
    assert "lr" in keys and "embed_dim" not in keys and "seed" not in keys  # lr family
    assert validate_tool.invoke({"config_delta": {"lr": 0.01}}) == {
        "ok": True,
        "effective_delta": {"lr": 0.01},
        "relative_cost": 1.0,
    }
    bad = validate_tool.invoke({"config_delta": {"lr": -1}})
    assert bad["ok"] is False and "lr" in bad["error"]
    assert family_knobs("finalmlp").count("fusion_heads") == 1
    assert "cross_layers" not in family_knobs("finalmlp")
