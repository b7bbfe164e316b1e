"""`rea serve`: run the service (webhook, API, chat, web UI) with uvicorn."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console

from rea.trainers.errors import ReaError

from .settings import Settings

console = Console(stderr=True)


def serve_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Serve the API, the job webhook, chat and the web UI (open http://HOST:PORT/)."""
    import uvicorn

    from .service import check_exposure, create_app

    settings = Settings()
    try:
        check_exposure(host, settings)
    except ReaError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    console.print(f"REA on http://{host}:{port}/ (REA_HOME={settings.home.resolve()})")
    uvicorn.run(
        create_app(settings, port=port),
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=10,
    )
