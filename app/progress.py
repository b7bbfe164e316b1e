"""`rea run`'s live progress: phase, jobs, best NE so far and a budget bar, redrawn in place on a
terminal; plain progress lines otherwise (logs, CI)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rea.graph.runner import CampaignRunner
from rea.tools.journal import load_runs


def snapshot(runner: CampaignRunner, campaign_id: str) -> dict[str, Any]:
    """What the live view shows, read from the store (cheap: a few queries)."""
    store = runner.services.store
    campaign = store.get_campaign(campaign_id)
    budget = store.budget_status(campaign_id)
    running = store.list_jobs(campaign_id, states=("queued", "running"))
    runs = load_runs(store, campaign_id)
    base = next((r for r in runs if r.phase == "baseline"), None)
    comparable = [r for r in runs if base and len(r.seeds) >= len(base.seeds)] or runs
    best = min(comparable, key=lambda r: r.metrics.get("val_ne", float("inf")), default=None)
    gain = None
    if base and best:
        gain = 100.0 * (base.metrics["val_ne"] - best.metrics["val_ne"]) / base.metrics["val_ne"]
    return {
        "status": campaign.status,
        "phase": campaign.phase or "baseline",
        "jobs": [j.job_id.removeprefix(f"{campaign_id}-") for j in running],
        "finished": len(runs),
        "base_ne": base.metrics.get("val_ne") if base else None,
        "best_ne": best.metrics.get("val_ne") if best else None,
        "gain_pct": gain,
        "used": budget.charged_seconds,
        "reserved": budget.reserved_seconds,
        "approved": budget.approved_seconds,
    }


def render(campaign_id: str, s: dict[str, Any]) -> Group:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    table.add_row("campaign", f"[bold]{campaign_id}[/bold]  {s['status']} · phase {s['phase']}")
    jobs = ", ".join(s["jobs"][:4]) + (" …" if len(s["jobs"]) > 4 else "")
    table.add_row("jobs", f"{len(s['jobs'])} running/queued {jobs}".rstrip())
    if s["best_ne"] is not None:
        gain = ""
        if s["gain_pct"] is not None and s["best_ne"] != s["base_ne"]:
            gain = f" ({s['gain_pct']:+.2f}% vs baseline {s['base_ne']:.4f})"
        table.add_row("best val NE", f"{s['best_ne']:.4f}{gain} · {s['finished']} runs done")
    else:
        table.add_row("best val NE", "— (baseline running)")
    table.add_row("budget", budget_bar(s["used"], s["reserved"], s["approved"]))
    return Group(table)


def budget_bar(used: float, reserved: float, approved: float, width: int = 30) -> Text:
    """`███▒▒░░░ 26/40 trainer-s used, 6 reserved`: charged, reserved by running jobs, free."""
    total = max(approved, 1e-9)
    full = min(width, round(width * used / total))
    held = min(width - full, round(width * reserved / total))
    bar = Text("█" * full, style="green") + Text("▒" * held, style="yellow")
    bar += Text("░" * (width - full - held), style="dim")
    return bar + Text(f" {used:.0f}/{approved:.0f} trainer-s used, {reserved:.0f} reserved")


class LiveProgress:
    """Progress lines above a live status block (terminal), or just the lines (not a terminal)."""

    def __init__(self, runner: CampaignRunner, campaign_id: str, console: Console):
        self.runner, self.campaign_id, self.console = runner, campaign_id, console
        self.live: Live | None = None
        self._last = 0.0

    def __enter__(self) -> LiveProgress:
        if self.console.is_terminal:
            self.live = Live(console=self.console, refresh_per_second=4, transient=True)
            self.live.__enter__()
            self.tick(force=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def line(self, text: str) -> None:
        self.console.print(f"  · {text}")
        self.tick(force=True)

    def tick(self, force: bool = False) -> None:
        if self.live is None or (not force and time.monotonic() - self._last < 0.5):
            return
        self._last = time.monotonic()
        self.live.update(render(self.campaign_id, snapshot(self.runner, self.campaign_id)))
