"""`rea insights …` and `rea research …`: look into and feed the agent's memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .memory_wiring import open_memory
from .settings import Settings

insights_app = typer.Typer(help="The historical-insight memory.", no_args_is_help=True)
research_app = typer.Typer(help="The research library of technique cards.", no_args_is_help=True)
out = Console()


def _print_json(items: list) -> None:
    print(json.dumps([i.model_dump(mode="json") for i in items], indent=2))


@insights_app.command("search")
def insights_search(
    text: str,
    model: Annotated[
        str | None, typer.Option(help="Only insights about this model family.")
    ] = None,
    k: Annotated[int, typer.Option(help="How many.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Insights relevant to TEXT, ranked by similarity and strength of evidence."""
    hits = open_memory(Settings()).insights.search(text, model=model, k=k)
    if as_json:
        return _print_json(hits)
    table = Table("score", "outcome", "statement", "conflicts")
    for h in hits:
        table.add_row(
            f"{h.score:.3f}", h.insight.outcome, h.insight.statement, str(len(h.conflicts))
        )
    out.print(table)


@insights_app.command("import")
def insights_import(
    optuna_storage: Annotated[str | None, typer.Option(help="Optuna storage URL.")] = None,
    study: Annotated[str | None, typer.Option(help="Optuna study name.")] = None,
    table: Annotated[Path | None, typer.Option(help="CSV or JSONL file of past runs.")] = None,
    metric: Annotated[
        str | None, typer.Option(help="Objective column (default: detected).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model family the runs trained.")] = None,
) -> None:
    """Import a team's past experiments (an Optuna study or a table of runs) as insights."""
    from rea.memory import import_into, import_optuna, import_table

    if (optuna_storage is None) == (table is None) or (optuna_storage and not study):
        raise typer.BadParameter("give either --optuna-storage URL --study NAME, or --table PATH")
    if optuna_storage:
        result = import_optuna(optuna_storage, study, metric=metric, model=model)
    else:
        result = import_table(table, metric=metric, model=model)
    mem = open_memory(Settings())
    campaign_id = import_into(mem.store, mem.insights, result)
    out.print(
        f"imported {len(result.runs)} runs and {len(result.insights)} insights "
        f"as campaign {campaign_id}" + "".join(f"\nwarning: {w}" for w in result.warnings)
    )


@research_app.command("list")
def research_list(
    model: Annotated[str | None, typer.Option(help="Only cards for this model family.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every technique card (id, title, citation, config delta)."""
    from rea.memory import load_cards

    cards = [c for c in load_cards() if model is None or c.applies_to(model)]
    if as_json:
        return _print_json(cards)
    table = Table("id", "title", "citation", "delta")
    for c in cards:
        table.add_row(c.id, c.title, c.citation.short(), json.dumps(c.delta))
    out.print(table)


@research_app.command("search")
def research_search(
    text: str,
    model: Annotated[str | None, typer.Option(help="Only cards for this model family.")] = None,
    k: Annotated[int, typer.Option(help="How many.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Technique cards relevant to TEXT."""
    hits = open_memory(Settings()).research.search(text, model=model, k=k)
    if as_json:
        return _print_json(hits)
    for h in hits:
        out.print(f"{h.score:.3f}  {h.card.id}: {h.card.title} — {json.dumps(h.card.delta)}")
