"""Checks on a human's decision before it resumes the graph: an edit must make sense for the
approval it answers (a plan edit keeps experiments from the plan and a budget within what is
left; a config patch validates; a budget increase is positive). A refused decision leaves the
interrupt pending, so it can be answered again."""

from __future__ import annotations

from typing import Any

from rea.memory import ExperimentStore
from rea.trainers.config import apply_delta
from rea.trainers.errors import ConfigError


class InvalidDecision(ConfigError):
    """The decision does not fit the approval it answers; the message says what to change."""


def check_decision(store: ExperimentStore, approval: Any, decision: Any) -> None:
    if decision.type != "edit":
        return
    args = decision.edited_action.args
    check = {"plan": _plan, "escalation": _escalation, "budget": _budget, "launch": _launch}
    check[approval.kind](store, approval, args)


def _plan(store: ExperimentStore, approval: Any, args: dict[str, Any]) -> None:
    planned = {e["hypothesis_id"]: e for e in approval.request.get("experiments", [])}
    for item in args.get("experiments", []):
        if not isinstance(item, dict) or item.get("hypothesis_id") not in planned:
            raise InvalidDecision(
                f"an edited plan may only keep or drop planned experiments; {item!r} is not one "
                f"of {sorted(planned)}"
            )
        if (
            item.get("config_delta", planned[item["hypothesis_id"]]["config_delta"])
            != planned[item["hypothesis_id"]]["config_delta"]
        ):
            campaign = store.get_campaign(approval.campaign_id)
            _validates(campaign.baseline_config, item["config_delta"])
    budget = args.get("budget")
    if budget is not None:
        total = sum(float(v) for v in budget.values())
        if (
            any(float(v) < 0 for v in budget.values())
            or total > approval.request["remaining_seconds"] + 1e-6
        ):
            raise InvalidDecision(
                f"the edited budget split sums to {total:.0f} s but only "
                f"{approval.request['remaining_seconds']:.0f} s are left; ask for a budget "
                "increase instead"
            )


def _escalation(store: ExperimentStore, approval: Any, args: dict[str, Any]) -> None:
    exp = store.get_experiment(approval.request["experiment_id"])
    _validates(exp.config, args.get("config_patch", {}))


def _budget(store: ExperimentStore, approval: Any, args: dict[str, Any]) -> None:
    extra = args.get("extra_seconds")
    if not isinstance(extra, int | float) or extra <= 0:
        raise InvalidDecision(f"extra_seconds must be a number > 0 (got {extra!r})")


def _launch(store: ExperimentStore, approval: Any, args: dict[str, Any]) -> None:
    campaign = store.get_campaign(approval.campaign_id)
    _validates(campaign.baseline_config, args.get("config_delta", {}))


def _validates(config: dict[str, Any], delta: dict[str, Any]) -> None:
    try:
        apply_delta(config, delta)
    except ConfigError as err:
        raise InvalidDecision(f"the edited config does not validate: {err}") from None
