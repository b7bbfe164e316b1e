"""`rea serve`: the FastAPI service — the signed job webhook, campaigns, approvals, chat (SSE)
and the web UI (DESIGN.md §3).

Requests never run the graph: the webhook records the event and answers 202; a final event
(and every approval, and a new campaign's start) is handed to the `Waker`, which resumes the
thread in the background, one wake-up per thread at a time. Waiting campaigns hold no worker.
On start-up the service reconciles the store with the checkpointer and with the jobs' files, so
callbacks missed while it was down still wake their campaigns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rea.graph import events as graph_events
from rea.graph.builder import build_graph
from rea.graph.checkpoint import open_checkpointer
from rea.graph.runner import CampaignRunner, RunnerError
from rea.memory import InvalidValue, NotFound
from rea.trainers.errors import ReaError
from rea.trainers.events import SIGNATURE_HEADER, JobEvent, SignatureError, verify

from .campaigns import services_from
from .chat import ChatAgent
from .memory_wiring import Memory, settle_heap
from .ops import ACTIVE, CampaignOps, OpsError
from .settings import Settings
from .wake import Sweeper, Waker, reconcile

log = logging.getLogger("rea.service")

MAX_EVENT_BYTES = 256 * 1024  # a job event (with its log tail) is a few KB
PROBLEM = "application/problem+json"
WEB_DIR = Path(__file__).parent / "web"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
INT64_MAX = 2**63 - 1  # the largest id an SQL integer column holds


# --- the service's parts --------------------------------------------------------------------
class Service:
    """Everything `rea serve` runs: the runner over the settings' store and checkpointer, the
    background wakers, the sweeper and the chat agent."""

    def __init__(self, settings: Settings, *, port: int = 8000, sweep_interval: float = 0.5):
        self.settings = settings
        self.port = port
        self.sweep_interval = sweep_interval
        self._stack = ExitStack()
        self.runner: CampaignRunner
        self.ops: CampaignOps
        self.waker: Waker
        self.sweeper: Sweeper
        self.chat: Any = None

    def start(self) -> dict[str, int]:
        settings = self.settings
        settings.home.mkdir(parents=True, exist_ok=True)
        if not settings.webhook_secret:
            settings.webhook_secret = _stored_secret(settings.home / "webhook.secret")
        memory = Memory(settings)
        services = services_from(settings, memory=memory)
        base = (settings.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")
        services.callback_url = f"{base}/v1/jobs/{{job_id}}/events"
        saver = self._stack.enter_context(open_checkpointer(settings.resolved_checkpoint_url))
        self.runner = CampaignRunner(build_graph(saver), services)
        self.waker = Waker(self.runner, workers=max(2, os.cpu_count() or 2))
        self.ops = CampaignOps(self.runner, self.waker)
        self.sweeper = Sweeper(self.runner, self.waker, interval=self.sweep_interval)
        self.chat = ChatAgent(self.ops, services.brain)
        self.waker.listeners.append(self._record_progress)
        found = reconcile(self.runner, self.waker, self.sweeper)
        settle_heap()  # start-up's imports and objects stay: later collections skip them
        self.sweeper.start()
        log.info("service started: %s", found)
        return found

    def stop(self) -> None:
        self.sweeper.stop()
        self.waker.wait_idle(timeout=60)
        self.waker.shutdown()
        self._stack.close()

    def _record_progress(self, campaign_id: str, what: str) -> None:
        """After a wake-up: the campaign's new progress notes go into its own chat thread (the
        web UI and `GET /v1/threads/{thread}/messages` show them)."""
        store = self.runner.services.store
        thread = store.get_campaign(campaign_id).thread_id
        if not thread:
            return
        notes = self.runner.state(thread).get("notes") or []
        known = [m for m in store.chat_messages(thread) if m.role == "progress"]
        for line in notes[len(known) :]:
            store.add_chat_message(thread, "progress", line, campaign_id=campaign_id)

    # --- the webhook ------------------------------------------------------------------------
    def accept_event(self, path_job_id: str, event: JobEvent) -> dict[str, Any]:
        """Record a verified event once; a final one wakes its campaign in the background."""
        _check_payload(event)
        if event.job_id != path_job_id:
            raise OpsError(
                f"the event is for job {event.job_id!r} but was posted to {path_job_id!r}", 422
            )
        store = self.runner.services.store
        try:  # one transaction: the job exists, the attempt is its own, the event is new
            fresh = graph_events.record(store, event, same_attempt=True)
        except NotFound:
            raise OpsError(
                f"unknown job {event.job_id!r}: this service never launched it", 404
            ) from None
        except InvalidValue as err:
            raise OpsError(str(err), 422) from None
        if event.kind in graph_events.FINAL_KINDS:
            self.sweeper.kick()  # its slot is free: queued jobs may start
            self.waker.deliver(event, recorded=True)
        return {
            "job_id": event.job_id,
            "attempt": event.attempt,
            "seq": event.seq,
            "status": "accepted" if fresh else "duplicate",
        }


class SeedRun(BaseModel):
    seed: int
    metrics: dict[str, float]


class JobResult(BaseModel):
    """The part of a succeeded event's `result` the campaign reads (the trainer writes more)."""

    metrics: dict[str, float]
    per_seed: list[SeedRun] = []
    trainer_seconds: float = Field(0.0, ge=0)


