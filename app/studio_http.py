"""REA's routes inside the LangGraph server (langgraph.json `http.app`): the signed job webhook
and a health check, for campaigns that `langgraph dev` serves (app/studio_graph.py;
docs/langgraph-studio.md).

`POST /v1/jobs/{job_id}/events` keeps the webhook contract of DESIGN.md §3 (signature, 401 / 404 /
413 / 422, idempotent on (job_id, attempt, seq), 202 fast): it records the event in our SQL
store; a final event then resumes the thread waiting on that job *through the LangGraph server*
(the SDK client, in-process), in the background: when the thread is not busy and a `job_wait`
interrupt naming the job is pending, it creates a run with `command={"resume": {id: event}}`.

The app's lifespan runs `rea serve`'s sweeper (app/wake.py) against this: it starts queued
local jobs and delivers final events that no callback brought (lost, or sent while the thread
was still running) — so a job's result reaches its campaign even then.

The server loads this file by path, not as a package module: absolute imports only. It owns
the server's exception handlers and middleware once mounted, so this app adds neither.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from langgraph_sdk import get_client
from pydantic import ValidationError

from rea.app.settings import Settings
from rea.app.studio_graph import GRAPH_ID, require_secret
from rea.app.wake import Sweeper
from rea.graph import events as graph_events
from rea.graph.context import Services, default_services
from rea.memory import ExperimentStore, NotFound
from rea.trainers.events import SIGNATURE_HEADER, JobEvent, SignatureError, verify

log = logging.getLogger("rea.studio")

MAX_EVENT_BYTES = 256 * 1024
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"


# --- resuming through the server -------------------------------------------------------------
def waiting_on(thread: dict[str, Any], job_id: str) -> str | None:
    """The id of the thread's pending `job_wait` interrupt naming `job_id`, if any."""
    for interrupts in (thread.get("interrupts") or {}).values():
        for item in interrupts:
            value = item.get("value")
            if not isinstance(value, dict) or value.get("type") != "job_wait":
                continue
            if job_id in (value.get("job_ids") or []):
                return item["id"]
    return None


class ServerResumer:
    """Delivers final job events to the LangGraph server's campaign threads, one at a time per
    thread, each resume checked first (the thread is idle and waits on this very job)."""

    def __init__(self, store: ExperimentStore, client: Any, *, graph_id: str = GRAPH_ID):
        self.store, self.client, self.graph_id = store, client, graph_id
        self._locks: dict[str, asyncio.Lock] = {}

    async def deliver(self, event: JobEvent) -> str:
        """Record the event, then resume the thread waiting on its job. Returns `resumed`,
        `stale` (no thread waits on this job now), `busy` (a run is in flight: the sweeper comes
        back) or `no_thread` (the campaign has no thread the server knows)."""
        job = await asyncio.to_thread(self.store.get_job, event.job_id)
        await asyncio.to_thread(graph_events.record, self.store, event)
        campaign = await asyncio.to_thread(self.store.get_campaign, job.campaign_id)
        if not campaign.thread_id:
            return "no_thread"
        lock = self._locks.setdefault(campaign.thread_id, asyncio.Lock())
        async with lock:
            return await self._resume(campaign.thread_id, event)

    async def _resume(self, thread_id: str, event: JobEvent) -> str:
        try:
            thread = await self.client.threads.get(thread_id)
            if thread.get("status") == "busy":
                return "busy"
            interrupt_id = waiting_on(thread, event.job_id)
            if interrupt_id is None:
                return "stale"
            await self.client.runs.create(
                thread_id,
                self.graph_id,
                command={"resume": {interrupt_id: event.model_dump(mode="json")}},
                multitask_strategy="reject",  # a run got there first: it is not waiting any more
                durability="sync",
            )
        except httpx.HTTPStatusError as err:
            if err.response.status_code == 409:
                return "busy"
            if err.response.status_code == 404:
                return "no_thread"
            raise
        return "resumed"


