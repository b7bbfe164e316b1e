"""`rea bench campaign`: the agent against TPE and random search, at equal budget.

Every arm of a repeat starts from the same baseline config, on the same data and split, with the
same budget of trainer-seconds, charged by the same rules (the agent's ledger; the search arms
copy its reservation rules, see bench_search.py), and runs its jobs on the same local backend
with the same parallelism. Each arm and repeat has its own REA_HOME (its own store, memory and
data cache), so the agent learns nothing from earlier arms or repeats, except in transfer mode.

Arms:
* `agent`: one offline campaign (`rea run --yes`), or with an LLM when one is configured
  (REA_BRAIN / OPENAI_API_KEY, as `rea run`);
* `agent-transfer`: first a whole campaign on `transfer_from` (a related preset or dataset, same
  model, budget and baseline; not charged to the measured budget), then the measured campaign in
  the same REA_HOME, so its memory holds the first campaign's insights;
* `tpe` / `random`: Optuna TPESampler / RandomSampler over every trainer knob of the family
  (rea.tools.search_space), seed = the repeat index;
* `tpe-median`: `tpe` whose trials carry the agent's pruning bars (quantile pruning,
  `rea.agents.planner.pruning`), set from the arm's own finished runs (what an Optuna user adds
  with a MedianPruner), so the agent's pruning is also measured on TPE.

Model selection is on validation only: an arm's pick is its finished job with the lowest val NE
within the budget. Then every pick and the baseline are retrained with the same `eval_seeds`
(outside the budget) and their test NE/AUC are the reported ones, so a 1-seed search trial and
a 3-seed agent experiment are judged alike and nobody profits from a lucky seed. The arms of a
repeat share one data cache, warmed before the first arm, so none pays for loading the data
while the others do not. A repeat r
changes the data seed of a synthetic reference (seed S + r) or the split seed of a single
randomly split file, and the search samplers' seeds; arms run in an order rotated per repeat so
load drift on a shared machine does not always hit the same arm.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from rea.agents.planner.pruning import QUANTILE
from rea.graph.summary import campaign_summary
from rea.memory import ExperimentStore
from rea.tools.journal import load_runs, pruned
from rea.tools.search_space import describe_space, search_space
from rea.trainers.backends import LocalBackend
from rea.trainers.backends.local import default_parallel
from rea.trainers.config import TrainerConfig, config_delta, parse_config
from rea.trainers.data.loader import load_data
from rea.trainers.data.refs import parse_ref
from rea.trainers.errors import ConfigError
from rea.trainers.events import JobSpec

from . import bench_stats as stats
from .bench_arms import ARMS, EVAL_SEEDS, REFERENCE
from .bench_search import SearchArm, Trial
from .campaigns import open_runner
from .run_cli import yes_approver
from .settings import Settings

GAIN_TARGET, BUDGET_TARGET = 1.5, 0.5  # the targets: >= 1.5x TPE's gain; <= half budget
RETRAIN_TRIES = 3  # a pick that fails to retrain gives way to the arm's next best, at most twice
Progress = Callable[[str], None]


@dataclass
class BenchSpec:
    """What to run. `baseline`: the user's config (None = the family's defaults)."""

    model: str
    data: str
    budget: float
    arms: tuple[str, ...] = ("agent", "tpe", "random")
    repeats: int = 1
    out: Path = Path("rea-bench")
    baseline: dict[str, Any] | None = None
    transfer_from: str | None = None
    eval_seeds: tuple[int, ...] = EVAL_SEEDS
    parallel: int | None = None  # jobs at once per arm (None: REA_MAX_PARALLEL_JOBS or cores)
    command: str = ""

    def baseline_config(self) -> TrainerConfig:
        config = {**(self.baseline or {}), "model": self.model}
        if self.baseline and self.baseline.get("model", self.model) != self.model:
            raise ConfigError(
                f"--baseline is a {self.baseline['model']!r} config but --model is {self.model!r}"
            )
        return parse_config(config)


@dataclass
class ArmRun:
    """One arm in one repeat: its finished jobs in the order they were paid for."""

    arm: str
    budget: float
    trials: list[Trial]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def used_seconds(self) -> float:
        return sum(t.charged for t in self.trials)

    def counted(self) -> list[Trial]:
        """Jobs whose result arrived within the budget (the rest cannot be selected)."""
        return [t for t in self.trials if t.at_seconds <= self.budget + 1e-9]

    def pick(self) -> Trial | None:
        """Model selection on validation: the lowest val NE within the budget."""
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def ranked(self) -> list[Trial]:
        """Finished jobs within the budget, lowest val NE first, one per config (seed aside)."""
        done = sorted(
            (t for t in self.counted() if t.val_ne is not None), key=lambda t: t.val_ne or 0.0
        )
        seen: set[str] = set()
        out = []
        for t in done:
            if (key := _config_key(t.config)) not in seen:
                seen.add(key)
                out.append(t)
        return out

    def curve(self) -> list[stats.Point]:
        return stats.best_so_far([(t.at_seconds, t.val_ne) for t in self.trials], self.budget)


# --- input checks ---------------------------------------------------------------------------
def check_spec(spec: BenchSpec) -> BenchSpec:
    """Raise ConfigError/DataError (one line, what to do) for an unrunnable spec; add the
    transfer arm when `transfer_from` is set."""
    unknown = [a for a in spec.arms if a not in ARMS]
    if unknown or not spec.arms:
        raise ConfigError(f"unknown arm(s) {unknown or spec.arms}: use some of {', '.join(ARMS)}")
    if len(set(spec.arms)) != len(spec.arms):
        raise ConfigError(f"--arms names an arm twice: {','.join(spec.arms)}")
    if not spec.budget > 0:
        raise ConfigError(f"the budget must be > 0 trainer-seconds (got {spec.budget})")
    if spec.repeats < 1:
        raise ConfigError(f"--repeats must be >= 1 (got {spec.repeats})")
    if "agent-transfer" in spec.arms and not spec.transfer_from:
        raise ConfigError("arm agent-transfer needs --transfer-from REF (the related task)")
    parse_ref(spec.data)
    spec.baseline_config()
    if spec.transfer_from:
        parse_ref(spec.transfer_from)
        if "agent-transfer" not in spec.arms:
            spec.arms = (*spec.arms, "agent-transfer")
    return spec


def repeat_data(ref: str, repeat: int) -> str:
    """The data reference of repeat r: synthetic seed S + r; a single randomly split file gets
    split_seed + r; anything else is the same data every repeat."""
    parsed = parse_ref(ref)
    if parsed.scheme == "synthetic":
        return _with_option(ref, "seed", parsed.seed + repeat)
    if len(parsed.paths) == 1 and parsed.split != "time":
        return _with_option(ref, "split_seed", parsed.split_seed + repeat)
    return ref


def _with_option(ref: str, key: str, value: int) -> str:
    target, _, query = ref.partition("?")
    items = [i for i in query.split("&") if i and not i.startswith(f"{key}=")]
    return f"{target}?{'&'.join([*items, f'{key}={value}'])}"


# --- arms -----------------------------------------------------------------------------------
@contextlib.contextmanager
def rea_home(home: Path) -> Iterator[Settings]:
    """Settings for REA_HOME=home, also in the environment its jobs inherit (data cache)."""
    old = os.environ.get("REA_HOME")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["REA_HOME"] = str(home.resolve())
    try:
        yield Settings()
    finally:
        if old is None:
            os.environ.pop("REA_HOME", None)
        else:
            os.environ["REA_HOME"] = old


def brain_mode(settings: Settings) -> str:
    """offline | llm: what the agent arm's brain will be (rea.agents.brain.make_brain's rule)."""
    configured = bool(settings.openai_api_key or settings.openai_base_url)
    return (
        "llm" if settings.brain == "llm" or (settings.brain == "auto" and configured) else "offline"
    )


def run_agent(
    spec: BenchSpec, data: str, home: Path, progress: Progress, *, pre: str | None = None
) -> ArmRun:
    """One agent campaign (after a campaign on `pre` in the same home, in transfer mode)."""
    base = spec.baseline_config().model_dump(mode="json")
    with rea_home(home) as settings, open_runner(settings) as runner:
        extra: dict[str, Any] = {
            "brain": brain_mode(settings),
            "wide_stream": settings.wide_stream,
            "keep_incumbent_family": settings.keep_incumbent_family,
            "rolling_exploitation": settings.rolling_exploitation,
        }
        if pre:
            first = runner.start(spec.model, pre, spec.budget, baseline=base)
            runner.drive(first, yes_approver, progress=lambda s: progress(f"(pre) {s}"))
            extra["transfer"] = _agent_extra(runner, first, pre)
        cid = runner.start(spec.model, data, spec.budget, baseline=base)
        runner.drive(cid, yes_approver, progress=progress)
        extra.update(_agent_extra(runner, cid, data))
        trials = agent_trials(runner.services.store, cid)
    return ArmRun("agent", spec.budget, trials, extra)


def _agent_extra(runner: Any, cid: str, data: str) -> dict[str, Any]:
    s = campaign_summary(runner.services.store, cid, runner.state(runner.thread_of(cid)))
    keep = ("campaign_id", "status", "budget_used_seconds", "ne_gain_pct", "trials", "failures")
    out = {k: s[k] for k in keep}
    out.update(
        data=data,
        agent_pick=s["best"],
        validated=[v["title"] for v in s["validated"]],
        hypothesis_sources=s["hypothesis_sources"],
        pruned=pruned_trials(runner.services.store, cid),
    )
    return out


def pruned_trials(store: ExperimentStore, campaign_id: str) -> dict[str, Any]:
    """How many of the campaign's runs a pruning bar stopped, and the trainer-seconds they used."""
    runs = pruned(load_runs(store, campaign_id))
    return {"runs": len(runs), "seconds": round(sum(r.trainer_seconds for r in runs), 1)}


