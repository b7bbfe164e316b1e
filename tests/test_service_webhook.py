"""The job webhook (DESIGN.md §3) on a real server: signed, idempotent, answers fast, and
refuses bad requests with problem+json without applying any of them."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from service_helpers import SECRET, ThreadServer, signed

from rea.app.settings import Settings
from rea.trainers.events import SIGNATURE_HEADER, sign


@pytest.fixture
def server(tmp_path):
    settings = Settings(home=tmp_path / "home", brain="offline", webhook_secret=SECRET)
    with ThreadServer(settings) as srv:
        yield srv


def _job(server) -> str:
    """A real job row: a campaign whose baseline job was launched by the graph."""
    ops = server.service.ops
    created = ops.create_campaign(
        "dcn_v2", "synthetic:tiny?rows=3000&seed=0", 30, baseline={"epochs": 1}
    )
    store = ops.store
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = store.list_jobs(created["campaign_id"])
        if jobs:
            return jobs[0].job_id
        time.sleep(0.1)
    raise TimeoutError("no job launched")


def _event(job_id: str, seq: int = 100, kind: str = "progress") -> dict:
    return {"job_id": job_id, "attempt": 1, "seq": seq, "kind": kind, "at": "2026-11-22T00:00:00Z"}


def test_signed_event_is_accepted_once(server):
    job_id = _job(server)
    url = f"{server.url}/v1/jobs/{job_id}/events"
    first = httpx.post(url, **signed(_event(job_id)))
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "accepted"
    again = httpx.post(url, **signed(_event(job_id)))
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    rows = [e for e in server.service.ops.store.list_events(job_id) if e.seq == 100]
    assert len(rows) == 1


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing"),
        ({SIGNATURE_HEADER: "garbage"}, "malformed"),
        ({SIGNATURE_HEADER: sign("wrong-secret", b"{}")}, "does not match"),
        ({SIGNATURE_HEADER: "STALE"}, "stale"),
    ],
)
def test_bad_signatures_are_401_and_change_nothing(server, headers, why):
    job_id = _job(server)
    body = json.dumps(_event(job_id, seq=200)).encode()
    if headers.get(SIGNATURE_HEADER) == "STALE":
        headers = {SIGNATURE_HEADER: sign(SECRET, body, int(time.time()) - 301)}
    elif SIGNATURE_HEADER in headers and "v1=" in headers[SIGNATURE_HEADER]:
        headers = {SIGNATURE_HEADER: sign("wrong-secret", body)}
    r = httpx.post(f"{server.url}/v1/jobs/{job_id}/events", content=body, headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert why in r.json()["detail"]
    assert not [e for e in server.service.ops.store.list_events(job_id) if e.seq == 200]


def test_malformed_oversized_unknown_and_mismatched(server):
    job_id = _job(server)
    url = f"{server.url}/v1/jobs/{job_id}/events"
    bad_json = httpx.post(url, **signed(b"{not json"))
    assert bad_json.status_code == 422 and bad_json.json()["status"] == 422
    missing_field = httpx.post(url, **signed({"job_id": job_id, "attempt": 1}))
    assert missing_field.status_code == 422 and "seq" in missing_field.text
    huge = {**_event(job_id), "metrics": {"x": "a" * 300_000}}
    assert httpx.post(url, **signed(huge)).status_code == 413
    unknown = httpx.post(f"{server.url}/v1/jobs/nope/events", **signed(_event("nope")))
    assert unknown.status_code == 404 and "never launched" in unknown.json()["detail"]
    other = httpx.post(f"{server.url}/v1/jobs/other/events", **signed(_event(job_id)))
    assert other.status_code == 422 and "posted to" in other.json()["detail"]
    wrong_attempt = httpx.post(url, **signed({**_event(job_id), "attempt": 7}))
    assert wrong_attempt.status_code == 422
    kept = [e.seq for e in server.service.ops.store.list_events(job_id)]
    assert 100 not in kept  # none of the refused requests left a row


def test_api_token_guards_everything_but_the_webhook(tmp_path):
    settings = Settings(
        home=tmp_path / "home", brain="offline", webhook_secret=SECRET, api_token="tok"
    )
    with ThreadServer(settings) as srv:
        assert httpx.get(f"{srv.url}/v1/campaigns").status_code == 401
        ok = httpx.get(f"{srv.url}/v1/campaigns", headers={"Authorization": "Bearer tok"})
        assert ok.status_code == 200 and ok.json() == {"campaigns": []}
        assert httpx.get(f"{srv.url}/healthz").status_code == 200
        hook = httpx.post(f"{srv.url}/v1/jobs/x/events", **signed(_event("x")))
        assert hook.status_code == 404  # signed: past auth, the job is unknown
    from rea.app.service import check_exposure
    from rea.trainers.errors import ReaError

    with pytest.raises(ReaError, match="REA_API_TOKEN"):
        check_exposure("0.0.0.0", Settings(home=tmp_path))
    check_exposure("127.0.0.1", Settings(home=tmp_path))


def test_problem_json_and_openapi(server):
    r = httpx.get(f"{server.url}/v1/campaigns/nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    bad = httpx.post(f"{server.url}/v1/campaigns", json={"model": "xgboost"})
    assert bad.status_code == 422 and bad.json()["errors"]
    bad_data = httpx.post(
        f"{server.url}/v1/campaigns",
        json={"model": "dcn_v2", "data": "synthetic:nope", "budget_seconds": 10},
    )
    assert bad_data.status_code == 422 and "nope" in bad_data.json()["detail"]
    spec = httpx.get(f"{server.url}/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/jobs/{job_id}/events",
        "/v1/campaigns",
        "/v1/campaigns/{campaign_id}",
        "/v1/campaigns/{campaign_id}/jobs",
        "/v1/campaigns/{campaign_id}/report",
        "/v1/approvals",
        "/v1/approvals/{approval_id}",
        "/v1/threads/{thread_id}/messages",
        "/healthz",
    ):
        assert path in paths, path
    hook = paths["/v1/jobs/{job_id}/events"]["post"]
    assert {"202", "401", "404", "413", "422"} <= set(hook["responses"])
    assert "JobEvent" in json.dumps(hook["requestBody"])
