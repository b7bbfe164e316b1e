"""Campaign results into the insight memory: one insight per comparison, negative ones too.

Shaped like the insights `rea.memory.past_runs` derives from imported studies (same Evidence
fields, knobs = the config delta, baseline = the baseline's values of those knobs, outcome from
the CI via `outcome_for`), so the insight agent of a later campaign reads both alike. Ids are
`insight_id(campaign_id, experiment_id)`: a replayed analysis finds its insights already there
and writes nothing again.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from rea.agents.schemas import RunRecord
from rea.memory import DuplicateKey, ExperimentStore
from rea.memory.insights import Effect, Evidence, Insight, InsightMemory, insight_id, outcome_for

from .stats import Comparison

VERDICTS = {"helped": "improved", "hurt": "worsened", "neutral": "did not clearly change"}


def write_insights(
    store: ExperimentStore,
    memory: InsightMemory | None,
    *,
    campaign_id: str,
    model: str,
    dataset: dict[str, Any],
    baseline: RunRecord,
    comparisons: list[Comparison],
    runs_by_id: dict[str, RunRecord],
    titles: dict[str, str],
) -> list[str]:
    """Store one insight per comparison (SQL row + Chroma record, same id); return their ids.

    Comparisons of runs without a config change (a replay of the baseline) teach nothing and are
    skipped. Existing SQL rows and Chroma records are left alone (idempotent): each round of a
    phase analyses it whole again, so the rows already there are looked up in one query and only
    the new ones are made and inserted."""
    missing = [c.experiment_id for c in comparisons if c.experiment_id not in runs_by_id]
    if missing:
        raise ValueError(f"write_insights: runs_by_id lacks the runs of experiments {missing}")
    teaching = {
        insight_id(campaign_id, c.experiment_id): c
        for c in comparisons
        if runs_by_id[c.experiment_id].config_delta
    }
    ids = list(teaching)
    in_sql = store.stored_insight_ids(ids)
    # without a memory (the graph indexes Chroma later, in `memorise`) nothing is added there
    in_chroma = set(ids) if memory is None or not ids else {i.id for i in memory.get(ids)}
    insights = {
        i: campaign_insight(
            c,
            runs_by_id[c.experiment_id],
            baseline,
            campaign_id=campaign_id,
            model=model,
            dataset=dataset,
            title=titles.get(c.hypothesis_id or "", ""),
        )
        for i, c in teaching.items()
        if i not in in_sql or i not in in_chroma
    }
    for i, ins in insights.items():
        if i not in in_sql:
            _add_row(store, ins)
    if memory is not None and insights:
        memory.add([ins for i, ins in insights.items() if i not in in_chroma])
    return ids


def index_insights(store: ExperimentStore, memory: InsightMemory | None, ids: list[str]) -> int:
    """Put the stored (SQL) insights of these ids into the Chroma memory, each made from its
    row exactly as `write_insights` makes it; ids already there are left alone (idempotent:
    a repeat after a crash writes nothing twice). Returns how many were added."""
    if memory is None or not ids:
        return 0
    present = {i.id for i in memory.get(ids)}
    missing = [row for row in store.get_insights(ids) if row.id not in present]
    insights = [
        Insight(
            id=row.id,
            statement=row.statement,
            evidence=Evidence.model_validate(row.evidence),
            outcome=row.outcome,
            source="campaign",
            campaign_id=row.campaign_id,
            experiment_id=row.experiment_id,
            created_at=row.created_at,
        )
        for row in missing
    ]
    if insights:
        memory.add(insights)
    return len(insights)


def campaign_insight(
    c: Comparison,
    run: RunRecord,
    baseline: RunRecord,
    *,
    campaign_id: str,
    model: str,
    dataset: dict[str, Any],
    title: str = "",
) -> Insight:
    """The insight of one comparison (see the module docstring)."""
    knobs = dict(run.config_delta)
    reference = {k: baseline.config.get(k) for k in knobs}
    effect = Effect(metric=c.metric, gain_pct=c.gain_pct, ci_lo=c.ci_lo, ci_hi=c.ci_hi, seeds=c.n)
    evidence = Evidence(
        model=model,
        dataset=dataset,
        knobs=knobs,
        baseline=reference,
        effect=effect,
        cost_seconds=max(run.trainer_seconds, 0.0),
        method="paired seeds vs baseline" if c.paired else "unpaired seeds vs baseline (Welch)",
    )
    outcome = outcome_for(effect)
    return Insight(
        id=insight_id(campaign_id, c.experiment_id),
        statement=statement(model, dataset, knobs, reference, effect, outcome, title),
        evidence=evidence,
        outcome=outcome,
        source="campaign",
        campaign_id=campaign_id,
        experiment_id=c.experiment_id,
    )


def statement(
    model: str,
    dataset: dict[str, Any],
    knobs: dict[str, Any],
    reference: dict[str, Any],
    effect: Effect,
    outcome: str,
    title: str = "",
) -> str:
    """'On dcn_v2 with synthetic data (preset=interaction-heavy, rows=60000), lowering lr from
    0.001 to 0.0003 improved val_ne (+0.85%, 95% CI +0.31 to +1.39%; 3 seeds; tested as
    'Lower learning rate').' The title, when known, helps a later search match the idea."""
    change = " and ".join(_change(k, v, reference.get(k)) for k, v in sorted(knobs.items()))
    if effect.ci_lo is None or effect.ci_hi is None:
        ci = "too few seeds for a CI"
    else:
        ci = f"95% CI {effect.ci_lo:+.2f} to {effect.ci_hi:+.2f}%"
    return (
        f"On {model} with {_traits(dataset)}, {change} {VERDICTS[outcome]} {effect.metric} "
        f"({effect.gain_pct:+.2f}%, {ci}; {effect.seeds} seeds"
        + (f"; tested as '{title}')." if title else ").")
    )


def _change(knob: str, new: Any, old: Any) -> str:
    """Worded like past_runs: 'raising lr from 0.001 to 0.01', 'setting norm to "layer" ...'."""
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (new, old))
    if numbers and new != old:
        verb = "raising" if new > old else "lowering"
        return f"{verb} {knob} from {_fmt(old)} to {_fmt(new)}"
    return f"setting {knob} to {_fmt(new)} instead of {_fmt(old)}"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value, default=str)


def _traits(dataset: dict[str, Any]) -> str:
    """'synthetic data (preset=interaction-heavy, rows=60000)' from the scalar traits."""
    scalars = {k: v for k, v in dataset.items() if isinstance(v, str | int | float | bool)}
    source = scalars.pop("source", None)
    head = f"{source} data" if source else "its data"
    rest = ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in scalars.items())
    return f"{head} ({rest})" if rest else head


def _add_row(store: ExperimentStore, ins: Insight) -> None:
    """The SQL side of the insight; an existing row (a replay) is kept as it is."""
    # DuplicateKey: written by an earlier (replayed) analysis under the same id; keep it.
    with contextlib.suppress(DuplicateKey):
        store.add_insight(
            ins.statement,
            ins.outcome,
            evidence=ins.evidence.model_dump(mode="json"),
            campaign_id=ins.campaign_id,
            experiment_id=ins.experiment_id,
            model=ins.evidence.model,
            config_delta=ins.evidence.knobs,
            insight_id=ins.id,
        )