def agent_trials(store: ExperimentStore, campaign_id: str) -> list[Trial]:
    """The campaign's jobs in the order the ledger charged them, each with its metrics (a
    3-seed experiment's are its seed means); released reservations of jobs that never ran are
    left out."""
    runs = {r.job_id: r for r in load_runs(store, campaign_id)}
    jobs = {j.job_id: j for j in store.list_jobs(campaign_id)}
    entries = [
        e
        for e in store.ledger_entries(campaign_id)
        if e.kind == "compute" and e.settled_at is not None
    ]
    trials, at = [], 0.0
    for e in sorted(entries, key=lambda e: (e.settled_at, e.id)):
        run, job = runs.get(e.job_id or ""), jobs.get(e.job_id or "")
        if run is None and (e.charged == 0 or job is None):
            continue
        at += e.charged
        if run is not None:
            metrics, failure, config = run.metrics, None, run.config
            label, seeds = f"{run.phase} {run.experiment_id}", max(1, len(run.seeds))
        else:  # failed, or an earlier succeeded attempt that load_runs does not list
            exp = store.get_experiment(job.experiment_id)  # type: ignore[union-attr]
            metrics, failure = _job_outcome(store, job)
            config, label, seeds = exp.config, f"{exp.phase} {exp.id}", max(1, len(exp.seeds))
        trials.append(Trial(label, dict(config), e.charged, at, seeds, dict(metrics), failure))
    return trials


