"""`rea run`, `rea resume`, `rea status`, `rea approve`: campaigns from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rea.graph.runner import Pending
from rea.graph.summary import campaign_summary

from .campaigns import open_runner
from .progress import LiveProgress
from .settings import Settings

console = Console(stderr=True)
FAULT_HELP = "Inject a failure: PHASE:INDEX:KIND (e.g. validation:0:oom) or a JSON object."


def yes_approver(p: Pending) -> dict[str, Any]:
    """--yes: approve the plan and the launch proposal; never raise the budget; an escalated
    failure drops its experiment (nothing needs a human to finish the campaign)."""
    if p.kind in ("plan", "launch"):
        return {"decisions": [{"type": "approve"}]}
    why = "--yes never raises the budget" if p.kind == "budget" else "--yes drops escalated work"
    return {"decisions": [{"type": "reject", "message": why}]}


def ask_approver(p: Pending) -> dict[str, Any] | None:
    """Ask on the terminal; without one, leave the approval pending (answer it later with
    `rea approve`)."""
    action = p.payload["action_requests"][0]
    console.print(f"\n[bold]{p.kind} approval[/bold] ({p.approval_id})\n{action['description']}")
    if not sys.stdin.isatty():
        return None
    answer = typer.prompt("approve / reject / edit", default="approve").strip().lower()
    if answer.startswith("r"):
        return {"decisions": [{"type": "reject", "message": typer.prompt("why", default="")}]}
    if answer.startswith("e"):
        args = json.loads(typer.prompt("edited args (JSON)", default=json.dumps(action["args"])))
        return {
            "decisions": [{"type": "edit", "edited_action": {"name": action["name"], "args": args}}]
        }
    return {"decisions": [{"type": "approve"}]}


def parse_fault(text: str) -> dict[str, Any]:
    if text.lstrip().startswith("{"):
        return json.loads(text)
    phase, index, kind = text.split(":")
    return {"phase": phase, "index": int(index), "fault": {"kind": kind}}


def run_cmd(
    model: Annotated[
        str, typer.Option(help="Model family: lr, fm, deepfm, dcn_v2, dlrm, finalmlp.")
    ],
    data: Annotated[str, typer.Option(help="Data reference, e.g. synthetic:interaction-heavy.")],
    budget: Annotated[float, typer.Option(help="Compute budget in trainer-seconds.")],
    baseline: Annotated[Path | None, typer.Option(help="The current config (JSON file).")] = None,
    goal: Annotated[str | None, typer.Option(help="What the engineer wants, in words.")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Approve the plan and launch proposal.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON summary.")] = False,
    inject_fault: Annotated[list[str], typer.Option(help=FAULT_HELP)] = [],  # noqa: B006
) -> None:
    """Run one whole campaign in this process (embedded defaults: no server, no API key)."""
    settings = Settings()
    config = json.loads(baseline.read_text()) if baseline else None
    with open_runner(settings) as runner:
        cid = runner.start(
            model,
            data,
            budget,
            baseline=config,
            goal=goal,
            faults=[parse_fault(f) for f in inject_fault],
        )
        console.print(f"campaign {cid} started (REA_HOME={settings.home})")
        _drive(runner, cid, yes, as_json)


def resume_cmd(
    campaign_id: Annotated[str, typer.Argument(help="The campaign to continue.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Approve the plan and launch proposal.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON summary.")] = False,
) -> None:
    """Continue a campaign from its checkpoint (after a restart, or after `rea approve`)."""
    with open_runner(Settings()) as runner:
        _drive(runner, campaign_id, yes, as_json)


def approve_cmd(
    approval_id: Annotated[str, typer.Argument(help="The pending approval (see `rea status`).")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approving.")] = False,
    message: Annotated[str | None, typer.Option(help="Why (with --reject).")] = None,
    edit: Annotated[str | None, typer.Option(help="Edited action args as JSON.")] = None,
) -> None:
    """Answer a pending approval; `rea resume CAMPAIGN` then carries on."""
    with open_runner(Settings()) as runner:
        approval = runner.services.store.get_approval(approval_id)
        if reject:
            decision: dict[str, Any] = {"type": "reject", "message": message}
        elif edit:
            name = approval.request.get("action", _action_name(approval.kind))
            decision = {"type": "edit", "edited_action": {"name": name, "args": json.loads(edit)}}
        else:
            decision = {"type": "approve"}
        runner.decide(approval_id, {"decisions": [decision]})
        console.print(
            f"{approval_id}: {decision['type']}; continue with `rea resume {approval.campaign_id}`"
        )


def status_cmd(
    campaign_id: Annotated[str | None, typer.Argument(help="One campaign (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Campaigns, their status and what they wait on."""
    with open_runner(Settings()) as runner:
        store = runner.services.store
        rows = [store.get_campaign(campaign_id)] if campaign_id else store.list_campaigns()
        out = []
        for c in rows:
            waiting = runner.pending(c.thread_id) if c.thread_id else []
            out.append(
                {
                    "campaign_id": c.id,
                    "status": c.status,
                    "phase": c.phase,
                    "model": c.model,
                    "data": c.data,
                    "budget": store.budget_status(c.id).model_dump(
                        include={"approved_seconds", "charged_seconds", "remaining_seconds"}
                    ),
                    "waiting_on": [p.approval_id or {"jobs": p.job_ids} for p in waiting],
                }
            )
        if as_json:
            print(json.dumps(out, indent=2, default=str))
        else:
            for row in out:
                Console().print(
                    f"{row['campaign_id']}  {row['status']:<18} {row['phase'] or '':<13} {row['model']}  {row['data']}  waiting on {row['waiting_on']}"
                )


