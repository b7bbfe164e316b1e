"""The launcher's LLM policy: order the jobs and maybe lower budgets, validated by `apply_plan`."""

from __future__ import annotations

import json

from rea.agents.brain import Brain
from rea.agents.llm import ask
from rea.memory import ExperimentStore
from rea.tools.jobs import make_ledger_tools

from . import prompts
from .offline import apply_plan
from .outputs import LaunchPlan, LaunchRequest


def plan_llm(
    brain: Brain,
    store: ExperimentStore,
    *,
    campaign_id: str,
    data: str,
    requests: list[LaunchRequest],
) -> LaunchPlan:
    """Ask the LLM for a launch plan (raises `InvalidModelOutput` when it fails `apply_plan`)."""
    lines = []
    for r in requests:
        exp = store.get_experiment(r.experiment_id)
        row = {
            "experiment_id": r.experiment_id,
            "attempt": r.attempt,
            "phase": exp.phase,
            "config_delta": exp.config_delta,
            "seeds": len(exp.seeds),
            "max_seconds": r.max_seconds,
        }
        lines.append("- " + json.dumps(row, default=str))
    user = prompts.USER.format(campaign_id=campaign_id, data=data, requests="\n".join(lines))

    def validate(plan: LaunchPlan) -> LaunchPlan:
        apply_plan(requests, plan)  # raises ValueError saying what is wrong
        return plan

    return ask(
        brain,
        agent="launcher",
        system=prompts.SYSTEM,
        user=user,
        schema=LaunchPlan,
        tools=make_ledger_tools(store, campaign_id),
        validate=validate,
    )
