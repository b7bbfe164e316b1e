"""The launcher's deterministic policy, and the check every plan (the LLM's too) must pass."""

from __future__ import annotations

from .outputs import LaunchItem, LaunchPlan, LaunchRequest

_EPS = 1e-6


def plan_offline(requests: list[LaunchRequest]) -> LaunchPlan:
    """Launch in the order requested, with the requested budgets."""
    items = [
        LaunchItem(experiment_id=r.experiment_id, attempt=r.attempt, max_seconds=r.max_seconds)
        for r in requests
    ]
    return LaunchPlan(items=items, rationale="requested order and budgets")


def apply_plan(requests: list[LaunchRequest], plan: LaunchPlan) -> list[LaunchRequest]:
    """The requests in the plan's order with its budgets. A plan may only reorder and lower
    max_seconds: raises ValueError (listing every problem) when it drops, adds or repeats a
    job, or raises a budget."""
    by_key = {(r.experiment_id, r.attempt): r for r in requests}
    problems, out, seen = [], [], set()
    for item in plan.items:
        key = (item.experiment_id, item.attempt)
        request = by_key.get(key)
        if request is None:
            problems.append(f"{key} was not requested")
        elif key in seen:
            problems.append(f"{key} appears twice")
        elif item.max_seconds > request.max_seconds + _EPS:
            problems.append(
                f"{key}: max_seconds {item.max_seconds:g} is more than the requested "
                f"{request.max_seconds:g} (it may only be lowered)"
            )
        else:
            out.append(request.model_copy(update={"max_seconds": item.max_seconds}))
        seen.add(key)
    if missing := [key for key in by_key if key not in seen]:
        problems.append(f"missing requested jobs {missing}")
    if problems:
        raise ValueError("invalid launch plan: " + "; ".join(problems))
    return out
