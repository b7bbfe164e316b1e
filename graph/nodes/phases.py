"""Phase transitions: Validation → Combination → Exploitation → report. Exploitation runs TPE
rounds around the best config while the budget lasts; every few rounds, and at its end, the best
one-seed trial is confirmed with every seed, and a validated confirmation becomes the config the
next rounds search around. Of each round's trials, `wide_trials_per_round` search the trainer
schema's whole space (`planner.exploit.wide_space`), the rest around the best; after
`exploit_patience` rounds without a better trial all of them go wide, until a better trial
brings the others back around the best. It ends when the budget cannot pay a round or after
`max_exploit_rounds`: a campaign spends the budget it was given (a human who wants less
steers it to wrap up). Each transition re-plans from what was
learned; when the next step cannot be paid, the human is asked for more budget.

With `rolling_exploitation` (the default) a freed job slot is filled at once: when one of a
round's trials finishes, the next trial (of the same round while it has places left, else of the
next) is planned and launched while the others still run, so a round no longer waits for its
slowest trial. Rounds keep their size, numbering and meaning; the state's `slots` (the round
size) tells `jobs.after_ingest` to come back here before every job has settled.

`round` in the state: k > 0 after exploitation round k, -k after the confirmation that
followed round k."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from rea.agents import analyst, planner
from rea.agents.planner.budget import est_seconds
from rea.agents.planner.exploit import run_key
from rea.agents.planner.pruning import prune_bars
from rea.agents.schemas import RunRecord
from rea.tools.journal import load_runs
from rea.tools.trainer import relative_cost
from rea.trainers.config import apply_delta, config_delta

from .. import hitl
from ..context import CampaignContext, Services, services_of
from .common import (
    RESERVE_FRACTION,
    TRIAL_ID,
    baseline_id,
    ensure_approval,
    fault_for,
    job_seconds,
    launch_floor,
    note,
    seconds_per_seed,
    spendable,
)


def advance(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Plan and request the next batch, or ask for budget, or go to the report."""
    return plan_next(services_of(runtime), state)


def plan_next(
    svc: Services, state: dict[str, Any], runs: list[RunRecord] | None = None
) -> dict[str, Any]:
    """`advance`'s work; `runs`: the campaign's finished runs, when the caller (the analysis,
    in the same step and under the same thread lock) has just loaded them."""
    cid = state["campaign_id"]
    # Read once for the whole step: nothing here changes the campaign row or the ledger
    # before the requests are made.
    view = _View(svc.store.get_campaign(cid), svc.store.budget_status(cid))
    running = bool(state.get("pending"))
    batch = _next_batch(svc, state, view, runs)
    if batch is None:
        # With jobs still running, nothing now: their results (and the budget they hold) may
        # make room for more; the phase ends when nothing runs and nothing more fits.
        return {"launch": []} if running else {"phase": "report", "launch": []}
    phase, rnd, items = batch
    cost = sum(i["est_seconds"] for i in items)
    room = spendable(svc.store, cid, view.budget)
    if cost > room and running:
        return {"launch": []}  # the running jobs' reservations come back when they settle
    if cost > room and state.get("budget_denied"):
        return {"phase": "report", "launch": [], "notes": note(state, f"no budget for {phase}")}
    if cost > room:
        # One approval per ask: the count of budget asks already answered numbers it (a node
        # replayed after a crash finds the same, still pending, approval).
        answered = [
            a
            for a in svc.store.list_approvals(campaign_id=cid)
            if a.kind == "budget" and a.status != "pending"
        ]
        approval_id = f"{cid}-budget-{phase}-{rnd}-{len(answered)}"
        # The safety reserve grows with the budget: ask for enough that `cost` fits after it.
        extra = math.ceil(10 * (cost - room) / (1 - RESERVE_FRACTION) + 1) / 10
        request = {
            "extra_seconds": extra,
            "phase": phase,
            "round": rnd,
            "cost": round(cost, 1),
        }
        ensure_approval(svc.store, approval_id, campaign_id=cid, kind="budget", request=request)
        return {"budget_request": {"approval_id": approval_id, **request}}
    requests = _create(svc, state, phase, rnd, items, view)
    if not requests:
        return {"phase": "report", "launch": []}
    if view.campaign.phase != phase:
        # The status needs no write of its own: `launch`, next, sets it from what it submits.
        svc.store.update_campaign(cid, phase=phase, status="running")
    step = ""
    if phase == "exploitation":
        step = f" round {rnd}" if rnd >= 0 else " confirmation"
    line = f"{phase}{step}: {len(requests)} experiments"
    update = {"phase": phase, "round": rnd, "launch": requests, "notes": note(state, line)}
    if phase == "exploitation" and svc.rolling_exploitation:
        update["slots"] = svc.exploit_trials_per_round
    return update


