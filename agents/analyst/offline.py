"""The analyst's offline policy: deterministic text from the computed numbers (no LLM).

The decisions (validated, refuted, interactions, best) are made in `stats` and `phase` for both
brains; only the prose differs, so these templates are what an offline campaign reads.
"""

from __future__ import annotations

from .outputs import ReportInputs
from .stats import Comparison, Interaction


def describe_gain(c: Comparison) -> str:
    """'+0.85% (95% CI +0.31 to +1.39%; 3 paired seeds)' — the gain as every text prints it."""
    pairing = "paired" if c.paired else "unpaired"
    if c.ci_lo is None or c.ci_hi is None:
        return f"{c.gain_pct:+.2f}% (no CI: {c.n} seed{'s' if c.n != 1 else ''} per side)"
    return f"{c.gain_pct:+.2f}% (95% CI {c.ci_lo:+.2f} to {c.ci_hi:+.2f}%; {c.n} {pairing} seeds)"


def verdict(c: Comparison) -> str:
    return "validated" if c.validated else "hurt" if c.hurt else "within noise"


def label(c: Comparison, titles: dict[str, str]) -> str:
    """'lower lr' (h1), or the experiment id when there is no hypothesis."""
    title = titles.get(c.hypothesis_id or "")
    return f"'{title}' ({c.hypothesis_id})" if title else c.experiment_id


def describe_interaction(i: Interaction) -> str:
    return (
        f"{' + '.join(i.members)} is {i.kind} (sum of single gains {i.expected_gain_pct:+.2f}%, "
        f"combined {i.observed_gain_pct:+.2f}%)"
    )


def phase_summary(
    phase: str,
    comparisons: list[Comparison],
    interactions: list[Interaction],
    titles: dict[str, str],
    best_experiment_id: str | None,
) -> str:
    """One paragraph: counts, then validated / hurt / within-noise changes, interactions, best."""
    if not comparisons:
        return f"{phase.capitalize()}: no finished experiment to compare with the baseline."
    first = comparisons[0]
    parts = [
        f"{phase.capitalize()}: {len(comparisons)} experiment(s) against the baseline "
        f"({first.metric} {first.baseline_mean:.5f})."
    ]
    for name in ("validated", "hurt", "within noise"):
        group = [c for c in comparisons if verdict(c) == name]
        if group:
            items = "; ".join(f"{label(c, titles)} {describe_gain(c)}" for c in group)
            parts.append(f"{name.capitalize()}: {items}.")
    if interactions:
        parts.append("Interactions: " + "; ".join(map(describe_interaction, interactions)) + ".")
    best = next((c for c in comparisons if c.experiment_id == best_experiment_id), None)
    if best is not None:
        parts.append(f"Best: {label(best, titles)} at {best.metric} {best.variant_mean:.5f}.")
    else:
        parts.append("No change beat the baseline beyond seed noise.")
    return " ".join(parts)


def report_narrative(inputs: ReportInputs) -> str:
    """The report's opening paragraph from the template."""
    tried = len(inputs.comparisons)
    won = sum(c.validated for c in inputs.comparisons)
    text = (
        f"The campaign tuned {inputs.model} on {inputs.data}: {tried} experiment(s) against the "
        f"baseline, {won} of them beat it beyond seed noise. It used "
        f"{inputs.budget_used_seconds:.1f} of {inputs.budget_seconds:.1f} trainer-seconds. "
    )
    best = inputs.best_comparison
    if best is None or inputs.best.experiment_id == inputs.baseline.experiment_id:
        return (
            text + "Nothing beat the baseline reliably: the proposal is to keep the current config."
        )
    verdict_text = (
        "beyond seed noise" if best.validated else "but within seed noise, so it is not proven"
    )
    title = label(best, inputs.titles)
    return text + (
        f"The best config ({title}) reaches val NE {best.variant_mean:.5f} against "
        f"{best.baseline_mean:.5f}, a gain of {describe_gain(best)}, {verdict_text}."
    )
