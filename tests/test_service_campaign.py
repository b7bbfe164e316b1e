"""Whole campaigns through the service on loopback: created over HTTP, local jobs calling back
through the signed webhook, approvals over HTTP — and the same with `rea serve` SIGKILLed at
random points several times: it finishes, no job is launched twice, no event is lost, and the
budget holds."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import httpx
import pytest
from service_helpers import (
    DATA,
    SECRET,
    WEAK,
    ServeProcess,
    ThreadServer,
    free_port,
    wait_for,
)

from rea.app.settings import Settings
from rea.memory import ExperimentStore

pytestmark = pytest.mark.slow
BUDGET = 60.0


def _get(url: str) -> dict | None:
    try:
        r = httpx.get(url, timeout=10)
    except httpx.HTTPError:
        return None  # the service is down (being restarted)
    return r.json() if r.status_code == 200 else None


def _answer_pending(base: str, cid: str) -> int:
    """Approve the plan and the launch proposal, decline extra budget; how many were answered."""
    listing = _get(f"{base}/v1/approvals?campaign_id={cid}")
    answered = 0
    for a in (listing or {}).get("approvals", []):
        decision = "reject" if a["kind"] in ("budget", "escalation") else "approve"
        try:
            r = httpx.post(
                f"{base}/v1/approvals/{a['approval_id']}", json={"decision": decision}, timeout=10
            )
        except httpx.HTTPError:
            continue
        answered += r.status_code == 202
    return answered


def _check_journal(home: Path, cid: str, budget: float) -> dict:
    """No job launched twice; every event each job wrote is in the store exactly once."""
    store = ExperimentStore(f"sqlite:///{home / 'rea.sqlite'}")
    jobs = store.list_jobs(cid)
    spawned = (home / "jobs" / "submissions.log").read_text().split()
    spawned_ids = spawned[0::3]
    assert len(spawned_ids) == len(set(spawned_ids)), "a job was spawned twice"
    assert {j.job_id for j in jobs} >= set(spawned_ids)
    stored_total = 0
    for job in jobs:
        events_file = home / "jobs" / job.job_id / "events.jsonl"
        if not events_file.exists():
            continue
        written = [json.loads(line) for line in events_file.read_text().splitlines()]
        stored = store.list_events(job.job_id)
        keys = [(e.attempt, e.seq) for e in stored]
        assert len(keys) == len(set(keys))
        assert {(e["attempt"], e["seq"]) for e in written} <= set(keys), job.job_id
        stored_total += len(stored)
    status = store.budget_status(cid)
    assert status.charged_seconds <= budget + 1e-6
    assert status.approved_seconds == budget  # nobody raised it
    return {"jobs": len(jobs), "events": stored_total}


def test_campaign_over_http_with_signed_callbacks(tmp_path):
    home = tmp_path / "home"
    settings = Settings(home=home, brain="offline", webhook_secret=SECRET)
    with ThreadServer(settings) as srv:
        r = httpx.post(
            f"{srv.url}/v1/campaigns",
            json={"model": "dcn_v2", "data": DATA, "budget_seconds": BUDGET, "baseline": WEAK},
        )
        assert r.status_code == 201, r.text
        cid = r.json()["campaign_id"]

        def finished() -> dict | None:
            _answer_pending(srv.url, cid)
            view = _get(f"{srv.url}/v1/campaigns/{cid}")
            return view if view and view["status"] in ("completed", "failed") else None

        view = wait_for(finished, 400, "the campaign to finish", interval=0.5)
        assert view["status"] == "completed", view["notes"]
        assert view["launch_decision"] == "approved"
        assert view["best"]["val_ne"] is not None and view["trials"] >= 1
        counts = _check_journal(home, cid, BUDGET)
        store = srv.service.runner.services.store
        kinds = {e.kind for j in store.list_jobs(cid) for e in store.list_events(j.job_id)}
        assert "started" in kinds  # non-final events only arrive through the webhook
        assert counts["events"] > counts["jobs"]
        trials = httpx.get(f"{srv.url}/v1/campaigns/{cid}/trials").json()
        assert trials["baseline"] and len(trials["trials"]) == view["trials"] + 1
        report = httpx.get(f"{srv.url}/v1/campaigns/{cid}/report").json()
        assert f"# Campaign {cid}" in report["markdown"] and report["plots"]
        png = httpx.get(f"{srv.url}/v1/campaigns/{cid}/report/{report['plots'][0]}")
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"


def test_campaign_survives_sigkill_restarts(tmp_path):
    """The service is killed (SIGKILL) at random moments while jobs run and callbacks fly;
    each restart reconciles from the store, the checkpoints and the jobs' files."""
    home = tmp_path / "home"
    home.mkdir()
    serve = ServeProcess(home, free_port())
    rng = random.Random(7)
    serve.start()
    try:
        r = httpx.post(
            f"{serve.url}/v1/campaigns",
            json={"model": "dcn_v2", "data": DATA, "budget_seconds": BUDGET, "baseline": WEAK},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        cid = r.json()["campaign_id"]
        kills = 0
        deadline = time.monotonic() + 600
        next_kill = time.monotonic() + rng.uniform(1.0, 6.0)
        status = None
        while time.monotonic() < deadline:
            _answer_pending(serve.url, cid)
            view = _get(f"{serve.url}/v1/campaigns/{cid}")
            status = view and view["status"]
            if status in ("completed", "failed"):
                break
            if kills < 3 and time.monotonic() >= next_kill:
                serve.kill()
                kills += 1
                time.sleep(rng.uniform(0.0, 3.0))  # jobs keep running; callbacks fail meanwhile
                serve.start()
                next_kill = time.monotonic() + rng.uniform(3.0, 10.0)
            time.sleep(0.3)
        assert kills == 3, f"the campaign ended before 3 kills ({kills})"
        assert status == "completed", (home / f"serve-{serve.starts - 1}.log").read_text()[-3000:]
        _check_journal(home, cid, BUDGET)
    finally:
        serve.stop()