def approve_budget(state: dict[str, Any], runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Going over the approved budget needs the human: approve (or edit the amount) raises it."""
    req = state["budget_request"]
    args = {"extra_seconds": req["extra_seconds"], "phase": req["phase"]}
    text = (
        f"The {req['phase']} step needs {req['cost']:.0f} trainer-seconds but only "
        f"{req['cost'] - req['extra_seconds']:.0f} are left: add {req['extra_seconds']:.0f} s?"
    )
    answer = interrupt(
        hitl.request("budget", req["approval_id"], "raise_budget", args, text),
        response_schema=hitl.HITLResponse,
    )
    svc = services_of(runtime)
    decision = hitl.HITLResponse.model_validate(answer).decision
    svc.store.decide_approval(req["approval_id"], hitl.status_of(decision), decision.model_dump())
    if decision.type == "reject":
        return {
            "budget_request": None,
            "budget_denied": True,
            "notes": note(state, "budget increase declined"),
        }
    extra = (
        float(decision.edited_action.args.get("extra_seconds", req["extra_seconds"]))
        if decision.type == "edit"
        else float(req["extra_seconds"])
    )
    svc.store.raise_budget(state["campaign_id"], extra, approval_id=req["approval_id"])
    return {"budget_request": None, "notes": note(state, f"budget raised by {extra:.0f} s")}


def after_advance(state: dict[str, Any]) -> str:
    if state.get("budget_request"):
        # Before waiting on a human, the analysis's insights go to Chroma (memorise).
        return "memorise" if state.get("insights_pending") else "approve_budget"
    if state.get("launch"):
        return "launch"
    if state.get("pending"):  # a slot is free but nothing can start yet: wait for the others
        return "memorise" if state.get("insights_pending") else "wait"
    return "report"


@dataclass(frozen=True)
class _View:
    """The campaign row and its budget status, as `advance` read them at its start."""

    campaign: Any
    budget: Any


def _next_batch(
    svc: Services, state: dict[str, Any], view: _View, runs: list[RunRecord] | None = None
) -> tuple[str, int, list[dict[str, Any]]] | None:
    phase, rnd = state["phase"], int(state.get("round") or 0)
    steering = view.campaign.steering or {}
    if steering.get("wrap_up"):
        return None  # the human asked to finish: report what exists
    skip = set(steering.get("skip_phases") or [])
    if runs is None:
        runs = load_runs(svc.store, state["campaign_id"])
    if phase == "validation" and "combination" not in skip:
        items = _combination(svc, state, runs, view)
        if items:
            return "combination", 0, items
    if "exploitation" in skip:
        return None
    if phase in ("validation", "combination"):
        return _exploit_round(svc, state, runs, 1, view)
    if phase == "exploitation" and rnd != 0:
        done = abs(rnd)  # exploitation rounds run so far
        free = svc.exploit_trials_per_round - len(state.get("pending") or [])  # slots
        if svc.rolling_exploitation:
            if free <= 0:
                return None
            if rnd > 0:  # round rnd's places not yet taken, while slots are free
                taken = _round_places(svc, state["campaign_id"], rnd)
                places = [i for i in range(svc.exploit_trials_per_round) if i not in taken]
                if places[:free]:
                    wide = _rounds_without_gain(svc, state, runs, rnd - 1) >= svc.exploit_patience
                    fill = _exploit_round(
                        svc, state, runs, rnd, view, wide=wide, places=places[:free]
                    )
                    if fill is not None:
                        return fill
                    if state.get("pending"):
                        return None  # not paid now: the running jobs' budget comes back
        if rnd > 0 and done % svc.confirm_every == 0:
            confirm = _confirm(svc, state, runs, done, view)
            if confirm is not None and svc.rolling_exploitation:
                return _with_next_round(svc, state, runs, done, view, confirm)
            if confirm is not None:
                return confirm
        if done < svc.max_exploit_rounds:
            wide = _rounds_without_gain(svc, state, runs, done) >= svc.exploit_patience
            places = range(free) if svc.rolling_exploitation else None
            nxt = _exploit_round(svc, state, runs, done + 1, view, wide=wide, places=places)
            if nxt is not None:
                return nxt
        if state.get("pending"):
            return None  # what still runs may free budget for another round
        if rnd > 0:  # the phase ends: confirm what is still unconfirmed
            return _confirm(svc, state, runs, done, view)
    return None


def _with_next_round(
    svc: Services,
    state: dict[str, Any],
    runs: list[RunRecord],
    done: int,
    view: _View,
    confirm: tuple[str, int, list[dict[str, Any]]],
) -> tuple[str, int, list[dict[str, Any]]]:
    """A rolling exploitation's confirmation takes one free slot; round done+1's first trials
    take the others rather than wait the confirmation's (every seed's) time. The state's round
    is then done+1 (the confirmation keeps its id, `xconfirm-done`)."""
    free = svc.exploit_trials_per_round - len(state.get("pending") or []) - 1
    if free <= 0 or done >= svc.max_exploit_rounds:
        return confirm
    wide = _rounds_without_gain(svc, state, runs, done) >= svc.exploit_patience
    nxt = _exploit_round(svc, state, runs, done + 1, view, wide=wide, places=range(free))
    if nxt is None:
        return confirm
    return "exploitation", done + 1, [*confirm[2], *nxt[2]]


def _round_places(svc: Services, cid: str, rnd: int) -> set[int]:
    """The places of round `rnd` taken by a submitted trial. A place planned but never
    submitted (a crash between the analysis and the launch) is not taken: the replayed step
    plans it again, under the same experiment id, and `ensure_planned` hands back its row."""
    prefix = f"{cid}-x{rnd}-"
    return {
        int(job.experiment_id[len(prefix) :])
        for job in svc.store.list_jobs(cid)
        if job.experiment_id.startswith(prefix)
    }


def _running_configs(svc: Services, state: dict[str, Any]) -> list[dict[str, Any]]:
    """Configs of the exploitation trials still running (the planner proposes none again)."""
    pending = set(state.get("pending") or [])
    if not pending:
        return []
    return [
        j.config
        for j in svc.store.list_experiments(state["campaign_id"], phase="exploitation")
        if any(job_id.startswith(f"{j.id}-a") for job_id in pending)
    ]


def _rounds_without_gain(
    svc: Services, state: dict[str, Any], runs: list[RunRecord], done: int
) -> int:
    """Rounds since the last exploitation trial that beat, on the seed the trials share, every
    trial before it and the config exploitation started from (all `done` rounds when none
    did). A champion that is a confirmed trial is represented by that trial."""
    seed = svc.seeds[0]
    cid = state["campaign_id"]
    champion = _by_id(runs, state.get("best_experiment_id") or baseline_id(cid))
    best = float("inf")
    if champion.phase != "exploitation":
        best = champion.values().get(seed, best)
    last_gain = 0
    trials = []
    for run in runs:
        m = TRIAL_ID.search(run.experiment_id)
        if m and run.phase == "exploitation" and seed in run.values():
            trials.append((int(m.group(1)), run.values()[seed]))
    for rnd, value in sorted(trials):
        if value < best:
            best, last_gain = value, rnd
    return done - last_gain


def _combination(
    svc: Services, state: dict[str, Any], runs: list[RunRecord], view: _View
) -> list[dict[str, Any]]:
    cid = state["campaign_id"]
    base = _by_id(runs, baseline_id(cid))
    campaign = view.campaign
    validated, promising = [], []
    for run in runs:
        if run.phase == "validation" and run.hypothesis_id:
            comp = analyst.compare(base, run)
            if comp.validated:
                validated.append((run.hypothesis_id, run.config_delta, comp.gain_pct))
            elif comp.gain_pct > 0 and not comp.hurt:
                promising.append((run.hypothesis_id, run.config_delta, comp.gain_pct))
    if len(validated) == 1:
        # One winner: stack it with the best near-misses (positive, within noise) to learn
        # whether they add up on top of it; a lone winner has nothing to combine with.
        validated += sorted(promising, key=lambda p: -p[2])[:2]
    planned = planner.plan_combination(
        svc.brain,
        baseline_config=campaign.baseline_config,
        validated=validated,
        budget_seconds=_combination_budget(svc, state, view),
        seconds_per_seed=seconds_per_seed(svc.store, cid, runs),
        seeds=list(svc.seeds),
    )
    return [p.model_dump(mode="json") for p in planned]


def _combination_budget(svc: Services, state: dict[str, Any], view: _View) -> float:
    """The plan's combination share, or up to 60 % of what is left when that is more: stacking
    validated winners is worth more than the exploitation it borrows from (which gets the rest)."""
    share = float((state.get("plan") or {}).get("budget", {}).get("combination", 0.0))
    return max(share, 0.6 * spendable(svc.store, state["campaign_id"], view.budget))


def _exploit_round(
    svc: Services,
    state: dict[str, Any],
    runs: list[RunRecord],
    rnd: int,
    view: _View,
    *,
    wide: bool = False,
    places: Sequence[int] | None = None,
) -> tuple[str, int, list[dict[str, Any]]] | None:
    """Round `rnd`'s TPE trials: around the best config, but `wide_trials_per_round` of them
    (the round's last places) over the schema's whole space (all of them when `wide`), those
    the budget can pay while keeping the challenger's confirmation; None when not one fits.
    While the best is of another model family than the baseline's, the round's last place
    searches around the incumbent family's best instead (`_incumbent`).
    `places`: which of the round's places to plan (default: all; a rolling exploitation
    fills the free ones); a trial still running is not proposed again."""
    cid = state["campaign_id"]
    campaign = view.campaign
    sps = seconds_per_seed(svc.store, cid, runs)
    best = _by_id(runs, state.get("best_experiment_id") or baseline_id(cid))
    n = svc.exploit_trials_per_round
    n_wide = n if wide else min(n, svc.wide_trials_per_round)
    wanted = list(range(n) if places is None else places)
    avoid = _running_configs(svc, state)
    incumbent = _incumbent(svc, campaign.baseline_config, runs, best)
    # (with one trial a round, every other round is the incumbent family's)
    held = n - 1 if incumbent is not None and (n > 1 or rnd % 2 == 0) else None
    trials: list[tuple[int, Any, RunRecord]] = []
    for group, in_wide, centre in (
        ([i for i in wanted if i < n - n_wide and i != held], False, best),
        ([i for i in wanted if i >= n - n_wide and i != held], True, best),
        ([i for i in wanted if i == held], False, incumbent),
    ):
        if group and centre is not None:
            # A group that starts the round's around-best or wide places is seeded as a
            # whole round's is; a later place of a round gets a seed of its own.
            first = group[0] in (0, n - n_wide) and group[0] != held
            history, also_avoid, startup, anchor = runs, [], None, centre.config
            if in_wide and not wide and svc.wide_stream == "independent":
                # a search of its own over the baseline's family, whatever the best became
                history, also_avoid = _wide_history(cid, runs, n - n_wide)
                startup, anchor = WIDE_STARTUP, campaign.baseline_config
            planned = planner.plan_exploitation(
                svc.brain,
                runs=history,
                baseline_config=campaign.baseline_config,
                best_config=anchor,
                n_trials=len(group),
                seed=rnd if first else rnd * 1000 + group[0],
                seconds_per_seed=sps,
                seeds=[svc.seeds[0]],
                wide=in_wide,
                avoid=[*avoid, *also_avoid],
                startup=startup,
            )[0]
            trials += [(i, t, centre) for i, t in zip(group, planned, strict=False)]
    items = []
    for i, t, centre in trials:
        item = {**t.model_dump(mode="json"), "place": i}
        # cost from the measured config it varies, not from the (cheaper) baseline
        trial = apply_delta(campaign.baseline_config, item["config_delta"])
        change = config_delta(apply_delta(centre.config, {}), trial)
        per_seed = centre.trainer_seconds / max(1, len(centre.seeds))
        item["est_seconds"] = est_seconds(per_seed, relative_cost(centre.config, change), 1)
        if svc.prune_quantile is not None:  # stop a trial once it is behind most runs so far
            bars = prune_bars(
                runs,
                svc.seeds[0],
                trial.epochs,
                quantile=svc.prune_quantile,
                min_runs=svc.prune_min_runs,
            )
            if bars is not None:
                item["prune"] = {"val_ne_above": bars}
        items.append(item)
    # Keep enough to confirm the current challenger with every seed; without a challenger the
    # whole rest may go to trials. A trial counts what the launch node needs to start it.
    # A confirmation the budget cannot pay even now never will be: nothing is kept for it.
    challenger = _challenger(svc, state, runs)
    if any("-xconfirm-" in job_id for job_id in state.get("pending") or []):
        challenger = None  # (rolling) its confirmation runs: its budget is reserved already
    room = spendable(svc.store, cid, view.budget)
    reserve = launch_floor(_confirm_estimate(svc, challenger)) if challenger else 0.0
    room -= reserve if reserve <= room else 0.0
    paid = []
    for item in items:  # in the sampler's order; a costly trial does not crowd out cheap ones
        if launch_floor(item["est_seconds"]) <= room:
            paid.append(item)
            room -= launch_floor(item["est_seconds"])
    if not paid:
        return None  # spend what is left on confirming the best instead
    return "exploitation", rnd, paid


def _incumbent(
    svc: Services, baseline_config: dict[str, Any], runs: list[RunRecord], best: RunRecord
) -> RunRecord | None:
    """While the best config is of another model family than the baseline's, the best run of
    the baseline's family (on the seed the trials share): one place of every round keeps
    searching around it, so that a family switch, validated against the untuned baseline, has
    to beat the incumbent family tuned as well. A better trial of either family becomes the
    challenger, and its confirmation the best, as any other. (On the synthetic preset's data
    seed 1 a FinalMLP card beat the untuned DCN-v2 baseline and every later search stayed in
    FinalMLP's space: +2.7..+4.7 % in 12 of 14 benchmark runs. Keeping DCN-v2 in the search
    made +6.57 and +7.28 % against +4.73 and +3.24 % without, 2026-12-05,
    docs/benchmark-campaign.md.) None when the best is of the baseline's family, or
    `keep_incumbent_family` is off."""
    family = baseline_config.get("model")
    if not svc.keep_incumbent_family or best.config.get("model") == family:
        return None
    seed = svc.seeds[0]
    own = [r for r in runs if r.config.get("model") == family and seed in r.values()]
    return min(own, key=lambda r: r.values()[seed], default=None)


# An independent wide stream's random start-up trials, as the TPE arm's (Optuna's default).
WIDE_STARTUP = 11  # the baseline and 10 random wide trials


def _wide_history(
    cid: str, runs: list[RunRecord], first_wide: int
) -> tuple[list[RunRecord], list[dict[str, Any]]]:
    """An independent wide stream's history: the baseline and the wide places' trials (place >=
    `first_wide` of a round), as the TPE arm's search would have them (it starts with
    WIDE_STARTUP random trials, over the baseline's family's whole space), not the research
    cards, the trials around the best nor their confirmations: otherwise TPE's good trials are
    the neighbours of the best config and it proposes near them (measured 2026-12-05: 76 of 84 wide trials kept the best's optimizer,
    and 88 of 96 when only the validation and combination runs stayed in). The left-out runs'
    configs come back as configs to avoid (they were run)."""
    places = re.compile(rf"^{re.escape(cid)}-x\d+-(\d+)$")
    keep, left = [], []
    for run in runs:
        m = places.match(run.experiment_id)
        ours = run.phase == "baseline" or (m is not None and int(m.group(1)) >= first_wide)
        (keep if ours else left).append(run)
    return keep, [r.config for r in left]


def _challenger(svc: Services, state: dict[str, Any], runs: list[RunRecord]) -> RunRecord | None:
    """The best one-seed exploitation trial not yet confirmed, if it beat the best validated
    config (or the baseline) on the seed they share."""
    cid = state["campaign_id"]
    confirmed = {run_key(r) for r in runs if r.experiment_id.startswith(f"{cid}-xconfirm")}
    trials = [
        r
        for r in runs
        if r.phase == "exploitation"
        and len(r.seeds) == 1
        # (most rounds come before any confirmation: no trial's key is needed then)
        and not (confirmed and run_key(r) in confirmed)
    ]
    if not trials:
        return None
    champion = _by_id(runs, state.get("best_experiment_id") or baseline_id(cid))
    seed = svc.seeds[0]
    top = min(trials, key=lambda r: r.values().get(seed, float("inf")))
    beats = top.values().get(seed, float("inf")) < champion.values().get(seed, float("-inf"))
    return top if beats else None


def _confirm_estimate(svc: Services, trial: RunRecord) -> float:
    """Trainer-seconds to re-run `trial` with every seed (its own measured time per seed)."""
    return 1.3 * trial.trainer_seconds / max(1, len(trial.seeds)) * len(svc.seeds)


def _confirm(
    svc: Services, state: dict[str, Any], runs: list[RunRecord], done: int, view: _View
) -> tuple[str, int, list[dict[str, Any]]] | None:
    """Re-run the challenger with every seed: a one-seed trial is not evidence, the
    confirmation is (the analyst then compares it with the baseline like any other). At most
    one confirmation after round `done`."""
    cid = state["campaign_id"]
    if any(r.experiment_id == _experiment_id(cid, "exploitation", -done, 0) for r in runs):
        return None
    top = _challenger(svc, state, runs)
    if top is None:
        return None
    campaign = view.campaign
    delta = config_delta(apply_delta(campaign.baseline_config, {}), apply_delta(top.config, {}))
    item = {
        "hypothesis_id": top.hypothesis_id,
        "title": "confirm the best exploitation trial",
        "config_delta": delta,
        "seeds": list(svc.seeds),
        "est_seconds": _confirm_estimate(svc, top),
        "confirm": True,
        "after_round": done,
    }
    return "exploitation", -done, [item]


def _create(
    svc: Services,
    state: dict[str, Any],
    phase: str,
    rnd: int,
    items: list[dict[str, Any]],
    view: _View,
) -> list[dict[str, Any]]:
    cid = state["campaign_id"]
    campaign = view.campaign
    planned: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
    for n, item in enumerate(items):
        i = item.get("place", n)  # an exploitation trial's place in its round
        hyp = None
        if phase == "exploitation" and not item.get("confirm"):
            hyp = {
                "hypothesis_id": f"{cid}-hx{rnd}-{i}",
                "source": "exploit",
                "title": item.get("title") or f"TPE trial {rnd}.{i}",
                "config_delta": item["config_delta"],
                "rationale": "Optuna TPE around the best configuration",
            }
        config = apply_delta(campaign.baseline_config, item["config_delta"])
        if item.get("confirm"):
            exp_id = _experiment_id(cid, phase, -int(item.get("after_round", -rnd)), 0)
        else:
            exp_id = _experiment_id(cid, phase, rnd, i)
        exp = {
            "experiment_id": exp_id,
            "phase": phase,
            "config": config.model_dump(mode="json"),
            "config_delta": item["config_delta"],
            "seeds": item["seeds"],
            "hypothesis_id": item.get("hypothesis_id"),
        }
        planned.append((hyp, exp))
    # The batch's hypotheses and experiments in one write transaction (a replay finds them).
    created = svc.store.ensure_planned(cid, planned)
    requests = []
    for item, exp in zip(items, created, strict=True):
        seconds = job_seconds(float(item["est_seconds"]), svc.store, cid, view.budget)
        if seconds > 0:
            fault = None
            if state.get("faults"):  # drills: the fault plan names experiments by position
                order = [e.id for e in svc.store.list_experiments(cid, phase=phase)]
                fault = fault_for(state, phase, order.index(exp.id))
            requests.append(
                {
                    "experiment_id": exp.id,
                    "attempt": 1,
                    "max_seconds": seconds,
                    "est_seconds": float(item["est_seconds"]),
                    "fault": fault,
                    **({"prune": item["prune"]} if item.get("prune") else {}),
                }
            )
    return requests


def _experiment_id(cid: str, phase: str, rnd: int, i: int) -> str:
    if phase == "combination":
        return f"{cid}-c{i}"
    return f"{cid}-xconfirm-{-rnd}" if rnd < 0 else f"{cid}-x{rnd}-{i}"


def _by_id(runs: list[RunRecord], experiment_id: str) -> RunRecord:
    for run in runs:
        if run.experiment_id == experiment_id:
            return run
    raise LookupError(f"no finished run for experiment {experiment_id!r}")