def _job_outcome(store: ExperimentStore, job: Any) -> tuple[dict[str, float], str | None]:
    if job.state != "succeeded":
        return {}, job.failure_kind or job.state
    final = store.get_result(job.job_id).final_metrics
    return {k: float(v) for k, v in final.items() if isinstance(v, int | float)}, None


def run_search(
    spec: BenchSpec, arm: str, data: str, home: Path, seed: int, progress: Progress
) -> ArmRun:
    """One TPE or random search over the whole trainer space."""
    sampler: optuna.samplers.BaseSampler
    if arm in ("tpe", "tpe-median"):  # constant liar: two in flight must not be proposed alike
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    with rea_home(home) as settings:
        search = SearchArm(
            sampler,
            search_space(spec.model),
            baseline=spec.baseline_config(),
            data=data,
            budget=spec.budget,
            jobs_root=settings.jobs_dir,
            seed=seed,
            parallel=_parallel(spec, settings),
            progress=progress,
            prune_quantile=QUANTILE if arm == "tpe-median" else None,
        )
        trials = search.run()
    extra: dict[str, Any] = {"sampler": type(sampler).__name__}
    if search.prune_quantile is not None:
        extra["pruned"] = {"runs": search.pruned, "quantile": search.prune_quantile}
    return ArmRun(arm, spec.budget, trials, extra)