def report_cmd(
    campaign_id: Annotated[str, typer.Argument(help="The campaign.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The summary instead of the report.")
    ] = False,
) -> None:
    """Print a campaign's report (markdown), or its JSON summary."""
    with open_runner(Settings()) as runner:
        state = runner.state(runner.thread_of(campaign_id))
        if as_json:
            print(
                json.dumps(
                    campaign_summary(runner.services.store, campaign_id, state),
                    indent=2,
                    default=str,
                )
            )
            return
        path = state.get("report_path")
        if not path or not Path(path).exists():
            console.print(
                f"campaign {campaign_id} has no report yet (status {runner.services.store.get_campaign(campaign_id).status})"
            )
            raise typer.Exit(1)
        print(Path(path).read_text())


def _action_name(kind: str) -> str:
    return {
        "plan": "approve_plan",
        "budget": "raise_budget",
        "escalation": "retry_job",
        "launch": "approve_launch",
    }[kind]


def _drive(runner: Any, cid: str, yes: bool, as_json: bool) -> None:
    approver = yes_approver if yes else ask_approver
    with LiveProgress(runner, cid, console) as live:
        status = runner.drive(cid, approver, progress=live.line, tick=live.tick)
    summary = campaign_summary(runner.services.store, cid, runner.state(runner.thread_of(cid)))
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_summary(summary)
    if status == "awaiting_approval":
        console.print(
            f"waiting for a decision: `rea status {cid}`, `rea approve ID`, `rea resume {cid}`"
        )


def _print_summary(s: dict[str, Any]) -> None:
    base, best = s["baseline"], s["best"]
    con = Console()
    con.print(
        f"[bold]{s['campaign_id']}[/bold] {s['status']} · budget {s['budget_used_seconds']:.0f}/{s['budget_seconds']:.0f} trainer-s · {s['trials']} experiments · {s['failures']} failed jobs"
    )
    if base.get("val_ne") is not None:
        con.print(
            f"baseline val NE {base['val_ne']:.4f}  →  best {best['val_ne']:.4f} ({s['ne_gain_pct']:+.2f}%)  delta {best['config_delta']}"
        )
        con.print(f"test NE {base['test_ne']:.4f} → {best['test_ne']:.4f}")
    for v in s["validated"]:
        con.print(f"  validated [{v['source']}] {v['title']}")
    if s.get("report_path"):
        con.print(f"report: {s['report_path']}")