def _check_payload(event: JobEvent) -> None:
    """What the campaign will read from the event, checked now: a bad payload is a 422 here,
    not a wake-up that fails later (the signature proves who sent it, not that it is sound)."""
    try:
        at = datetime.fromisoformat(event.at)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise OpsError(f"at: an ISO 8601 time with its UTC offset, got {event.at!r}", 422)
    if event.kind != "succeeded":
        return
    try:
        result = JobResult.model_validate(event.result or {})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in ("result", *first["loc"]))
        raise OpsError(f"{where}: {first['msg']} (a succeeded event's result)", 422) from None
    if "val_ne" not in result.metrics:
        raise OpsError("result.metrics: a succeeded event reports its final val_ne", 422)


def _stored_secret(path: Path) -> str:
    """The webhook secret kept in REA_HOME (created once, readable by this user only)."""
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret


# --- request and response bodies ---------------------------------------------------------------
class Problem(BaseModel):
    """An error (RFC 9457 problem details)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Literal["lr", "fm", "deepfm", "dcn_v2", "dlrm", "finalmlp"]
    data: str = Field(min_length=1, max_length=2000, examples=["synthetic:interaction-heavy"])
    budget_seconds: float = Field(gt=0, le=30 * 24 * 3600, description="Trainer-seconds.")
    goal: str | None = Field(None, max_length=2000)
    baseline: dict[str, Any] | None = Field(None, description="The current trainer config.")


class CampaignCreated(BaseModel):
    campaign_id: str
    thread_id: str
    status: str


class CampaignList(BaseModel):
    campaigns: list[dict[str, Any]]


class JobList(BaseModel):
    jobs: list[dict[str, Any]]


class ApprovalList(BaseModel):
    approvals: list[dict[str, Any]]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "edit", "reject"]
    edits: dict[str, Any] | None = Field(None, description="With edit: the changed action args.")
    message: str | None = Field(None, max_length=2000)


class DecisionAccepted(BaseModel):
    approval_id: str
    decision: str
    status: str


class Steer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skip_phases: list[Literal["combination", "exploitation"]] | None = None
    wrap_up: bool | None = None
    add_budget_seconds: float | None = Field(None, gt=0, le=30 * 24 * 3600)


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=8000)
    follow_seconds: float = Field(
        300,
        ge=0,
        le=3600,
        description="How long to stream the campaign's progress after the reply.",
    )


class MessageList(BaseModel):
    messages: list[dict[str, Any]]


class EventAccepted(BaseModel):
    job_id: str
    attempt: int
    seq: int
    status: Literal["accepted", "duplicate"]


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error responses as they are sent: `application/problem+json` bodies of `Problem`."""
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {c: {"description": _TITLES[c], "content": {PROBLEM: problem}} for c in codes}