def _parallel(spec: BenchSpec, settings: Settings) -> int:
    return spec.parallel or settings.max_parallel_jobs or default_parallel()


def share_cache(home: Path, shared: Path) -> None:
    """Point home's data cache at the repeat's shared one (warmed before any arm runs), so no
    arm's first job pays for generating or parsing the data and the others not."""
    (home / "cache").parent.mkdir(parents=True, exist_ok=True)
    shared.mkdir(parents=True, exist_ok=True)
    if not (home / "cache").exists():
        (home / "cache").symlink_to(shared.resolve(), target_is_directory=True)


def warm_cache(spec: BenchSpec, data: str, shared: Path) -> None:
    """Load the repeat's data once with the baseline's data params into the shared cache."""
    load_data(data, **spec.baseline_config().data_params, cache_dir=shared / "data")


def run_arm(spec: BenchSpec, arm: str, repeat: int, root: Path, progress: Progress) -> ArmRun:
    data = repeat_data(spec.data, repeat)
    home = root / arm
    share_cache(home, root / "cache")
    say = lambda line: progress(f"[r{repeat} {arm}] {line}")  # noqa: E731
    t0 = time.monotonic()
    if arm.startswith("agent"):
        pre = repeat_data(spec.transfer_from, repeat) if arm == "agent-transfer" else None
        run = run_agent(spec, data, home, say, pre=pre)  # type: ignore[arg-type]
    else:
        run = run_search(spec, arm, data, home, repeat, say)
    run.arm = arm
    run.extra["wall_seconds"] = round(time.monotonic() - t0, 1)
    say(f"done: {len(run.trials)} jobs, {run.used_seconds:.1f}/{spec.budget:g} trainer-s")
    return run


# --- final evaluation ------------------------------------------------------------------------
def evaluate(
    configs: dict[str, dict[str, Any]],
    est_seconds: dict[str, float],
    data: str,
    seeds: tuple[int, ...],
    home: Path,
    parallel: int,
) -> dict[str, dict[str, Any]]:
    """Retrain each named config with `seeds` (one job each; equal configs share a job);
    {name: {metric means..., per_seed: [metrics of each seed]}} ({} for a failed job)."""
    with rea_home(home) as settings:
        backend = LocalBackend(settings.jobs_dir, max_parallel=parallel)
        by_key: dict[str, str] = {}
        jobs: dict[str, str] = {}
        for name, config in configs.items():
            if (key := _config_key(config)) not in by_key:
                by_key[key] = job_id = f"eval-{len(by_key)}"
                backend.submit(_eval_spec(backend, job_id, config, data, seeds, est_seconds[name]))
            jobs[name] = by_key[key]
        finals = _wait(backend, set(jobs.values()))
    return {name: _eval_result(finals[job_id]) for name, job_id in jobs.items()}


def _config_key(config: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True)


@dataclass
class Retrained:
    """The final evaluation of a repeat: each arm's reported pick (its best config that retrains)
    with its metrics, and the better-ranked picks that failed to retrain."""

    picks: dict[str, Trial]
    evals: dict[str, dict[str, Any]]
    rejected: dict[str, list[dict[str, Any]]]


