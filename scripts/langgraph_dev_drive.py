"""Drive one tiny REA campaign through a running `langgraph dev` server over HTTP, as Studio or
Agent Chat UI would, and print what happened as JSON (scripts/check_langgraph_dev.sh runs it).

    python scripts/langgraph_dev_drive.py http://127.0.0.1:PORT SECRET

Steps: create a thread; start a run of "campaign"; see it pause on the job wait; the local jobs
call back through the mounted webhook, which resumes the thread; see the plan approval (HITL
request shape); send a chat line meanwhile (the thread must still wait on the same approval);
approve; follow to the end, approving the launch proposal — and, like `rea run --yes`,
declining budget increases and escalated retries. Exits 1 when a check fails.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import httpx
from langgraph_sdk import get_sync_client

from rea.trainers.events import SIGNATURE_HEADER, sign

GRAPH = "campaign"
CAMPAIGN = {
    "model": "dcn_v2",
    "data": "synthetic:tiny?rows=3000&seed=0",
    "budget_seconds": float(os.environ.get("REA_CHECK_BUDGET", "60")),
    "baseline": {"epochs": 1},
}
TIMEOUT_S = 480
MAX_APPROVALS = 10


def main(url: str, secret: str) -> int:
    client = get_sync_client(url=url, api_key=None)
    report: dict[str, Any] = {"url": url, "campaign": CAMPAIGN, "checks": {}}
    checks = report["checks"]
    t0 = time.monotonic()

    def at() -> float:
        return round(time.monotonic() - t0, 1)

    checks["webhook_rejects_unsigned"] = _post_event(url, None) == 401
    checks["webhook_404_unknown_job"] = _post_event(url, secret) == 404
    thread_id = client.threads.create()["thread_id"]
    run = client.runs.create(thread_id, GRAPH, input=CAMPAIGN)
    client.runs.join(thread_id, run["run_id"])
    first = _interrupts(client.threads.get(thread_id))
    report["first_pause"] = {"at_s": at(), "interrupts": first}
    checks["paused_on_job_wait"] = bool(first) and first[0]["value"].get("type") == "job_wait"

    plan = _wait_for_approval(client, thread_id, "plan")
    report["plan_approval"] = {"at_s": at(), "interrupt": plan}
    value = plan["value"] if plan else {}
    checks["plan_is_hitl_request"] = bool(
        value.get("action_requests") and value.get("review_configs")
    )

    chat = client.runs.create(
        thread_id, GRAPH, input={"messages": [{"role": "user", "content": "status?"}]}
    )
    client.runs.join(thread_id, chat["run_id"])
    after_chat = _interrupts(client.threads.get(thread_id))
    again = after_chat[0] if after_chat else {"value": {}}
    # The chat line restarted the thread at `start`, which re-entered approve_plan: the same
    # approval, raised again under a new interrupt id (answer that one).
    checks["chat_rejoins_approval"] = again["value"].get("approval_id") == value.get("approval_id")
    report["chat_reply"] = _ai_messages(client, thread_id)[-1:]
    report["interrupt_id_after_chat"] = {"before": plan and plan["id"], "after": again.get("id")}

    approvals = []
    pending = again if after_chat else None
    while pending is not None and len(approvals) < MAX_APPROVALS:
        kind = pending["value"].get("kind")
        decision = "approve" if kind in ("plan", "launch") else "reject"
        approvals.append({"kind": kind, "decision": decision, "at_s": at()})
        answer = {pending["id"]: {"decisions": [{"type": decision}]}}
        resumed = client.runs.create(thread_id, GRAPH, command={"resume": answer})
        client.runs.join(thread_id, resumed["run_id"])
        pending = _wait_for_approval(client, thread_id, None)
    final = client.threads.get(thread_id)
    values = final.get("values") or {}
    report["approvals"] = approvals
    report["end"] = {
        "at_s": at(),
        "thread_status": final.get("status"),
        "campaign_id": values.get("campaign_id"),
        "status": values.get("status"),
        "phase": values.get("phase"),
        "report_path": values.get("report_path"),
        "messages": len(values.get("messages") or []),
    }
    report["deliveries"] = _deliveries(url)
    # The sweeper reads result.json each second, so it may wake a thread before the callback
    # does; over a whole campaign the webhook must still have woken it at least once.
    checks["woken_by_webhook"] = report["deliveries"].get("webhook:resumed", 0) > 0
    report["ai_messages"] = _ai_messages(client, thread_id)
    checks["completed"] = values.get("status") == "completed"
    checks["launch_approved"] = any(a["kind"] == "launch" for a in approvals)
    print(json.dumps(report, indent=1, default=str))
    return 0 if all(checks.values()) else 1


def _interrupts(thread: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for items in (thread.get("interrupts") or {}).values() for i in items]


def _wait_for_approval(client: Any, thread_id: str, kind: str | None) -> dict[str, Any] | None:
    """The next pending approval (of `kind`, if given); None when the thread has ended."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        thread = client.threads.get(thread_id)
        for item in _interrupts(thread):
            value = item["value"]
            if value.get("type") == "approval" and kind in (None, value.get("kind")):
                return item
        if thread["status"] in ("idle", "error") and not _interrupts(thread):
            return None
        time.sleep(0.5)
    raise TimeoutError(f"no {kind or 'further'} approval within {TIMEOUT_S} s")


def _ai_messages(client: Any, thread_id: str) -> list[str]:
    values = client.threads.get(thread_id).get("values") or {}
    return [m["content"] for m in values.get("messages") or [] if m.get("type") == "ai"]


def _deliveries(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/rea/healthz", timeout=10).json()["deliveries"]


def _post_event(url: str, secret: str | None) -> int:
    """POST a well-formed event for a job nobody launched, signed with `secret` (or not)."""
    event = {"job_id": "j-nobody", "attempt": 1, "seq": 1, "kind": "started", "at": "2026-01-01"}
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    response = httpx.post(f"{url}/v1/jobs/j-nobody/events", content=body, headers=headers)
    return response.status_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
