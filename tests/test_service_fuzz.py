"""Fuzz the service against its own OpenAPI spec with schemathesis (issue 5): no request, signed
or not, valid or not, gets a 5xx, and every answer conforms to the spec (a documented status
code and content type, a body of the documented schema, `Allow` on a 405, invalid input refused).

A real server on loopback, with a real campaign created through the API: half of the schema-valid
cases take that campaign's ids (campaign, thread, job) instead of made-up ones, and the signed
webhook cases its job's id and attempt, so fuzzed requests also reach lookups, event recording and
wake-ups, not only 404s. Generation is derandomized with a fixed seed: a run repeats the same
requests. The chat endpoint's POST streams for minutes (SSE) and is not fuzzed here."""

from __future__ import annotations

import json
import logging
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import settings
from hypothesis import strategies as st
from service_helpers import SECRET, ThreadServer, signed, wait_for

from rea.app.service import create_app
from rea.app.settings import Settings
from rea.trainers.events import SIGNATURE_HEADER, sign

TINY = "synthetic:tiny?rows=3000&seed=0"
WEBHOOK = "/v1/jobs/{job_id}/events"
CHAT = "/v1/threads/{thread_id}/messages"
FUZZ_CONFIG: dict[str, Any] = {
    "seed": 5,
    "generation": {"mode": "all", "max-examples": 15, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    "request-timeout": 20,
    "checks": {
        # Schema-valid but semantically wrong (an unknown data reference, an event posted to
        # another job's URL) is a documented 422, not a valid request refused; 5xx never is.
        "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "404", "409", "422"]},
    },
}
WEBHOOK_EXAMPLES = 80  # what every job talks to, signature parsing included: fuzzed harder
INT64_MAX = 2**63 - 1  # the largest integer an SQLite / Postgres column holds
# Header characters as `requests` can send them (latin-1, no control characters).
HEADER_TEXT = st.text(st.characters(codec="latin-1", categories=["L", "N", "P", "S", "Zs"]))

pytestmark = pytest.mark.filterwarnings(
    # schemathesis' own negative-case strategies use `random` (seeded by Hypothesis).
    "ignore:Do not use the `random` module inside strategies"
)


def _spec() -> dict[str, Any]:
    """The spec the service serves (building the app starts nothing and writes nothing)."""
    home = Path(tempfile.gettempdir()) / "rea-fuzz-spec"
    return create_app(Settings(home=home, brain="offline", webhook_secret=SECRET)).openapi()


schema = schemathesis.openapi.from_dict(_spec(), config=schemathesis.Config.from_dict(FUZZ_CONFIG))


class Known:
    """Ids of the real campaign's rows, filled in by the `server` fixture."""

    ids: dict[str, str] = {}  # noqa: RUF012


@schema.hook
def flatmap_case(ctx: schemathesis.HookContext, case: schemathesis.Case) -> Any:
    """Half of the schema-valid cases aim at the real rows. (A schema-invalid case is refused
    before any lookup, and aiming it could make it valid behind the checks' back.)"""
    if not (case.meta and case.meta.generation.mode.is_positive):
        return st.just(case)
    return st.booleans().map(lambda aim: _aimed(case) if aim else case)


def _aimed(case: schemathesis.Case) -> schemathesis.Case:
    if case.path.endswith("/cancel"):
        return case  # a cancelled campaign would turn every later aimed case into a 409
    for name in case.path_parameters or {}:
        if name in Known.ids:
            case.path_parameters[name] = Known.ids[name]
    if case.path == WEBHOOK and isinstance(case.body, dict):
        case.body.update(job_id=Known.ids["job_id"], attempt=1)
    return case


@schema.hook
def flatmap_headers(ctx: schemathesis.HookContext, headers: dict[str, Any] | None) -> Any:
    """The webhook's signature header also shaped `t=<...>,v1=<...>`, as the service parses it:
    free text never gets past its first check."""
    if ctx.operation is None or ctx.operation.path != WEBHOOK or headers is None:
        return st.just(headers)
    stamp = st.one_of(
        st.integers(-400, 400).map(lambda off: str(int(time.time()) + off)),  # fresh or stale
        st.integers(min_value=0).map(str),
        st.integers(300, 400).map(lambda n: "9" * n),
        st.text(st.characters(codec="latin-1", categories=["N"]), min_size=1),
        HEADER_TEXT,
    )
    mac = st.one_of(st.text("0123456789abcdef", min_size=64, max_size=64), HEADER_TEXT)
    forged = st.builds(lambda t, v: {**headers, SIGNATURE_HEADER: f"t={t},v1={v}"}, stamp, mac)
    return st.one_of(st.just(headers), forged)


class Signed(requests.auth.AuthBase):
    """Signs the exact bytes `requests` is about to send, whatever schemathesis serialised."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
            r.body = body
            r.prepare_content_length(body)
        r.headers[SIGNATURE_HEADER] = sign(SECRET, body)
        return r


class ErrorLog(logging.Handler):
    """The service's ERROR records: the tracebacks behind its 500s."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz-home")
    settings = Settings(home=home, brain="offline", webhook_secret=SECRET, max_parallel_jobs=1)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        with ThreadServer(settings) as srv:
            srv.errors = errors
            Known.ids = _real_campaign(srv.url)
            yield srv
            for c in httpx.get(f"{srv.url}/v1/campaigns").json()["campaigns"]:
                httpx.post(f"{srv.url}/v1/campaigns/{c['campaign_id']}/cancel")
    finally:
        logging.getLogger().removeHandler(errors)
        Known.ids = {}


def _real_campaign(url: str) -> dict[str, str]:
    """A campaign created through the API, with its baseline job launched."""
    body = {"model": "dcn_v2", "data": TINY, "budget_seconds": 30, "baseline": {"epochs": 1}}
    created = httpx.post(f"{url}/v1/campaigns", json=body)
    assert created.status_code == 201, created.text
    cid = created.json()["campaign_id"]

    def jobs() -> list[dict[str, Any]]:
        return httpx.get(f"{url}/v1/campaigns/{cid}/jobs").json()["jobs"]

    first = wait_for(jobs, 60, "the baseline job")[0]
    return {"campaign_id": cid, "thread_id": created.json()["thread_id"], "job_id": first["job_id"]}


def _call(server: ThreadServer, case: schemathesis.Case, **kwargs: Any) -> Any:
    """Send the case and run every check; a failure carries the service's tracebacks."""
    seen = len(server.errors.records)
    try:
        return case.call_and_validate(base_url=server.url, **kwargs)
    except BaseException as err:
        for record in server.errors.records[seen:]:
            if record.exc_info:
                lines = "".join(traceback.format_exception(*record.exc_info))
                err.add_note(f"service log: {record.getMessage()}\n{lines}")
        raise


def test_fuzzed_spec_is_the_served_one(server):
    assert httpx.get(f"{server.url}/openapi.json").json() == schema.raw_schema


@schema.include(path=WEBHOOK).parametrize()
@settings(max_examples=WEBHOOK_EXAMPLES)
def test_webhook_signed(case, server):
    """Signed with the service's secret: past the signature into parsing, lookup, recording."""
    _call(server, case, auth=Signed())


@schema.include(path=WEBHOOK).parametrize()
@settings(max_examples=WEBHOOK_EXAMPLES)
def test_webhook_unsigned(case, server):
    _call(server, case)


@schema.exclude(path=WEBHOOK).exclude(path=CHAT, method="POST").parametrize()
def test_api(case, server):
    response = _call(server, case)
    if case.method == "POST" and case.path == "/v1/campaigns" and response.status_code == 201:
        # A fuzzed campaign would train in the background: stop it now.
        httpx.post(f"{server.url}/v1/campaigns/{response.json()['campaign_id']}/cancel")


def test_service_logged_no_errors(server):
    """Run after the fuzzing above: no 500 and no wake-up broken in the background by an
    event the webhook accepted (a bad payload must be refused, not break its campaign later)."""
    logged = [
        f"{r.name}: {r.getMessage()}: {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
        for r in server.errors.records
    ]
    assert not logged, "the service logged errors:\n" + "\n".join(logged)


# --- 5xx found while fuzzing, pinned: a fixed seed may miss them, or none can (no bound) ---------
@pytest.mark.parametrize(
    "header",
    [
        "t=\xb2,v1=00",  # "²".isdigit() is true, int("²") raises
        "t=" + "9" * 400 + ",v1=00",  # too large for a float
        "t={now},v1=\xe9",  # compare_digest() refuses non-ASCII text
    ],
    ids=["unicode-digit", "huge-timestamp", "non-ascii-mac"],
)
def test_malformed_signatures_are_401(server, header):
    url = f"{server.url}/v1/jobs/{Known.ids['job_id']}/events"
    value = header.format(now=int(time.time())).encode("latin-1")
    r = httpx.post(url, content=b"{}", headers={SIGNATURE_HEADER: value})
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_integers_past_int64_are_refused(server):
    """Beyond what a database column holds: a 422 that names the field, never a 500."""
    job_id = Known.ids["job_id"]
    at = "2026-11-22T00:00:00+00:00"
    event = {"job_id": job_id, "attempt": 1, "seq": INT64_MAX + 1, "kind": "progress", "at": at}
    hook = httpx.post(f"{server.url}/v1/jobs/{job_id}/events", **signed(json.dumps(event).encode()))
    assert hook.status_code == 422 and "seq" in hook.json()["detail"], hook.text
    thread = f"{server.url}/v1/threads/{Known.ids['thread_id']}/messages"
    after = httpx.get(thread, params={"after": INT64_MAX + 1})
    assert after.status_code == 422 and "after" in after.json()["detail"], after.text
    assert httpx.get(thread, params={"after": INT64_MAX}).status_code == 200
