"""The `rea` command line. Errors are one clear line plus what to do, not a traceback."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rea.trainers.config import apply_delta, config_json_schema, default_config
from rea.trainers.errors import ReaError
from rea.trainers.events import JobSpec

from .bench_cli import bench_app
from .chat_cli import chat_cmd
from .memory_cli import insights_app, research_app
from .run_cli import approve_cmd, report_cmd, resume_cmd, run_cmd, status_cmd
from .serve_cli import serve_cmd
from .settings import Settings

app = typer.Typer(
    name="rea",
    help="REA — a Ranking Engineer Agent for CTR ranking models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)


app.add_typer(insights_app, name="insights")
app.add_typer(research_app, name="research")
app.add_typer(bench_app, name="bench")
app.command("run")(run_cmd)
app.command("resume")(resume_cmd)
app.command("approve")(approve_cmd)
app.command("status")(status_cmd)
app.command("report")(report_cmd)
app.command("serve")(serve_cmd)
app.command("chat")(chat_cmd)


@app.callback()
def _root() -> None:
    """REA — a Ranking Engineer Agent for CTR ranking models."""


def _fail(message: str, hint: str = "") -> None:
    console.print(f"[red]error:[/red] {message}" + (f"\n[dim]{hint}[/dim]" if hint else ""))
    raise typer.Exit(2)


def _parse_set(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values parsed as JSON when they can be (numbers, lists, null)."""
    delta: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--set {item!r} is not key=value", "e.g. --set lr=0.003 --set mlp_dims=[128,64]")
        try:
            delta[key] = json.loads(value)
        except json.JSONDecodeError:
            delta[key] = value
    return delta


def _spec_from_options(
    model: str, data: str, sets: list[str], seeds: str, max_seconds: float, settings: Settings
) -> JobSpec:
    config = apply_delta(default_config(model), _parse_set(sets))
    job_id = f"train-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    return JobSpec(
        job_id=job_id,
        campaign_id="adhoc",
        config=config.model_dump(),
        data=data,
        seed=seed_list[0],
        seeds=seed_list if len(seed_list) > 1 else None,
        max_seconds=max_seconds,
        output_dir=str((settings.jobs_dir / job_id).resolve()),
    )


def _summary(result_path: Path) -> None:
    event = json.loads(result_path.read_text())
    if event["kind"] != "succeeded":
        f = event["failure"]
        _fail(f"job failed ({f['kind']}): {f['message']}", f"log: {result_path.parent}/train.log")
    res = event["result"]
    m, bayes = res["metrics"], res.get("bayes", {})
    table = Table(title=f"{res['config']['model']} — seeds {res['seeds']}")
    for col in ("split", "NE", "AUC", "logloss", "calibration"):
        table.add_column(col)
    for split in ("val", "test"):
        if f"{split}_ne" in m:
            table.add_row(
                split,
                *(f"{m[f'{split}_{k}']:.4f}" for k in ("ne", "auc", "logloss", "calibration")),
            )
        if f"{split}_ne" in bayes:
            table.add_row(
                f"{split} (Bayes-optimal)",
                *(f"{bayes[f'{split}_{k}']:.4f}" for k in ("ne", "auc", "logloss", "calibration")),
            )
    Console().print(table)
    Console().print(
        f"trainer-seconds {res['trainer_seconds']:.1f} · {res['samples_per_sec']:,.0f} samples/s · "
        f"peak memory {res['peak_memory_mb']:.0f} MB · output {result_path.parent}"
    )


@app.command("train")
def train_cmd(
    spec_path: Annotated[Path | None, typer.Argument(help="A JobSpec JSON file.")] = None,
    model: Annotated[str | None, typer.Option(help="Without SPEC: model family.")] = None,
    data: Annotated[
        str, typer.Option(help="Without SPEC: data reference.")
    ] = "synthetic:criteo-like",
    set_: Annotated[list[str], typer.Option("--set", help="Config key=value (repeatable).")] = [],  # noqa: B006
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    max_seconds: Annotated[float, typer.Option(help="Hard time limit of the job.")] = 600.0,
    schema: Annotated[bool, typer.Option("--schema", help="Print the config JSON Schema.")] = False,
) -> None:
    """Run one training job: from a JobSpec file (what every backend executes), or ad hoc."""
    from rea.trainers.job import load_spec, run_job

    if schema:
        print(json.dumps(config_json_schema(), indent=2))
        return
    try:
        if spec_path is not None:
            raise typer.Exit(run_job(load_spec(spec_path)))
        if model is None:
            _fail(
                "give a SPEC.json or --model", "e.g. rea train --model dcn_v2 --data synthetic:tiny"
            )
        spec = _spec_from_options(model, data, set_, seeds, max_seconds, Settings())
    except ReaError as err:
        _fail(str(err))
    run_job(spec)
    _summary(Path(spec.output_dir) / "result.json")


def main() -> None:
    try:
        app()
    except ReaError as err:
        console.print(f"[red]error:[/red] {err}")
        sys.exit(2)


if __name__ == "__main__":
    main()
