"""Job specs, job events, and the webhook signature (DESIGN.md §3).

Signature scheme (like Stripe's): header `X-REA-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(
secret, "<t>.<raw body>")>`. Verification rejects a missing, malformed, wrong or stale (older than
`tolerance` seconds) signature and compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import re
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .faults import Fault
from .pruning import Prune

log = logging.getLogger("rea.trainers.events")

SIGNATURE_HEADER = "X-REA-Signature"
INT64_MAX = 2**63 - 1  # the largest integer a database column holds
SIGNATURE_TOLERANCE_S = 300
SECRET_ENV = "REA_WEBHOOK_SECRET"
# ECHO_ENV=1: the job also prints each event to stdout as `ECHO_PREFIX<json>`, so a backend whose
# workers share no storage with the orchestrator (Ray without a shared REA_HOME) finds the events
# in the job's log.
ECHO_ENV = "REA_ECHO_EVENTS"
ECHO_PREFIX = "REA-EVENT "
# The spec inline (JSON), for a node where the spec file is not (see job.load_spec).
SPEC_ENV = "REA_JOB_SPEC"
# Where the job writes its own pid first thing ({"pid", "pid_start"}), when its backend asks: a
# backend that died between spawning the job and recording its pid still finds it running.
PID_FILE_ENV = "REA_JOB_PID_FILE"

EventKind = Literal["started", "progress", "succeeded", "failed"]
FailureKind = Literal[
    "oom", "nan_loss", "diverged", "config_error", "data_error", "timeout", "killed", "crashed"
]


class Resources(BaseModel):
    """What a backend should reserve for the job."""

    model_config = ConfigDict(extra="forbid")
    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)


class JobSpec(BaseModel):
    """One training job: what `rea train SPEC.json` executes on any backend.

    `config` is kept raw here and validated by the job itself, so a bad config becomes a
    `config_error` job failure (with its event) rather than a job that never reports.
    """

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
    attempt: int = Field(1, ge=1)
    campaign_id: str
    config: dict[str, Any]
    data: str
    seed: int = Field(0, ge=0)
    seeds: list[int] | None = Field(
        None, description="Run these seeds one after another (overrides `seed`); metrics = mean."
    )
    max_seconds: float = Field(gt=0)
    output_dir: str
    callback_url: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int | None = Field(None, ge=1, le=256)
    resources: Resources = Field(default_factory=Resources)
    fault: Fault | None = None
    prune: Prune | None = Field(
        None, description="Stop (not fail) once behind these per-epoch val NE bars; every seed."
    )

    @property
    def seed_list(self) -> list[int]:
        return list(self.seeds) if self.seeds else [self.seed]


class Failure(BaseModel):
    kind: FailureKind
    message: str
    log_tail: str = ""


class JobEvent(BaseModel):
    """What a job reports. `seq` increases by one per event of a (job_id, attempt)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    attempt: int = Field(ge=1, le=INT64_MAX)
    seq: int = Field(ge=0, le=INT64_MAX)
    kind: EventKind
    at: str
    metrics: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    failure: Failure | None = None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-REA-Signature` header value for `body`."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


# ASCII only: str.isdigit() also accepts "²", and compare_digest() refuses non-ASCII text.
_UNIX_TIME = re.compile(r"[0-9]{1,12}")
_HEX_MAC = re.compile(r"[0-9a-f]{64}")


class SignatureError(ValueError):
    """The webhook signature is missing, malformed, wrong or stale (the message says which)."""


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_S,
) -> int:
    """Check `header` against `body`; return its timestamp or raise `SignatureError`."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t_raw, given = parts.get("t", ""), parts.get("v1", "")
    if not (_UNIX_TIME.fullmatch(t_raw) and _HEX_MAC.fullmatch(given)):
        raise SignatureError(f"malformed {SIGNATURE_HEADER}: expected 't=<unix>,v1=<hex>'")
    t = int(t_raw)
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        raise SignatureError(
            f"stale signature: timestamp is {int(current - t)} s off (max {tolerance})"
        )
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise SignatureError("signature does not match the body")
    return t


class EventEmitter:
    """Numbers a job's events, appends them to `events.jsonl`, and posts them signed to the
    callback URL. Posting happens on a background sender thread, in order, so a slow or down
    service never eats into the job's training time; `flush` waits (bounded) for the backlog
    after the final event. A callback that can't be delivered is logged, never fatal:
    `result.json` and `events.jsonl` let the service recover what it missed."""

    def __init__(self, spec: JobSpec, secret: str | None, *, retries: int = 3):
        self.spec, self.secret, self.retries = spec, secret, retries
        self.seq = 0
        self.path = Path(spec.output_dir) / "events.jsonl"
        self.echo = os.environ.get(ECHO_ENV) == "1"
        self._outbox: queue.Queue[tuple[bytes, int] | None] = queue.Queue()
        self._sender: threading.Thread | None = None

    def emit(self, kind: EventKind, **fields: Any) -> JobEvent:
        event = JobEvent(
            job_id=self.spec.job_id,
            attempt=self.spec.attempt,
            seq=self.seq,
            kind=kind,
            at=now_iso(),
            **fields,
        )
        self.seq += 1
        body = event.model_dump_json(exclude_none=True).encode()
        with self.path.open("ab") as f:
            f.write(body + b"\n")
        if self.echo:
            print(ECHO_PREFIX + body.decode(), flush=True)
        if self.spec.callback_url:
            final = kind in ("succeeded", "failed")
            self._send(body, attempts=self.retries * 2 if final else self.retries)
        return event

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every queued callback was posted or given up on; False on timeout."""
        if self._sender is None:
            return True
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._outbox.unfinished_tasks

    def _send(self, body: bytes, attempts: int) -> None:
        if self._sender is None:
            self._sender = threading.Thread(target=self._drain, name="rea-callbacks", daemon=True)
            self._sender.start()
        self._outbox.put((body, attempts))

    def _drain(self) -> None:
        while True:
            item = self._outbox.get()
            try:
                if item is not None:
                    self._post(*item)
            except Exception as err:  # never let the sender die: the files have the events
                log.warning("callback failed: %s", err)
            finally:
                self._outbox.task_done()

    def _post(self, body: bytes, attempts: int) -> None:
        url = self.spec.callback_url
        for i in range(attempts):
            headers = {"Content-Type": "application/json"}
            if self.secret:  # signed per try: a retry must not go stale
                headers[SIGNATURE_HEADER] = sign(self.secret, body)
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    if resp.status < 300:
                        return
            except urllib.error.HTTPError as err:
                if 400 <= err.code < 500 and err.code not in (408, 429):
                    log.warning("callback %s refused the event: HTTP %s", url, err.code)
                    return
            except (urllib.error.URLError, OSError) as err:
                log.warning("callback %s unreachable (try %d/%d): %s", url, i + 1, attempts, err)
            time.sleep(min(0.2 * 2**i, 5.0))
        log.warning("giving up on the callback for event %s; result.json has it", body[:80])


def write_result(output_dir: str | Path, event: JobEvent) -> Path:
    """Write the final event to `result.json` atomically (so a lost callback is recoverable)."""
    path = Path(output_dir) / "result.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(event.model_dump(exclude_none=True), indent=2))
    tmp.replace(path)
    return path
