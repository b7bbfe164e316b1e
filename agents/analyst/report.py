"""The campaign report (report.md + plots) and the launch proposal the human approves.

Test metrics appear only here: every decision before used validation metrics. The opening
paragraph is the LLM's when one is configured and its numbers check out, else the template's;
every table below it is printed from the numbers, whoever wrote the prose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rea.agents.brain import Brain
from rea.agents.llm import decide
from rea.agents.schemas import TEST_METRICS, RunRecord

from . import llm, offline
from .outputs import ReportInputs
from .stats import Comparison

PLOTS = {
    "experiments": "experiments.png",
    "budget": "budget.png",
    "trajectory": "trajectory.png",
}


def launch_proposal(
    baseline: RunRecord, best: RunRecord, comparison: Comparison | None
) -> dict[str, Any]:
    """What the human approves: the config change, its expected gain with CI, test metrics."""
    delta = {k: v for k, v in best.config.items() if k != "seed" and baseline.config.get(k) != v}
    c = comparison
    return {
        "experiment_id": best.experiment_id,
        "hypothesis_id": best.hypothesis_id,
        "config_delta": delta,
        "config": {k: v for k, v in best.config.items() if k != "seed"},
        "keep_baseline": not delta,
        "metric": c.metric if c else "val_ne",
        "expected_gain_pct": c.gain_pct if c else 0.0,
        "ci_lo": c.ci_lo if c else None,
        "ci_hi": c.ci_hi if c else None,
        "seeds": c.n if c else 0,
        "validated": bool(c and c.validated),
        "baseline_val_ne": baseline.metrics.get("val_ne"),
        "best_val_ne": best.metrics.get("val_ne"),
        "test": {
            "baseline": {k: baseline.metrics[k] for k in TEST_METRICS if k in baseline.metrics},
            "best": {k: best.metrics[k] for k in TEST_METRICS if k in best.metrics},
        },
    }


def write_report(out_dir: Path, inputs: ReportInputs, brain: Brain) -> Path:
    """Write out_dir/report.md and the three PNG plots; return the report's path."""
    from . import plots  # matplotlib takes ~0.4 s to import: only when a report is written

    out_dir.mkdir(parents=True, exist_ok=True)
    labels = [_short_label(c, inputs.titles) for c in inputs.comparisons]
    plots.plot_experiments(
        out_dir / PLOTS["experiments"], inputs.baseline, inputs.comparisons, labels
    )
    plots.plot_budget(out_dir / PLOTS["budget"], inputs.phases)
    plots.plot_trajectory(out_dir / PLOTS["trajectory"], inputs.baseline, inputs.comparisons)
    facts = llm.report_facts(inputs)
    narrative, by = decide(
        brain,
        llm.AGENT,
        llm=lambda: llm.report_narrative(brain, campaign_id=inputs.campaign_id, facts=facts),
        offline=lambda: offline.report_narrative(inputs),
    )
    sections = [
        f"# Campaign {inputs.campaign_id}: {inputs.model} on {inputs.data}",
        f"{narrative}\n\n_Summary written by: {'the LLM' if by == 'llm' else 'the template'}._",
        _result(inputs),
        _tried(inputs),
        _cost(inputs),
        _failures(inputs),
        _proposal(inputs),
    ]
    path = out_dir / "report.md"
    path.write_text("\n\n".join(sections) + "\n")
    return path


def _short_label(c: Comparison, titles: dict[str, str]) -> str:
    title = titles.get(c.hypothesis_id or "", "") or c.experiment_id
    return title if len(title) <= 28 else title[:27] + "…"


def _delta(delta: dict[str, Any]) -> str:
    return json.dumps(delta, sort_keys=True, default=str) if delta else "-"


