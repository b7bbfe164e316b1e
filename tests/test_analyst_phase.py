"""analyse_phase: verdicts, interactions and the summary (template, LLM, invalid LLM)."""

from __future__ import annotations

import pytest
from scripted_model import ScriptedToolModel, structured

from rea.agents.analyst import analyse_phase, compare
from rea.agents.analyst.llm import check_numbers
from rea.agents.analyst.outputs import PhaseSummary
from rea.agents.analyst.prompts import PHASE_TASK, REPORT_TASK, SYSTEM
from rea.agents.brain import Brain
from rea.agents.schemas import RunRecord, SeedMetrics

BASE = {0: 0.800, 1: 0.810, 2: 0.790}
HYPS = {
    "h1": {"title": "Lower learning rate", "source": "insight", "config_delta": {"lr": 0.0003}},
    "h2": {"title": "Add dropout", "source": "research", "config_delta": {"dropout": 0.1}},
    "h3": {"title": "Bigger batch", "source": "llm", "config_delta": {"batch_size": 8192}},
}


def run(eid: str, ne: list[float], delta: dict, hid: str | None, phase: str) -> RunRecord:
    seeds = [SeedMetrics(seed=s, metrics={"val_ne": v}) for s, v in zip(BASE, ne, strict=True)]
    return RunRecord(
        experiment_id=eid,
        hypothesis_id=hid,
        phase=phase,
        config_delta=delta,
        config={"model": "fm", "lr": 0.001, "dropout": 0.0, "batch_size": 2048, **delta},
        seeds=seeds,
        metrics={"val_ne": sum(ne) / 3},
    )


@pytest.fixture
def baseline() -> RunRecord:
    return run("e-base", list(BASE.values()), {}, None, "baseline")


@pytest.fixture
def validation(baseline) -> list[RunRecord]:
    return [
        baseline,  # passed along by mistake: never compared with itself
        run("e1", [0.790, 0.798, 0.782], {"lr": 0.0003}, "h1", "validation"),  # +1.25%
        run("e2", [0.795, 0.806, 0.785], {"dropout": 0.1}, "h2", "validation"),  # +0.5%
        run("e3", [0.812, 0.820, 0.801], {"batch_size": 8192}, "h3", "validation"),  # hurt
    ]


def test_validation_phase_offline(baseline, validation):
    out = analyse_phase(
        Brain(), phase="validation", baseline=baseline, runs=validation, hypotheses=HYPS
    )
    assert [c.experiment_id for c in out.comparisons] == ["e1", "e2", "e3"]
    assert out.validated == ["h1", "h2"] and out.refuted == ["h3"]
    assert out.best_experiment_id == "e1" and out.interactions == []
    assert out.summary_by == "offline"
    assert "'Lower learning rate' (h1) +1.25%" in out.summary
    assert (
        "Hurt: 'Bigger batch' (h3)" in out.summary and "Best: 'Lower learning rate'" in out.summary
    )


def test_combination_phase_finds_interactions_of_validated_singles(baseline, validation):
    singles = {r.hypothesis_id: compare(baseline, r) for r in validation[1:]}
    combo = run("e4", [0.784, 0.793, 0.776], {"lr": 0.0003, "dropout": 0.1}, "h4", "combination")
    with_hurt = run(
        "e5", [0.79, 0.80, 0.78], {"lr": 0.0003, "batch_size": 8192}, "h5", "combination"
    )  # h3 was not validated: no interaction
    out = analyse_phase(
        Brain(),
        phase="combination",
        baseline=baseline,
        runs=[combo, with_hurt],
        hypotheses=HYPS,
        singles=singles,
    )
    assert len(out.interactions) == 1
    inter = out.interactions[0]
    assert (inter.members, inter.experiment_id) == (["h1", "h2"], "e4")
    assert inter.expected_gain_pct == pytest.approx(singles["h1"].gain_pct + singles["h2"].gain_pct)
    assert inter.kind == "additive"  # 1.25 + 0.5 vs 1.75 observed
    assert out.validated == ["h4", "h5"] and "Interactions: h1 + h2 is additive" in out.summary
    assert type(out).model_validate_json(out.model_dump_json()) == out  # fits the graph state


def test_no_validated_change_has_no_best(baseline):
    noisy = run("e1", [0.801, 0.805, 0.795], {"lr": 0.0003}, "h1", "validation")
    out = analyse_phase(
        Brain(), phase="validation", baseline=baseline, runs=[noisy], hypotheses=HYPS
    )
    assert out.best_experiment_id is None and out.refuted == ["h1"]
    assert "No change beat the baseline" in out.summary


def test_llm_summary_is_used_when_its_numbers_are_facts(baseline, validation):
    text = (
        "Lower learning rate (h1) improved val NE by 1.25% (95% CI 0.63 to 1.87), beyond seed "
        "noise; bigger batches hurt. Next: stack h1 with h2."
    )
    model = ScriptedToolModel([structured(PhaseSummary, {"summary": text})])
    usage: list[tuple] = []
    brain = Brain(
        model=model,
        model_name="scripted",
        structured_method="function_calling",
        on_usage=lambda *a: usage.append(a),
    )
    out = analyse_phase(
        brain, phase="validation", baseline=baseline, runs=validation, hypotheses=HYPS
    )
    assert (out.summary, out.summary_by) == (text, "llm")
    prompt = model.seen[0][1].content
    assert '"gain_pct": 1.25' in prompt and "Lower learning rate" in prompt
    assert usage == [("analyst", 10, 5, "scripted")] and model.remaining == 0


def test_llm_summary_with_an_invented_number_falls_back(baseline, validation):
    bad = structured(PhaseSummary, {"summary": "Lower learning rate improved NE by 7.5%, wow."})
    model = ScriptedToolModel([bad, bad, bad])  # the first answer and brain.retries=2 retries
    brain = Brain(model=model, model_name="scripted", structured_method="function_calling")
    out = analyse_phase(
        brain, phase="validation", baseline=baseline, runs=validation, hypotheses=HYPS
    )
    assert out.summary_by == "offline" and "7.5" not in out.summary
    assert out.validated == ["h1", "h2"]  # the verdicts never depended on the LLM
    assert "7.5 is not in the facts" in brain.fallbacks[0] and model.remaining == 0


def test_check_numbers_accepts_rounded_facts_and_ignores_identifiers():
    facts = {"gain_pct": -0.4321, "val_ne": 0.79123, "seeds": 3, "title": "lr 3e-4"}
    check_numbers("dcn_v2 run exp-12 (h1) worsened NE by 0.43%, 95% CI, 3 seeds", facts)
    check_numbers("NE 0.7912 with lr 3e-4 and gain -0.4", facts)
    with pytest.raises(ValueError, match=r"number 0\.44 is"):
        check_numbers("worsened NE by 0.44%", facts)
    with pytest.raises(ValueError, match="number 12000 is"):
        check_numbers("over 12,000 rows", facts)


def test_prompts_format():
    assert "lower is better" in SYSTEM
    phase = PHASE_TASK.format(phase="validation", campaign_id="c1", facts="FACTS")
    report = REPORT_TASK.format(campaign_id="c1", facts="FACTS")
    for text in (phase, report):
        assert "FACTS" in text and "c1" in text and "{" not in text