# --- what the routes and the sweeper share -----------------------------------------------------
class StudioHost:
    """The services (the graph's, see app/studio_graph.py), the resumer and the sweeper."""

    def __init__(
        self,
        services: Callable[[], Services | None] = default_services,
        client: Callable[[], Any] | None = None,
        sweep_interval: float | None = 1.0,
    ):
        self._services_fn, self._client_fn = services, client or _sdk_client
        self.sweep_interval = sweep_interval
        self.secret = ""
        self.services: Services
        self.resumer: ServerResumer
        self.sweeper: Sweeper | None = None
        self.outcomes: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop
        self._inflight: set[tuple[str, int]] = set()
        self._tasks: set[concurrent.futures.Future[None]] = set()

    async def start(self) -> None:
        self.secret = require_secret(Settings())
        services = await asyncio.to_thread(self._services_fn)
        if services is None:
            raise RuntimeError(
                "no campaign services registered: langgraph.json must serve app/studio_graph.py"
            )
        self.services = services
        self.resumer = ServerResumer(services.store, self._client_fn())
        self._loop = asyncio.get_running_loop()
        if self.sweep_interval:
            host = SimpleNamespace(services=services)  # what the sweeper reads: .services
            self.sweeper = Sweeper(host, self, interval=self.sweep_interval)  # type: ignore[arg-type]
            await asyncio.to_thread(self.sweeper.sweep, catch_up=True)
            self.sweeper.start()

    async def stop(self) -> None:
        if self.sweeper:
            await asyncio.to_thread(self.sweeper.stop)
        if self._tasks:  # deliveries in flight finish (a created run is the server's to run)
            await asyncio.wait([asyncio.wrap_future(f) for f in list(self._tasks)], timeout=30)

    def deliver(self, event: JobEvent, source: str = "sweep") -> None:
        """Queue a final event's delivery (any thread: the webhook and the sweeper call it);
        one delivery per job attempt in flight at a time."""
        future = asyncio.run_coroutine_threadsafe(self._deliver(event, source), self._loop)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: JobEvent, source: str) -> None:
        key = (event.job_id, event.attempt)
        if key in self._inflight:
            return
        self._inflight.add(key)
        try:
            outcome = await self.resumer.deliver(event)
            seen = f"{source}:{outcome}"  # e.g. webhook:resumed, sweep:stale
            self.outcomes[seen] = self.outcomes.get(seen, 0) + 1
            log.info("job %s %s (%s): %s", event.job_id, event.kind, source, outcome)
        except Exception:  # logged; the sweeper delivers it again while the job is open
            log.exception("delivering job %s's final event failed", event.job_id)
        finally:
            self._inflight.discard(key)

    def accept(self, path_job_id: str, event: JobEvent) -> str:
        """Check the event against the store and record it once: `accepted` or `duplicate`."""
        if event.job_id != path_job_id:
            raise HTTPException(
                422, f"the event is for job {event.job_id!r} but was posted to {path_job_id!r}"
            )
        try:
            job = self.services.store.get_job(event.job_id)
        except NotFound:
            raise HTTPException(
                404, f"unknown job {event.job_id!r}: this server never launched it"
            ) from None
        if event.attempt != job.attempt:
            raise HTTPException(
                422, f"job {job.job_id} is attempt {job.attempt}, the event says {event.attempt}"
            )
        return "accepted" if graph_events.record(self.services.store, event) else "duplicate"


def _sdk_client() -> Any:
    return get_client()  # no URL: in-process, through the server's own ASGI app


# --- the app ---------------------------------------------------------------------------------------
def create_app(host: StudioHost | None = None) -> FastAPI:
    """The FastAPI app the LangGraph server mounts; it starts `host` in its lifespan."""
    host = host or StudioHost()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await host.start()
        try:
            yield
        finally:
            await host.stop()

    app = FastAPI(title="REA routes for the LangGraph server", lifespan=lifespan)
    app.state.host = host

    @app.get("/rea/healthz", tags=["rea"])
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "mode": "langgraph",
            "graph": GRAPH_ID,
            "callback_url": host.services.callback_url,
            "sweeper": bool(host.sweeper),
            "deliveries": dict(host.outcomes),
        }

    @app.post("/v1/jobs/{job_id}/events", status_code=202, tags=["rea"])
    async def job_event(
        request: Request, job_id: Annotated[str, PathParam(pattern=ID_PATTERN)]
    ) -> dict[str, Any]:
        """A job's event, signed like Stripe's webhooks; idempotent on (job_id, attempt, seq)."""
        body = await _read_limited(request, MAX_EVENT_BYTES)
        try:
            verify(host.secret, request.headers.get(SIGNATURE_HEADER), body)
        except SignatureError as err:
            raise HTTPException(401, str(err)) from None
        try:
            event = JobEvent.model_validate_json(body)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise HTTPException(
                422, f"{where}: {first['msg']}" if where else first["msg"]
            ) from None
        status = await asyncio.to_thread(host.accept, job_id, event)
        if event.kind in graph_events.FINAL_KINDS:
            host.deliver(event, source="webhook")
        return {
            "job_id": event.job_id,
            "attempt": event.attempt,
            "seq": event.seq,
            "status": status,
        }

    return app


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is {declared} bytes; events may be at most {limit}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"the body exceeds {limit} bytes")
    return body


app = create_app()