def _num(x: float | None, fmt: str = ".5f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _result(inputs: ReportInputs) -> str:
    b, best, c = inputs.baseline, inputs.best, inputs.best_comparison
    lines = ["## What won"]
    if c is None or best.experiment_id == b.experiment_id:
        lines.append("No experiment beat the baseline beyond seed noise; the baseline stays.")
    else:
        state = "validated (beyond seed noise)" if c.validated else "not validated (within noise)"
        lines.append(
            f"Best: {offline.label(c, inputs.titles)}, change `{_delta(best.config_delta)}`: "
            f"val NE {c.variant_mean:.5f} vs baseline {c.baseline_mean:.5f}, gain "
            f"{offline.describe_gain(c)}, {state}."
        )
    lines += ["", "| metric | baseline | best |", "| --- | --- | --- |"]
    for k in ("val_ne", "val_auc", *TEST_METRICS):
        if k in b.metrics or k in best.metrics:
            lines.append(f"| {k} | {_num(b.metrics.get(k))} | {_num(best.metrics.get(k))} |")
    lines.append("\nTest metrics are reported here only; every decision used validation metrics.")
    return "\n".join(lines)


def _tried(inputs: ReportInputs) -> str:
    lines = [
        "## What was tried",
        f"![experiments vs baseline]({PLOTS['experiments']})",
        "",
        "| experiment | hypothesis | source | change | phase | val NE | gain vs baseline "
        "| verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in inputs.comparisons:
        hid = c.hypothesis_id or ""
        lines.append(
            f"| {c.experiment_id} | {inputs.titles.get(hid, hid) or '-'} | "
            f"{inputs.sources.get(hid, '-')} | `{_delta(c.config_delta)}` | {c.phase} | "
            f"{c.variant_mean:.5f} | {offline.describe_gain(c)} | {offline.verdict(c)} |"
        )
    if inputs.interactions:
        lines += ["", "Interactions of stacked changes:"]
        lines += [f"- {offline.describe_interaction(i)}" for i in inputs.interactions]
    lines += [
        "",
        "A bar clear of the baseline line is a validated change; the grey band is the spread of "
        "the baseline's seeds, which a comparison paired by seed largely cancels.",
        "",
        f"![best so far by trial]({PLOTS['trajectory']})",
    ]
    return "\n".join(lines)


def _cost(inputs: ReportInputs) -> str:
    lines = [
        "## Cost",
        f"Trainer-seconds used: {inputs.budget_used_seconds:.1f} of "
        f"{inputs.budget_seconds:.1f} approved.",
        "",
        "| phase | planned s | used s | trials |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {p.name} | {p.budget_seconds:.1f} | {p.used_seconds:.1f} | {p.trials} |"
        for p in inputs.phases
    ]
    if inputs.pruned_trials:
        lines.append(
            f"\nPruned: {inputs.pruned_trials} exploitation trials stopped early, behind most "
            f"earlier runs by the same epoch ({inputs.pruned_seconds:.1f} trainer-s used by them)."
        )
    lines += _concurrency(inputs)
    tokens = inputs.llm_prompt_tokens + inputs.llm_completion_tokens
    lines.append(
        f"\nLLM tokens: {inputs.llm_prompt_tokens} prompt + {inputs.llm_completion_tokens} "
        f"completion ({inputs.llm_model or 'model unknown'})."
        if tokens
        else "\nLLM tokens: none (offline brain)."
    )
    lines.append(f"\n![budget per phase]({PLOTS['budget']})")
    return "\n".join(lines)


def _concurrency(inputs: ReportInputs) -> list[str]:
    """Jobs at once per phase: where job slots stood idle (a round waiting on its slowest
    trial, a confirmation running alone) is wall-clock time the budget does not show."""
    rows = [p for p in inputs.concurrency if p.wall_seconds > 0]
    if not rows:
        return []
    most = max(n for p in rows for n in p.seconds_running)
    lines = [
        "",
        "Jobs running at once (share of each phase's wall time, from its first job's start to "
        "its last one's end):",
        "",
        "| phase | wall s | mean at once | "
        + " | ".join(f"{n} running" for n in range(most + 1))
        + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in range(most + 1)) + " |",
    ]
    for p in rows:
        shares = (p.seconds_running.get(n, 0.0) / p.wall_seconds for n in range(most + 1))
        lines.append(
            f"| {p.name} | {p.wall_seconds:.1f} | {p.mean_running:.2f} | "
            + " | ".join(f"{100 * x:.0f} %" for x in shares)
            + " |"
        )
    return lines


def _failures(inputs: ReportInputs) -> str:
    if not inputs.failures:
        return "## Failures\nNo job failed."
    lines = ["## Failures", "| job | failure | what the debugger did |", "| --- | --- | --- |"]
    lines += [f"| {f.job_id} | {f.kind} | {f.action} |" for f in inputs.failures]
    return "\n".join(lines)


def _proposal(inputs: ReportInputs) -> str:
    p = inputs.launch_proposal or launch_proposal(
        inputs.baseline, inputs.best, inputs.best_comparison
    )
    body = json.dumps(p.get("config_delta", {}), indent=2, sort_keys=True, default=str)
    if not p.get("config_delta"):
        return f"## Launch proposal\nKeep the current config: nothing beat it reliably.\n\n```json\n{body}\n```"
    lo, hi = p.get("ci_lo"), p.get("ci_hi")
    ci = "no CI" if lo is None or hi is None else f"95% CI {lo:+.2f} to {hi:+.2f}%"
    test = p.get("test", {})
    tests = ", ".join(
        f"{k} {_num(test.get('baseline', {}).get(k))} -> {_num(v)}"
        for k, v in test.get("best", {}).items()
    )
    return (
        "## Launch proposal\nApply this change to the current config (awaiting approval):\n\n"
        f"```json\n{body}\n```\n\nExpected {p.get('metric', 'val_ne')} gain: "
        f"{p.get('expected_gain_pct', 0.0):+.2f}% ({ci}; {p.get('seeds', 0)} seeds; "
        f"{'validated' if p.get('validated') else 'not validated'}). "
        f"Test: {tests or 'no test metrics'}."
    )