# --- the app ------------------------------------------------------------------------------------
def create_app(
    settings: Settings | None = None, *, port: int = 8000, sweep_interval: float = 0.5
) -> FastAPI:
    """The FastAPI app. The service starts with the app's lifespan (uvicorn, TestClient)."""
    settings = settings or Settings()
    service = Service(settings, port=port, sweep_interval=sweep_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    app = FastAPI(
        title="REA",
        version="1.0",
        description="Ranking Engineer Agent: campaigns, approvals, chat, and the job webhook.",
        lifespan=lifespan,
    )
    app.state.service = service
    _error_handlers(app)

    def authorized(request: Request) -> None:
        token = settings.api_token
        if not token:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(
                401, "missing or wrong API token: send `Authorization: Bearer <REA_API_TOKEN>`"
            )

    api = APIRouter(prefix="/v1", dependencies=[Depends(authorized)], responses=_problems(401, 422))

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, Any]:
        # On the event loop (no thread-pool hop): a probe polled often stays cheap, and
        # `busy()` only takes the waker's short queue lock.
        return {"status": "ok", "wakeups_running": service.waker.busy()}

    # --- webhook (signed, not token-protected) -------------------------------------------------
    @app.post(
        "/v1/jobs/{job_id}/events",
        status_code=202,
        response_model=EventAccepted,
        tags=["webhook"],
        responses=_problems(401, 404, 413, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/JobEvent"}}
                },
            },
            "parameters": [
                {
                    "name": SIGNATURE_HEADER,
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<body>')>",
                }
            ],
        },
    )
    async def job_event(
        request: Request, job_id: Annotated[str, PathParam(pattern=ID_PATTERN)]
    ) -> dict[str, Any]:
        """A job's event, signed like Stripe's webhooks; idempotent on (job_id, attempt, seq)."""
        body = await _read_limited(request, MAX_EVENT_BYTES)
        try:
            verify(settings.webhook_secret or "", request.headers.get(SIGNATURE_HEADER), body)
        except SignatureError as err:
            raise HTTPException(401, str(err)) from None
        try:
            event = JobEvent.model_validate_json(body)
        except ValidationError as err:
            raise RequestValidationError(err.errors(include_url=False)) from None
        return await run_in_threadpool(service.accept_event, job_id, event)

    # --- campaigns -------------------------------------------------------------------------------
    @api.post(
        "/campaigns",
        status_code=201,
        response_model=CampaignCreated,
        tags=["campaigns"],
        responses=_problems(400),
    )
    def create_campaign(body: CampaignCreate) -> dict[str, Any]:
        """Create a campaign; it starts in the background (baseline, then a plan to approve)."""
        return service.ops.create_campaign(
            body.model, body.data, body.budget_seconds, goal=body.goal, baseline=body.baseline
        )

    @api.get("/campaigns", response_model=CampaignList, tags=["campaigns"])
    def list_campaigns() -> dict[str, Any]:
        return {"campaigns": service.ops.list_campaigns()}

    @api.get("/campaigns/{campaign_id}", tags=["campaigns"], responses=_problems(404))
    def get_campaign(campaign_id: str) -> dict[str, Any]:
        """Status, phase, budget used, jobs running, best so far, what it waits on."""
        return service.ops.campaign(campaign_id)

    @api.get(
        "/campaigns/{campaign_id}/jobs",
        response_model=JobList,
        tags=["campaigns"],
        responses=_problems(404),
    )
    def campaign_jobs(campaign_id: str) -> dict[str, Any]:
        return {"jobs": service.ops.jobs(campaign_id)}

    @api.get("/campaigns/{campaign_id}/trials", tags=["campaigns"], responses=_problems(404))
    def campaign_trials(campaign_id: str) -> dict[str, Any]:
        """The dashboard's data: NE per trial vs the baseline band, phases, budget burn."""
        return service.ops.trials(campaign_id)

    @api.get("/campaigns/{campaign_id}/report", tags=["campaigns"], responses=_problems(404, 409))
    def campaign_report(campaign_id: str) -> dict[str, Any]:
        return service.ops.report(campaign_id)

    @api.get(
        "/campaigns/{campaign_id}/report/{name}",
        tags=["campaigns"],
        response_class=FileResponse,
        responses=_problems(404, 409),
    )
    def campaign_report_file(campaign_id: str, name: str) -> FileResponse:
        return FileResponse(service.ops.report_file(campaign_id, name))

    @api.post(
        "/campaigns/{campaign_id}/steer", tags=["campaigns"], responses=_problems(400, 404, 409)
    )
    def steer_campaign(campaign_id: str, body: Steer) -> dict[str, Any]:
        """Skip a phase, wrap up, or add trainer-seconds while the campaign runs."""
        out: dict[str, Any] = {"campaign_id": campaign_id}
        if body.skip_phases or body.wrap_up is not None:
            out.update(
                service.ops.steer(campaign_id, skip_phases=body.skip_phases, wrap_up=body.wrap_up)
            )
        if body.add_budget_seconds:
            out["budget"] = service.ops.add_budget(campaign_id, body.add_budget_seconds)
        return out

    @api.post("/campaigns/{campaign_id}/cancel", tags=["campaigns"], responses=_problems(404))
    def cancel_campaign(campaign_id: str) -> dict[str, Any]:
        return service.ops.cancel(campaign_id)

    @api.get("/jobs/{job_id}", tags=["campaigns"], responses=_problems(404))
    def get_job(job_id: str) -> dict[str, Any]:
        """One job: state, failure, log tail, and the attempt that followed a failure."""
        return service.ops.job(job_id)

    # --- approvals -------------------------------------------------------------------------------
    @api.get("/approvals", response_model=ApprovalList, tags=["approvals"])
    def list_approvals(
        campaign_id: str | None = None,
        status: Literal["pending", "approved", "edited", "rejected", "all"] = "pending",
    ) -> dict[str, Any]:
        chosen = None if status == "all" else status
        return {"approvals": service.ops.approvals(campaign_id, chosen)}

    @api.get("/approvals/{approval_id}", tags=["approvals"], responses=_problems(404))
    def get_approval(approval_id: str) -> dict[str, Any]:
        return service.ops.approval(approval_id)

    @api.post(
        "/approvals/{approval_id}",
        status_code=202,
        response_model=DecisionAccepted,
        tags=["approvals"],
        responses=_problems(400, 404, 409),
    )
    def decide(approval_id: str, body: Decision) -> dict[str, Any]:
        """Approve, edit or reject; checked now, the campaign resumes in the background."""
        return service.ops.decide(
            approval_id, body.decision, edits=body.edits, message=body.message
        )

    # --- chat ------------------------------------------------------------------------------------
    @api.get("/threads/{thread_id}/messages", response_model=MessageList, tags=["chat"])
    def thread_messages(
        thread_id: Annotated[str, PathParam(pattern=ID_PATTERN)],
        after: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    ) -> dict[str, Any]:
        rows = service.runner.services.store.chat_messages(thread_id, after_id=after)
        return {
            "messages": [
                {
                    "id": m.id,
                    "role": m.role,
                    "content": m.content,
                    "campaign_id": m.campaign_id,
                    "at": m.at.isoformat(),
                }
                for m in rows
            ]
        }

    @api.post(
        "/threads/{thread_id}/messages",
        tags=["chat"],
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "SSE"},
            **_problems(400),
        },
    )
    async def post_message(
        thread_id: Annotated[str, PathParam(pattern=ID_PATTERN)], body: ChatIn
    ) -> StreamingResponse:
        """Say something to the agent; its reply and the campaign's progress stream back."""
        reply = await run_in_threadpool(service.chat.reply, thread_id, body.content)
        stream = _chat_stream(service, thread_id, reply, body.follow_seconds)
        return StreamingResponse(
            stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    app.include_router(api)
    _document_job_event(app)

    # --- web UI ----------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        page = WEB_DIR / "index.html"
        if not page.exists():
            return HTMLResponse("<h1>REA</h1><p>The web UI is not installed.</p>")
        return HTMLResponse(page.read_text())

    if WEB_DIR.is_dir():
        app.mount("/ui", StaticFiles(directory=WEB_DIR), name="ui")
    return app


def _document_job_event(app: FastAPI) -> None:
    """The webhook reads its body raw (the signature covers the exact bytes), so FastAPI does
    not see the `JobEvent` model: put it and its parts into the OpenAPI components, with the
    `Problem` every error response refers to."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = plain()
        schema = JobEvent.model_json_schema(ref_template="#/components/schemas/{model}")
        parts = schema.pop("$defs", {})
        spec.setdefault("components", {}).setdefault("schemas", {}).update(
            {**parts, "JobEvent": schema, "Problem": Problem.model_json_schema()}
        )
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is {declared} bytes; events may be at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


async def _chat_stream(
    service: Service, thread_id: str, reply: Any, follow_seconds: float
) -> AsyncIterator[str]:
    """The reply, then the campaign's progress until it needs a human, ends, or time is up."""
    cid = reply.campaign_id
    yield _sse("message", {"role": "agent", "content": reply.text, "campaign_id": cid})
    if not (reply.follow and cid and follow_seconds > 0):
        yield _sse("done", {"campaign_id": cid})
        return
    store = service.runner.services.store
    loop = asyncio.get_running_loop()
    deadline = loop.time() + follow_seconds
    view = await run_in_threadpool(service.ops.campaign, cid)
    shown = len(view.get("notes") or [])
    # Approvals already open when the user spoke (e.g. the one just answered) are not news.
    seen_approvals = {w["approval_id"] for w in view.get("waiting_on") or [] if w["approval_id"]}
    last_status: tuple[Any, ...] = ()
    version = -1
    while loop.time() < deadline:
        current = service.waker.versions.get(cid, 0)
        if current != version:
            version = current
            view = await run_in_threadpool(service.ops.campaign, cid)
            notes = view.get("notes") or []
            for line in notes[shown:]:
                if thread_id != view.get("thread_id"):  # its own thread has them already
                    await run_in_threadpool(
                        store.add_chat_message, thread_id, "progress", line, campaign_id=cid
                    )
                yield _sse("progress", {"campaign_id": cid, "line": line})
            shown = len(notes)
            status = (
                view["status"],
                view.get("phase"),
                view["budget_used_seconds"],
                view["best"].get("val_ne"),
            )
            if status != last_status:
                last_status = status
                yield _sse(
                    "status",
                    {
                        "campaign_id": cid,
                        "status": status[0],
                        "phase": status[1],
                        "budget_used_seconds": status[2],
                        "best_val_ne": status[3],
                    },
                )
            waiting = [w for w in view.get("waiting_on") or [] if w["type"] == "approval"]
            fresh = [w for w in waiting if w["approval_id"] not in seen_approvals]
            for w in fresh:
                seen_approvals.add(w["approval_id"])
                yield _sse(
                    "approval", await run_in_threadpool(service.ops.approval, w["approval_id"])
                )
            if fresh or view["status"] not in ACTIVE:
                break
        await asyncio.sleep(0.2)
    yield _sse("done", {"campaign_id": cid})


def _error_handlers(app: FastAPI) -> None:
    def problem(
        status: int,
        detail: str,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> JSONResponse:
        body = {
            "type": "about:blank",
            "title": title or _TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            **extra,
        }
        return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        headers = err.headers
        if err.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return problem(err.status_code, str(err.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in err.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem(422, f"{where}: {first['msg']}" if where else first["msg"], errors=errors)

    @app.exception_handler(OpsError)
    async def ops_error(request: Request, err: OpsError) -> JSONResponse:
        return problem(err.status, str(err))

    @app.exception_handler(RunnerError)
    async def runner_error(request: Request, err: RunnerError) -> JSONResponse:
        return problem(409, str(err))

    @app.exception_handler(ReaError)
    async def rea_error(request: Request, err: ReaError) -> JSONResponse:
        return problem(422, str(err))

    @app.exception_handler(Exception)
    async def crash(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, f"internal error ({type(err).__name__}); see the service log")


def _allowed_methods(request: Request) -> str:
    """Every method the request's path takes: Starlette's 405 names only the methods of the
    first route at that path (GET and POST of one path are two routes here)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    422: "Unprocessable content",
    500: "Internal server error",
}


def check_exposure(host: str, settings: Settings) -> None:
    """Off loopback the API must have a token."""
    if host not in LOOPBACK and not settings.api_token:
        raise ReaError(
            f"refusing to listen on {host} without REA_API_TOKEN: set a token (every API call "
            "then needs `Authorization: Bearer <token>`) or listen on 127.0.0.1"
        )