def retrain_picks(
    runs: dict[str, ArmRun],
    baseline: dict[str, Any],
    base_seconds: float,
    data: str,
    seeds: tuple[int, ...],
    root: Path,
    parallel: int,
    progress: Progress,
) -> Retrained:
    """Retrain the baseline and every arm's pick with `seeds`. A pick whose retraining fails
    (diverges, NaN, ...) would fail its user too: it is recorded as rejected and the arm's next
    best config (by validation NE) is retrained instead, up to RETRAIN_TRIES configs an arm, so
    no repeat silently drops out of an arm's mean. Each round has its own home under `root` (job
    ids restart there), sharing the repeat's data cache `root/cache`."""

    def retrain(configs: dict[str, dict[str, Any]], est: dict[str, float], home: str) -> dict:
        share_cache(root / home, root / "cache")
        return evaluate(configs, est, data, seeds, root / home, parallel)

    ranked = {arm: run.ranked()[:RETRAIN_TRIES] for arm, run in runs.items()}
    picks = {arm: ranks[0] for arm, ranks in ranked.items() if ranks}
    configs = {"baseline": baseline, **{a: p.config for a, p in picks.items()}}
    est = {"baseline": base_seconds} | {a: p.charged / p.seeds for a, p in picks.items()}
    evals = retrain(configs, est, "eval")
    rejected: dict[str, list[dict[str, Any]]] = {arm: [] for arm in runs}
    for attempt in range(1, RETRAIN_TRIES):
        retry = {}
        for arm, pick in picks.items():
            if "test_ne" in evals[arm] or attempt >= len(ranked[arm]):
                continue
            rejected[arm].append(
                {"label": pick.label, "val_ne": pick.val_ne, "failure": evals[arm].get("failure")}
            )
            retry[arm] = picks[arm] = ranked[arm][attempt]
            progress(
                f"{arm}'s pick {pick.label} failed to retrain ({evals[arm].get('failure')}); "
                f"retraining its next best, {retry[arm].label} (val NE {retry[arm].val_ne:.5f})"
            )
        if not retry:
            break
        evals |= retrain(
            {a: p.config for a, p in retry.items()},
            {a: p.charged / p.seeds for a, p in retry.items()},
            f"eval-retry-{attempt}",
        )
    return Retrained(picks, evals, rejected)


def _eval_spec(
    backend: LocalBackend, job_id: str, config: dict, data: str, seeds: tuple[int, ...], est: float
) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        campaign_id="bench-eval",
        config=config,
        data=data,
        seed=seeds[0],
        seeds=list(seeds),
        max_seconds=max(120.0, 4.0 * est * len(seeds)),  # generous: eval is not budgeted
        output_dir=str(backend.job_dir(job_id)),
    )


def _wait(backend: LocalBackend, job_ids: set[str]) -> dict[str, Any]:
    finals: dict[str, Any] = {}
    while len(finals) < len(job_ids):
        backend.poll()
        for job_id in job_ids - set(finals):
            final = backend.final_event(job_id)
            if final is not None:
                finals[job_id] = final
        time.sleep(0.3)
    return finals


def _eval_result(final: Any) -> dict[str, Any]:
    """Metric means and per-seed metrics, or {"failure": "kind: message"}."""
    if final.kind != "succeeded" or not final.result:
        failure = final.failure
        return {"failure": f"{failure.kind}: {failure.message}" if failure else final.kind}
    result = final.result
    return {
        **{k: float(v) for k, v in result["metrics"].items()},
        "per_seed": [{"seed": p["seed"], **p["metrics"]} for p in result["per_seed"]],
    }


# --- one repeat -------------------------------------------------------------------------------
def run_repeat(spec: BenchSpec, repeat: int, progress: Progress) -> dict[str, Any]:
    """Every arm once (order rotated by the repeat), then the final evaluation."""
    root = spec.out / f"repeat-{repeat}"
    order = [spec.arms[(i + repeat) % len(spec.arms)] for i in range(len(spec.arms))]
    data = repeat_data(spec.data, repeat)
    warm_cache(spec, data, root / "cache")
    if spec.transfer_from and "agent-transfer" in spec.arms:
        warm_cache(spec, repeat_data(spec.transfer_from, repeat), root / "cache")
    runs = {arm: run_arm(spec, arm, repeat, root, progress) for arm in order}
    base = spec.baseline_config().model_dump(mode="json")
    picked = sum(run.pick() is not None for run in runs.values())
    progress(f"[r{repeat}] final evaluation: {1 + picked} configs x {len(spec.eval_seeds)} seeds")
    retrained = retrain_picks(
        runs,
        base,
        _first_seconds(runs),
        data,
        spec.eval_seeds,
        root,
        _parallel(spec, Settings()),
        lambda line: progress(f"[r{repeat}] {line}"),
    )
    return _repeat_record(spec, repeat, data, order, runs, retrained)


def _first_seconds(runs: dict[str, ArmRun]) -> float:
    """Seconds per seed of the baseline, from whichever arm ran it first."""
    for run in runs.values():
        if run.trials:
            return run.trials[0].charged / run.trials[0].seeds
    return 30.0


