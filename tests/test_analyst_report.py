"""The campaign report: report.md with the numbers, three PNGs, LLM narrative or template."""

from __future__ import annotations

import pytest
from scripted_model import ScriptedToolModel, structured

from rea.agents.analyst import (
    FailureNote,
    PhaseConcurrency,
    PhaseCost,
    ReportInputs,
    compare,
    interaction,
    launch_proposal,
    write_report,
)
from rea.agents.analyst.outputs import ReportNarrative
from rea.agents.brain import Brain
from rea.agents.schemas import RunRecord, SeedMetrics

CONFIG = {"model": "fm", "lr": 0.001, "dropout": 0.0, "seed": 0}
PNG = b"\x89PNG\r\n\x1a\n"


def run(eid, ne, delta, hid=None, phase="validation", test_ne=None) -> RunRecord:
    seeds = [SeedMetrics(seed=s, metrics={"val_ne": v}) for s, v in enumerate(ne)]
    metrics = {"val_ne": sum(ne) / len(ne), "val_auc": 0.75}
    if test_ne is not None:
        metrics |= {"test_ne": test_ne, "test_auc": 0.74}
    return RunRecord(
        experiment_id=eid,
        hypothesis_id=hid,
        phase=phase,
        config_delta=delta,
        config={**CONFIG, **delta},
        seeds=seeds,
        metrics=metrics,
    )


@pytest.fixture
def inputs() -> ReportInputs:
    base = run("e-base", [0.800, 0.810, 0.790], {}, phase="baseline", test_ne=0.8123)
    e1 = run("e1", [0.790, 0.798, 0.782], {"lr": 0.0003}, "h1")
    e2 = run("e2", [0.795, 0.806, 0.785], {"dropout": 0.1}, "h2")
    e3 = run("e3", [0.784, 0.793, 0.776], {"lr": 0.0003, "dropout": 0.1}, "h3", "combination")
    e4 = run("e4", [0.781, 0.790, 0.773], {"lr": 0.0004, "dropout": 0.1}, None, "exploitation",
             test_ne=0.7945)  # fmt: skip
    comps = [compare(base, r) for r in (e1, e2, e3, e4)]
    return ReportInputs(
        campaign_id="c1",
        model="fm",
        data="synthetic:tiny",
        budget_seconds=600,
        budget_used_seconds=432.5,
        phases=[
            PhaseCost(name="validation", budget_seconds=240, used_seconds=200, trials=2),
            PhaseCost(name="combination", budget_seconds=120, used_seconds=100, trials=1),
            PhaseCost(name="exploitation", budget_seconds=240, used_seconds=132.5, trials=1),
        ],
        baseline=base,
        best=e4,
        best_comparison=comps[3],
        comparisons=comps,
        interactions=[interaction(base, comps[:2], comps[2])],
        titles={"h1": "Lower learning rate", "h2": "Add dropout", "h3": "LR + dropout"},
        sources={"h1": "insight", "h2": "research", "h3": "llm"},
        failures=[FailureNote(job_id="j-7", kind="oom", action="relaunched with batch_size=1024")],
        launch_proposal=launch_proposal(base, e4, comps[3]),
        concurrency=[
            PhaseConcurrency(name="validation", seconds_running={2: 90.0, 1: 10.0}),
            PhaseConcurrency(name="exploitation", seconds_running={2: 30.0, 1: 60.0, 0: 10.0}),
        ],
    )


def test_launch_proposal_is_the_best_configs_delta_with_its_evidence(inputs):
    p = inputs.launch_proposal
    assert p["config_delta"] == {"lr": 0.0004, "dropout": 0.1} and not p["keep_baseline"]
    assert p["expected_gain_pct"] == pytest.approx(inputs.best_comparison.gain_pct)
    assert p["validated"] and p["ci_lo"] > 0 and p["seeds"] == 3
    assert p["test"] == {
        "baseline": {"test_ne": 0.8123, "test_auc": 0.74},
        "best": {"test_ne": 0.7945, "test_auc": 0.74},
    }
    keep = launch_proposal(inputs.baseline, inputs.baseline, None)
    assert keep["config_delta"] == {} and keep["keep_baseline"] and not keep["validated"]


def test_offline_report_has_the_numbers_and_the_plots(tmp_path, inputs):
    path = write_report(tmp_path / "out", inputs, Brain())
    text = path.read_text()
    c = inputs.best_comparison
    assert path.name == "report.md"
    for name in ("experiments.png", "budget.png", "trajectory.png"):
        assert (path.parent / name).read_bytes()[:8] == PNG
        assert f"]({name})" in text
    assert f"{c.variant_mean:.5f}" in text and f"{c.gain_pct:+.2f}%" in text
    assert f"95% CI {c.ci_lo:+.2f} to {c.ci_hi:+.2f}%" in text
    assert "| test_ne | 0.81230 | 0.79450 |" in text  # test metrics only in the report
    assert "| validation | 240.0 | 200.0 | 2 |" in text and "432.5 of 600.0" in text
    assert "| j-7 | oom | relaunched with batch_size=1024 |" in text
    assert "h1 + h2 is additive" in text
    assert '"lr": 0.0004' in text and "LLM tokens: none" in text
    assert "written by: the template" in text
    assert "| phase | wall s | mean at once | 0 running | 1 running | 2 running |" in text
    assert "| validation | 100.0 | 1.90 | 0 % | 10 % | 90 % |" in text
    assert "| exploitation | 100.0 | 1.20 | 10 % | 60 % | 30 % |" in text


def test_llm_narrative_is_used_and_an_invalid_one_falls_back(tmp_path, inputs):
    good = (
        "Four experiments ran; lowering the learning rate and adding dropout stacked well. "
        f"The best config gains {inputs.best_comparison.gain_pct:.2f}% val NE over the baseline "
        "beyond seed noise, using 432.5 of 600 trainer-seconds; test NE 0.7945 vs 0.8123."
    )
    model = ScriptedToolModel([structured(ReportNarrative, {"narrative": good})])
    brain = Brain(model=model, model_name="scripted", structured_method="function_calling")
    text = write_report(tmp_path / "llm", inputs, brain).read_text()
    assert good in text and "written by: the LLM" in text
    assert '"budget_used_pct": 72.1' in model.seen[0][1].content

    bad = structured(ReportNarrative, {"narrative": "The best config gains 9.9% val NE: launch."})
    model = ScriptedToolModel([bad, bad, bad])
    brain = Brain(model=model, model_name="scripted", structured_method="function_calling")
    text = write_report(tmp_path / "bad", inputs, brain).read_text()
    assert "9.9%" not in text and "written by: the template" in text
    assert "The campaign tuned fm on synthetic:tiny" in text and brain.fallbacks
