"""`rea chat`: talk to the agent of a running service (`rea serve`) from the terminal.

Each line is POSTed to `/v1/threads/{thread}/messages`; the answer is a server-sent event stream
(`message`, then the campaign's `progress`, `status` and `approval` events until `done`), printed
as it arrives. `--once TEXT` sends one message and exits (scripts, tests). The API token, when
the service has one, comes from REA_API_TOKEN.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.text import Text

DEFAULT_URL = "http://127.0.0.1:8000"
QUIT = {"exit", "quit", ":q", "bye"}

console = Console(highlight=False, soft_wrap=True)  # long lines stay whole (copy-paste)


class ChatConnectionError(Exception):
    """Nothing answers at the service URL."""


def chat_cmd(
    url: Annotated[str, typer.Option(help="The REA service (`rea serve`).")] = DEFAULT_URL,
    thread: Annotated[
        str | None, typer.Option(help="The chat thread to continue (default: a new one).")
    ] = None,
    once: Annotated[
        str | None, typer.Option("--once", help="Send this one message, print the answer, exit.")
    ] = None,
    follow: Annotated[
        float, typer.Option(help="Seconds to stream a campaign's progress after each answer.")
    ] = 300.0,
) -> None:
    """Chat with the agent: start, ask about, steer and approve campaigns."""
    thread_id = thread or f"cli-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=url.rstrip("/"), headers=_headers(), timeout=_TIMEOUT) as client:
        try:
            if once is not None:
                if not send(client, thread_id, once, follow):
                    raise typer.Exit(1)
                return
            _repl(client, thread_id, follow)
        except ChatConnectionError:
            console.print(
                f"[red]error:[/red] nothing answers at {url}: start the service with "
                "`rea serve` (or pass --url)"
            )
            raise typer.Exit(1) from None


def send(client: httpx.Client, thread_id: str, text: str, follow: float) -> bool:
    """Send one message and print its event stream; False when the service refused it."""
    body = {"content": text, "follow_seconds": follow}
    try:
        with client.stream("POST", f"/v1/threads/{thread_id}/messages", json=body) as resp:
            if resp.status_code != 200:
                resp.read()
                console.print(f"[red]error:[/red] {_problem(resp)}")
                return False
            for event, data in iter_sse(resp.iter_lines()):
                render(event, data)
    except (httpx.ConnectError, httpx.ConnectTimeout):
        raise ChatConnectionError from None
    except httpx.HTTPError as err:  # the stream broke off: say so, keep the REPL alive
        console.print(f"[red]error:[/red] the stream stopped ({type(err).__name__}: {err})")
        return False
    return True


def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a text/event-stream; data is JSON (else {"text": raw})."""
    event, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield event, _json(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue  # a comment / keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, _json(data)


def render(event: str, data: dict[str, Any]) -> None:
    """Print one event: the agent's answer, a progress line, a status change, an approval."""
    if event == "message":
        console.print(Text("rea> ", style="bold cyan"), end="")
        console.print(Text(str(data.get("content", data.get("text", "")))))
    elif event == "progress":
        console.print(Text(f"  · {data.get('line', '')}", style="dim"))
    elif event == "status":
        console.print(Text(f"  {_status_line(data)}", style="dim"))
    elif event == "approval":
        aid, kind = data.get("approval_id"), data.get("kind")
        console.print(
            Text(
                f"  ⏸ waiting on your {kind} approval ({aid}): `approvals` shows it; "
                "`approve` or `reject … because …`",
                style="yellow",
            )
        )
    # `done` (and anything unknown) prints nothing: the stream ends


# --- internals ----------------------------------------------------------------------------
_TIMEOUT = httpx.Timeout(10.0, read=None)  # a followed stream may be quiet for a long time


def _repl(client: httpx.Client, thread_id: str, follow: float) -> None:
    console.print(
        f"REA chat — thread {thread_id} (continue later with `rea chat --thread {thread_id}`). "
        "Type `help`; Ctrl-D to leave.",
        style="dim",
    )
    while True:
        try:
            text = console.input("[bold]you> [/bold]").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not text:
            continue
        if text.lower() in QUIT:
            return
        try:
            send(client, thread_id, text, follow)
        except KeyboardInterrupt:
            console.print("(stopped following; the campaign keeps running)", style="dim")


def _headers() -> dict[str, str]:
    token = os.environ.get("REA_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _problem(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail", resp.text)
    except ValueError:
        detail = resp.text[:300]
    if resp.status_code == 401:
        return f"{detail} (set REA_API_TOKEN to the service's token)"
    return f"{detail} (HTTP {resp.status_code})"


def _json(data: list[str]) -> dict[str, Any]:
    raw = "\n".join(data)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {"text": raw}
    return value if isinstance(value, dict) else {"text": raw}


def _status_line(data: dict[str, Any]) -> str:
    parts = [str(data.get("status"))]
    if data.get("phase"):
        parts.append(f"phase {data['phase']}")
    if data.get("budget_used_seconds") is not None:
        parts.append(f"{float(data['budget_used_seconds']):.1f} trainer-s used")
    if data.get("best_val_ne") is not None:
        parts.append(f"best val NE {float(data['best_val_ne']):.4f}")
    return "status: " + " · ".join(parts)