def _repeat_record(
    spec: BenchSpec,
    repeat: int,
    data: str,
    order: list[str],
    runs: dict[str, ArmRun],
    retrained: Retrained,
) -> dict[str, Any]:
    evals = retrained.evals
    ref = runs.get(REFERENCE)
    ref_pick = ref.pick() if ref else None
    target = ref_pick.val_ne if ref_pick else None
    base_eval = evals["baseline"]
    baseline = spec.baseline_config()
    arms = {}
    for arm in spec.arms:
        run, best = runs[arm], runs[arm].pick()
        pick = retrained.picks.get(arm)
        ev = evals.get(arm, {})
        first = run.trials[0] if run.trials else None
        curve = run.curve()
        arms[arm] = {
            "used_seconds": round(run.used_seconds, 2),
            "trials": len(run.trials),
            "failed": sum(t.failure is not None for t in run.trials),
            "seed_runs": sum(t.seeds for t in run.trials),
            "ne_gain_pct": stats.gain_pct(base_eval.get("test_ne"), ev.get("test_ne")),
            "val_ne_gain_pct": stats.gain_pct(base_eval.get("val_ne"), ev.get("val_ne")),
            "search_val_gain_pct": stats.gain_pct(
                first.val_ne if first else None, best.val_ne if best else None
            ),
            "best_val_ne": best.val_ne if best else None,
            "pick": _pick(pick, baseline),
            "retrain_rejected": retrained.rejected.get(arm, []),
            "eval": {k: ev.get(k) for k in ("val_ne", "val_auc", "test_ne", "test_auc")},
            "eval_failure": ev.get("failure"),
            "eval_per_seed": ev.get("per_seed", []),
            "budget_to_target": _round(stats.budget_to_target(curve, target)),
            "curve": [[round(x, 2), y] for x, y in curve],
            "jobs": [_job_row(t) for t in run.trials],
            "extra": run.extra,  # agent arms: the campaign's own `rea run --json` view
        }
    return {
        "repeat": repeat,
        "data": data,
        "order": order,
        "target_val_ne": target,
        "baseline_eval": {
            **{k: base_eval.get(k) for k in ("val_ne", "val_auc", "test_ne", "test_auc")},
            "per_seed": base_eval.get("per_seed", []),
        },
        "arms": arms,
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _job_row(t: Trial) -> dict[str, Any]:
    return {
        "label": t.label,
        "charged": round(t.charged, 3),
        "at_seconds": round(t.at_seconds, 3),
        "seeds": t.seeds,
        "val_ne": t.val_ne,
        "test_ne": t.metrics.get("test_ne"),
        "failure": t.failure,
    }


def _pick(pick: Trial | None, baseline: TrainerConfig) -> dict[str, Any] | None:
    if pick is None:
        return None
    delta = config_delta(baseline, parse_config({**pick.config, "seed": baseline.seed}))
    return {
        "label": pick.label,
        "found_at_seconds": round(pick.at_seconds, 2),
        "seeds": pick.seeds,
        "config_delta": delta,
        "search_metrics": {k: pick.metrics.get(k) for k in ("val_ne", "test_ne", "test_auc")},
    }


# --- the whole benchmark ------------------------------------------------------------------------
def run_bench(spec: BenchSpec, progress: Progress = lambda _line: None) -> dict[str, Any]:
    """Run every repeat; write bench.json and curves.png under spec.out; return the summary."""
    check_spec(spec)
    spec.out.mkdir(parents=True, exist_ok=True)
    repeats = [run_repeat(spec, r, progress) for r in range(spec.repeats)]
    out = summarize(spec, repeats)
    curves = [
        {a: [tuple(p) for p in rep["arms"][a]["curve"]] for a in spec.arms} for rep in repeats
    ]
    out["plot"] = str(
        stats.plot_curves(
            spec.out / "curves.png",
            curves,  # type: ignore[arg-type]
            spec.budget,
            [rep["target_val_ne"] for rep in repeats],
            f"{REFERENCE} final",
        )
    )
    (spec.out / "bench.json").write_text(json.dumps(out, indent=2, default=str))
    return out


def summarize(spec: BenchSpec, repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON object: per arm means and per-repeat values, paired comparisons, targets."""
    arms = {arm: _arm_summary(arm, repeats) for arm in spec.arms}
    return {
        "command": spec.command,
        "date": dt.date.today().isoformat(),
        "model": spec.model,
        "data": spec.data,
        "budget_seconds": spec.budget,
        "repeats": spec.repeats,
        "transfer_from": spec.transfer_from,
        "reference_arm": REFERENCE,
        "eval_seeds": list(spec.eval_seeds),
        "baseline_config": spec.baseline_config().model_dump(mode="json"),
        "arms": arms,
        "comparisons": _comparisons(spec, repeats),
        "targets": _targets(spec, arms),
        "search_space": describe_space(search_space(spec.model)),
        "out_dir": str(spec.out),
        "repeats_detail": repeats,
    }


def _arm_summary(arm: str, repeats: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [rep["arms"][arm] for rep in repeats]
    col = lambda key: [row[key] for row in rows]  # noqa: E731
    return {
        "ne_gain_pct": stats.summary(col("ne_gain_pct")),
        "val_ne_gain_pct": stats.summary(col("val_ne_gain_pct")),
        "search_val_gain_pct": stats.summary(col("search_val_gain_pct")),
        "best_val_ne": stats.summary(col("best_val_ne")),
        "test_ne": stats.summary([row["eval"]["test_ne"] for row in rows]),
        "test_auc": stats.summary([row["eval"]["test_auc"] for row in rows]),
        "trials": stats.summary(col("trials")),
        "used_seconds": stats.summary(col("used_seconds")),
        "budget_to_target": {
            **stats.summary(col("budget_to_target")),
            "reached": sum(v is not None for v in col("budget_to_target")),
        },
    }


def _comparisons(spec: BenchSpec, repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """Each arm against the reference arm, paired per repeat (test and val gains), and per
    (repeat, eval seed) on test NE."""
    if REFERENCE not in spec.arms:
        return {}
    out = {}
    for arm in (a for a in spec.arms if a != REFERENCE):
        pairs = [(rep["arms"][arm], rep["arms"][REFERENCE]) for rep in repeats]
        test = [_diff(a["ne_gain_pct"], b["ne_gain_pct"]) for a, b in pairs]
        val = [_diff(a["val_ne_gain_pct"], b["val_ne_gain_pct"]) for a, b in pairs]
        seeds = [d for rep in repeats for d in _seed_diffs(rep, arm)]
        out[f"{arm}_vs_{REFERENCE}"] = {
            "test_ne_gain_pct": {**stats.paired(test), "per_repeat": test},
            "val_ne_gain_pct": {**stats.paired(val), "per_repeat": val},
            "test_ne_per_seed_pct": stats.paired(seeds),
        }
    return out


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _seed_diffs(rep: dict[str, Any], arm: str) -> list[float | None]:
    """Per eval seed: 100 x (reference test NE - arm test NE) / baseline test NE."""
    base = {s["seed"]: s["test_ne"] for s in rep["baseline_eval"]["per_seed"]}
    mine = {s["seed"]: s["test_ne"] for s in rep["arms"][arm]["eval_per_seed"]}
    ref = {s["seed"]: s["test_ne"] for s in rep["arms"][REFERENCE]["eval_per_seed"]}
    return [100.0 * (ref[s] - mine[s]) / base[s] for s in sorted(set(base) & set(mine) & set(ref))]


def _targets(spec: BenchSpec, arms: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets for each agent arm: mean test NE gain >= 1.5x the reference's (None
    while either arm lacks a gain in some repeat), and the reference's final val NE reached with
    at most half the budget in every repeat."""
    if REFERENCE not in arms:
        return {}
    ref_gain = arms[REFERENCE]["ne_gain_pct"]["mean"]
    out = {}
    for arm in (a for a in spec.arms if a.startswith("agent")):
        gain = arms[arm]["ne_gain_pct"]["mean"]
        reach = arms[arm]["budget_to_target"]["per_repeat"]
        # Undecided (None) unless both arms have a test gain in every repeat.
        complete = all(arms[a]["ne_gain_pct"]["n"] == spec.repeats for a in (arm, REFERENCE))
        out[arm] = {
            "gain_ratio": gain / ref_gain
            if gain is not None and ref_gain and ref_gain > 0
            else None,
            "gain_target_met": None
            if gain is None or ref_gain is None or not complete
            else gain >= GAIN_TARGET * ref_gain,
            "half_budget_met": all(
                v is not None and v <= BUDGET_TARGET * spec.budget for v in reach
            ),
        }
    return out
