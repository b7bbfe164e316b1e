"""`rea bench campaign`: the agent against TPE and random search at equal budget (see
app/bench_campaign.py for what is compared and how; docs/benchmark-campaign.md for results)."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rea.trainers.errors import ConfigError, ReaError

from .bench_arms import ARMS, EVAL_SEEDS, REFERENCE
from .settings import Settings

bench_app = typer.Typer(
    name="bench", help="Benchmarks of the agent.", no_args_is_help=True, add_completion=False
)
console = Console(stderr=True)


def _baseline(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"--baseline {path}: not a readable JSON file ({err})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"--baseline {path}: must hold a JSON object (a trainer config)")
    return config


def _command(
    model: str,
    data: str,
    budget: float,
    arms: str,
    repeats: int,
    baseline: Path | None,
    transfer_from: str | None,
) -> str:
    """The command line that reproduces this run (for the results table)."""
    parts = ["rea bench campaign", f"--model {model}", f"--data {shlex.quote(data)}"]
    parts += [f"--budget {budget:g}", f"--arms {arms}", f"--repeats {repeats}"]
    parts += [f"--baseline {shlex.quote(str(baseline))}"] if baseline else []
    parts += [f"--transfer-from {shlex.quote(transfer_from)}"] if transfer_from else []
    return " ".join(parts)


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--eval-seeds {text!r}: give comma-separated integers") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"--eval-seeds {text!r}: give at least one seed >= 0")
    return seeds


@bench_app.command("campaign")
def campaign_cmd(
    model: Annotated[
        str, typer.Option(help="Model family: lr, fm, deepfm, dcn_v2, dlrm, finalmlp.")
    ],
    data: Annotated[str, typer.Option(help="Data reference, e.g. synthetic:interaction-heavy.")],
    budget: Annotated[float, typer.Option(help="Trainer-seconds per arm and repeat.")],
    arms: Annotated[str, typer.Option(help=f"Comma-separated, of: {', '.join(ARMS)}.")] = (
        "agent,tpe,random"
    ),
    repeats: Annotated[
        int, typer.Option(help="Repeats (data/split seed and sampler seed + r).")
    ] = 1,
    baseline: Annotated[Path | None, typer.Option(help="The baseline config (JSON file).")] = None,
    transfer_from: Annotated[
        str | None,
        typer.Option(help="Memory transfer: arm agent-transfer first runs a campaign on this REF."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output dir (default: $REA_HOME/bench/<time>).")
    ] = None,
    eval_seeds: Annotated[
        str, typer.Option(help="Seeds of the final retraining of each arm's pick.")
    ] = ",".join(map(str, EVAL_SEEDS)),
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON object.")] = False,
) -> None:
    """Run each arm from the same baseline with the same budget, data and split; report each
    arm's gain over the baseline, paired comparisons with the TPE arm, and a curve plot."""
    from .bench_campaign import BenchSpec, run_bench  # (the other commands start without it)

    try:
        spec = BenchSpec(
            model=model,
            data=data,
            budget=budget,
            arms=tuple(a.strip() for a in arms.split(",") if a.strip()),
            repeats=repeats,
            out=out or Settings().home / "bench" / time.strftime("%Y%m%d-%H%M%S"),
            baseline=_baseline(baseline),
            transfer_from=transfer_from,
            eval_seeds=_seeds(eval_seeds),
            command=_command(model, data, budget, arms, repeats, baseline, transfer_from),
        )
        result = run_bench(
            spec, progress=lambda line: console.print(f"  · {line}", markup=False, highlight=False)
        )
    except ReaError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    _print_table(result, Console(stderr=as_json))
    if as_json:
        print(json.dumps(result, indent=2, default=str))


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "—" if value is None else format(value, spec)


def _print_table(result: dict[str, Any], con: Console) -> None:
    table = Table(title=f"{result['model']} on {result['data']} · {result['budget_seconds']:g} s")
    for col in ("arm", "NE gain % (test)", "val gain %", "best val NE", "test AUC", "trials"):
        table.add_column(col)
    table.add_column("budget to target (s)")
    for arm, row in result["arms"].items():
        btt, gain = row["budget_to_target"], row["ne_gain_pct"]
        short = (
            f" ({gain['n']}/{result['repeats']} repeats)" if gain["n"] < result["repeats"] else ""
        )
        table.add_row(
            arm,
            _fmt(gain["mean"], "+.2f") + short,
            _fmt(row["val_ne_gain_pct"]["mean"], "+.2f"),
            _fmt(row["best_val_ne"]["mean"], ".4f"),
            _fmt(row["test_auc"]["mean"], ".4f"),
            _fmt(row["trials"]["mean"], ".1f"),
            f"{_fmt(btt['mean'], '.0f')} ({btt['reached']}/{result['repeats']} reached)",
        )
    con.print(table)
    for rep in result["repeats_detail"]:
        for arm, row in rep["arms"].items():
            for bad in row.get("retrain_rejected", []):
                con.print(
                    f"repeat {rep['repeat']}: {arm}'s pick {bad['label']} failed to retrain "
                    f"({bad['failure']}); its next best was retrained instead"
                )
            if row["pick"] and row.get("eval_failure"):
                con.print(
                    f"repeat {rep['repeat']}: no test gain for {arm}: no config of its "
                    f"{1 + len(row.get('retrain_rejected', []))} best retrained "
                    f"({row['eval_failure']})"
                )
    for name, comp in result["comparisons"].items():
        test = comp["test_ne_gain_pct"]
        ci = test["ci95"]
        span = f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "(n < 2)"
        con.print(f"{name}: test NE gain diff {_fmt(test['mean_diff'], '+.2f')} pts, 95% CI {span}")
    for arm, t in result["targets"].items():
        con.print(
            f"{arm} targets: gain >= 1.5x {REFERENCE}: {t['gain_target_met']} "
            f"(ratio {_fmt(t['gain_ratio'], '.2f')}); {REFERENCE}'s final with <= half the budget: "
            f"{t['half_budget_met']}"
        )
    con.print(f"plot: {result['plot']} · details: {result['out_dir']}/bench.json")
